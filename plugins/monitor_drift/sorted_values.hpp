// The non-missing values of a numeric column in ascending order: what the KS test and the
// Wasserstein distance walk, and the reference's quantiles come from.
#pragma once

#include <trellis/table.hpp>

#include <cstddef>
#include <vector>

namespace drift {

/// A numeric column's present values, sorted, and how many were missing (null or NaN).
struct SortedValues {
    std::vector<double> values;
    size_t missing = 0;
};

/// Reads an Int64 or Float64 column into ascending order. Ints become doubles; -0.0 becomes 0.0,
/// so equal values are adjacent. A radix sort: a million values take a few milliseconds, a
/// fraction of a comparison sort's time, which is what makes whole-window exact tests affordable.
SortedValues sorted_values(const trellis::Column& column);

/// Sorts `values` (no NaN) ascending in place with the same radix sort.
void radix_sort(std::vector<double>& values);

} // namespace drift
