#include "csv_reader.hpp"

namespace trellis_csv {

std::vector<Row> parse_csv(std::string_view text, char delimiter, const std::function<void()>& check_cancelled) {
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    std::vector<Row> rows;
    Row row;
    Field field;
    size_t line = 1, column = 1;
    size_t i = 0;
    bool field_started = false; // anything (even an empty field before a delimiter) on this row

    auto start_field = [&] {
        field = Field{};
        field.line = line;
        field.column = column;
    };
    auto end_row = [&] {
        if (field_started || !row.empty()) {
            row.push_back(std::move(field));
            rows.push_back(std::move(row));
            if (check_cancelled && rows.size() % 4096 == 0) check_cancelled();
        }
        row.clear();
        field_started = false;
        start_field();
    };

    start_field();
    while (i < text.size()) {
        const char c = text[i];
        if (c == '"' && field.text.empty() && !field.quoted) {
            // A quoted field: read to the closing quote; "" is a literal quote.
            field.quoted = true;
            field_started = true;
            const size_t open_line = line, open_column = column;
            ++i, ++column;
            for (;;) {
                if (i >= text.size()) throw ParseError(open_line, open_column, "unterminated quoted field");
                const char q = text[i];
                if (q == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        field.text += '"';
                        i += 2, column += 2;
                        continue;
                    }
                    ++i, ++column;
                    break;
                }
                if (q == '\n') ++line, column = 1;
                else ++column;
                field.text += q;
                ++i;
            }
            if (i < text.size() && text[i] != delimiter && text[i] != '\n' && text[i] != '\r')
                throw ParseError(line, column, "unexpected character after a closing quote");
            continue;
        }
        if (c == delimiter) {
            row.push_back(std::move(field));
            field_started = true;
            ++i, ++column;
            start_field();
            continue;
        }
        if (c == '\r' || c == '\n') {
            end_row();
            i += (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ? 2 : 1;
            ++line, column = 1;
            start_field();
            continue;
        }
        if (field.quoted) throw ParseError(line, column, "unexpected character after a closing quote");
        field.text += c;
        field_started = true;
        ++i, ++column;
    }
    end_row();
    return rows;
}

} // namespace trellis_csv
