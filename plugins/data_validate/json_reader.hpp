// A JSON reader for the hand-edited schema files and the JSON config of data.validate. A plugin
// links the SDK only, and the SDK writes JSON but does not read it, so the plugin carries this
// small reader. Syntax errors give the line and column; values keep their place in the document
// so that shape errors can name a JSON path ($.columns[2].min).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trellis_validate {

/// One JSON value. Object members keep the document's order (schemas are written back in it).
struct JsonValue {
    enum class Kind { Null, Bool, Number, String, Array, Object };
    Kind kind = Kind::Null;
    bool boolean = false;
    double number = 0;
    std::string text;                                     ///< a string's value
    std::vector<JsonValue> items;                         ///< an array's values
    std::vector<std::pair<std::string, JsonValue>> members; ///< an object's members, in order

    /// The member `key` of an object, or nullptr (also for a value that is not an object).
    const JsonValue* find(std::string_view key) const;
    /// Whether a number is a whole number that an int64 holds exactly.
    bool is_integer() const;
};

/// "null", "a boolean", "a number", "a string", "an array" or "an object", for messages.
const char* describe(JsonValue::Kind kind);

/// A document that is not JSON. what() is "line L, column C: why"; columns count bytes from 1.
class JsonSyntaxError : public std::invalid_argument {
public:
    JsonSyntaxError(size_t line, size_t column, const std::string& why);
    size_t line() const noexcept { return line_; }
    size_t column() const noexcept { return column_; }

private:
    size_t line_, column_;
};

/// Parses a whole JSON document (RFC 8259; duplicate object keys are refused, nesting is limited
/// to 64 levels). Throws JsonSyntaxError.
JsonValue parse_json(std::string_view text);

} // namespace trellis_validate
