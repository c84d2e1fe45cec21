#include "fingerprint_spec.hpp"

#include <cctype>
#include <stdexcept>
#include <string_view>

namespace data_sql {
namespace {

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
    return std::string(text);
}

// Whether `sql` is a whole query rather than an expression: it starts with a keyword that
// begins a query that returns rows.
bool is_query(const std::string& sql) {
    std::string first;
    for (char c : sql) {
        if (!std::isalpha(static_cast<unsigned char>(c))) break;
        first += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return first == "SELECT" || first == "WITH" || first == "VALUES" || first == "TABLE";
}

} // namespace

std::string quote_identifier_path(const std::string& name) {
    const auto dot = name.find('.');
    if (dot == std::string::npos) return quote_identifier(name);
    if (name.find('.', dot + 1) != std::string::npos)
        throw std::invalid_argument("'" + name + "' has more than one '.': give table or schema.table");
    return quote_identifier(name.substr(0, dot)) + "." + quote_identifier(name.substr(dot + 1));
}

FingerprintSpec parse_fingerprint(const std::string& text, const std::string& id_column) {
    FingerprintSpec spec;
    const std::string value = trim(text);
    if (value.empty()) return spec;
    if (value == "always") {
        spec.kind = FingerprintSpec::Kind::Always;
        return spec;
    }
    const auto colon = value.find(':');
    const std::string kind = colon == std::string::npos ? value : value.substr(0, colon);
    const std::string rest = colon == std::string::npos ? std::string() : trim(std::string_view(value).substr(colon + 1));
    if (kind == "table") {
        if (rest.empty()) throw std::invalid_argument("fingerprint: 'table:' needs a table name, e.g. table:events");
        if (id_column.empty()) throw std::invalid_argument("id_column must not be empty with fingerprint 'table:'");
        try {
            spec.sql = "SELECT count(*), max(" + quote_identifier_path(id_column) + ") FROM " + quote_identifier_path(rest);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(std::string("fingerprint: ") + e.what());
        }
        spec.kind = FingerprintSpec::Kind::Table;
        return spec;
    }
    if (kind == "version") {
        if (rest.empty())
            throw std::invalid_argument("fingerprint: 'version:' needs a query or expression, e.g. version:SELECT max(updated_at) FROM events");
        spec.kind = FingerprintSpec::Kind::Version;
        spec.sql = is_query(rest) ? rest : "SELECT " + rest;
        return spec;
    }
    throw std::invalid_argument("fingerprint: '" + value + "' is not one of always, table:<name>, version:<sql>");
}

} // namespace data_sql
