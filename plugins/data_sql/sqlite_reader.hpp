// Reading a query's rows from a SQLite file, opened read-only.
#pragma once

#include "query_params.hpp"
#include "read_progress.hpp"

#include <trellis/table.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace data_sql {

/// What to read: one SQL statement, its bound params, and how many rows make a batch (between
/// batches, progress is reported and cancellation honoured).
struct ReadRequest {
    std::string query;
    std::vector<QueryParam> params;
    int64_t batch_rows = 10000;
    int64_t timeout_seconds = 10; ///< how long to wait to connect (SQLite: for a locked file)
};

/// The rows of `request.query` on the SQLite file `path` as a typed Table. Column types come
/// from each result column's declared type affinity (INT → int, REAL/FLOA/DOUB → float,
/// CHAR/CLOB/TEXT → string, BOOL → bool), else from its values' storage classes.
/// std::invalid_argument for bad input (missing file, query error with its offset, wrong number
/// of params, a BLOB or mixed column), naming the file and the thing at fault.
trellis::Table read_sqlite(const std::string& path, const ReadRequest& request, ReadProgress& progress);

/// The first row of `sql` on `path` as text ("none" without rows): what a fingerprint stands for.
std::string sqlite_first_row(const std::string& path, const std::string& sql, int64_t timeout_seconds);

} // namespace data_sql
