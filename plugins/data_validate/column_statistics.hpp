// Statistics of a Table's columns, and the schema checks that need every value, in one pass over
// each column's Arrow buffers.
//
// The pass keeps, per column: counts, Welford's running mean and variance, min and max, distinct
// and most frequent values (value_counter.hpp), the schema's range and domain checks, and, for
// numeric columns, a copy of the finite values in one reused buffer of doubles. Quantiles and the
// histogram are then taken from that buffer, which is already in memory and contiguous: the
// quantiles by selection (std::nth_element on the few ranks needed, O(n) each, exact), the
// histogram by one cheap counting loop over the buffer, since its equal-width bins need the
// column's min and max, known only at the end of the pass. So the table is read once; the extra
// cost is one buffer of 8 bytes per row of the widest numeric column.
#pragma once

#include <trellis/table.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace trellis_validate {

/// What to compute. The quantiles are fixed by the stage (documented in its README).
struct StatisticsOptions {
    std::vector<double> quantiles = {0.01, 0.25, 0.5, 0.75, 0.99};
    size_t histogram_bins = 10;
    size_t top_values = 5;
    size_t exact_distinct_limit = 100000; ///< distinct values counted exactly; beyond, estimated
    size_t heavy_capacity = 1000;         ///< Space-Saving counters once estimated
    size_t keep_values_limit = 20;        ///< columns with at most this many distinct values keep them all
};

/// A column's schema constraints, checked during the pass. Ranges apply to int and float
/// columns, domains to int and string columns.
struct ColumnConstraints {
    std::optional<double> min, max;
    bool check_domain = false;
    std::unordered_set<std::string_view> string_domain; ///< views of the schema's strings
    std::unordered_set<int64_t> int_domain;
};

/// What broke the constraints.
struct ConstraintCounts {
    uint64_t below_min = 0, above_max = 0;
    double lowest = std::numeric_limits<double>::infinity();   ///< smallest value below min
    double highest = -std::numeric_limits<double>::infinity(); ///< largest value above max
    std::optional<size_t> first_out_of_range_row;
    uint64_t unseen = 0;                        ///< values outside the domain
    std::map<std::string, uint64_t> unseen_values; ///< value (as text) -> count, the first 1000 distinct
    std::optional<size_t> first_unseen_row;
};

/// One bin of an equal-width histogram; the last bin includes its upper edge.
struct HistogramBin {
    double low = 0, high = 0;
    uint64_t count = 0;
};

/// One of the most frequent values: its text (a string's value, an int or bool in decimal or
/// true/false) and how often it occurs.
struct TopValue {
    std::string text;
    int64_t integer = 0; ///< int columns: the value
    uint64_t count = 0;
};

struct ColumnStatistics {
    std::string name;
    trellis::ColumnType type = trellis::ColumnType::Float64;
    uint64_t count = 0;    ///< values present (not null, not NaN)
    uint64_t missing = 0;  ///< nulls, and NaN in float columns
    uint64_t infinite = 0; ///< float columns: +-infinity (left out of mean, std, min, max, quantiles, histogram)
    std::optional<double> mean, std, min, max; ///< int, float, bool (as 0/1); std is the population one
    std::vector<std::pair<double, double>> quantiles; ///< (q, value), int and float columns
    std::vector<HistogramBin> histogram;               ///< int and float columns
    uint64_t distinct = 0;
    bool distinct_exact = true;
    std::vector<TopValue> top_values; ///< int, bool and string columns
    bool top_values_exact = true;
    /// Every distinct value, when exact and at most keep_values_limit of them (int, string).
    std::optional<std::vector<TopValue>> all_values;
    std::optional<uint64_t> min_length, max_length; ///< string columns, in bytes
    std::optional<double> mean_length;
    ConstraintCounts violations;
};

struct TableStatistics {
    size_t rows = 0;
    std::vector<ColumnStatistics> columns;
    /// The statistics of column `name`, or nullptr.
    const ColumnStatistics* find(std::string_view name) const;
};

/// Statistics of one column; `constraints` (may be null) are checked in the same pass.
/// `buffer` is scratch space reused between columns.
ColumnStatistics column_statistics(const trellis::Column& column, const StatisticsOptions& options,
                                   const ColumnConstraints* constraints, std::vector<double>& buffer);

/// Statistics of every column, in table order. `constraints` maps column names to their checks;
/// `before_column(i)` is called before column i (progress, cancellation).
TableStatistics table_statistics(const trellis::Table& table, const StatisticsOptions& options,
                                 const std::map<std::string, ColumnConstraints>& constraints,
                                 const std::function<void(size_t)>& before_column = {});

/// The quantiles of `values` as numpy.quantile(values, q) computes them (linear interpolation
/// between the closest ranks). Reorders `values`; `values` must not be empty.
std::vector<std::pair<double, double>> exact_quantiles(std::vector<double>& values, const std::vector<double>& qs);

/// numpy.histogram(values, bins): equal-width bins from min to max (max - 0.5 .. max + 0.5 for a
/// constant column), a value on an inner edge in the bin above it, the maximum in the last bin.
std::vector<HistogramBin> equal_width_histogram(const std::vector<double>& values, double min, double max, size_t bins);

} // namespace trellis_validate
