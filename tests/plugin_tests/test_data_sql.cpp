// The built-in data.sql plugin on SQLite files, loaded from the build's plugin folder and run
// through the host API: type mapping, nulls, bound params, fingerprints and every error case.
// PostgreSQL is tested against a real server in tests/integration/test_data_sql_postgres.cpp.
#include "builtin_fixtures.hpp"

#include <trellis/artifacts.hpp>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <cmath>
#include <string>
#include <vector>

using trellis::ColumnType;
using trellis::test::StageRun;
using trellis::test::TempDir;
using trellis::test::open_plugin;

namespace {

std::shared_ptr<trellis::core::PluginLibrary> sql_plugin() {
    static const auto plugin = open_plugin("data_sql.so");
    return plugin;
}

// Runs `sql` (several statements) on a new or existing SQLite file.
void execute(const std::filesystem::path& file, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    const int code = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    const std::string message = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    INFO(message);
    REQUIRE(code == SQLITE_OK);
}

struct Read {
    trellis::core::StageOutcome outcome;
    trellis::Table table;
};

Read read(const nlohmann::json& config) {
    StageRun run(sql_plugin(), "data.sql", config);
    Read out{run.invoke(), {}};
    if (out.outcome.ok()) out.table = trellis::deserialize_table(run.output("table"));
    return out;
}

// What the stage's fingerprint entry point says for `config`, as the host asks before its cache
// lookup.
trellis::core::FingerprintOutcome fingerprint(const nlohmann::json& config) {
    StageRun run(sql_plugin(), "data.sql", config);
    const trellis_stage_descriptor* entry = sql_plugin()->find_stage("data.sql");
    REQUIRE(entry != nullptr);
    REQUIRE(entry->fingerprint != nullptr);
    return trellis::core::invoke_fingerprint(entry->fingerprint, run.context);
}

// A file with a table of every declared type the plugin maps, including nulls.
std::filesystem::path sample_db(const TempDir& dir) {
    const auto file = dir / "sample.db";
    execute(file, R"(
        CREATE TABLE items (id INTEGER PRIMARY KEY, count BIGINT, price REAL, weight DOUBLE PRECISION,
                            name VARCHAR(20), note TEXT, active BOOLEAN, amount NUMERIC, added DATE);
        INSERT INTO items VALUES (1, 10, 1.5, 2.25, 'apple', 'red', 1, 3, '2024-01-02');
        INSERT INTO items VALUES (2, NULL, NULL, 3.5, NULL, 'green', 0, 4.5, NULL);
        INSERT INTO items VALUES (3, -7, 0.25, NULL, 'cherry', NULL, NULL, NULL, '2024-03-04');
    )");
    return file;
}

} // namespace

TEST_CASE("data.sql: SQLite columns take their declared type affinity, nulls stay null") {
    TempDir dir;
    const auto result = read({{"path", sample_db(dir).string()}, {"query", "SELECT * FROM items ORDER BY id"}});
    REQUIRE(result.outcome.message == "");
    const auto& table = result.table;
    REQUIRE(table.num_rows() == 3);
    CHECK(table.column_names() ==
          std::vector<std::string>{"id", "count", "price", "weight", "name", "note", "active", "amount", "added"});
    CHECK(table.column("id").type() == ColumnType::Int64);
    CHECK(table.column("count").type() == ColumnType::Int64);
    CHECK(table.column("price").type() == ColumnType::Float64);
    CHECK(table.column("weight").type() == ColumnType::Float64);
    CHECK(table.column("name").type() == ColumnType::String);
    CHECK(table.column("note").type() == ColumnType::String);
    CHECK(table.column("active").type() == ColumnType::Bool);
    // NUMERIC affinity holds 3 (integer) and 4.5 (real): mixed ints and floats become float.
    CHECK(table.column("amount").type() == ColumnType::Float64);
    // DATE has NUMERIC affinity; its values are text, so the column is text.
    CHECK(table.column("added").type() == ColumnType::String);

    CHECK(table.column("count").int_at(0) == 10);
    CHECK(table.column("count").is_null(1));
    CHECK(table.column("count").int_at(2) == -7);
    CHECK(table.column("price").float_at(0) == 1.5);
    CHECK(table.column("price").is_null(1));
    CHECK(table.column("weight").is_null(2));
    CHECK(table.column("name").string_at(2) == "cherry");
    CHECK(table.column("name").is_null(1));
    CHECK(table.column("active").bool_at(0));
    CHECK(!table.column("active").bool_at(1));
    CHECK(!table.column("active").is_null(1));
    CHECK(table.column("active").is_null(2));
    CHECK(table.column("amount").float_at(0) == 3.0);
    CHECK(table.column("amount").float_at(1) == 4.5);
    CHECK(table.column("amount").is_null(2));
    CHECK(table.column("added").string_at(0) == "2024-01-02");
    CHECK(table.column("added").null_count() == 1);
}

TEST_CASE("data.sql: SQLite expressions take their values' storage classes") {
    TempDir dir;
    const auto file = sample_db(dir);
    const auto result = read({{"path", file.string()},
                              {"query", "SELECT id * 2 AS twice, id / 2.0 AS half, upper(name) AS shout, NULL AS absent, "
                                        "CASE WHEN id = 1 THEN NULL WHEN id = 2 THEN 5 ELSE 6.5 END AS late "
                                        "FROM items ORDER BY id"}});
    REQUIRE(result.outcome.message == "");
    const auto& table = result.table;
    CHECK(table.column("twice").type() == ColumnType::Int64);
    CHECK(table.column("twice").int_at(2) == 6);
    CHECK(table.column("half").type() == ColumnType::Float64);
    CHECK(table.column("half").float_at(0) == 0.5);
    CHECK(table.column("shout").type() == ColumnType::String);
    CHECK(table.column("shout").string_at(0) == "APPLE");
    CHECK(table.column("shout").is_null(1));
    // A column of nulls only has no type to go by: it is a string column of nulls.
    CHECK(table.column("absent").type() == ColumnType::String);
    CHECK(table.column("absent").null_count() == 3);
    // A null first, then an int, then a float: float, with the null kept in its place.
    CHECK(table.column("late").type() == ColumnType::Float64);
    CHECK(table.column("late").is_null(0));
    CHECK(table.column("late").float_at(1) == 5.0);
    CHECK(table.column("late").float_at(2) == 6.5);

    // An empty result still has its typed columns.
    const auto empty = read({{"path", file.string()}, {"query", "SELECT id, name FROM items WHERE id > 100"}});
    REQUIRE(empty.outcome.message == "");
    CHECK(empty.table.num_rows() == 0);
    CHECK(empty.table.column("id").type() == ColumnType::Int64);
    CHECK(empty.table.column("name").type() == ColumnType::String);
}

TEST_CASE("data.sql: params bind to ? and ?NNN, as a list or as JSON text with null") {
    TempDir dir;
    const auto file = sample_db(dir).string();
    const auto list = read({{"path", file}, {"query", "SELECT id FROM items WHERE id >= ? AND name <> ? ORDER BY id"},
                            {"params", {1, "apple"}}});
    REQUIRE(list.outcome.message == "");
    REQUIRE(list.table.num_rows() == 1);
    CHECK(list.table.column("id").int_at(0) == 3);

    const auto numbered = read({{"path", file}, {"query", "SELECT ?2 AS b, ?1 AS a, ?2 + 1 AS c"}, {"params", {1.5, 40}}});
    REQUIRE(numbered.outcome.message == "");
    CHECK(numbered.table.column("a").float_at(0) == 1.5);
    CHECK(numbered.table.column("b").int_at(0) == 40);
    CHECK(numbered.table.column("c").int_at(0) == 41);

    const auto text = read({{"path", file},
                            {"query", "SELECT ? IS NULL AS was_null, ? AS flag, ? AS word"},
                            {"params", R"([null, true, "caf\u00e9"])"}});
    REQUIRE(text.outcome.message == "");
    CHECK(text.table.column("was_null").int_at(0) == 1);
    CHECK(text.table.column("flag").int_at(0) == 1);
    CHECK(text.table.column("word").string_at(0) == "café");
}

TEST_CASE("data.sql: a quote and a DROP TABLE in a param are bound as a value, harmlessly") {
    TempDir dir;
    const auto file = sample_db(dir).string();
    const std::string hostile = "x'); DROP TABLE items; --";
    const auto result = read({{"path", file}, {"query", "SELECT id, ? AS echoed FROM items WHERE name = ?"},
                              {"params", {hostile, hostile}}});
    REQUIRE(result.outcome.message == "");
    CHECK(result.table.num_rows() == 0);
    const auto echoed = read({{"path", file}, {"query", "SELECT ? AS echoed"}, {"params", {hostile}}});
    REQUIRE(echoed.outcome.ok());
    CHECK(echoed.table.column("echoed").string_at(0) == hostile);
    // The table is still there, all three rows.
    const auto after = read({{"path", file}, {"query", "SELECT count(*) AS n FROM items"}});
    REQUIRE(after.outcome.ok());
    CHECK(after.table.column("n").int_at(0) == 3);

    // A second statement in the query itself is refused before anything runs.
    const auto two = read({{"path", file}, {"query", "SELECT 1; DROP TABLE items"}});
    CHECK(two.outcome.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(two.outcome.message, Catch::Contains("more than one statement"));
    CHECK(read({{"path", file}, {"query", "SELECT count(*) AS n FROM items"}}).table.column("n").int_at(0) == 3);
}

TEST_CASE("data.sql: url sqlite:///abs/path and sqlite:PATH name the file") {
    TempDir dir;
    const auto file = sample_db(dir).string();
    const auto absolute = read({{"url", "sqlite://" + file}, {"query", "SELECT count(*) AS n FROM items"}});
    REQUIRE(absolute.outcome.message == "");
    CHECK(absolute.table.column("n").int_at(0) == 3);
    const auto plain = read({{"url", "sqlite:" + file}, {"query", "SELECT count(*) AS n FROM items"}});
    REQUIRE(plain.outcome.message == "");
    CHECK(plain.table.column("n").int_at(0) == 3);
}

TEST_CASE("data.sql: many rows in small batches arrive whole and in order") {
    TempDir dir;
    const auto file = dir / "big.db";
    execute(file, "CREATE TABLE t (id INTEGER, x REAL, label TEXT);"
                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25000) "
                  "INSERT INTO t SELECT i, i * 0.5, 'row' || i FROM n;");
    const auto result = read({{"path", file.string()}, {"query", "SELECT * FROM t ORDER BY id"}, {"batch_rows", 1000}});
    REQUIRE(result.outcome.message == "");
    REQUIRE(result.table.num_rows() == 25000);
    CHECK(result.table.column("id").int_at(24999) == 25000);
    CHECK(result.table.column("x").float_at(9) == 5.0);
    CHECK(result.table.column("label").string_at(12344) == "row12345");
}

TEST_CASE("data.sql: a cancelled run stops between batches") {
    TempDir dir;
    StageRun run(sql_plugin(), "data.sql", {{"path", sample_db(dir).string()}, {"query", "SELECT * FROM items"}});
    run.cancelled = true;
    const auto outcome = run.invoke();
    CHECK(outcome.status == TRELLIS_ERR_CANCELLED);
}

TEST_CASE("data.sql: SQLite errors name the file, key, column or row at fault") {
    TempDir dir;
    const auto file = sample_db(dir).string();
    auto error_of = [](const nlohmann::json& config) {
        const auto result = read(config);
        CHECK(!result.outcome.ok());
        CHECK(result.outcome.message.find('\n') == std::string::npos);
        return result.outcome.message;
    };

    const std::string missing = (dir / "nowhere.db").string();
    CHECK(error_of({{"path", missing}, {"query", "SELECT 1"}}) == "SQLite file '" + missing + "' does not exist");
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT nme FROM items"}}),
               Catch::Contains("query error in SQLite file '" + file + "': no such column: nme (at character 8)"));
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT id FROM items WHERE id = ?"}}),
               Catch::Contains("query has 1 placeholder (?, ?NNN) but params gives 0 values"));
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT ?3"}, {"params", {1}}}),
               Catch::Contains("query has 3 placeholders (?, ?NNN) but params gives 1 value"));
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT x'00ff' AS raw"}}),
               Catch::Contains("column 'raw' holds a BLOB in row 1"));
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT CASE WHEN id = 3 THEN 'three' ELSE id END AS mixed FROM items ORDER BY id"}}),
               Catch::Contains("column 'mixed' mixes int values with text in row 3"));
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT id, name AS id FROM items"}}),
               Catch::Contains("query returns two columns named 'id'"));
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT 1"}, {"params", nlohmann::json::array({nlohmann::json::array({1, 2})})}}),
               Catch::Contains("params: value 1 is a list or record"));
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT 1"}, {"params", "[1, "}}), Catch::Contains("params: expected"));
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT 1"}, {"url", "sqlite:" + file}}),
               Catch::Contains("set either url or path"));
    CHECK_THAT(error_of({{"query", "SELECT 1"}}), Catch::Contains("set url"));
    CHECK_THAT(error_of({{"url", "mysql://me:hunter2@db/x"}, {"query", "SELECT 1"}}),
               Catch::Contains("(it starts with 'mysql:')"));
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT 1"}, {"fingerprint", "rows:items"}}),
               Catch::Contains("fingerprint: 'rows:items' is not one of always, table:<name>, version:<sql>"));
    CHECK_THAT(error_of({{"path", file}, {"query", "SELECT 1"}, {"fingerprint", "table:nothere"}}),
               Catch::Contains("no such table: nothere"));
    CHECK_THAT(error_of({{"path", file}, {"query", "INSERT INTO items (id) VALUES (9)"}}),
               Catch::Contains("query returns no columns"));

    // Not a database at all.
    const auto junk = dir.write("junk.db", std::string(4096, 'j'));
    CHECK_THAT(error_of({{"path", junk.string()}, {"query", "SELECT count(*) FROM items"}}),
               Catch::Contains("file is not a database"));
}

TEST_CASE("data.sql: a password in the url is refused without being repeated") {
    for (const std::string url : {"postgresql://reader:hunter2secret@db.example/sales",
                                  "host=db.example user=reader password=hunter2secret dbname=sales",
                                  "postgres://reader@db.example/sales?password=hunter2secret"}) {
        const auto result = read({{"url", url}, {"query", "SELECT 1"}});
        CHECK(result.outcome.status == TRELLIS_ERR_INVALID);
        CHECK_THAT(result.outcome.message, Catch::Contains("url holds a password") && Catch::Contains("password_env"));
        CHECK(result.outcome.message.find("hunter2secret") == std::string::npos);
        const auto print = fingerprint({{"url", url}, {"query", "SELECT 1"}});
        CHECK(!print.ok());
        CHECK(print.message.find("hunter2secret") == std::string::npos);
    }
    // A malformed string that may hold a password is not echoed either.
    const auto malformed = read({{"url", "host=db password hunter2secret"}, {"query", "SELECT 1"}});
    CHECK(!malformed.outcome.ok());
    CHECK(malformed.outcome.message.find("hunter2secret") == std::string::npos);
}

TEST_CASE("data.sql: fingerprints follow the table, a version, or make the stage always run") {
    TempDir dir;
    const auto file = sample_db(dir).string();
    const nlohmann::json base = {{"path", file}, {"query", "SELECT * FROM items"}};

    auto with = [&](const std::string& print) {
        auto config = base;
        config["fingerprint"] = print;
        const auto outcome = fingerprint(config);
        INFO(outcome.message);
        REQUIRE(outcome.ok());
        return outcome;
    };
    const auto none = with("");
    CHECK(none.cacheable);
    CHECK(with("").text == none.text);

    const auto always = with("always");
    CHECK(!always.cacheable);

    const auto table_before = with("table:items");
    CHECK(table_before.cacheable);
    CHECK(table_before.text != none.text);
    CHECK(with("table:items").text == table_before.text);
    const auto version_before = with("version:SELECT max(price) FROM items");
    const auto expression_before = with("version:(SELECT count(*) FROM items) * 10");

    execute(file, "INSERT INTO items (id, price) VALUES (4, 99.5)");
    CHECK(with("table:items").text != table_before.text);
    CHECK(with("version:SELECT max(price) FROM items").text != version_before.text);
    CHECK(with("version:(SELECT count(*) FROM items) * 10").text != expression_before.text);
    CHECK(with("").text == none.text); // without a fingerprint, only the config counts

    // id_column picks the column whose maximum counts; an update that keeps count and max id
    // is invisible to table:, which the docs say.
    auto config = base;
    config["fingerprint"] = "table:items";
    config["id_column"] = "nothere";
    const auto bad = fingerprint(config);
    CHECK(!bad.ok());
    CHECK_THAT(bad.message, Catch::Contains("no such column"));
}
