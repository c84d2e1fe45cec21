#include "exec/secret_redaction.hpp"

#include <algorithm>
#include <cctype>

namespace trellis::core {
namespace {

constexpr std::string_view mask = "***";

bool is_scheme_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

// scheme://user:password@host: the password runs from the first ':' of the user info to the
// last '@' before the path, query or fragment.
std::string redact_user_info(std::string text) {
    for (size_t at = text.find("://"); at != std::string::npos; at = text.find("://", at + 3)) {
        if (at == 0 || !is_scheme_char(text[at - 1])) continue;
        const size_t start = at + 3;
        size_t end = text.find_first_of("/?#", start);
        if (end == std::string::npos) end = text.size();
        const size_t user_end = text.rfind('@', end == 0 ? 0 : end - 1);
        if (user_end == std::string::npos || user_end < start) continue;
        const size_t colon = text.find(':', start);
        if (colon == std::string::npos || colon > user_end) continue;
        text.replace(colon + 1, user_end - colon - 1, mask);
    }
    return text;
}

// A libpq key=value string ("host=db user=me password=..."): it starts with a key and '='. SQL
// and other text do not, so a query's "WHERE password = $1" is left alone.
bool starts_with_key(const std::string& text) {
    size_t pos = 0;
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    const size_t key = pos;
    while (pos < text.size() && (std::isalnum(static_cast<unsigned char>(text[pos])) || text[pos] == '_')) ++pos;
    if (pos == key) return false;
    while (pos < text.size() && text[pos] == ' ') ++pos;
    return pos < text.size() && text[pos] == '=';
}

// Where the value of a password=VALUE pair that starts at `at` begins, or npos if there is none
// there: in a URL's query (after '?' or '&' within a URL) or, in a key=value string, after white
// space or at the start.
size_t password_value_at(const std::string& text, size_t at, bool key_value) {
    static constexpr std::string_view key = "password";
    if (text.size() - at < key.size()) return std::string::npos;
    for (size_t i = 0; i < key.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(text[at + i])) != key[i]) return std::string::npos;
    const char before = at == 0 ? ' ' : text[at - 1];
    const bool in_query = (before == '?' || before == '&') && text.rfind("://", at) != std::string::npos;
    const bool in_pairs = key_value && std::isspace(static_cast<unsigned char>(before));
    if (!in_query && !in_pairs) return std::string::npos;
    size_t pos = at + key.size();
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (pos >= text.size() || text[pos] != '=') return std::string::npos;
    ++pos;
    while (pos < text.size() && text[pos] == ' ') ++pos;
    return pos;
}

// password=VALUE, password = 'quoted \' value': the value up to white space, '&' or '#', or the
// whole quoted string.
std::string redact_password_pairs(std::string text) {
    const bool key_value = starts_with_key(text);
    for (size_t at = 0; at < text.size(); ++at) {
        const size_t pos = password_value_at(text, at, key_value);
        if (pos == std::string::npos) continue;
        size_t end = pos;
        if (end < text.size() && text[end] == '\'') {
            for (++end; end < text.size() && text[end] != '\''; ++end)
                if (text[end] == '\\') ++end;
            end = std::min(end + 1, text.size());
        } else {
            while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) && text[end] != '&' &&
                   text[end] != '#')
                ++end;
        }
        if (end == pos) continue;
        text.replace(pos, end - pos, mask);
        at = pos + mask.size() - 1;
    }
    return text;
}

} // namespace

std::string redact_secret_text(std::string_view text) {
    if (text.find("://") == std::string_view::npos && text.find('=') == std::string_view::npos) return std::string(text);
    return redact_password_pairs(redact_user_info(std::string(text)));
}

nlohmann::json redact_secrets(const nlohmann::json& config) {
    if (config.is_string()) return redact_secret_text(config.get_ref<const std::string&>());
    if (config.is_array()) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& item : config) out.push_back(redact_secrets(item));
        return out;
    }
    if (config.is_object()) {
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [key, value] : config.items()) out[key] = redact_secrets(value);
        return out;
    }
    return config;
}

} // namespace trellis::core
