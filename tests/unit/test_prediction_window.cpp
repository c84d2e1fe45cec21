// The monitor's reader of the prediction log: what trellis serve writes reads back as the same
// tables, windows select by time, version, variant and count, and bad lines are skipped and
// named without hiding the good ones.
#include "monitor/prediction_window.hpp"
#include "serve/prediction_log.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace trellis;
using trellis::monitor::read_prediction_window;
using trellis::monitor::WindowQuery;

namespace {

constexpr double day_one = 1796601600; // 2026-12-07T00:00:00Z

std::shared_ptr<Table> two_rows(double first, std::optional<double> second, const std::string& city) {
    auto table = std::make_shared<Table>();
    Column x("x", ColumnType::Float64), c("city", ColumnType::String);
    x.append_float(first);
    second ? x.append_float(*second) : x.append_null();
    c.append_string(city);
    c.append_string(city);
    table->add_column(std::move(x));
    table->add_column(std::move(c));
    return table;
}

Table predictions(int64_t a, int64_t b) {
    Table table;
    Column p("prediction", ColumnType::Int64);
    p.append_int(a);
    p.append_int(b);
    table.add_column(std::move(p));
    return table;
}

// Three days of records through the server's own writer.
void write_log(const std::filesystem::path& folder) {
    serve::PredictionLog log(folder, 1.0, 100);
    log.append({day_one + 5, "r1", "cancer", "cancer", 1, "primary", 200, 0.5, two_rows(1.5, std::nullopt, "Lyon"), predictions(1, 0)});
    log.append({day_one + 7, "r2", "cancer", "cancer", 2, "canary", 200, 0.5, two_rows(2.5, 3.5, "Oslo"), predictions(0, 0)});
    log.append({day_one + 8, "r2", "cancer", "cancer", 3, "shadow", 200, 0.5, two_rows(2.5, 3.5, "Oslo"), predictions(1, 1)});
    log.append({day_one + 9, "r3", "cancer", "cancer", 1, "primary", 503, 0.5, two_rows(9, 9, "Rome"), predictions(1, 1)});
    log.append({day_one + 86400, "r4", "cancer", "cancer", 1, "primary", 200, 0.5, two_rows(4.5, 5.5, "Lyon"), predictions(1, 1)});
}

std::vector<double> floats_of(const Column& column) {
    std::vector<double> out;
    for (size_t i = 0; i < column.size(); ++i) out.push_back(column.is_null(i) ? -1 : column.float_at(i));
    return out;
}

} // namespace

TEST_CASE("prediction window: the server's log reads back as tables, one row per predicted row") {
    test::TempDir dir;
    write_log(dir / "predictions");
    const auto window = read_prediction_window(dir / "predictions", "cancer", {});
    CHECK(window.skipped.empty());
    CHECK(window.records == 3); // the shadow answer and the 503 are left out
    REQUIRE(window.inputs.num_rows() == 6);
    CHECK(window.inputs.column_names() == std::vector<std::string>{"x", "city"});
    CHECK(floats_of(window.inputs.column("x")) == std::vector<double>{1.5, -1, 2.5, 3.5, 4.5, 5.5});
    CHECK(window.inputs.column("city").string_at(2) == "Oslo");
    CHECK(window.outputs.column("prediction").type() == ColumnType::Int64);
    CHECK(window.outputs.column("prediction").int_at(0) == 1);
    CHECK(window.request_ids == std::vector<std::string>{"r1", "r1", "r2", "r2", "r4", "r4"});
    CHECK(window.versions == std::vector<int64_t>{1, 1, 2, 2, 1, 1});
    CHECK(window.variants[2] == "canary");
    CHECK(window.times[4] == day_one + 86400);
}

TEST_CASE("prediction window: time, version, variant and count select the rows") {
    test::TempDir dir;
    write_log(dir / "predictions");
    const auto folder = dir / "predictions";
    WindowQuery first_day;
    first_day.until = day_one + 86400;
    CHECK(read_prediction_window(folder, "cancer", first_day).request_ids == std::vector<std::string>{"r1", "r1", "r2", "r2"});
    WindowQuery later;
    later.since = day_one + 6;
    CHECK(read_prediction_window(folder, "cancer", later).records == 2);
    WindowQuery version;
    version.version = 1;
    CHECK(read_prediction_window(folder, "cancer", version).request_ids == std::vector<std::string>{"r1", "r1", "r4", "r4"});
    WindowQuery shadow;
    shadow.variant = "shadow";
    const auto shadows = read_prediction_window(folder, "cancer", shadow);
    CHECK(shadows.versions == std::vector<int64_t>{3, 3});
    WindowQuery with_shadow;
    with_shadow.include_shadow = true;
    CHECK(read_prediction_window(folder, "cancer", with_shadow).records == 4);
    WindowQuery last;
    last.last_rows = 3;
    const auto tail = read_prediction_window(folder, "cancer", last);
    CHECK(tail.request_ids == std::vector<std::string>{"r2", "r4", "r4"});
    CHECK(floats_of(tail.inputs.column("x")) == std::vector<double>{3.5, 4.5, 5.5});
    CHECK(tail.outputs.num_rows() == 3);
    CHECK(tail.records == 2);
}

TEST_CASE("prediction window: bad lines are skipped and named, the rest still read") {
    test::TempDir dir;
    const auto folder = dir / "predictions" / "cancer";
    std::filesystem::create_directories(folder);
    const std::string good =
        R"({"time": 1.0, "request_id": "a", "endpoint": "cancer", "model": "m", "version": 1, "variant": "primary", )"
        R"("status": 200, "latency_ms": 0.1, "inputs": {"x": [1, 2]}, "outputs": {"p": [0.5, 0.25]}})";
    std::ofstream(folder / "2026-12-07.jsonl")
        << good << "\n"
        << "not json\n"
        << R"({"time": 2.0, "request_id": "b", "version": 1, "variant": "primary", "status": 200, "inputs": {"x": [1]}, "outputs": {"p": [1, 2]}})"
        << "\n"
        << R"({"time": 3.0, "request_id": "c", "version": 1, "variant": "primary", "status": 200, "inputs": {"x": ["a"]}, "outputs": {"p": [1]}})"
        << "\n"
        << R"({"time": 4.0, "request_id": "d", "version": 1, "variant": "primary", "status": 200, "inputs": {"x": [2.5]}, "outputs": {"p": [1]}})"
        << "\n"
        << R"({"time": 5.0, "request_id": "e", "version": 1})" << "\n"
        << R"({"time": 6.0, "request_id": "f", "vers)"; // torn by a crash
    const auto window = read_prediction_window(dir / "predictions", "cancer", {});
    REQUIRE(window.skipped.size() == 5);
    CHECK(window.skipped_lines == 5);
    const std::string file = (folder / "2026-12-07.jsonl").string();
    CHECK(window.skipped[0] == file + ":2: not a JSON record");
    CHECK(window.skipped[1] == file + ":3: column 'p' has 2 rows, not 1");
    CHECK(window.skipped[2] == file + ":4: column 'x' is string here but int in earlier records");
    CHECK_THAT(window.skipped[3], Catch::StartsWith(file + ":6: not a prediction record ("));
    CHECK(window.skipped[4] == file + ":7: an unfinished last line");
    // Ints and a later float in one column make a float column.
    CHECK(window.request_ids == std::vector<std::string>{"a", "a", "d"});
    CHECK(window.inputs.column("x").type() == ColumnType::Float64);
    CHECK(floats_of(window.inputs.column("x")) == std::vector<double>{1, 2, 2.5});

    CHECK_THROWS_WITH(read_prediction_window(dir / "predictions", "nope", {}),
                      Catch::StartsWith("no prediction log for endpoint 'nope' ("));
}
