#include "binning.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace drift {
namespace {

// Rows of a sorted sample in [low, high): found by binary search, so counting is O(bins log n).
uint64_t count_between(const std::vector<double>& sorted, double low, double high) {
    const auto first = std::lower_bound(sorted.begin(), sorted.end(), low);
    const auto last = std::lower_bound(first, sorted.end(), high);
    return static_cast<uint64_t>(last - first);
}

void add_missing_bin(std::vector<Bin>& bins, uint64_t reference_missing, uint64_t current_missing) {
    if (reference_missing || current_missing) bins.push_back({missing_label, reference_missing, current_missing});
}

} // namespace

std::string short_number(double value) {
    char text[32];
    const auto result = std::to_chars(text, text + sizeof text, value);
    return std::string(text, result.ptr);
}

std::vector<Bin> quantile_bins(const SortedValues& reference, const SortedValues& current, int64_t bins) {
    const std::vector<double>& sorted = reference.values;
    const uint64_t n = sorted.size();
    std::vector<double> cuts;
    for (int64_t k = 1; k < bins && n > 0; ++k) {
        const double cut = sorted[static_cast<size_t>(static_cast<uint64_t>(k) * n / static_cast<uint64_t>(bins))];
        if (cut > sorted.front() && (cuts.empty() || cut > cuts.back())) cuts.push_back(cut);
    }
    constexpr double infinity = std::numeric_limits<double>::infinity();
    std::vector<Bin> out;
    const auto add = [&](std::string label, double low, double high) {
        out.push_back({std::move(label), count_between(reference.values, low, high),
                       count_between(current.values, low, high)});
    };
    if (n == 0) {
        add("(-inf, +inf)", -infinity, infinity);
        // lower_bound(+inf) leaves +inf values out: count them in.
        out.back().current = current.values.size();
    } else if (cuts.empty()) {
        const double v = sorted.front();
        const std::string text = short_number(v);
        add("(-inf, " + text + ")", -infinity, v);
        add("[" + text + ", " + text + "]", v, std::nextafter(v, infinity));
        out.push_back({"(" + text + ", +inf)", 0, 0});
        out.back().reference = n - out[0].reference - out[1].reference;
        out.back().current = current.values.size() - out[0].current - out[1].current;
    } else {
        add("(-inf, " + short_number(cuts.front()) + ")", -infinity, cuts.front());
        for (size_t i = 0; i + 1 < cuts.size(); ++i)
            add("[" + short_number(cuts[i]) + ", " + short_number(cuts[i + 1]) + ")", cuts[i], cuts[i + 1]);
        // The last bin is closed at +inf: whatever the other bins did not take.
        Bin last{"[" + short_number(cuts.back()) + ", +inf)", n, current.values.size()};
        for (const Bin& bin : out) {
            last.reference -= bin.reference;
            last.current -= bin.current;
        }
        out.push_back(std::move(last));
    }
    add_missing_bin(out, reference.missing, current.missing);
    return out;
}

std::vector<Bin> value_bins(const SortedValues& reference, const SortedValues& current) {
    std::vector<Bin> out;
    size_t before_i = 0, before_j = 0;
    for_each_distinct_value(reference.values, current.values, [&](double value, size_t i, size_t j) {
        out.push_back({short_number(value), i - before_i, j - before_j});
        before_i = i;
        before_j = j;
    });
    return out;
}

std::vector<Bin> category_bins(const trellis::Column& reference, const trellis::Column& current) {
    std::unordered_map<std::string, Bin> categories;
    uint64_t missing[2] = {0, 0};
    const auto count = [&](const trellis::Column& column, uint64_t Bin::*side, uint64_t& nulls) {
        for (size_t i = 0; i < column.size(); ++i) {
            if (column.is_null(i)) {
                ++nulls;
                continue;
            }
            std::string key = column.type() == trellis::ColumnType::Bool ? (column.bool_at(i) ? "true" : "false")
                                                                         : std::string(column.string_at(i));
            auto found = categories.find(key);
            if (found == categories.end()) found = categories.emplace(key, Bin{key}).first;
            ++(found->second.*side);
        }
    };
    count(reference, &Bin::reference, missing[0]);
    count(current, &Bin::current, missing[1]);
    std::vector<Bin> out;
    out.reserve(categories.size() + 1);
    for (auto& entry : categories) out.push_back(std::move(entry.second));
    std::sort(out.begin(), out.end(), [](const Bin& a, const Bin& b) { return a.label < b.label; });
    add_missing_bin(out, missing[0], missing[1]);
    return out;
}

} // namespace drift
