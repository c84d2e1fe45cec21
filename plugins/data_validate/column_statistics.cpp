#include "column_statistics.hpp"

#include "value_counter.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace trellis_validate {

namespace {

using trellis::Column;
using trellis::ColumnType;

struct IntHash {
    size_t operator()(int64_t value) const { return static_cast<size_t>(mix64(static_cast<uint64_t>(value))); }
};
struct BitsHash {
    size_t operator()(uint64_t bits) const { return static_cast<size_t>(mix64(bits)); }
};
struct TextHash {
    size_t operator()(std::string_view text) const { return static_cast<size_t>(hash_bytes(text)); }
};

// Null flags straight from the Arrow validity bitmap: Column::is_null checks bounds on every call,
// which costs more than the statistics themselves on millions of rows.
class Validity {
public:
    explicit Validity(const Column& column) : bits_(column.validity_bits()) {}
    bool null(size_t i) const { return bits_ && !((bits_[i / 8] >> (i % 8)) & 1u); }

private:
    const uint8_t* bits_;
};

// Welford's running mean and variance: one pass, without the cancellation of sum-of-squares.
class RunningMoments {
public:
    void add(double x) {
        ++n_;
        const double delta = x - mean_;
        mean_ += delta / static_cast<double>(n_);
        m2_ += delta * (x - mean_);
        min_ = std::min(min_, x);
        max_ = std::max(max_, x);
    }
    void fill(ColumnStatistics& out) const {
        if (n_ == 0) return;
        out.mean = mean_;
        out.std = std::sqrt(std::max(0.0, m2_ / static_cast<double>(n_)));
        out.min = min_;
        out.max = max_;
    }

private:
    uint64_t n_ = 0;
    double mean_ = 0, m2_ = 0;
    double min_ = std::numeric_limits<double>::infinity(), max_ = -std::numeric_limits<double>::infinity();
};

// Range and domain checks of one column, fed value by value during the pass.
class ConstraintCheck {
public:
    ConstraintCheck(const ColumnConstraints* constraints, ConstraintCounts& counts)
        : constraints_(constraints), counts_(counts) {}

    void range(double value, size_t row) {
        if (!constraints_) return;
        const bool low = constraints_->min && value < *constraints_->min;
        const bool high = constraints_->max && value > *constraints_->max;
        if (!low && !high) return;
        if (low) {
            ++counts_.below_min;
            counts_.lowest = std::min(counts_.lowest, value);
        } else {
            ++counts_.above_max;
            counts_.highest = std::max(counts_.highest, value);
        }
        if (!counts_.first_out_of_range_row) counts_.first_out_of_range_row = row;
    }
    void domain(int64_t value, size_t row) {
        if (!constraints_ || !constraints_->check_domain || constraints_->int_domain.count(value)) return;
        unseen(std::to_string(value), row);
    }
    void domain(std::string_view value, size_t row) {
        if (!constraints_ || !constraints_->check_domain || constraints_->string_domain.count(value)) return;
        unseen(std::string(value), row);
    }

private:
    void unseen(std::string value, size_t row) {
        ++counts_.unseen;
        if (!counts_.first_unseen_row) counts_.first_unseen_row = row;
        auto it = counts_.unseen_values.find(value);
        if (it != counts_.unseen_values.end()) ++it->second;
        else if (counts_.unseen_values.size() < 1000) counts_.unseen_values.emplace(std::move(value), 1);
    }

    const ColumnConstraints* constraints_;
    ConstraintCounts& counts_;
};

// Ranks [ranks_begin, ranks_end) (sorted, absolute positions from `offset`) put in their sorted
// places within [begin, end): one nth_element per rank, each on the part left between its
// neighbours, so a handful of quantiles costs a few passes, not a sort.
void select_ranks(double* begin, double* end, size_t offset, const size_t* ranks_begin, const size_t* ranks_end) {
    if (ranks_begin == ranks_end || begin == end) return;
    const size_t* middle = ranks_begin + (ranks_end - ranks_begin) / 2;
    double* nth = begin + (*middle - offset);
    std::nth_element(begin, nth, end);
    select_ranks(begin, nth, offset, ranks_begin, middle);
    select_ranks(nth + 1, end, *middle + 1, middle + 1, ranks_end);
}

// numpy's _lerp: exact at both ends, and symmetric in how it rounds.
double lerp(double a, double b, double t) {
    const double diff = b - a;
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

template <class Key, class Hasher>
void fill_counts(const ValueCounter<Key, Hasher>& counter, const StatisticsOptions& options, bool report_top,
                 ColumnStatistics& out, const std::function<TopValue(const Key&, uint64_t)>& to_value) {
    out.distinct = counter.distinct();
    out.distinct_exact = counter.exact();
    if (report_top) {
        out.top_values_exact = counter.exact();
        for (const auto& [key, count] : counter.top(options.top_values)) out.top_values.push_back(to_value(key, count));
    }
    if (counter.exact() && counter.distinct() <= options.keep_values_limit) {
        std::vector<TopValue> all;
        for (const auto& [key, count] : counter.top(counter.exact_counts().size())) all.push_back(to_value(key, count));
        out.all_values = std::move(all);
    }
}

void finish_numeric(std::vector<double>& buffer, const StatisticsOptions& options, ColumnStatistics& out) {
    if (buffer.empty()) return;
    out.histogram = equal_width_histogram(buffer, *out.min, *out.max, options.histogram_bins);
    out.quantiles = exact_quantiles(buffer, options.quantiles);
}

void float_column(const Column& column, const StatisticsOptions& options, ConstraintCheck& check,
                  std::vector<double>& buffer, ColumnStatistics& out) {
    const auto* values = static_cast<const double*>(column.data_buffer());
    const Validity validity(column);
    RunningMoments moments;
    ValueCounter<uint64_t, BitsHash> counter(options.exact_distinct_limit, options.heavy_capacity, false);
    for (size_t i = 0, n = column.size(); i < n; ++i) {
        const double x = values[i];
        if (validity.null(i) || std::isnan(x)) {
            ++out.missing;
            continue;
        }
        ++out.count;
        counter.add(std::bit_cast<uint64_t>(x == 0.0 ? 0.0 : x)); // -0.0 and 0.0 are one value
        check.range(x, i);
        if (std::isinf(x)) {
            ++out.infinite;
            continue;
        }
        moments.add(x);
        buffer.push_back(x);
    }
    moments.fill(out);
    fill_counts<uint64_t, BitsHash>(counter, options, false, out, [](uint64_t, uint64_t) { return TopValue{}; });
    finish_numeric(buffer, options, out);
}

void int_column(const Column& column, const StatisticsOptions& options, ConstraintCheck& check,
                std::vector<double>& buffer, ColumnStatistics& out) {
    const auto* values = static_cast<const int64_t*>(column.data_buffer());
    const Validity validity(column);
    RunningMoments moments;
    ValueCounter<int64_t, IntHash> counter(options.exact_distinct_limit, options.heavy_capacity, true);
    for (size_t i = 0, n = column.size(); i < n; ++i) {
        if (validity.null(i)) {
            ++out.missing;
            continue;
        }
        const int64_t v = values[i];
        const double x = static_cast<double>(v);
        ++out.count;
        counter.add(v);
        check.range(x, i);
        check.domain(v, i);
        moments.add(x);
        buffer.push_back(x);
    }
    moments.fill(out);
    fill_counts<int64_t, IntHash>(counter, options, true, out, [](int64_t key, uint64_t count) {
        return TopValue{std::to_string(key), key, count};
    });
    finish_numeric(buffer, options, out);
}

void bool_column(const Column& column, const StatisticsOptions& options, ColumnStatistics& out) {
    const auto* bits = static_cast<const uint8_t*>(column.data_buffer());
    const Validity validity(column);
    uint64_t trues = 0;
    for (size_t i = 0, n = column.size(); i < n; ++i) {
        if (validity.null(i)) {
            ++out.missing;
            continue;
        }
        ++out.count;
        trues += (bits[i / 8] >> (i % 8)) & 1u;
    }
    const uint64_t falses = out.count - trues;
    if (out.count > 0) {
        const double p = static_cast<double>(trues) / static_cast<double>(out.count);
        out.mean = p;
        out.std = std::sqrt(p * (1.0 - p));
        out.min = falses > 0 ? 0.0 : 1.0;
        out.max = trues > 0 ? 1.0 : 0.0;
    }
    std::vector<TopValue> values;
    if (trues > 0) values.push_back({"true", 1, trues});
    if (falses > 0) values.push_back({"false", 0, falses});
    std::stable_sort(values.begin(), values.end(), [](const TopValue& a, const TopValue& b) { return a.count > b.count; });
    out.distinct = values.size();
    if (values.size() > options.top_values) values.resize(options.top_values);
    out.top_values = values;
}

void string_column(const Column& column, const StatisticsOptions& options, ConstraintCheck& check, ColumnStatistics& out) {
    const char* chars = static_cast<const char*>(column.data_buffer());
    const int64_t* offsets = column.offsets();
    const Validity validity(column);
    ValueCounter<std::string_view, TextHash> counter(options.exact_distinct_limit, options.heavy_capacity, true);
    uint64_t shortest = std::numeric_limits<uint64_t>::max(), longest = 0;
    double total_length = 0;
    for (size_t i = 0, n = column.size(); i < n; ++i) {
        if (validity.null(i)) {
            ++out.missing;
            continue;
        }
        const auto length = static_cast<size_t>(offsets[i + 1] - offsets[i]);
        const std::string_view value(length ? chars + offsets[i] : "", length);
        ++out.count;
        counter.add(value);
        check.domain(value, i);
        shortest = std::min<uint64_t>(shortest, length);
        longest = std::max<uint64_t>(longest, length);
        total_length += static_cast<double>(length);
    }
    if (out.count > 0) {
        out.min_length = shortest;
        out.max_length = longest;
        out.mean_length = total_length / static_cast<double>(out.count);
    }
    fill_counts<std::string_view, TextHash>(counter, options, true, out, [](std::string_view key, uint64_t count) {
        return TopValue{std::string(key), 0, count};
    });
}

} // namespace

const ColumnStatistics* TableStatistics::find(std::string_view name) const {
    for (const auto& column : columns)
        if (column.name == name) return &column;
    return nullptr;
}

std::vector<std::pair<double, double>> exact_quantiles(std::vector<double>& values, const std::vector<double>& qs) {
    const size_t n = values.size();
    std::vector<size_t> ranks;
    for (double q : qs) {
        const auto lower = static_cast<size_t>(std::floor(q * static_cast<double>(n - 1)));
        ranks.push_back(std::min(lower, n - 1));
        ranks.push_back(std::min(lower + 1, n - 1));
    }
    std::sort(ranks.begin(), ranks.end());
    ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
    select_ranks(values.data(), values.data() + n, 0, ranks.data(), ranks.data() + ranks.size());
    std::vector<std::pair<double, double>> out;
    for (double q : qs) {
        const double virtual_index = q * static_cast<double>(n - 1);
        const double lower = std::floor(virtual_index);
        const auto below = std::min(static_cast<size_t>(lower), n - 1);
        const auto above = std::min(below + 1, n - 1);
        out.emplace_back(q, lerp(values[below], values[above], virtual_index - lower));
    }
    return out;
}

std::vector<HistogramBin> equal_width_histogram(const std::vector<double>& values, double min, double max, size_t bins) {
    if (bins == 0) return {};
    double first = min, last = max;
    if (first == last) {
        first -= 0.5;
        last += 0.5;
    }
    std::vector<double> edges(bins + 1);
    const double step = (last - first) / static_cast<double>(bins);
    for (size_t i = 0; i < bins; ++i) edges[i] = static_cast<double>(i) * step + first;
    edges[bins] = last;
    std::vector<uint64_t> counts(bins, 0);
    const double norm = static_cast<double>(bins) / (last - first);
    const auto last_bin = static_cast<ptrdiff_t>(bins) - 1;
    for (double x : values) {
        // As numpy computes it: the scaled index, then one step of correction where rounding put
        // a value beside an edge in the wrong bin.
        auto index = static_cast<ptrdiff_t>((x - first) * norm);
        index = std::clamp<ptrdiff_t>(index, 0, last_bin + 1);
        if (index == last_bin + 1) --index;
        if (x < edges[static_cast<size_t>(index)]) --index;
        else if (index != last_bin && x >= edges[static_cast<size_t>(index) + 1]) ++index;
        ++counts[static_cast<size_t>(std::clamp<ptrdiff_t>(index, 0, last_bin))];
    }
    std::vector<HistogramBin> out(bins);
    for (size_t i = 0; i < bins; ++i) out[i] = {edges[i], edges[i + 1], counts[i]};
    return out;
}

ColumnStatistics column_statistics(const Column& column, const StatisticsOptions& options,
                                   const ColumnConstraints* constraints, std::vector<double>& buffer) {
    ColumnStatistics out;
    out.name = column.name();
    out.type = column.type();
    ConstraintCheck check(constraints, out.violations);
    buffer.clear();
    switch (column.type()) {
    case ColumnType::Float64:
        buffer.reserve(column.size());
        float_column(column, options, check, buffer, out);
        break;
    case ColumnType::Int64:
        buffer.reserve(column.size());
        int_column(column, options, check, buffer, out);
        break;
    case ColumnType::Bool: bool_column(column, options, out); break;
    case ColumnType::String: string_column(column, options, check, out); break;
    }
    return out;
}

TableStatistics table_statistics(const trellis::Table& table, const StatisticsOptions& options,
                                 const std::map<std::string, ColumnConstraints>& constraints,
                                 const std::function<void(size_t)>& before_column) {
    TableStatistics out;
    out.rows = table.num_rows();
    std::vector<double> buffer;
    for (size_t i = 0; i < table.num_columns(); ++i) {
        if (before_column) before_column(i);
        const Column& column = table.column(i);
        const auto it = constraints.find(column.name());
        out.columns.push_back(column_statistics(column, options, it == constraints.end() ? nullptr : &it->second, buffer));
    }
    return out;
}

} // namespace trellis_validate
