// Parses CSV text (RFC 4180: quoted fields, doubled quotes, newlines inside quotes) into rows of
// fields, remembering where each field started so errors can name line and column.
#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace trellis_csv {

struct Field {
    std::string text;
    size_t line = 0;   // 1-based line where the field starts
    size_t column = 0; // 1-based character column where the field starts
    bool quoted = false;
};

using Row = std::vector<Field>;

// A parse error; what() is "line:column: message" (the caller prefixes the file name).
class ParseError : public std::runtime_error {
public:
    ParseError(size_t line, size_t column, const std::string& message)
        : std::runtime_error(std::to_string(line) + ":" + std::to_string(column) + ": " + message) {}
};

// Splits `text` into rows. Blank lines are skipped. A UTF-8 byte-order mark is ignored.
// `check_cancelled` is called every few thousand rows, so a big file can be abandoned midway.
std::vector<Row> parse_csv(std::string_view text, char delimiter, const std::function<void()>& check_cancelled = {});

} // namespace trellis_csv
