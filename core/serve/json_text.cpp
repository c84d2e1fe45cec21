#include "serve/json_text.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>

namespace trellis::serve {

void append_json_string(std::string& out, std::string_view text) {
    bool plain = true;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte >= 0x80 || c == '"' || c == '\\') {
            plain = false;
            break;
        }
    }
    if (plain) {
        out += '"';
        out += text;
        out += '"';
        return;
    }
    // Escapes and UTF-8 checks are nlohmann's; such strings are rare on this path.
    out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_json_number(std::string& out, double value) {
    if (!std::isfinite(value)) {
        out += "null";
        return;
    }
    char text[32];
    const auto [end, error] = std::to_chars(text, text + sizeof text, value);
    std::string_view written(text, static_cast<size_t>(end - text));
    out += written;
    // "1" reads back as an integer; keep floats floats, as nlohmann writes them ("1.0").
    if (written.find_first_of(".e") == std::string_view::npos && written.find("inf") == std::string_view::npos) out += ".0";
}

void append_json_number(std::string& out, int64_t value) {
    char text[24];
    const auto [end, error] = std::to_chars(text, text + sizeof text, value);
    out.append(text, static_cast<size_t>(end - text));
}

void append_json_column(std::string& out, const Column& column) {
    out += '[';
    for (size_t r = 0; r < column.size(); ++r) {
        if (r) out += ',';
        if (column.is_null(r)) {
            out += "null";
            continue;
        }
        switch (column.type()) {
        case ColumnType::Int64: append_json_number(out, column.int_at(r)); break;
        case ColumnType::Float64: append_json_number(out, column.float_at(r)); break;
        case ColumnType::Bool: out += column.bool_at(r) ? "true" : "false"; break;
        case ColumnType::String: append_json_string(out, column.string_at(r)); break;
        }
    }
    out += ']';
}

void append_json_table(std::string& out, const Table& table) {
    out += '{';
    bool first = true;
    for (const auto& column : table.columns()) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, column.name());
        out += ':';
        append_json_column(out, column);
    }
    out += '}';
}

} // namespace trellis::serve
