#include "query_params.hpp"

#include <trellis/json.hpp>

#include <charconv>
#include <cstdio>
#include <stdexcept>

namespace data_sql {
namespace {

// A reader for the small part of JSON that params may hold: one array of scalars. Nested arrays
// and objects are refused, since no SQL placeholder takes them.
class ParamsParser {
public:
    explicit ParamsParser(std::string_view text) : text_(text) {}

    std::vector<QueryParam> array() {
        skip_space();
        expect('[', "a list of values");
        std::vector<QueryParam> out;
        skip_space();
        if (peek() == ']') {
            ++pos_;
            return finish(std::move(out));
        }
        for (;;) {
            skip_space();
            out.push_back(value(out.size() + 1));
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect(']', "',' or ']'");
            return finish(std::move(out));
        }
    }

    std::string string_literal() {
        expect('"', "a string");
        std::string out;
        while (pos_ < text_.size() && text_[pos_] != '"') {
            const char c = text_[pos_++];
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) break;
            const char escaped = text_[pos_++];
            switch (escaped) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': append_utf8(out, code_point()); break;
            default: fail("an invalid escape '\\" + std::string(1, escaped) + "'");
            }
        }
        expect('"', "the end of a string");
        return out;
    }

    bool at_end() {
        skip_space();
        return pos_ == text_.size();
    }
    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

private:
    std::vector<QueryParam> finish(std::vector<QueryParam> out) {
        if (!at_end()) fail("text after the list");
        return out;
    }

    QueryParam value(size_t index) {
        QueryParam param;
        const char c = peek();
        if (c == '"') {
            param.kind = QueryParam::Kind::String;
            param.text = string_literal();
        } else if (word("null")) {
            param.kind = QueryParam::Kind::Null;
        } else if (word("true")) {
            param.kind = QueryParam::Kind::Bool;
            param.boolean = true;
            param.text = "true";
        } else if (word("false")) {
            param.kind = QueryParam::Kind::Bool;
            param.text = "false";
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            number(param);
        } else if (c == '[' || c == '{') {
            throw std::invalid_argument("params: value " + std::to_string(index) +
                                        " is a list or record; only null, booleans, numbers and strings can be bound");
        } else {
            fail("a value");
        }
        return param;
    }

    void number(QueryParam& param) {
        const size_t start = pos_;
        while (pos_ < text_.size() && std::string_view("+-0123456789.eE").find(text_[pos_]) != std::string_view::npos) ++pos_;
        const std::string_view token = text_.substr(start, pos_ - start);
        const char* first = token.data();
        const char* last = token.data() + token.size();
        if (token.find_first_of(".eE") == std::string_view::npos) {
            auto [ptr, ec] = std::from_chars(first, last, param.integer);
            if (ec == std::errc() && ptr == last) {
                param.kind = QueryParam::Kind::Int;
                param.text = std::string(token);
                return;
            }
        }
        auto [ptr, ec] = std::from_chars(first, last, param.real);
        if (ec != std::errc() || ptr != last) fail("a number");
        param.kind = QueryParam::Kind::Float;
        param.text = trellis::json_number(param.real);
    }

    bool word(std::string_view literal) {
        if (text_.substr(pos_, literal.size()) != literal) return false;
        pos_ += literal.size();
        return true;
    }

    uint32_t code_point() {
        uint32_t unit = hex4();
        if (unit >= 0xD800 && unit < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            const uint32_t low = hex4();
            if (low >= 0xDC00 && low < 0xE000) return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            fail("an unpaired surrogate");
        }
        if (unit >= 0xD800 && unit < 0xE000) fail("an unpaired surrogate");
        return unit;
    }

    uint32_t hex4() {
        if (pos_ + 4 > text_.size()) fail("four hex digits");
        uint32_t value = 0;
        auto [ptr, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, value, 16);
        if (ec != std::errc() || ptr != text_.data() + pos_ + 4) fail("four hex digits");
        pos_ += 4;
        return value;
    }

    static void append_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }

    void expect(char c, const std::string& what) {
        if (peek() != c) fail(what);
        ++pos_;
    }

    [[noreturn]] void fail(const std::string& wanted) const {
        throw std::invalid_argument("params: expected " + wanted + " at character " + std::to_string(pos_ + 1) +
                                    " of the JSON list");
    }

    std::string_view text_;
    size_t pos_ = 0;
};

} // namespace

std::vector<QueryParam> parse_params(std::string_view json) {
    ParamsParser outer(json);
    // A JSON string holding the list: what `params = '[1, null]'` in a pipeline gives.
    if (!outer.at_end() && outer.peek() == '"') {
        const std::string inner = outer.string_literal();
        if (!outer.at_end()) throw std::invalid_argument("params: text after the string");
        return ParamsParser(inner).array();
    }
    return ParamsParser(json).array();
}

} // namespace data_sql
