// data.split: divides a table's rows into a train and a test part, optionally keeping each class
// of a column in the same proportion in both (stratified), reproducibly from a seed.
#include <trellis/sdk.hpp>

#include <algorithm>

#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace {

using trellis::Column;
using trellis::ColumnType;

// splitmix64: a tiny generator whose output is fixed by its definition, unlike std::
// distributions, so the same seed gives the same split on every platform and standard library.
class SplitMix64 {
public:
    explicit SplitMix64(uint64_t seed) : state_(seed) {}

    // The reference splitmix64 step, so outputs can be checked against any other implementation.
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    // Uniform in [0, bound) by rejection, so no index is favoured by modulo bias.
    uint64_t below(uint64_t bound) {
        const uint64_t threshold = (0 - bound) % bound; // 2^64 mod bound
        for (;;) {
            const uint64_t r = next();
            if (r >= threshold) return r % bound;
        }
    }

private:
    uint64_t state_;
};

// A key that identifies a stratum; types are kept apart and floats compare by bits so that
// every distinct value (even NaN) is its own class.
std::pair<int, std::string> stratum_key(const Column& column, size_t row) {
    switch (column.type()) {
    case ColumnType::Int64: return {1, std::to_string(column.int_at(row))};
    case ColumnType::Float64: {
        double value = column.float_at(row);
        if (value == 0.0) value = 0.0; // -0.0 and 0.0 are the same class
        return {2, std::to_string(std::bit_cast<uint64_t>(value))};
    }
    case ColumnType::Bool: return {3, column.bool_at(row) ? "1" : "0"};
    case ColumnType::String: return {4, std::string(column.string_at(row))};
    }
    return {0, {}};
}

// Copies the rows listed in `rows` (ascending) of `source` into a new column of the same name and
// type, because SDK columns are append-only.
Column take_rows(const Column& source, const std::vector<size_t>& rows) {
    Column out(source.name(), source.type());
    out.reserve(rows.size());
    for (size_t row : rows) {
        if (source.is_null(row)) {
            out.append_null();
            continue;
        }
        switch (source.type()) {
        case ColumnType::Int64: out.append_int(source.int_at(row)); break;
        case ColumnType::Float64: out.append_float(source.float_at(row)); break;
        case ColumnType::Bool: out.append_bool(source.bool_at(row)); break;
        case ColumnType::String: out.append_string(source.string_at(row)); break;
        }
    }
    return out;
}

// Holds out a fraction of a table's rows for testing; a stage of its own so that every pipeline
// splits the same, documented way and the split is part of the recorded lineage.
// How many test rows each stratum gives: round(n * fraction) in all, shared out by largest
// remainder so that many small classes do not each round up and overshoot the fraction.
std::vector<size_t> allocate_test_rows(const std::vector<std::vector<size_t>>& strata, size_t n, double fraction) {
    const auto total = static_cast<size_t>(std::llround(static_cast<double>(n) * fraction));
    std::vector<size_t> counts(strata.size());
    std::vector<std::pair<double, size_t>> remainders; // (remainder, stratum), largest first
    size_t given = 0;
    for (size_t s = 0; s < strata.size(); ++s) {
        const double exact = static_cast<double>(strata[s].size()) * fraction;
        counts[s] = static_cast<size_t>(exact);
        given += counts[s];
        remainders.emplace_back(exact - static_cast<double>(counts[s]), s);
    }
    // Ties go to the stratum seen first, so the result depends only on the data.
    std::stable_sort(remainders.begin(), remainders.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t k = 0; given < total && k < remainders.size(); ++k) {
        const size_t s = remainders[k].second;
        if (counts[s] < strata[s].size()) {
            ++counts[s];
            ++given;
        }
    }
    return counts;
}

class Splitter : public trellis::DataStage {
public:
    // Declares the ports and keys so the host validates config before run() and documents the stage.
    static trellis::StageSpec spec() {
        return trellis::StageSpec("data.split", "splits a table's rows into train and test tables")
            .input("table", trellis::ArtifactType::Table, "the rows to split")
            .output("train", trellis::ArtifactType::Table, "rows not held out, in their original order")
            .output("test", trellis::ArtifactType::Table, "held-out rows, in their original order")
            .option_float("test_fraction", 0.2, "share of rows (of each class when stratified) held out, 0 < f < 1")
            .option_int("seed", 42, "seed of the shuffle; the same seed gives the same split")
            .optional("stratify", trellis::ValueType::String,
                      "column whose classes keep their proportion in both parts")
            .option_bool("shuffle", true, "shuffle before splitting; false holds out the last rows");
    }

    // Validates config, picks the test rows per stratum, then copies rows out in their original
    // order so the outputs do not depend on the shuffle beyond which rows were chosen.
    void run(trellis::Context& ctx) override {
        const double fraction = ctx.config<double>("test_fraction");
        if (!(fraction > 0.0 && fraction < 1.0))
            throw std::invalid_argument("test_fraction must be between 0 and 1 (exclusive), not " +
                                        std::to_string(fraction));
        const auto seed = static_cast<uint64_t>(ctx.config<int64_t>("seed"));
        const bool shuffle = ctx.config<bool>("shuffle");
        const trellis::Table table = ctx.input<trellis::Table>("table");
        const size_t n = table.num_rows();
        if (n == 0) throw std::invalid_argument("input 'table' has no rows to split");

        std::string stratify;
        if (ctx.config_is_set("stratify")) {
            stratify = ctx.config<std::string>("stratify");
            if (stratify.empty()) throw std::invalid_argument("stratify must name a column, not be empty");
        }
        const Strata grouped = group_rows(table, stratify);
        const std::vector<std::vector<size_t>>& strata = grouped.rows;

        const std::vector<size_t> test_counts = allocate_test_rows(strata, n, fraction);
        if (!stratify.empty()) warn_one_sided_classes(ctx, grouped, test_counts, stratify);
        std::vector<bool> is_test(n, false);
        SplitMix64 rng(seed);
        for (size_t s = 0; s < strata.size(); ++s) {
            const auto& stratum = strata[s];
            const size_t n_test = test_counts[s];
            std::vector<size_t> order = stratum;
            if (shuffle) { // Fisher-Yates; one generator across strata, in first-seen order
                for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
                for (size_t i = 0; i < n_test; ++i) is_test[order[i]] = true;
            } else {
                for (size_t i = order.size() - n_test; i < order.size(); ++i) is_test[order[i]] = true;
            }
            ctx.throw_if_cancelled();
        }

        std::vector<size_t> train_rows, test_rows;
        for (size_t row = 0; row < n; ++row) (is_test[row] ? test_rows : train_rows).push_back(row);
        if (test_rows.empty())
            throw std::invalid_argument("test_fraction " + std::to_string(fraction) + " of " + std::to_string(n) +
                                        " rows leaves the test table empty; raise test_fraction or add rows");
        if (train_rows.empty())
            throw std::invalid_argument("test_fraction " + std::to_string(fraction) + " of " + std::to_string(n) +
                                        " rows leaves the train table empty; lower test_fraction or add rows");

        trellis::Table train, test;
        for (const Column& column : table.columns()) {
            train.add_column(take_rows(column, train_rows));
            test.add_column(take_rows(column, test_rows));
            ctx.throw_if_cancelled();
        }
        ctx.log().info("split " + std::to_string(n) + " rows into " + std::to_string(train_rows.size()) + " train and " +
                       std::to_string(test_rows.size()) + " test rows" +
                       (stratify.empty() ? "" : " over " + std::to_string(strata.size()) + " classes of '" + stratify + "'"));
        ctx.output("train", train);
        ctx.output("test", test);
    }

private:
    // The strata: each one's rows in ascending order and its class as text for messages.
    struct Strata {
        std::vector<std::vector<size_t>> rows;
        std::vector<std::string> names;
    };

    // A class too small for the fraction ends up in one part only: a classifier trained on the
    // train part cannot learn it, or the test part cannot measure it. Say so, naming the classes.
    static void warn_one_sided_classes(trellis::Context& ctx, const Strata& strata, const std::vector<size_t>& test_counts,
                                       const std::string& column) {
        std::string train_only, test_only;
        const auto add = [&](std::string& list, size_t s) {
            const size_t rows = strata.rows[s].size();
            list += (list.empty() ? "'" : ", '") + strata.names[s] + "' (" + std::to_string(rows) + (rows == 1 ? " row)" : " rows)");
        };
        for (size_t s = 0; s < strata.rows.size(); ++s) {
            if (test_counts[s] == 0) add(train_only, s);
            else if (test_counts[s] == strata.rows[s].size()) add(test_only, s);
        }
        if (!train_only.empty())
            ctx.log().warn("stratify: class(es) " + train_only + " of '" + column + "' are too small to be in the test part");
        if (!test_only.empty())
            ctx.log().warn("stratify: class(es) " + test_only + " of '" + column +
                           "' are all in the test part, so a model trained on the train part never sees them");
    }

    // The strata as row lists in ascending order: one per class of `column` in order of first
    // appearance (so the result does not depend on how classes sort), or all rows when unset.
    static Strata group_rows(const trellis::Table& table, const std::string& column_name) {
        const size_t n = table.num_rows();
        if (column_name.empty()) {
            std::vector<size_t> all(n);
            std::iota(all.begin(), all.end(), size_t{0});
            return {{std::move(all)}, {""}};
        }
        const Column* column = table.find(column_name);
        if (!column) throw std::invalid_argument("stratify: no column '" + column_name + "' in input 'table' (columns: " +
                                                trellis::column_list(table) + ")");
        std::map<std::pair<int, std::string>, size_t> index;
        Strata strata;
        for (size_t row = 0; row < n; ++row) {
            if (column->is_null(row))
                throw std::invalid_argument("stratify: column '" + column_name + "' is null at row " + std::to_string(row) +
                                            "; drop or fill missing classes first");
            const auto [it, added] = index.try_emplace(stratum_key(*column, row), strata.rows.size());
            if (added) {
                strata.rows.emplace_back();
                strata.names.push_back(column->type() == ColumnType::Float64 ? std::to_string(column->float_at(row))
                                                                              : trellis::label_text(*column, row));
            }
            strata.rows[it->second].push_back(row);
        }
        return strata;
    }
};

const trellis::PluginInfo info{
    .name = "data-split",
    .version = "0.1.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "splits tables into train and test parts",
};

} // namespace

TRELLIS_PLUGIN(info, Splitter)
