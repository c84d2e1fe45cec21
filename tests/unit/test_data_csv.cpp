// The built-in data.csv plugin, loaded from the build's plugin folder and run through the host API.
#include "stage_run.hpp"

#include <trellis/artifacts.hpp>

#include <cmath>

using trellis::ColumnType;
using trellis::test::StageRun;
using trellis::test::TempDir;

namespace {

std::shared_ptr<trellis::core::PluginLibrary> csv_plugin() {
    static const auto plugin =
        trellis::core::PluginLibrary::open(std::filesystem::path(BUILTIN_PLUGIN_DIR) / "data_csv.so");
    return plugin;
}

struct CsvRun {
    trellis::core::StageOutcome outcome;
    trellis::Table table;
};

CsvRun read_csv(const std::string& path, nlohmann::json config = nlohmann::json::object()) {
    config["path"] = path;
    StageRun run(csv_plugin(), "data.csv", config);
    CsvRun result{run.invoke(), {}};
    if (result.outcome.ok()) result.table = trellis::deserialize_table(run.output("table"));
    return result;
}

} // namespace

TEST_CASE("data.csv reads the breast cancer data with inferred types") {
    const auto run = read_csv(std::string(TEST_DATA_DIR) + "/breast_cancer.csv");
    REQUIRE(run.outcome.message == "");
    const auto& table = run.table;
    CHECK(table.num_rows() == 569);
    CHECK(table.num_columns() == 31);
    CHECK(table.column(0).name() == "mean_radius");
    CHECK(table.column("mean_radius").type() == ColumnType::Float64);
    CHECK(table.column("mean_radius").float_at(0) == 17.99);
    CHECK(table.column("worst_fractal_dimension").float_at(568) == 0.07039);
    const auto& target = table.column("malignant");
    CHECK(target.type() == ColumnType::Int64);
    int64_t malignant = 0;
    for (size_t i = 0; i < table.num_rows(); ++i) malignant += target.int_at(i);
    CHECK(malignant == 212); // the data set's documented class balance: 212 malignant, 357 benign
}

TEST_CASE("data.csv infers int, float, bool and string, and empty fields are missing") {
    TempDir dir;
    const auto file = dir.write("mixed.csv", "id,score,ok,name\n1,0.5,true,ada\n2,,FALSE,\"lovelace, a\"\n,3,,\"say \"\"hi\"\"\"\n");
    const auto run = read_csv(file.string());
    REQUIRE(run.outcome.ok());
    const auto& t = run.table;
    CHECK(t.column("id").type() == ColumnType::Int64);
    CHECK(t.column("score").type() == ColumnType::Float64); // "3" still fits a float column
    CHECK(t.column("ok").type() == ColumnType::Bool);
    CHECK(t.column("name").type() == ColumnType::String);
    CHECK(t.column("id").is_null(2));
    CHECK(t.column("id").null_count() == 1);
    CHECK(t.column("score").is_null(1));
    CHECK(t.column("score").float_at(2) == 3.0);
    CHECK_FALSE(t.column("ok").bool_at(1));
    CHECK(t.column("ok").is_null(2));
    CHECK(t.column("name").string_at(1) == "lovelace, a");
    CHECK(t.column("name").string_at(2) == "say \"hi\"");
}

TEST_CASE("data.csv: quoted newlines, CRLF line ends, a byte-order mark and another delimiter") {
    TempDir dir;
    const auto file = dir.write("semi.csv", "\xEF\xBB\xBFk;text\r\n1;\"two\nlines\"\r\n2;plain\r\n");
    const auto run = read_csv(file.string(), {{"delimiter", ";"}});
    REQUIRE(run.outcome.ok());
    CHECK(run.table.column_names() == std::vector<std::string>{"k", "text"});
    CHECK(run.table.column("text").string_at(0) == "two\nlines");
    CHECK(run.table.column("k").int_at(1) == 2);
}

TEST_CASE("data.csv: declared types override inference, and a value that does not fit names file:line:column") {
    TempDir dir;
    const auto file = dir.write("ages.csv", "name,age\nada,36\nbob,x7\n");
    const auto as_string = read_csv(file.string());
    REQUIRE(as_string.outcome.ok());
    CHECK(as_string.table.column("age").type() == ColumnType::String);

    const auto declared = read_csv(file.string(), {{"types", {"age:int"}}});
    CHECK_FALSE(declared.outcome.ok());
    CHECK(declared.outcome.message == file.string() + ":3:5: column 'age': 'x7' is not a valid int");

    const auto unknown_column = read_csv(file.string(), {{"types", {"height:float"}}});
    CHECK(unknown_column.outcome.message == "types: no column 'height' in the file");
    const auto unknown_type = read_csv(file.string(), {{"types", {"age:decimal"}}});
    CHECK(unknown_type.outcome.message == "types: column 'age': unknown type 'decimal' (int, float, bool, string)");
}

TEST_CASE("data.csv rejects malformed files with the file and line") {
    TempDir dir;
    const auto ragged = dir.write("ragged.csv", "a,b\n1,2\n3\n");
    CHECK(read_csv(ragged.string()).outcome.message == ragged.string() + ":3:1: row has 1 fields, the header has 2");
    const auto long_row = dir.write("long.csv", "a,b\n1,2\n3,4,55\n");
    CHECK(read_csv(long_row.string()).outcome.message == long_row.string() + ":3:5: row has 3 fields, the header has 2");

    const auto unterminated = dir.write("quote.csv", "a,b\n1,\"open\n");
    CHECK(read_csv(unterminated.string()).outcome.message == unterminated.string() + ":2:3: unterminated quoted field");

    const auto after_quote = dir.write("after.csv", "a\n\"x\"y\n");
    CHECK(read_csv(after_quote.string()).outcome.message ==
          after_quote.string() + ":2:4: unexpected character after a closing quote");

    const auto duplicate = dir.write("dup.csv", "a,a\n1,2\n");
    CHECK(read_csv(duplicate.string()).outcome.message == duplicate.string() + ":1:3: duplicate column name 'a'");

    const auto empty = dir.write("empty.csv", "");
    CHECK(read_csv(empty.string()).outcome.message == empty.string() + ": empty file, expected a header row");

    const auto missing = (dir / "missing.csv").string();
    CHECK(read_csv(missing).outcome.message == missing + ": cannot open: No such file or directory");

    CHECK(read_csv(ragged.string(), {{"delimiter", "::"}}).outcome.message ==
          "delimiter must be one character, not '::'");
}

TEST_CASE("data.csv: a header-only file gives a table with no rows") {
    TempDir dir;
    const auto file = dir.write("header.csv", "a,b\n");
    const auto run = read_csv(file.string());
    REQUIRE(run.outcome.ok());
    CHECK(run.table.num_rows() == 0);
    CHECK(run.table.num_columns() == 2);
    CHECK(run.table.column("a").type() == ColumnType::String); // nothing to infer from
}

TEST_CASE("data.csv: only plain decimal numbers are numbers") {
    TempDir dir;
    const auto file = dir.write("numbers.csv", "a,b,c,d,e\n+5,+1.5,1e3,-2,x\n+-5,nan,0x10,7,y\n");
    const auto run = read_csv(file.string());
    REQUIRE(run.outcome.ok());
    CHECK(run.table.column("a").type() == ColumnType::String); // "+-5" is not a number
    CHECK(run.table.column("b").type() == ColumnType::String); // "nan" is text, not a float
    CHECK(run.table.column("c").type() == ColumnType::String); // nor is hex "0x10"
    CHECK(run.table.column("d").type() == ColumnType::Int64);
    CHECK(run.table.column("d").int_at(0) == -2);

    const auto declared = read_csv(file.string(), {{"types", {"b:float", "a:string"}}});
    CHECK(declared.outcome.status == TRELLIS_ERR_INVALID); // bad input data, not a plugin failure
    CHECK(declared.outcome.message == file.string() + ":3:5: column 'b': 'nan' is not a valid float");
}
