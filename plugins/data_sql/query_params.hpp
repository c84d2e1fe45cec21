// The `params` config of data.sql: a list of scalar values bound to the query's placeholders
// ($1..$n for PostgreSQL, ?/?NNN for SQLite), never spliced into its text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace data_sql {

/// One bound value. `text` holds the value as PostgreSQL's text input reads it (a decimal number,
/// "true"/"false", the string itself); SQLite binds the typed value.
struct QueryParam {
    enum class Kind { Null, Bool, Int, Float, String };
    Kind kind = Kind::Null;
    bool boolean = false;
    int64_t integer = 0;
    double real = 0;
    std::string text;
};

/// Parses `params`, given as JSON text: an array of null, booleans, numbers and strings, or a JSON
/// string that itself holds such an array (the way to write a null from Lua). std::invalid_argument
/// naming `params` and the element at fault otherwise.
std::vector<QueryParam> parse_params(std::string_view json);

} // namespace data_sql
