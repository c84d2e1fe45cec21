// data.sql: runs one query against a SQLite file or a PostgreSQL server and outputs its rows as a
// typed Table. Params are bound, never spliced into the SQL; passwords come from the environment,
// never from the pipeline; a fingerprint of the source lets the cache see new rows.
#include "connection_target.hpp"
#include "fingerprint_spec.hpp"
#include "postgres_reader.hpp"
#include "query_params.hpp"
#include "read_progress.hpp"
#include "sqlite_reader.hpp"

#include <trellis/sdk.hpp>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace {

using data_sql::ConnectionTarget;
using data_sql::FingerprintSpec;

struct StageConfig {
    ConnectionTarget target;
    data_sql::ReadRequest request;
    FingerprintSpec fingerprint;
    std::string password_env;
};

StageConfig read_config(const trellis::Context& ctx) {
    StageConfig config;
    config.target = data_sql::resolve_target(ctx.config<std::string>("url"), ctx.config<std::string>("path"));
    config.request.query = ctx.config<std::string>("query");
    if (config.request.query.find_first_not_of(" \t\r\n") == std::string::npos)
        throw std::invalid_argument("query is empty");
    config.request.params = data_sql::parse_params(ctx.config<std::string>("params"));
    config.request.batch_rows = ctx.config<int64_t>("batch_rows");
    if (config.request.batch_rows < 1)
        throw std::invalid_argument("batch_rows must be at least 1, not " + std::to_string(config.request.batch_rows));
    config.request.timeout_seconds = ctx.config<int64_t>("connect_timeout");
    if (config.request.timeout_seconds < 1)
        throw std::invalid_argument("connect_timeout must be at least 1 second, not " +
                                    std::to_string(config.request.timeout_seconds));
    config.fingerprint = data_sql::parse_fingerprint(ctx.config<std::string>("fingerprint"), ctx.config<std::string>("id_column"));
    config.password_env = ctx.config<std::string>("password_env");
    return config;
}

// The password from the variable password_env names; empty without password_env, so that libpq
// looks in PGPASSWORD, ~/.pgpass and service files itself.
std::string password_of(const StageConfig& config) {
    if (config.password_env.empty()) return {};
    const char* value = std::getenv(config.password_env.c_str());
    if (value == nullptr || *value == '\0')
        throw std::invalid_argument("password_env names the environment variable '" + config.password_env +
                                    "', which is not set");
    return value;
}

data_sql::PostgresSource postgres_source(const StageConfig& config) {
    return {config.target.postgres_conninfo, password_of(config), config.request.timeout_seconds};
}

// The source's current value for the fingerprint query (row count and max id, or a version).
std::string fingerprint_value(const StageConfig& config) {
    if (config.target.backend == ConnectionTarget::Backend::Sqlite)
        return data_sql::sqlite_first_row(config.target.sqlite_path, config.fingerprint.sql, config.request.timeout_seconds);
    return data_sql::postgres_first_row(postgres_source(config), config.fingerprint.sql);
}

std::string describe(const ConnectionTarget& target) {
    return target.backend == ConnectionTarget::Backend::Sqlite ? "SQLite file '" + target.sqlite_path + "'"
                                                               : data_sql::describe_postgres_target(target.postgres_conninfo);
}

class SqlReader : public trellis::DataStage {
public:
    static trellis::StageSpec spec() {
        return trellis::StageSpec("data.sql", "runs a query on SQLite or PostgreSQL and outputs its rows as a Table")
            .output("table", trellis::ArtifactType::Table, "the query's rows, one typed column per result column")
            .required("query", trellis::ValueType::String, "one SQL query; placeholders $1..$n (PostgreSQL) or ?, ?NNN (SQLite)")
            .option_string("url", "", "postgresql://user@host:port/db, a libpq key=value string, or sqlite:PATH; no password")
            .option_string("path", "", "a SQLite file (instead of url); its content is part of the cache key")
            .option_json("params", "[]", "values bound to the placeholders, in order: a list, or a JSON array as text")
            .option_string("password_env", "", "environment variable holding the PostgreSQL password")
            .option_string("fingerprint", "", "what else the cache key covers: table:<name>, version:<sql>, or always")
            .option_string("id_column", "id", "the column whose maximum fingerprint table:<name> takes")
            .option_int("connect_timeout", 10, "seconds to wait for the server (SQLite: for a locked file)")
            .option_int("batch_rows", 10000, "rows fetched per batch; progress and cancellation are checked between batches");
    }

    // Called by the host before its cache lookup: the query, params and url are in the key
    // already (they are config); this adds the server, database and role libpq will reach
    // (environment variables included) and the value the chosen fingerprint stands for.
    static trellis::CacheFingerprint fingerprint(trellis::Context& ctx) {
        const StageConfig config = read_config(ctx);
        if (config.fingerprint.kind == FingerprintSpec::Kind::Always) return trellis::CacheFingerprint::always_run();
        std::string text = "data.sql fingerprint 1\n";
        if (config.target.backend == ConnectionTarget::Backend::Sqlite) {
            std::error_code ec;
            text += "sqlite " + std::filesystem::weakly_canonical(config.target.sqlite_path, ec).string() + "\n";
        } else {
            for (const auto& [key, value] : data_sql::postgres_target_options(config.target.postgres_conninfo))
                text += key + "=" + std::to_string(value.size()) + ":" + value + "\n";
        }
        if (config.fingerprint.kind != FingerprintSpec::Kind::None) text += "value " + fingerprint_value(config) + "\n";
        return trellis::CacheFingerprint{text};
    }

    void run(trellis::Context& ctx) override {
        const StageConfig config = read_config(ctx);
        const std::string source = describe(config.target);
        // The fingerprint query runs here too, so that a broken one fails the stage with its
        // error instead of only keeping the stage out of the cache.
        if (config.fingerprint.kind == FingerprintSpec::Kind::Table || config.fingerprint.kind == FingerprintSpec::Kind::Version)
            ctx.log().debug("fingerprint " + fingerprint_value(config));

        data_sql::ReadProgress progress(ctx, source);
        trellis::Table table;
        if (config.target.backend == ConnectionTarget::Backend::Sqlite) {
            if (!config.password_env.empty()) ctx.log().warn("password_env is ignored for a SQLite file");
            table = data_sql::read_sqlite(config.target.sqlite_path, config.request, progress);
        } else {
            table = data_sql::read_postgres(postgres_source(config), config.request, progress);
        }
        ctx.log().info(std::to_string(table.num_rows()) + " rows, " + std::to_string(table.num_columns()) + " columns from " +
                       source);
        ctx.output("table", table);
    }
};

const trellis::PluginInfo info{
    .name = "data-sql",
    .version = "0.1.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "reads query results from SQLite and PostgreSQL into Tables",
};

} // namespace

TRELLIS_PLUGIN(info, SqlReader)
