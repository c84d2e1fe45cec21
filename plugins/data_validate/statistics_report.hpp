// The statistics Report: JSON of kind "trellis.data_statistics", version 1, whose shape is
// documented in the README (`trellis runs show` prints it as a table of columns).
#pragma once

#include "column_statistics.hpp"

#include <string>

namespace trellis_validate {

/// The "kind" of the statistics Report.
inline constexpr const char* statistics_kind = "trellis.data_statistics";

/// The statistics as a Report's JSON text, one column per line.
std::string statistics_json(const TableStatistics& statistics);

/// A top value as JSON: a string quoted, an int as a number, a bool as true/false.
std::string value_json(const TopValue& value, trellis::ColumnType type);

} // namespace trellis_validate
