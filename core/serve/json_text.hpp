// JSON text written straight into a string, without building a document first: the serving hot
// path (infer responses) and the prediction log write a value per cell, and a document costs an
// allocation per number. Doubles are written in their shortest round-trip form.
#pragma once

#include <trellis/table.hpp>

#include <string>
#include <string_view>

namespace trellis::serve {

// A JSON string with its escapes; invalid UTF-8 becomes U+FFFD.
void append_json_string(std::string& out, std::string_view text);
// A number; NaN and infinities (which JSON lacks) are written as null.
void append_json_number(std::string& out, double value);
void append_json_number(std::string& out, int64_t value);
// The column's values as an array, null for a missing value.
void append_json_column(std::string& out, const Column& column);
// {"<name>": [...], ...} for every column.
void append_json_table(std::string& out, const Table& table);

} // namespace trellis::serve
