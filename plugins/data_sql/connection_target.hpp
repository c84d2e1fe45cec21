// Where data.sql reads from: a SQLite file or a PostgreSQL server, decided from the `url` and
// `path` config keys. Passwords never come from the pipeline: a url that holds one is refused,
// because the run records every stage's config and `trellis runs show` prints it.
#pragma once

#include <map>
#include <string>

namespace data_sql {

/// The database behind a stage's config.
struct ConnectionTarget {
    enum class Backend { Sqlite, Postgres };
    Backend backend = Backend::Sqlite;
    std::string sqlite_path;        ///< SQLite: the database file
    std::string postgres_conninfo;  ///< PostgreSQL: the url as given (a URI or key=value string), no password
};

/// Resolves `url` (sqlite:PATH, sqlite:///abs/path, postgresql://..., postgres://... or a libpq
/// key=value string) or `path` (a SQLite file). std::invalid_argument naming the key at fault:
/// both or neither set, an unknown scheme, a malformed libpq string, or a password in the url.
ConnectionTarget resolve_target(const std::string& url, const std::string& path);

/// The PostgreSQL connection options that decide which server, database and role a conninfo
/// reaches, after libpq's environment defaults (PGHOST, PGPORT, PGDATABASE, PGUSER, PGSERVICE):
/// host, hostaddr, port, dbname, user, service, options. Never the password.
std::map<std::string, std::string> postgres_target_options(const std::string& conninfo);

/// "host:port/dbname as user" (or "service name") for messages and logs; no password.
std::string describe_postgres_target(const std::string& conninfo);

} // namespace data_sql
