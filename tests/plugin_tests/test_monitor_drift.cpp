// The built-in monitor.drift plugin, loaded from the build's plugin folder and run through the host API.
#include "stage_run.hpp"
#include "temp_dir.hpp"

#include <trellis/artifacts.hpp>

#include <cmath>
#include <optional>

using trellis::Column;
using trellis::ColumnType;
using trellis::Table;
using trellis::test::StageRun;

namespace {

// Opened once: loading a plugin per test would only slow the tests down.
std::shared_ptr<trellis::core::PluginLibrary> drift_plugin() {
    static const auto plugin =
        trellis::core::PluginLibrary::open(std::filesystem::path(BUILTIN_PLUGIN_DIR) / "monitor_drift.so");
    return plugin;
}

// What a test looks at after one run; outputs are read even when fail_on_alert failed the stage.
struct DriftRun {
    trellis::core::StageOutcome outcome;
    nlohmann::json report;
    trellis::Metrics metrics;
};

// Runs the stage on two tables with `config`.
DriftRun drift(const Table& reference, const Table& current, const nlohmann::json& config = nlohmann::json::object()) {
    StageRun run(drift_plugin(), "monitor.drift", config);
    run.set_input("reference", trellis::ArtifactType::Table, trellis::serialize(reference));
    run.set_input("current", trellis::ArtifactType::Table, trellis::serialize(current));
    DriftRun result{run.invoke(), {}, {}};
    if (run.context.outputs.count("report"))
        result.report = nlohmann::json::parse(trellis::deserialize_report(run.output("report")).json);
    if (run.context.outputs.count("metrics")) result.metrics = trellis::deserialize_metrics(run.output("metrics"));
    return result;
}

// Column builders: std::nullopt is a null.
Column floats(const std::string& name, const std::vector<std::optional<double>>& values) {
    Column column(name, ColumnType::Float64);
    for (const auto& v : values) v ? column.append_float(*v) : column.append_null();
    return column;
}

Column ints(const std::string& name, const std::vector<int64_t>& values) {
    Column column(name, ColumnType::Int64);
    for (int64_t v : values) column.append_int(v);
    return column;
}

Column strings(const std::string& name, const std::vector<std::optional<std::string>>& values) {
    Column column(name, ColumnType::String);
    for (const auto& v : values) v ? column.append_string(*v) : column.append_null();
    return column;
}

Column bools(const std::string& name, const std::vector<bool>& values) {
    Column column(name, ColumnType::Bool);
    for (bool v : values) column.append_bool(v);
    return column;
}

// Builds a table from columns in order.
Table table(std::vector<Column> columns) {
    Table out;
    for (auto& column : columns) out.add_column(std::move(column));
    return out;
}

// A mixed table of `rows` rows whose float column starts at `shift`.
Table sample(size_t rows, double shift) {
    std::vector<std::optional<double>> x;
    std::vector<int64_t> n;
    std::vector<std::optional<std::string>> s;
    std::vector<bool> b;
    for (size_t i = 0; i < rows; ++i) {
        x.push_back(shift + static_cast<double>(i) / static_cast<double>(rows));
        n.push_back(static_cast<int64_t>(i % 7));
        s.push_back(std::string(1, static_cast<char>('a' + i % 3)));
        b.push_back(i % 4 == 0);
    }
    return table({floats("x", x), ints("n", n), strings("s", s), bools("b", b)});
}

// A column's entry in the report, found by name so tests do not depend on order.
const nlohmann::json& column_entry(const nlohmann::json& report, const std::string& name) {
    for (const auto& column : report["columns"])
        if (column["name"] == name) return column;
    FAIL("no column '" << name << "' in the report");
    static const nlohmann::json none;
    return none;
}

} // namespace

TEST_CASE("monitor.drift: identical tables have PSI 0 everywhere and status ok") {
    const Table data = sample(500, 0.0);
    const auto run = drift(data, data);
    REQUIRE(run.outcome.message == "");
    CHECK(run.report["status"] == "ok");
    CHECK(run.report["thresholds"] == nlohmann::json::parse(R"({"warn": 0.1, "alert": 0.25})"));
    CHECK(run.report["reference_rows"] == 500);
    CHECK(run.report["current_rows"] == 500);
    REQUIRE(run.report["columns"].size() == 4);
    for (const auto& column : run.report["columns"]) {
        INFO(column["name"]);
        CHECK(column["psi"].get<double>() == 0.0);
        CHECK(column["status"] == "ok");
        for (const auto& bin : column["bins"]) CHECK(bin["reference"] == bin["current"]);
    }
    CHECK(column_entry(run.report, "x")["type"] == "float");
    CHECK(column_entry(run.report, "x")["bins"].size() == 10);
    CHECK(column_entry(run.report, "n")["type"] == "int");
    CHECK(column_entry(run.report, "s")["bins"].size() == 3);
    CHECK(column_entry(run.report, "b")["bins"].size() == 2);
    CHECK(run.metrics.values == std::map<std::string, double>{
                                    {"psi.b", 0.0}, {"psi.n", 0.0}, {"psi.s", 0.0}, {"psi.x", 0.0}, {"psi_max", 0.0}});
}

TEST_CASE("monitor.drift: a strongly shifted float column is in alert") {
    const auto run = drift(sample(1000, 0.0), sample(1000, 0.5), {{"columns", {"x", "s"}}});
    REQUIRE(run.outcome.ok());
    CHECK(run.report["status"] == "alert");
    REQUIRE(run.report["columns"].size() == 2);
    const auto& x = column_entry(run.report, "x");
    CHECK(x["status"] == "alert");
    CHECK(x["psi"].get<double>() > 1.0);
    CHECK(column_entry(run.report, "s")["status"] == "ok");
    CHECK(run.metrics.values.at("psi.x") == x["psi"].get<double>());
    CHECK(run.metrics.values.at("psi_max") == x["psi"].get<double>());
    CHECK(run.metrics.values.count("psi.n") == 0);
    // The last bin is [0.9, +inf): every current value from 0.9 up, beyond the reference's range too.
    CHECK(x["bins"].back()["current"].get<double>() == Approx(0.6).margin(0.002));
    CHECK(x["bins"].back()["reference"].get<double>() == Approx(0.1));
}

TEST_CASE("monitor.drift: PSI of a tiny categorical example, computed by hand") {
    // reference a a b b -> a 0.5, b 0.5, c 0 (floored to 0.0001)
    // current   a b b c -> a 0.25, b 0.5, c 0.25
    // PSI = (0.25 - 0.5) ln(0.25/0.5) + 0 + (0.25 - 0.0001) ln(0.25/0.0001)
    //     = 0.25 * 0.693147 + 0.2499 * 7.824046 = 0.173287 + 1.955229 = 2.128516
    const auto run = drift(table({strings("c", {"a", "a", "b", "b"})}), table({strings("c", {"a", "b", "b", "c"})}));
    REQUIRE(run.outcome.ok());
    const auto& c = column_entry(run.report, "c");
    CHECK(c["psi"].get<double>() == Approx(2.128516).epsilon(1e-6));
    CHECK(c["status"] == "alert");
    CHECK(c["bins"] == nlohmann::json::parse(R"([
        {"label": "a", "reference": 0.5, "current": 0.25, "reference_count": 2, "current_count": 1},
        {"label": "b", "reference": 0.5, "current": 0.5, "reference_count": 2, "current_count": 2},
        {"label": "c", "reference": 0, "current": 0.25, "reference_count": 0, "current_count": 1}])"));

    // Without an empty bin: (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5) = 0.25 ln 3 = 0.274653
    const auto small = drift(table({strings("c", {"a", "a", "b", "b"})}), table({strings("c", {"a", "b", "b", "b"})}));
    REQUIRE(small.outcome.ok());
    CHECK(small.metrics.values.at("psi.c") == Approx(0.274653).epsilon(1e-6));
    CHECK(column_entry(small.report, "c")["status"] == "alert");
    const auto warned = drift(table({strings("c", {"a", "a", "b", "b"})}), table({strings("c", {"a", "b", "b", "b"})}),
                              {{"warn", 0.2}, {"alert", 0.3}});
    CHECK(warned.report["status"] == "warn");
}

TEST_CASE("monitor.drift: nulls get their own missing bin") {
    // Reference 1 2 3 null with 2 bins: one cut at 2, so bins (-inf, 2), [2, +inf) and missing hold
    // 0.25, 0.5, 0.25 of the reference and 0, 0.5, 0.5 of the current (null null 2 3).
    // PSI = (0.0001 - 0.25) ln(0.0001/0.25) + 0 + (0.5 - 0.25) ln 2 = 1.955229 + 0.173287 = 2.128516
    const auto run = drift(table({floats("f", {1.0, 2.0, 3.0, std::nullopt})}),
                           table({floats("f", {std::nullopt, std::nullopt, 2.0, 3.0})}), {{"bins", 2}});
    REQUIRE(run.outcome.ok());
    const auto& f = column_entry(run.report, "f");
    CHECK(f["bins"] == nlohmann::json::parse(R"json([
        {"label": "(-inf, 2)", "reference": 0.25, "current": 0, "reference_count": 1, "current_count": 0},
        {"label": "[2, +inf)", "reference": 0.5, "current": 0.5, "reference_count": 2, "current_count": 2},
        {"label": "missing", "reference": 0.25, "current": 0.5, "reference_count": 1, "current_count": 2}])json"));
    CHECK(f["psi"].get<double>() == Approx(2.128516).epsilon(1e-6));

    const auto text = drift(table({strings("s", {"x", std::nullopt})}), table({strings("s", {"x", std::nullopt})}));
    REQUIRE(text.outcome.ok());
    CHECK(column_entry(text.report, "s")["bins"].back()["label"] == "missing");
    CHECK(column_entry(text.report, "s")["psi"].get<double>() == 0.0);
}

TEST_CASE("monitor.drift: numeric bins are equal-frequency on the reference, outer bins take the rest") {
    const auto run = drift(table({ints("n", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})}),
                           table({ints("n", {-5, 0, 3, 3, 5, 100, 100, 7, 8, 9})}), {{"bins", 5}});
    REQUIRE(run.outcome.ok());
    const auto& bins = column_entry(run.report, "n")["bins"];
    REQUIRE(bins.size() == 5);
    const std::vector<std::string> labels = {"(-inf, 2)", "[2, 4)", "[4, 6)", "[6, 8)", "[8, +inf)"};
    const std::vector<int> current = {2, 2, 1, 1, 4};
    for (size_t i = 0; i < 5; ++i) {
        CHECK(bins[i]["label"] == labels[i]);
        CHECK(bins[i]["reference_count"] == 2);
        CHECK(bins[i]["current_count"] == current[i]);
    }

    // Repeated values collapse edges: no empty bins between equal cut points.
    const auto skewed = drift(table({ints("n", {0, 0, 0, 0, 0, 0, 0, 0, 0, 1})}),
                              table({ints("n", {0, 0, 0, 0, 0, 0, 0, 0, 0, 1})}));
    REQUIRE(skewed.outcome.ok());
    const auto& skewed_bins = column_entry(skewed.report, "n")["bins"];
    REQUIRE(skewed_bins.size() == 2);
    CHECK(skewed_bins[0]["label"] == "(-inf, 1)");
    CHECK(skewed_bins[0]["reference_count"] == 9);
    CHECK(skewed_bins[1]["reference_count"] == 1);
}

TEST_CASE("monitor.drift: a constant reference still shows a shift") {
    const auto run = drift(table({floats("f", {1.0, 1.0, 1.0, 1.0})}), table({floats("f", {1.0, 2.0, 2.0, 2.0})}));
    REQUIRE(run.outcome.ok());
    const auto& f = column_entry(run.report, "f");
    REQUIRE(f["bins"].size() == 3);
    CHECK(f["bins"][1]["label"] == "[1, 1]");
    CHECK(f["bins"][2]["label"] == "(1, +inf)");
    CHECK(f["bins"][2]["current_count"] == 3);
    CHECK(f["status"] == "alert");
}

TEST_CASE("monitor.drift: fail_on_alert fails the stage naming the alerting columns") {
    const auto run = drift(sample(1000, 0.0), sample(1000, 0.5), {{"fail_on_alert", true}});
    CHECK(run.outcome.status == TRELLIS_ERR_FAILED);
    CHECK(run.outcome.message.find("drift alert (psi >= 0.25) on columns: x (psi = ") == 0);
    CHECK(run.outcome.message.find("s (") == std::string::npos);

    const auto calm = drift(sample(1000, 0.0), sample(1000, 0.0), {{"fail_on_alert", true}});
    CHECK(calm.outcome.ok());
}

TEST_CASE("monitor.drift: errors name the key, column or table at fault") {
    const Table data = sample(20, 0.0);
    const Table other = table({floats("x", std::vector<std::optional<double>>(20, 1.0)), strings("n", std::vector<std::optional<std::string>>(20, "a"))});
    struct Case {
        Table reference, current;
        nlohmann::json config;
        std::string message;
    };
    const std::vector<Case> cases = {
        {data, data, {{"columns", {"x", "nope"}}}, "columns: no column 'nope' in the reference table"},
        {data, table({floats("x", std::vector<std::optional<double>>(3, 1.0))}), {{"columns", {"x", "s"}}},
         "columns: no column 's' in the current table"},
        {data, data, {{"columns", {"x", "x"}}}, "columns: column 'x' is listed twice"},
        {data, data, {{"bins", 1}}, "bins: must be between 2 and 10000, not 1"},
        {data, data, {{"warn", 0.3}, {"alert", 0.2}}, "alert: must be a finite number >= warn (0.3), not 0.2"},
        {data, data, {{"warn", -0.1}}, "warn: must be a finite number >= 0, not -0.1"},
        {data, other, nlohmann::json::object(), "column 'n' is int in the reference table but string in the current table"},
        {data, table({floats("y", {1.0})}), nlohmann::json::object(),
         "columns: no column is present in both tables (reference: x, n, s, b; current: y)"},
        {Table{}, data, nlohmann::json::object(), "reference: the table has no rows to compare with"},
        {data, table({floats("x", {})}), nlohmann::json::object(), "current: the table has no rows to compare"},
    };
    for (const auto& c : cases) {
        INFO(c.message);
        const auto run = drift(c.reference, c.current, c.config);
        CHECK(run.outcome.status == TRELLIS_ERR_INVALID);
        CHECK(run.outcome.message == c.message);
    }
}

TEST_CASE("monitor.drift: an int column compares with a float column of the same name") {
    const auto run = drift(table({ints("v", {1, 2, 3, 4})}), table({floats("v", {1.0, 2.0, 3.0, 4.0})}), {{"bins", 4}});
    REQUIRE(run.outcome.ok());
    CHECK(run.metrics.values.at("psi.v") == 0.0);
}
