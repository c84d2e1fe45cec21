#include "connection_target.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>
#include <string_view>

namespace data_sql {
namespace {

bool starts_with_ci(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
    return true;
}

bool contains_ci(std::string_view text, std::string_view word) {
    auto it = std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
    });
    return it != text.end();
}

using Options = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

// libpq's parse of `conninfo`, or std::invalid_argument. libpq's message quotes the token it
// stumbled on, which in a malformed string may be part of a password: it is shown only when the
// text has no password and no user info in it.
Options parse_conninfo(const std::string& conninfo) {
    char* error = nullptr;
    Options options(PQconninfoParse(conninfo.c_str(), &error), &PQconninfoFree);
    if (options) return options;
    std::string why = error ? error : "out of memory";
    if (error) PQfreemem(error);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    if (contains_ci(conninfo, "password") || conninfo.find('@') != std::string::npos)
        why = "details withheld, as it may hold a password";
    throw std::invalid_argument("url is not a valid PostgreSQL connection URI or key=value string (" + why + ")");
}

std::string sqlite_path_of(const std::string& url) {
    std::string rest = url.substr(std::string_view("sqlite:").size());
    // sqlite:///abs/path: an empty authority, as in file:///abs/path.
    if (rest.rfind("//", 0) == 0) rest.erase(0, 2);
    if (rest.empty()) throw std::invalid_argument("url '" + url + "' names no SQLite file (sqlite:PATH or sqlite:///abs/path)");
    return rest;
}

} // namespace

ConnectionTarget resolve_target(const std::string& url, const std::string& path) {
    ConnectionTarget target;
    if (!url.empty() && !path.empty())
        throw std::invalid_argument("set either url or path (a SQLite file), not both");
    if (!path.empty()) {
        target.backend = ConnectionTarget::Backend::Sqlite;
        target.sqlite_path = path;
        return target;
    }
    if (url.empty())
        throw std::invalid_argument("set url (postgresql://... or sqlite:PATH) or path (a SQLite file) to say which database to read");
    if (starts_with_ci(url, "sqlite:")) {
        target.backend = ConnectionTarget::Backend::Sqlite;
        target.sqlite_path = sqlite_path_of(url);
        return target;
    }
    const bool is_uri = starts_with_ci(url, "postgresql://") || starts_with_ci(url, "postgres://");
    if (!is_uri && url.find('=') == std::string::npos) {
        // Only the scheme is echoed: an unknown URL may still carry credentials.
        const auto colon = url.find(':');
        const std::string scheme = colon == std::string::npos ? std::string() : url.substr(0, colon);
        throw std::invalid_argument("url must be sqlite:PATH, a postgresql:// or postgres:// URI, or a libpq key=value string" +
                                    (scheme.empty() ? std::string() : " (it starts with '" + scheme + ":')"));
    }
    const Options options = parse_conninfo(url);
    for (const PQconninfoOption* option = options.get(); option->keyword; ++option)
        if (std::string_view(option->keyword) == "password" && option->val && *option->val)
            throw std::invalid_argument("url holds a password, which would be recorded with the run's config: remove it "
                                        "and name an environment variable with password_env, or use PGPASSWORD or ~/.pgpass");
    target.backend = ConnectionTarget::Backend::Postgres;
    target.postgres_conninfo = url;
    return target;
}

std::map<std::string, std::string> postgres_target_options(const std::string& conninfo) {
    static constexpr std::string_view keys[] = {"host", "hostaddr", "port", "dbname", "user", "service", "options"};
    std::map<std::string, std::string> out;
    const Options given = parse_conninfo(conninfo);
    for (const PQconninfoOption* option = given.get(); option->keyword; ++option)
        if (option->val && *option->val && std::find(std::begin(keys), std::end(keys), option->keyword) != std::end(keys))
            out[option->keyword] = option->val;
    // The environment's defaults (PGHOST, PGPORT, ...) fill in what the url leaves out.
    const Options defaults(PQconndefaults(), &PQconninfoFree);
    if (defaults)
        for (const PQconninfoOption* option = defaults.get(); option->keyword; ++option)
            if (option->val && *option->val && std::find(std::begin(keys), std::end(keys), option->keyword) != std::end(keys))
                out.emplace(option->keyword, option->val);
    return out;
}

std::string describe_postgres_target(const std::string& conninfo) {
    std::map<std::string, std::string> options;
    try {
        options = postgres_target_options(conninfo);
    } catch (const std::invalid_argument&) {
        return "PostgreSQL";
    }
    auto get = [&](const char* key) {
        auto it = options.find(key);
        return it == options.end() ? std::string() : it->second;
    };
    std::string host = get("host").empty() ? get("hostaddr") : get("host");
    std::string out = "PostgreSQL";
    if (!get("service").empty()) out += " service '" + get("service") + "'";
    if (!host.empty() || !get("port").empty())
        out += " at " + (host.empty() ? std::string("localhost") : host) + (get("port").empty() ? "" : ":" + get("port"));
    if (!get("dbname").empty()) out += " database '" + get("dbname") + "'";
    if (!get("user").empty()) out += " as '" + get("user") + "'";
    return out;
}

} // namespace data_sql
