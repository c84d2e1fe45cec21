// data.sql against a real PostgreSQL server that the tests start themselves (postgres_server.hpp):
// type mapping, bound params, errors and cancellation in-process through the host API, then
// pipelines (data.sql -> train.linear) through the real trellis binary for caching with each
// fingerprint and for keeping the password out of logs, errors and `trellis runs show`.
// Where no server can be started, every test reports "skipped: <why>" (ctest shows it skipped).
#include "postgres_server.hpp"
#include "stage_run.hpp"
#include "store_helpers.hpp"

#include <trellis/artifacts.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>

using trellis::ColumnType;
using trellis::testing::PostgresServer;
using trellis::testing::Result;
using trellis::testing::Sandbox;
using trellis::testing::stage_status;

namespace {

constexpr const char* reader = "reader";
constexpr const char* reader_password = "Reader-Pw-9f3e2a";
constexpr const char* password_variable = "TRELLIS_TEST_PG_PASSWORD";

// The shared server, or nullptr after reporting the test as skipped with the reason.
PostgresServer* server_or_skip() {
    auto& server = PostgresServer::shared();
    if (server.ok()) return &server;
    WARN("skipped: no PostgreSQL test server: " << server.skip_reason());
    return nullptr;
}

// A fresh database for one test, readable by `reader`.
std::string fresh_database(const PostgresServer& server) {
    static int counter = 0;
    const std::string name = "trellis_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    server.create_database(name, reader, reader_password);
    return name;
}

std::shared_ptr<trellis::core::PluginLibrary> sql_plugin() {
    static const auto plugin =
        trellis::core::PluginLibrary::open(std::filesystem::path(BUILTIN_PLUGIN_DIR) / "data_sql.so");
    return plugin;
}

struct Read {
    trellis::core::StageOutcome outcome;
    trellis::Table table;
};

// Runs data.sql in this process with `config`; the reader's password comes through password_env.
Read read(const nlohmann::json& config) {
    ::setenv(password_variable, reader_password, 1);
    trellis::test::StageRun run(sql_plugin(), "data.sql", config);
    Read out{run.invoke(), {}};
    if (out.outcome.ok()) out.table = trellis::deserialize_table(run.output("table"));
    return out;
}

nlohmann::json reader_config(const PostgresServer& server, const std::string& database, const std::string& query) {
    return {{"url", server.url(reader, database)}, {"password_env", password_variable}, {"query", query}};
}

trellis::core::FingerprintOutcome fingerprint(const nlohmann::json& config) {
    ::setenv(password_variable, reader_password, 1);
    trellis::test::StageRun run(sql_plugin(), "data.sql", config);
    const trellis_stage_descriptor* entry = sql_plugin()->find_stage("data.sql");
    REQUIRE(entry != nullptr);
    REQUIRE(entry->fingerprint != nullptr);
    return trellis::core::invoke_fingerprint(entry->fingerprint, run.context);
}

// Checks that a stage failed with a one-line message that does not hold the password.
std::string failure(const Read& result) {
    CHECK(!result.outcome.ok());
    CHECK(result.outcome.message.find('\n') == std::string::npos);
    CHECK(result.outcome.message.find(reader_password) == std::string::npos);
    return result.outcome.message;
}

} // namespace

TEST_CASE("data.sql on PostgreSQL: each mapped type, with nulls and exact values") {
    auto* server = server_or_skip();
    if (!server) return;
    const auto db = fresh_database(*server);
    server->execute(R"(
        CREATE TABLE typed (id int4 PRIMARY KEY, small int2, big int8, real4 float4, real8 float8, amount numeric(12,3),
                            flag bool, label text, code varchar(8), fixed char(3), day date, at timestamp,
                            at_zone timestamptz, uid uuid, doc jsonb, plain json, moment time, owner oid);
        INSERT INTO typed VALUES (1, -3, 9007199254740993, 1.5, 0.1, 12345.678, true, 'héllo, wörld', 'abc', 'ab',
                                  '2024-02-29', '2024-02-29 13:45:01.25', '2024-02-29 13:45:01+02',
                                  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b":true}', '08:30:00.5', 42);
        INSERT INTO typed (id) VALUES (2);
    )", db);
    const auto result = read(reader_config(*server, db, "SELECT * FROM typed ORDER BY id"));
    REQUIRE(result.outcome.message == "");
    const auto& t = result.table;
    REQUIRE(t.num_rows() == 2);
    CHECK(t.column("id").type() == ColumnType::Int64);
    CHECK(t.column("small").int_at(0) == -3);
    CHECK(t.column("big").int_at(0) == 9007199254740993); // beyond a double's 2^53: kept exact
    CHECK(t.column("real4").type() == ColumnType::Float64);
    CHECK(t.column("real4").float_at(0) == 1.5);
    CHECK(t.column("real8").float_at(0) == 0.1);
    CHECK(t.column("amount").type() == ColumnType::Float64);
    CHECK(t.column("amount").float_at(0) == 12345.678);
    CHECK(t.column("flag").type() == ColumnType::Bool);
    CHECK(t.column("flag").bool_at(0));
    CHECK(t.column("label").string_at(0) == "héllo, wörld");
    CHECK(t.column("code").string_at(0) == "abc");
    CHECK(t.column("fixed").string_at(0) == "ab "); // char(n) is blank-padded, as PostgreSQL returns it
    CHECK(t.column("day").string_at(0) == "2024-02-29");
    CHECK(t.column("at").string_at(0) == "2024-02-29 13:45:01.25");
    CHECK(t.column("at_zone").string_at(0) == "2024-02-29 11:45:01+00"); // in UTC
    CHECK(t.column("uid").string_at(0) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    CHECK(t.column("doc").string_at(0) == R"({"a": [1, 2]})");
    CHECK(t.column("plain").string_at(0) == R"({"b":true})");
    CHECK(t.column("moment").string_at(0) == "08:30:00.5");
    CHECK(t.column("owner").int_at(0) == 42);
    for (const auto& column : t.columns()) {
        INFO(column.name());
        CHECK(column.null_count() == (column.name() == "id" ? 0u : 1u));
        if (column.name() != "id") CHECK(column.is_null(1));
    }
}

TEST_CASE("data.sql on PostgreSQL: numerics, dates and times match the server's own text") {
    auto* server = server_or_skip();
    if (!server) return;
    const auto db = fresh_database(*server);
    // Numeric values become the nearest double: the same as PostgreSQL's own float8 cast.
    const auto numbers = read(reader_config(*server, db, R"(
        SELECT v AS value, v::float8 AS expected FROM (VALUES ('0'::numeric), ('-0.5'), ('1e20'), ('123456789.123456789'),
            ('0.000000000000000000001234'), ('-98765.4321'), ('NaN'), ('Infinity'), ('-Infinity'), (NULL)) AS n(v))"));
    REQUIRE(numbers.outcome.message == "");
    for (size_t i = 0; i < numbers.table.num_rows(); ++i) {
        INFO("row " << i);
        const auto& value = numbers.table.column("value");
        const auto& expected = numbers.table.column("expected");
        CHECK(value.is_null(i) == expected.is_null(i));
        if (std::isnan(expected.float_at(i))) CHECK(std::isnan(value.float_at(i)));
        else CHECK(value.float_at(i) == expected.float_at(i));
    }
    // Dates, timestamps and times over a wide range, BC and infinities included, formatted as the
    // server formats them (timestamptz in UTC).
    const auto times = read(reader_config(*server, db, R"(
        SELECT d AS d, d::text AS d_text, ts AS ts, ts::text AS ts_text, tz AS tz,
               (tz AT TIME ZONE 'UTC')::text || '+00' AS tz_text, tm AS tm, tm::text AS tm_text
        FROM (SELECT date '0044-03-15 BC' + g * 9973 AS d,
                     timestamp '0100-01-01 00:00:00' + g * interval '37 days 3 hours 7.123456 seconds' AS ts,
                     timestamptz '1969-12-31 23:59:59.5+00' + g * interval '1 day 1.000001 seconds' AS tz,
                     time '00:00:00' + g * interval '17 minutes 0.25 seconds' AS tm
              FROM generate_series(0, 300) g) AS s
        UNION ALL SELECT 'infinity', 'infinity', '-infinity', '-infinity', 'infinity', 'infinity', '23:59:59.999999', '23:59:59.999999'
    )"));
    REQUIRE(times.outcome.message == "");
    REQUIRE(times.table.num_rows() == 302);
    for (const std::string name : {"d", "ts", "tz", "tm"}) {
        const auto& got = times.table.column(name);
        const auto& want = times.table.column(name + "_text");
        for (size_t i = 0; i < got.size(); ++i) {
            INFO(name << " row " << i);
            CHECK(got.string_at(i) == want.string_at(i));
        }
    }
}

TEST_CASE("data.sql on PostgreSQL: params are bound to $1..$n, a hostile value harmlessly") {
    auto* server = server_or_skip();
    if (!server) return;
    const auto db = fresh_database(*server);
    server->execute("CREATE TABLE items (id int PRIMARY KEY, name text, price float8);"
                    "INSERT INTO items VALUES (1, 'apple', 0.5), (2, 'pear', 0.75), (3, 'plum', 1.25);",
                    db);
    auto config = reader_config(*server, db, "SELECT id, name FROM items WHERE id >= $1 AND name <> $2 ORDER BY id");
    config["params"] = {1, "pear"};
    const auto bound = read(config);
    REQUIRE(bound.outcome.message == "");
    REQUIRE(bound.table.num_rows() == 2);
    CHECK(bound.table.column("name").string_at(1) == "plum");

    config = reader_config(*server, db, "SELECT $1::int IS NULL AS was_null, $2::bool AS flag, $3::float8 * 2 AS twice");
    config["params"] = R"([null, true, 1.25])";
    const auto typed = read(config);
    REQUIRE(typed.outcome.message == "");
    CHECK(typed.table.column("was_null").bool_at(0));
    CHECK(typed.table.column("flag").bool_at(0));
    CHECK(typed.table.column("twice").float_at(0) == 2.5);

    const std::string hostile = "x'); DROP TABLE items; --";
    config = reader_config(*server, db, "SELECT $1::text AS echoed, count(*) AS n FROM items WHERE name = $1");
    config["params"] = {hostile};
    const auto harmless = read(config);
    REQUIRE(harmless.outcome.message == "");
    CHECK(harmless.table.column("echoed").string_at(0) == hostile);
    CHECK(harmless.table.column("n").int_at(0) == 0);
    CHECK(server->scalar("SELECT count(*) FROM items", db) == "3");

    // Two statements in the query itself are refused by the server before anything runs.
    CHECK_THAT(failure(read(reader_config(*server, db, "SELECT 1; DROP TABLE items"))),
               Catch::Contains("cannot insert multiple commands into a prepared statement"));
    CHECK(server->scalar("SELECT count(*) FROM items", db) == "3");

    config = reader_config(*server, db, "SELECT $1::int + $2::int AS sum");
    config["params"] = {1};
    CHECK_THAT(failure(read(config)), Catch::Contains("query has 2 placeholders ($1..$n) but params gives 1 value"));
}

TEST_CASE("data.sql on PostgreSQL: errors name the server, the query position or the column") {
    auto* server = server_or_skip();
    if (!server) return;
    const auto db = fresh_database(*server);
    server->execute("CREATE TABLE items (id int PRIMARY KEY, name text, span interval, raw bytea);"
                    "INSERT INTO items VALUES (1, 'a', '1 day', '\\x00ff');",
                    db);
    const std::string target = "PostgreSQL at 127.0.0.1:" + std::to_string(server->port()) + " database '" + db +
                               "' as 'reader'";
    CHECK(failure(read(reader_config(*server, db, "SELECT nme FROM items"))) ==
          "query failed on " + target + ": column \"nme\" does not exist (at character 8); hint: Perhaps you meant to "
          "reference the column \"items.name\".");
    CHECK_THAT(failure(read(reader_config(*server, db, "SELECT id, span FROM items"))),
               Catch::Contains("column 'span' has type interval, which data.sql does not read; cast it in the query"));
    CHECK_THAT(failure(read(reader_config(*server, db, "SELECT raw FROM items"))), Catch::Contains("has type bytea"));
    CHECK_THAT(failure(read(reader_config(*server, db, "SELECT 1/0 AS boom"))),
               Catch::Contains("query failed on " + target + ": division by zero"));
    CHECK_THAT(failure(read(reader_config(*server, db, "DELETE FROM items"))), Catch::Contains("query returns no columns"));
    CHECK_THAT(failure(read(reader_config(*server, db, "SELECT * FROM nothere"))),
               Catch::Contains("relation \"nothere\" does not exist (at character 15)"));
    CHECK(server->scalar("SELECT count(*) FROM items", db) == "1");

    // A wrong password: the server's message, not the password.
    ::setenv("TRELLIS_TEST_WRONG_PASSWORD", "Wrong-Pw-77aa1", 1);
    auto config = reader_config(*server, db, "SELECT 1");
    config["password_env"] = "TRELLIS_TEST_WRONG_PASSWORD";
    const auto wrong = read(config);
    CHECK_THAT(failure(wrong), Catch::Contains("cannot connect to " + target) &&
                                   Catch::Contains("password authentication failed for user \"reader\""));
    CHECK(wrong.outcome.message.find("Wrong-Pw-77aa1") == std::string::npos);

    config["password_env"] = "TRELLIS_TEST_UNSET_VARIABLE";
    ::unsetenv("TRELLIS_TEST_UNSET_VARIABLE");
    CHECK_THAT(failure(read(config)),
               Catch::Contains("password_env names the environment variable 'TRELLIS_TEST_UNSET_VARIABLE', which is not set"));

    config = reader_config(*server, db, "SELECT 1");
    config["fingerprint"] = "table:nothere";
    CHECK_THAT(failure(read(config)), Catch::Contains("fingerprint query failed") && Catch::Contains("nothere"));
}

TEST_CASE("data.sql on PostgreSQL: an unreachable server fails in bounded time, naming host and port") {
    auto* server = server_or_skip();
    if (!server) return;
    // Nothing listens: refused at once.
    const int closed_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    REQUIRE(::bind(closed_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::getsockname(closed_fd, reinterpret_cast<sockaddr*>(&address), &size) == 0);
    const int closed_port = ntohs(address.sin_port);
    nlohmann::json config = {{"url", "host=127.0.0.1 port=" + std::to_string(closed_port) + " dbname=x user=reader"},
                             {"password_env", password_variable},
                             {"query", "SELECT 1"}};
    CHECK_THAT(failure(read(config)), Catch::Contains("cannot connect to PostgreSQL at 127.0.0.1:" +
                                                      std::to_string(closed_port) + " database 'x' as 'reader'") &&
                                          Catch::Contains("Connection refused"));

    // A server that accepts the connection and never answers: connect_timeout ends the wait.
    REQUIRE(::listen(closed_fd, 4) == 0);
    config["connect_timeout"] = 1;
    const auto started = std::chrono::steady_clock::now();
    CHECK_THAT(failure(read(config)), Catch::Contains("no answer within 1 s (connect_timeout)"));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
    ::close(closed_fd);
}

TEST_CASE("data.sql on PostgreSQL: big results arrive in batches, and cancellation stops a long query") {
    auto* server = server_or_skip();
    if (!server) return;
    const auto db = fresh_database(*server);
    auto config = reader_config(*server, db, "SELECT g AS id, g * 0.5 AS x, 'row' || g AS label FROM generate_series(1, 100000) g");
    config["batch_rows"] = 7000;
    const auto big = read(config);
    REQUIRE(big.outcome.message == "");
    REQUIRE(big.table.num_rows() == 100000);
    CHECK(big.table.column("id").int_at(99999) == 100000);
    CHECK(big.table.column("x").float_at(9) == 5.0);
    CHECK(big.table.column("label").string_at(6999) == "row7000");
    CHECK(big.table.column("label").string_at(7000) == "row7001");

    ::setenv(password_variable, reader_password, 1);
    trellis::test::StageRun run(sql_plugin(), "data.sql", reader_config(*server, db, "SELECT 1 AS slept FROM pg_sleep(60)"));
    std::thread canceller([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        run.cancelled = true;
    });
    const auto started = std::chrono::steady_clock::now();
    const auto outcome = run.invoke();
    canceller.join();
    INFO(outcome.message);
    CHECK(outcome.status == TRELLIS_ERR_CANCELLED);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
    // The server stopped the query too: nothing of ours is still running there.
    std::string active = "1";
    for (int i = 0; i < 50 && active != "0"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        active = server->scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' "
                                "AND pid <> pg_backend_pid() AND state = 'active'");
    }
    CHECK(active == "0");
}

TEST_CASE("data.sql on PostgreSQL: version and table fingerprints follow the data") {
    auto* server = server_or_skip();
    if (!server) return;
    const auto db = fresh_database(*server);
    server->execute("CREATE TABLE events (event_id int, v int); INSERT INTO events VALUES (1, 1), (2, 2);"
                    "CREATE TABLE data_version (version int); INSERT INTO data_version VALUES (7);",
                    db);
    auto with = [&](const std::string& print, const std::string& id_column = "id") {
        auto config = reader_config(*server, db, "SELECT * FROM events");
        config["fingerprint"] = print;
        config["id_column"] = id_column;
        const auto outcome = fingerprint(config);
        INFO(outcome.message);
        REQUIRE(outcome.ok());
        CHECK(outcome.text.find(reader_password) == std::string::npos);
        return outcome;
    };
    const auto none = with("");
    const auto table = with("table:public.events", "event_id");
    const auto version = with("version:SELECT version FROM data_version");
    CHECK(!with("always").cacheable);

    server->execute("UPDATE events SET v = 5 WHERE event_id = 1", db);
    CHECK(with("table:public.events", "event_id").text == table.text); // an update keeps count and max id
    server->execute("INSERT INTO events VALUES (3, 3)", db);
    CHECK(with("table:public.events", "event_id").text != table.text);
    CHECK(with("version:SELECT version FROM data_version").text == version.text);
    server->execute("UPDATE data_version SET version = 8", db);
    CHECK(with("version:SELECT version FROM data_version").text != version.text);
    CHECK(with("").text == none.text);

    // The target's environment is part of it: another PGUSER is another fingerprint.
    auto config = reader_config(*server, db, "SELECT 1");
    config["url"] = "host=127.0.0.1 port=" + std::to_string(server->port()) + " dbname=" + db;
    ::setenv("PGUSER", "someone", 1);
    const auto as_someone = fingerprint(config);
    ::setenv("PGUSER", reader, 1);
    const auto as_reader = fingerprint(config);
    ::unsetenv("PGUSER");
    REQUIRE(as_someone.ok());
    REQUIRE(as_reader.ok());
    CHECK(as_someone.text != as_reader.text);
}

namespace {

// A pipeline that reads `points` with data.sql and fits y = 2x + 1 with train.linear; the
// load stage prints its row count, so a test can see what it read (also on a cache hit).
std::string pipeline(const PostgresServer& server, const std::string& db, const std::string& fingerprint_line) {
    return R"(
        local load = stage "data.sql" {
            id = "load", url = ")" + server.url(reader, db) + R"(", password_env = ")" + password_variable + R"(",
            query = "SELECT x, y FROM points WHERE x >= $1 ORDER BY id", params = { 0 }, )" + fingerprint_line + R"(
            on_success = function(r) print("rows read: " .. r.table.rows) end,
        }
        stage "train.linear" { id = "train", train = load.table, target = "y", l2 = 0.0, standardize = false }
    )";
}

Result run_pipeline(const Sandbox& sandbox, const std::string& file) {
    return sandbox.run("run " + file, std::string(password_variable) + "=" + reader_password);
}

std::string statuses(const Result& result) {
    return "load=" + stage_status(result, "load") + " train=" + stage_status(result, "train");
}

} // namespace

TEST_CASE("data.sql on PostgreSQL: a pipeline is cached until its fingerprint sees new rows") {
    auto* server = server_or_skip();
    if (!server) return;
    const auto db = fresh_database(*server);
    server->execute("CREATE TABLE points (id serial PRIMARY KEY, x float8, y float8);"
                    "INSERT INTO points (x, y) SELECT g, 2 * g + 1 FROM generate_series(1, 20) g;",
                    db);
    Sandbox sandbox;
    sandbox.write("by_table.lua", pipeline(*server, db, R"(fingerprint = "table:points",)"));
    sandbox.write("always.lua", pipeline(*server, db, R"(fingerprint = "always",)"));
    sandbox.write("plain.lua", pipeline(*server, db, ""));

    const auto first = run_pipeline(sandbox, "by_table.lua");
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    CHECK(statuses(first) == "load=succeeded train=succeeded");
    CHECK_THAT(first.err + first.out, Catch::Contains("rows read: 20"));

    const auto second = run_pipeline(sandbox, "by_table.lua");
    INFO(second.out << second.err);
    REQUIRE(second.exit_code == 0);
    CHECK(statuses(second) == "load=cached train=cached");
    REQUIRE(run_pipeline(sandbox, "plain.lua").exit_code == 0); // fills the cache for plain.lua

    server->execute("INSERT INTO points (x, y) VALUES (21, 43)", db);
    const auto after_insert = run_pipeline(sandbox, "by_table.lua");
    INFO(after_insert.out << after_insert.err);
    REQUIRE(after_insert.exit_code == 0);
    CHECK(statuses(after_insert) == "load=succeeded train=succeeded");
    CHECK_THAT(after_insert.err + after_insert.out, Catch::Contains("rows read: 21"));
    CHECK(statuses(run_pipeline(sandbox, "by_table.lua")) == "load=cached train=cached");

    // Without a fingerprint only the query, params and target are in the key: the new row is
    // not seen, as the docs say.
    const auto plain = run_pipeline(sandbox, "plain.lua");
    INFO(plain.out << plain.err);
    CHECK(statuses(plain) == "load=cached train=cached");
    CHECK_THAT(plain.err + plain.out, Catch::Contains("rows read: 20"));

    // always: the query runs every time; train.linear, given the same rows, is still reused.
    const auto always_first = run_pipeline(sandbox, "always.lua");
    INFO(always_first.out << always_first.err);
    REQUIRE(always_first.exit_code == 0);
    CHECK(stage_status(always_first, "load") == "succeeded");
    const auto always_second = run_pipeline(sandbox, "always.lua");
    INFO(always_second.out << always_second.err);
    REQUIRE(always_second.exit_code == 0);
    CHECK(statuses(always_second) == "load=succeeded train=cached");
    CHECK(statuses(run_pipeline(sandbox, "always.lua")) == "load=succeeded train=cached");

    // `trellis plan` agrees: data.sql with table: is cached now, with always it runs.
    const auto plan = sandbox.run("plan always.lua", std::string(password_variable) + "=" + reader_password);
    CHECK(trellis::testing::plan_verdict(plan, "load") == "runs");
}

TEST_CASE("data.sql on PostgreSQL: the password never appears in logs, errors or runs show") {
    auto* server = server_or_skip();
    if (!server) return;
    const auto db = fresh_database(*server);
    server->execute("CREATE TABLE points (id serial PRIMARY KEY, x float8, y float8);"
                    "INSERT INTO points (x, y) SELECT g, 2 * g + 1 FROM generate_series(1, 10) g;",
                    db);
    Sandbox sandbox;
    auto everything = [&](const Result& result) {
        std::string text = result.out + result.err;
        const auto show = sandbox.run("runs show latest --json");
        text += show.out + show.err;
        const auto lineage = sandbox.run("runs list --json");
        text += lineage.out + lineage.err;
        std::error_code ec;
        for (const auto& entry : std::filesystem::recursive_directory_iterator(sandbox.dir() / ".trellis", ec))
            if (entry.is_regular_file() && entry.path().filename() == "run.log")
                text += trellis::testing::read_file(entry.path());
        return text;
    };

    // A working run with the password from password_env, logging at debug level.
    sandbox.write("good.lua", pipeline(*server, db, ""));
    const auto good = sandbox.run("--log-level trace run good.lua", std::string(password_variable) + "=" + reader_password);
    INFO(good.out << good.err);
    REQUIRE(good.exit_code == 0);
    CHECK(everything(good).find(reader_password) == std::string::npos);

    // libpq's own PGPASSWORD works too, without password_env.
    sandbox.write("pgpassword.lua", R"(stage "data.sql" { id = "load", url = ")" + server->url(reader, db) +
                                        R"(", query = "SELECT count(*) AS n FROM points" })");
    const auto via_libpq = sandbox.run("--log-level debug run pgpassword.lua", std::string("PGPASSWORD=") + reader_password);
    INFO(via_libpq.out << via_libpq.err);
    CHECK(via_libpq.exit_code == 0);
    CHECK(stage_status(via_libpq, "load") == "succeeded");
    CHECK(everything(via_libpq).find(reader_password) == std::string::npos);

    // A wrong password fails with the server's message and without either password.
    // (--no-cache: the password is not part of the cache key, so the earlier result would be reused.)
    const auto wrong = sandbox.run("run --no-cache pgpassword.lua", "PGPASSWORD=Wrong-Pw-77aa1");
    CHECK(wrong.exit_code != 0);
    CHECK(stage_status(wrong, "load") == "failed");
    const auto wrong_text = everything(wrong);
    CHECK_THAT(wrong_text, Catch::Contains("password authentication failed"));
    CHECK(wrong_text.find("Wrong-Pw-77aa1") == std::string::npos);

    // A password written into the url is refused, and neither the error, the log nor the
    // recorded config shows it.
    const std::string in_url = "postgresql://reader:" + std::string(reader_password) + "@127.0.0.1:" +
                               std::to_string(server->port()) + "/" + db;
    sandbox.write("in_url.lua", R"(stage "data.sql" { id = "load", url = ")" + in_url + R"(", query = "SELECT 1 AS one" })");
    const auto refused = sandbox.run("--log-level trace run in_url.lua");
    INFO(refused.out << refused.err);
    CHECK(refused.exit_code != 0);
    CHECK(stage_status(refused, "load") == "failed");
    CHECK_THAT(refused.out + refused.err, Catch::Contains("url holds a password"));
    const auto refused_text = everything(refused);
    CHECK(refused_text.find(reader_password) == std::string::npos);
    const auto show = sandbox.run("runs show latest --json");
    REQUIRE(show.exit_code == 0);
    const auto show_json = show.json();
    bool found = false;
    for (const auto& stage : show_json.at("stages"))
        if (stage.at("stage_id") == "load") {
            found = true;
            CHECK(stage.at("config").at("url") == "postgresql://reader:***@127.0.0.1:" + std::to_string(server->port()) +
                                                      "/" + db);
        }
    CHECK(found);
}
