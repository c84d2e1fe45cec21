// Reading a query's rows from a PostgreSQL server with libpq: params bound through the extended
// protocol (never spliced into the SQL), rows fetched in binary through a cursor in batches, in a
// read-only transaction.
#pragma once

#include "read_progress.hpp"
#include "sqlite_reader.hpp" // ReadRequest

#include <trellis/table.hpp>

#include <cstdint>
#include <string>

namespace data_sql {

/// A PostgreSQL server to read from. The password, if any, comes from the environment variable
/// the pipeline named; otherwise libpq finds it (PGPASSWORD, ~/.pgpass, a service file).
struct PostgresSource {
    std::string conninfo;          ///< libpq URI or key=value string, without a password
    std::string password;          ///< empty: let libpq find it
    int64_t connect_timeout = 10;  ///< seconds to wait for the server before giving up
};

/// The rows of `request.query` as a typed Table (int2/int4/int8/oid → int, float4/float8/numeric
/// → float, bool → bool, text/varchar/char/name/json/jsonb/xml/uuid/date/time/timestamp/
/// timestamptz → string). std::invalid_argument for a query error (with the server's message and
/// position), a wrong number of params or an unsupported column type; std::runtime_error when the
/// server cannot be reached. No message holds the password.
trellis::Table read_postgres(const PostgresSource& source, const ReadRequest& request, ReadProgress& progress);

/// The first row of `sql` as text ("none" without rows), run in a read-only transaction that
/// gives up after 60 s: what a fingerprint stands for.
std::string postgres_first_row(const PostgresSource& source, const std::string& sql);

} // namespace data_sql
