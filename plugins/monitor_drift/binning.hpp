// Turns two columns into counts per bin: equal-frequency bins of the reference for numbers, one
// bin per category otherwise, and a `missing` bin for nulls and NaN. PSI and Jensen–Shannon
// compare the shares; chi-squared compares the counts of present categories.
#pragma once

#include "sorted_values.hpp"

#include <trellis/table.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace drift {

/// One bin: a label people read and the row counts on each side.
struct Bin {
    std::string label;
    uint64_t reference = 0;
    uint64_t current = 0;
};

/// The label of the bin for nulls and NaN; always the last bin when present.
inline constexpr const char* missing_label = "missing";

/// Equal-frequency bins from the sorted reference: cut points at reference ranks k*n/bins,
/// repeated cuts and a cut at the minimum dropped; outer bins take everything beyond the
/// reference's range. A constant reference gets below / equal / above. Adds a missing bin when
/// either side has missing values.
std::vector<Bin> quantile_bins(const SortedValues& reference, const SortedValues& current, int64_t bins);

/// One bin per distinct present value of either sorted sample, ascending.
std::vector<Bin> value_bins(const SortedValues& reference, const SortedValues& current);

/// One bin per category (string or bool) seen on either side, in byte order (false before
/// true), then the missing bin when either side has nulls.
std::vector<Bin> category_bins(const trellis::Column& reference, const trellis::Column& current);

/// The shortest text that reads back as `value`.
std::string short_number(double value);

} // namespace drift
