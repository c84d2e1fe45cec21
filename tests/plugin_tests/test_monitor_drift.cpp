// The built-in monitor.drift plugin, loaded from the build's plugin folder and run through the host API.
#include "stage_run.hpp"
#include "temp_dir.hpp"

#include <trellis/artifacts.hpp>

#include <cmath>
#include <limits>
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

// What a test looks at after one run; outputs are read even when fail_on_drift failed the stage.
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

TEST_CASE("monitor.drift: identical tables drift nowhere, each column with the test its type calls for") {
    const Table data = sample(500, 0.0);
    const auto run = drift(data, data);
    REQUIRE(run.outcome.message == "");
    CHECK(run.report["dataset_drift"] == false);
    CHECK(run.report["drift_share"] == 0.0);
    CHECK(run.report["drift_share_threshold"] == 0.5);
    CHECK(run.report["compared_columns"] == 4);
    CHECK(run.report["reference_rows"] == 500);
    CHECK(run.report["current_rows"] == 500);
    CHECK(run.report["prediction"].is_null());
    REQUIRE(run.report["columns"].size() == 4);
    // A small reference (<= 1000 rows): KS for numbers with more than five values, chi-squared
    // for categories.
    const std::map<std::string, std::string> methods = {{"x", "ks"}, {"n", "ks"}, {"s", "chisquare"}, {"b", "chisquare"}};
    for (const auto& column : run.report["columns"]) {
        INFO(column["name"]);
        CHECK(column["method"] == methods.at(column["name"]));
        CHECK(column["chosen"] == "auto");
        CHECK(column["statistic"].get<double>() == 0.0);
        CHECK(column["p_value"].get<double>() == 1.0);
        CHECK(column["threshold"] == 0.05);
        CHECK(column["drifted"] == false);
    }
    CHECK(column_entry(run.report, "x")["type"] == "float");
    CHECK(column_entry(run.report, "n")["type"] == "int");
    CHECK(column_entry(run.report, "s")["bins"].size() == 3);
    CHECK(column_entry(run.report, "s")["degrees_of_freedom"] == 2.0);
    CHECK(run.metrics.values == std::map<std::string, double>{{"drift.b", 1.0},
                                                              {"drift.n", 1.0},
                                                              {"drift.s", 1.0},
                                                              {"drift.x", 1.0},
                                                              {"drift_share", 0.0},
                                                              {"drifted_columns", 0.0},
                                                              {"dataset_drift", 0.0}});
}

TEST_CASE("monitor.drift: a large reference gets distances, and few distinct numbers count as categories") {
    Column few("few", ColumnType::Int64);
    for (int i = 0; i < 2000; ++i) few.append_int(i % 4);
    Table large = sample(2000, 0.0);
    large.add_column(std::move(few));
    const auto run = drift(large, large);
    REQUIRE(run.outcome.ok());
    CHECK(column_entry(run.report, "x")["method"] == "wasserstein");
    CHECK(column_entry(run.report, "n")["method"] == "wasserstein");
    CHECK(column_entry(run.report, "s")["method"] == "jensenshannon");
    CHECK(column_entry(run.report, "few")["method"] == "jensenshannon");
    CHECK(column_entry(run.report, "x")["threshold"] == 0.1);
    CHECK(column_entry(run.report, "x")["p_value"].is_null());
    CHECK(column_entry(run.report, "x")["score"] == 0.0);

    const auto small = drift(sample(100, 0.0), sample(100, 0.0), {{"columns", {"b"}}});
    CHECK(column_entry(small.report, "b")["method"] == "chisquare");
}

TEST_CASE("monitor.drift: a strongly shifted float column drifts, and half the columns is dataset drift") {
    const auto run = drift(sample(1000, 0.0), sample(1000, 0.5), {{"columns", {"x", "s"}}});
    REQUIRE(run.outcome.ok());
    REQUIRE(run.report["columns"].size() == 2);
    const auto& x = column_entry(run.report, "x");
    CHECK(x["method"] == "ks");
    CHECK(x["drifted"] == true);
    CHECK(x["statistic"].get<double>() == Approx(0.5).margin(0.002));
    CHECK(x["p_value"].get<double>() < 1e-50);
    CHECK(column_entry(run.report, "s")["drifted"] == false);
    CHECK(run.report["drift_share"] == 0.5);
    CHECK(run.report["dataset_drift"] == true);
    CHECK(run.metrics.values.at("drift.x") == x["p_value"].get<double>());
    CHECK(run.metrics.values.at("dataset_drift") == 1.0);
    CHECK(run.metrics.values.count("drift.n") == 0);

    const auto strict = drift(sample(1000, 0.0), sample(1000, 0.5), {{"columns", {"x", "s"}}, {"drift_share", 0.75}});
    CHECK(strict.report["dataset_drift"] == false);
}

TEST_CASE("monitor.drift: chi-squared of a two-category example, computed by hand") {
    // reference a x50, b x50; current a x30, b x70: expected 50 and 50, so
    // chi2 = 20^2/50 + 20^2/50 = 16 with 1 degree of freedom, p = erfc(sqrt(8)) = 6.3342e-05.
    std::vector<std::optional<std::string>> ref(50, "a"), cur(30, "a");
    ref.insert(ref.end(), 50, "b");
    cur.insert(cur.end(), 70, "b");
    const auto run = drift(table({strings("c", ref)}), table({strings("c", cur)}));
    REQUIRE(run.outcome.ok());
    const auto& c = column_entry(run.report, "c");
    CHECK(c["method"] == "chisquare");
    CHECK(c["statistic"].get<double>() == Approx(16.0).epsilon(1e-12));
    CHECK(c["degrees_of_freedom"] == 1.0);
    CHECK(c["p_value"].get<double>() == Approx(std::erfc(std::sqrt(8.0))).epsilon(1e-9));
    CHECK(c["drifted"] == true);

    // A category the reference never had is expected 0 times: an infinite statistic, p = 0.
    cur.back() = "new";
    const auto unseen = drift(table({strings("c", ref)}), table({strings("c", cur)}));
    REQUIRE(unseen.outcome.ok());
    CHECK(column_entry(unseen.report, "c")["statistic"].is_null());
    CHECK(column_entry(unseen.report, "c")["p_value"] == 0.0);
    CHECK(column_entry(unseen.report, "c")["drifted"] == true);
}

TEST_CASE("monitor.drift: PSI of a tiny categorical example, computed by hand") {
    // reference a a b b -> a 0.5, b 0.5, c 0 (floored to 0.0001)
    // current   a b b c -> a 0.25, b 0.5, c 0.25
    // PSI = (0.25 - 0.5) ln(0.25/0.5) + 0 + (0.25 - 0.0001) ln(0.25/0.0001)
    //     = 0.25 * 0.693147 + 0.2499 * 7.824046 = 0.173287 + 1.955229 = 2.128516
    const nlohmann::json psi = {{"method", "psi"}};
    const auto run = drift(table({strings("c", {"a", "a", "b", "b"})}), table({strings("c", {"a", "b", "b", "c"})}), psi);
    REQUIRE(run.outcome.ok());
    const auto& c = column_entry(run.report, "c");
    CHECK(c["method"] == "psi");
    CHECK(c["chosen"] == "configured");
    CHECK(c["statistic"].get<double>() == Approx(2.128516).epsilon(1e-6));
    CHECK(c["drifted"] == true);
    CHECK(c["bins"] == nlohmann::json::parse(R"([
        {"label": "a", "reference": 0.5, "current": 0.25, "reference_count": 2, "current_count": 1},
        {"label": "b", "reference": 0.5, "current": 0.5, "reference_count": 2, "current_count": 2},
        {"label": "c", "reference": 0, "current": 0.25, "reference_count": 0, "current_count": 1}])"));

    // Without an empty bin: (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5) = 0.25 ln 3 = 0.274653
    const auto small = drift(table({strings("c", {"a", "a", "b", "b"})}), table({strings("c", {"a", "b", "b", "b"})}), psi);
    REQUIRE(small.outcome.ok());
    CHECK(small.metrics.values.at("drift.c") == Approx(0.274653).epsilon(1e-6));
    CHECK(column_entry(small.report, "c")["drifted"] == true);
    const auto lenient = drift(table({strings("c", {"a", "a", "b", "b"})}), table({strings("c", {"a", "b", "b", "b"})}),
                               {{"method", "psi"}, {"threshold", 0.3}});
    CHECK(column_entry(lenient.report, "c")["drifted"] == false);

    // Jensen-Shannon on the same shares: m = (0.375, 0.625), JS = ((0.5 ln(0.5/0.375) + 0.5 ln(0.5/0.625))
    // + (0.25 ln(0.25/0.375) + 0.75 ln(0.75/0.625))) / 2, distance = sqrt(JS) = 0.18116.
    const auto js = drift(table({strings("c", {"a", "a", "b", "b"})}), table({strings("c", {"a", "b", "b", "b"})}),
                          {{"method", "jensenshannon"}});
    const double divergence = (0.5 * std::log(0.5 / 0.375) + 0.5 * std::log(0.5 / 0.625) + 0.25 * std::log(0.25 / 0.375) +
                               0.75 * std::log(0.75 / 0.625)) / 2;
    CHECK(column_entry(js.report, "c")["statistic"].get<double>() == Approx(std::sqrt(divergence)).epsilon(1e-12));
}

TEST_CASE("monitor.drift: nulls get their own missing bin in psi, and are left out of the tests") {
    // Reference 1 2 3 null with 2 bins: one cut at 2, so bins (-inf, 2), [2, +inf) and missing hold
    // 0.25, 0.5, 0.25 of the reference and 0, 0.5, 0.5 of the current (null null 2 3).
    // PSI = (0.0001 - 0.25) ln(0.0001/0.25) + 0 + (0.5 - 0.25) ln 2 = 1.955229 + 0.173287 = 2.128516
    const Table reference = table({floats("f", {1.0, 2.0, 3.0, std::nullopt})});
    const Table current = table({floats("f", {std::nullopt, std::nullopt, 2.0, 3.0})});
    const auto run = drift(reference, current, {{"bins", 2}, {"method", "psi"}});
    REQUIRE(run.outcome.ok());
    const auto& f = column_entry(run.report, "f");
    CHECK(f["bins"] == nlohmann::json::parse(R"json([
        {"label": "(-inf, 2)", "reference": 0.25, "current": 0, "reference_count": 1, "current_count": 0},
        {"label": "[2, +inf)", "reference": 0.5, "current": 0.5, "reference_count": 2, "current_count": 2},
        {"label": "missing", "reference": 0.25, "current": 0.5, "reference_count": 1, "current_count": 2}])json"));
    CHECK(f["statistic"].get<double>() == Approx(2.128516).epsilon(1e-6));
    CHECK(f["reference_missing"] == 0.25);
    CHECK(f["current_missing"] == 0.5);

    // KS on the present values only: 1 2 3 against 2 3, D = 1/3.
    const auto ks = drift(reference, current, {{"method", "ks"}});
    CHECK(column_entry(ks.report, "f")["statistic"].get<double>() == Approx(1.0 / 3));

    // A side with no values at all: nothing to test, and values vanishing is itself drift.
    const auto empty = drift(reference, table({floats("f", {std::nullopt, std::nullopt})}), {{"method", "ks"}});
    REQUIRE(empty.outcome.ok());
    CHECK(column_entry(empty.report, "f")["note"] == "no values to compare in the current table");
    CHECK(column_entry(empty.report, "f")["drifted"] == true);

    const auto text = drift(table({strings("s", {"x", std::nullopt})}), table({strings("s", {"x", std::nullopt})}), {{"method", "psi"}});
    REQUIRE(text.outcome.ok());
    CHECK(column_entry(text.report, "s")["bins"].back()["label"] == "missing");
    CHECK(column_entry(text.report, "s")["statistic"].get<double>() == 0.0);
}

TEST_CASE("monitor.drift: numeric psi bins are equal-frequency on the reference, outer bins take the rest") {
    const auto run = drift(table({ints("n", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})}),
                           table({ints("n", {-5, 0, 3, 3, 5, 100, 100, 7, 8, 9})}), {{"bins", 5}, {"method", "psi"}});
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
                              table({ints("n", {0, 0, 0, 0, 0, 0, 0, 0, 0, 1})}), {{"method", "psi"}});
    REQUIRE(skewed.outcome.ok());
    const auto& skewed_bins = column_entry(skewed.report, "n")["bins"];
    REQUIRE(skewed_bins.size() == 2);
    CHECK(skewed_bins[0]["label"] == "(-inf, 1)");
    CHECK(skewed_bins[0]["reference_count"] == 9);
    CHECK(skewed_bins[1]["reference_count"] == 1);
}

TEST_CASE("monitor.drift: a constant reference still shows a shift") {
    const auto run = drift(table({floats("f", {1.0, 1.0, 1.0, 1.0})}), table({floats("f", {1.0, 2.0, 2.0, 2.0})}),
                           {{"method", "psi"}});
    REQUIRE(run.outcome.ok());
    const auto& f = column_entry(run.report, "f");
    REQUIRE(f["bins"].size() == 3);
    CHECK(f["bins"][1]["label"] == "[1, 1]");
    CHECK(f["bins"][2]["label"] == "(1, +inf)");
    CHECK(f["bins"][2]["current_count"] == 3);
    CHECK(f["drifted"] == true);
    // The normed Wasserstein distance divides by at least 0.001: 0.75 moved by 1, over 0.001.
    const auto moved = drift(table({floats("f", {1.0, 1.0, 1.0, 1.0})}), table({floats("f", {1.0, 2.0, 2.0, 2.0})}),
                             {{"method", "wasserstein"}});
    CHECK(column_entry(moved.report, "f")["statistic"].get<double>() == Approx(750.0));
}

TEST_CASE("monitor.drift: per-column methods and thresholds override the stage's") {
    const auto run = drift(sample(1000, 0.0), sample(1000, 0.5),
                           {{"columns", {"x", "s", "n"}},
                            {"threshold", 0.2},
                            {"per_column", {{"x", {{"method", "psi"}, {"threshold", 100}}}, {"s", "jensenshannon"}}}});
    REQUIRE(run.outcome.message == "");
    const auto& x = column_entry(run.report, "x");
    CHECK(x["method"] == "psi");
    CHECK(x["chosen"] == "configured");
    CHECK(x["threshold"] == 100.0);
    CHECK(x["drifted"] == false);
    CHECK(column_entry(run.report, "s")["method"] == "jensenshannon");
    CHECK(column_entry(run.report, "s")["threshold"] == 0.2);
    CHECK(column_entry(run.report, "n")["method"] == "ks");
    CHECK(column_entry(run.report, "n")["threshold"] == 0.2);
}

TEST_CASE("monitor.drift: the prediction column is prediction drift, outside the drift share") {
    const auto run = drift(sample(1000, 0.0), sample(1000, 0.5), {{"columns", {"x", "s"}}, {"prediction", "x"}});
    REQUIRE(run.outcome.ok());
    CHECK(run.report["prediction"]["name"] == "x");
    CHECK(run.report["prediction"]["drifted"] == true);
    REQUIRE(run.report["columns"].size() == 1);
    CHECK(run.report["compared_columns"] == 1);
    CHECK(run.report["drift_share"] == 0.0);
    CHECK(run.report["dataset_drift"] == false);
    CHECK(run.metrics.values.at("prediction_drifted") == 1.0);
    CHECK(run.metrics.values.at("prediction_drift") == run.report["prediction"]["score"].get<double>());
}

TEST_CASE("monitor.drift: fail_on_drift fails the stage naming the drifted columns") {
    const auto run = drift(sample(1000, 0.0), sample(1000, 0.5), {{"fail_on_drift", true}, {"drift_share", 0.25}});
    CHECK(run.outcome.status == TRELLIS_ERR_FAILED);
    CHECK(run.outcome.message.find("dataset drift: 1 of 4 columns drifted (share 0.25, threshold 0.25): x (ks p=") == 0);
    CHECK(run.outcome.message.find("s (") == std::string::npos);
    CHECK(run.report["dataset_drift"] == true); // the outputs are still written

    const auto calm = drift(sample(1000, 0.0), sample(1000, 0.0), {{"fail_on_drift", true}});
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
        {data, data, {{"method", "t-test"}},
         "method: unknown method 't-test' (methods: auto, ks, chisquare, jensenshannon, wasserstein, psi)"},
        {data, data, {{"drift_share", 0}}, "drift_share: must be in (0, 1], not 0"},
        {data, data, {{"per_column", {{"x", "kss"}}}},
         "per_column.x: unknown method 'kss' (methods: auto, ks, chisquare, jensenshannon, wasserstein, psi)"},
        {data, data, {{"per_column", {{"x", {{"treshold", 1}}}}}}, "per_column.x: unknown key 'treshold' (keys: method, threshold)"},
        {data, data, {{"per_column", {{"x", {{"threshold", -1}}}}}}, "per_column.x.threshold: must be a finite number >= 0, not -1"},
        {data, data, {{"per_column", {{"zz", "ks"}}}}, "per_column.zz: no such column among those compared (x, n, s, b)"},
        {data, data, {{"per_column", nlohmann::json::array({1})}},
         "per_column: expected a table of column = method or column = { method = ..., threshold = ... }, not [1]"},
        {data, data, {{"prediction", "y"}}, "prediction: no column 'y' in both tables"},
        {data, data, {{"columns", {"x"}}, {"prediction", "s"}},
         "prediction: no column 's' among the listed columns (add it to columns)"},
        {data, data, {{"columns", {"s"}}, {"method", "ks"}},
         "column 's': ks compares numbers, and the column is string; use chisquare, jensenshannon or psi"},
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

TEST_CASE("monitor.drift: an infinite value leaves no Wasserstein distance, which is reported as drift") {
    std::vector<std::optional<double>> ref, cur;
    for (int i = 0; i < 2000; ++i) {
        ref.push_back(std::sin(i * 0.1));
        cur.push_back(std::sin(i * 0.1) + 3);
    }
    ref.back() = std::numeric_limits<double>::infinity();
    const auto run = drift(table({floats("f", ref)}), table({floats("f", cur)}));
    REQUIRE(run.outcome.ok());
    const auto& f = column_entry(run.report, "f");
    CHECK(f["method"] == "wasserstein");
    CHECK(f["drifted"] == true);
    CHECK(f["note"] == "the distance is not finite: the column holds infinite or overflowing values");
}

TEST_CASE("monitor.drift: an int column compares with a float column of the same name") {
    const auto run = drift(table({ints("v", {1, 2, 3, 4, 5, 6, 7})}), table({floats("v", {1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0})}));
    REQUIRE(run.outcome.ok());
    CHECK(column_entry(run.report, "v")["method"] == "ks");
    CHECK(column_entry(run.report, "v")["statistic"] == 0.0);
}

TEST_CASE("monitor.drift: a wide table runs its columns on several threads with the same answers") {
    // 24 columns, each a shifted copy of the first: the answers cannot depend on which thread
    // took which column.
    Table reference, current;
    for (int c = 0; c < 24; ++c) {
        Column ref("c" + std::to_string(c), ColumnType::Float64), cur("c" + std::to_string(c), ColumnType::Float64);
        for (int i = 0; i < 3000; ++i) {
            ref.append_float(std::sin(i * 0.37));
            cur.append_float(std::sin(i * 0.37) + (c % 2 ? 0.3 : 0.0));
        }
        reference.add_column(std::move(ref));
        current.add_column(std::move(cur));
    }
    const auto run = drift(reference, current, {{"method", "ks"}});
    REQUIRE(run.outcome.ok());
    const auto& columns = run.report["columns"];
    REQUIRE(columns.size() == 24);
    for (int c = 0; c < 24; ++c) {
        INFO("column " << c);
        CHECK(columns[static_cast<size_t>(c)]["name"] == "c" + std::to_string(c));
        CHECK(columns[static_cast<size_t>(c)]["drifted"] == (c % 2 == 1));
        CHECK(columns[static_cast<size_t>(c)]["statistic"] == columns[static_cast<size_t>(c % 2)]["statistic"]);
    }
    CHECK(run.report["drift_share"] == 0.5);
}
