// The `fingerprint` config of data.sql: what, besides the query, params and connection target,
// decides whether a cached result is still good. "table:<name>" stands for the table's row count
// and largest id, "version:<sql>" for the value an SQL query or expression gives, "always" for
// never reusing a result, and "" for nothing more.
#pragma once

#include <string>

namespace data_sql {

/// A parsed `fingerprint` value.
struct FingerprintSpec {
    enum class Kind { None, Always, Table, Version };
    Kind kind = Kind::None;
    std::string sql; ///< Table and Version: the query whose first row is the fingerprint
};

/// Parses `text`; `id_column` is the column whose maximum "table:" takes. std::invalid_argument
/// naming `fingerprint` for anything else.
FingerprintSpec parse_fingerprint(const std::string& text, const std::string& id_column);

/// `name`, or schema.name, quoted as SQL identifiers ("a"."b"), the same in SQLite and
/// PostgreSQL: table and column names are identifiers, which no placeholder can take.
std::string quote_identifier_path(const std::string& name);

} // namespace data_sql
