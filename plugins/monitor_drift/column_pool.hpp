// Compares many columns at once: each column is independent and a million-row column takes tens
// of milliseconds, so columns are the unit of work spread over the cores.
#pragma once

#include "column_drift.hpp"

#include <trellis/table.hpp>

#include <functional>
#include <string>
#include <vector>

namespace drift {

/// The options for a column, by name.
using OptionsFor = std::function<const ColumnOptions&(const std::string& column)>;

/// Runs column_drift() on every named column of both tables, on up to one thread per core (the
/// calling thread included), and returns the results in the order of `names`. `cancelled` is
/// asked between columns on the calling thread only (a host callback need not be thread-safe);
/// once it says yes the remaining columns are left undone and the result is empty. The first
/// exception a column throws is rethrown after every thread has stopped.
std::vector<ColumnDrift> compare_columns(const trellis::Table& reference, const trellis::Table& current,
                                         const std::vector<std::string>& names, const OptionsFor& options_for,
                                         const std::function<bool()>& cancelled);

} // namespace drift
