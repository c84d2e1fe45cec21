#include "json_reader.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace trellis_validate {

namespace {

std::string position_text(size_t line, size_t column, const std::string& why) {
    return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + why;
}

// Recursive descent over the text; every error is reported where the offending byte is.
class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    JsonValue document() {
        skip_space();
        if (pos_ == text_.size()) fail("the document is empty; expected a JSON value");
        JsonValue out = value(0);
        skip_space();
        if (pos_ != text_.size()) fail("unexpected text after the JSON value");
        return out;
    }

private:
    [[noreturn]] void fail(const std::string& why) const {
        size_t line = 1, column = 1;
        for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
            if (text_[i] == '\n') {
                ++line;
                column = 1;
            } else {
                ++column;
            }
        }
        throw JsonSyntaxError(line, column, why);
    }

    // The byte at the cursor for a message: printable as itself, anything else by its code.
    std::string here() const {
        if (pos_ >= text_.size()) return "the end of the document";
        const auto c = static_cast<unsigned char>(text_[pos_]);
        if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
        char code[16];
        std::snprintf(code, sizeof code, "byte 0x%02x", c);
        return code;
    }

    void skip_space() {
        while (pos_ < text_.size() &&
               (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t' || text_[pos_] == '\r'))
            ++pos_;
    }

    bool take(char c) {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    JsonValue value(int depth) {
        if (depth > 64) fail("nesting deeper than 64 levels");
        skip_space();
        if (pos_ >= text_.size()) fail("unexpected end of the document; expected a value");
        const char c = text_[pos_];
        if (c == '{') return object(depth);
        if (c == '[') return array(depth);
        JsonValue out;
        if (c == '"') {
            out.kind = JsonValue::Kind::String;
            out.text = string();
            return out;
        }
        if (word("true")) {
            out.kind = JsonValue::Kind::Bool;
            out.boolean = true;
            return out;
        }
        if (word("false")) {
            out.kind = JsonValue::Kind::Bool;
            return out;
        }
        if (word("null")) return out;
        if (c == '-' || (c >= '0' && c <= '9')) {
            out.kind = JsonValue::Kind::Number;
            out.number = number();
            return out;
        }
        fail("expected a value (object, array, string, number, true, false or null), found " + here());
    }

    bool word(std::string_view literal) {
        if (text_.substr(pos_, literal.size()) != literal) return false;
        pos_ += literal.size();
        return true;
    }

    JsonValue object(int depth) {
        JsonValue out;
        out.kind = JsonValue::Kind::Object;
        ++pos_; // '{'
        if (take('}')) return out;
        for (;;) {
            skip_space();
            if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a member name in double quotes, found " + here());
            const size_t key_at = pos_;
            std::string key = string();
            for (const auto& member : out.members)
                if (member.first == key) {
                    pos_ = key_at;
                    fail("duplicate member \"" + key + "\"");
                }
            if (!take(':')) fail("expected ':' after the member name, found " + here());
            JsonValue item = value(depth + 1);
            out.members.emplace_back(std::move(key), std::move(item));
            if (take(',')) continue;
            if (take('}')) return out;
            fail("expected ',' or '}' after an object member, found " + here());
        }
    }

    JsonValue array(int depth) {
        JsonValue out;
        out.kind = JsonValue::Kind::Array;
        ++pos_; // '['
        if (take(']')) return out;
        for (;;) {
            out.items.push_back(value(depth + 1));
            if (take(',')) continue;
            if (take(']')) return out;
            fail("expected ',' or ']' after an array element, found " + here());
        }
    }

    unsigned hex4() {
        if (text_.size() - pos_ < 4) fail("a \\u escape needs four hex digits");
        unsigned code = 0;
        const auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, code, 16);
        if (ec != std::errc() || end != text_.data() + pos_ + 4) fail("a \\u escape needs four hex digits");
        pos_ += 4;
        return code;
    }

    static void append_utf8(std::string& out, uint32_t code) {
        if (code < 0x80) {
            out += static_cast<char>(code);
        } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (code >> 18));
            out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
    }

    std::string string() {
        ++pos_; // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= text_.size()) fail("unterminated string");
            const char c = text_[pos_];
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20) fail("a control character in a string must be escaped");
            ++pos_;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) fail("unterminated string");
            const char escape = text_[pos_++];
            switch (escape) {
            case '"': case '\\': case '/': out += escape; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'u': {
                uint32_t code = hex4();
                if (code >= 0xD800 && code <= 0xDBFF) { // a surrogate pair encodes one code point
                    if (text_.substr(pos_, 2) != "\\u") fail("a high surrogate \\u escape must be followed by a low one");
                    pos_ += 2;
                    const uint32_t low = hex4();
                    if (low < 0xDC00 || low > 0xDFFF) fail("a high surrogate \\u escape must be followed by a low one");
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                } else if (code >= 0xDC00 && code <= 0xDFFF) {
                    fail("a low surrogate \\u escape without a high one");
                }
                append_utf8(out, code);
                break;
            }
            default: --pos_; fail("unknown escape '\\" + std::string(1, escape) + "' in a string");
            }
        }
    }

    double number() {
        // JSON's grammar, checked before converting: strtod would also take "0x1p3", "inf", "01".
        const size_t start = pos_;
        if (text_[pos_] == '-') ++pos_;
        auto digits = [&] {
            const size_t from = pos_;
            while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
            return pos_ - from;
        };
        if (pos_ < text_.size() && text_[pos_] == '0') ++pos_;
        else if (digits() == 0) fail("expected digits in a number");
        if (pos_ < text_.size() && text_[pos_] == '.') {
            ++pos_;
            if (digits() == 0) fail("expected digits after the decimal point");
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            if (digits() == 0) fail("expected digits in the exponent");
        }
        double out = 0;
        const auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, out);
        if (ec == std::errc::result_out_of_range || !std::isfinite(out)) {
            pos_ = start;
            fail("the number is too large for a double");
        }
        if (ec != std::errc() || end != text_.data() + pos_) {
            pos_ = start;
            fail("not a valid number");
        }
        return out;
    }

    std::string_view text_;
    size_t pos_ = 0;
};

} // namespace

const JsonValue* JsonValue::find(std::string_view key) const {
    if (kind != Kind::Object) return nullptr;
    for (const auto& member : members)
        if (member.first == key) return &member.second;
    return nullptr;
}

bool JsonValue::is_integer() const {
    return kind == Kind::Number && std::floor(number) == number && std::abs(number) <= 9007199254740992.0;
}

const char* describe(JsonValue::Kind kind) {
    switch (kind) {
    case JsonValue::Kind::Null: return "null";
    case JsonValue::Kind::Bool: return "a boolean";
    case JsonValue::Kind::Number: return "a number";
    case JsonValue::Kind::String: return "a string";
    case JsonValue::Kind::Array: return "an array";
    case JsonValue::Kind::Object: return "an object";
    }
    return "a value";
}

JsonSyntaxError::JsonSyntaxError(size_t line, size_t column, const std::string& why)
    : std::invalid_argument(position_text(line, column, why)), line_(line), column_(column) {}

JsonValue parse_json(std::string_view text) { return Parser(text).document(); }

} // namespace trellis_validate
