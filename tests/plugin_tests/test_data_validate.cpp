// The built-in data.validate plugin, loaded from the build's plugin folder and run through the
// host API: statistics against numpy (Debian's /usr/bin/python3) and hand-computed values, schema
// inference, every anomaly rule, severities, hand-edited schema files and their errors.
#include "builtin_fixtures.hpp"

#include <trellis/artifacts.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

using nlohmann::json;
using trellis::Column;
using trellis::ColumnType;
using trellis::test::StageRun;
using trellis::test::TempDir;
using trellis::test::floats;
using trellis::test::ints;
using trellis::test::open_plugin;
using trellis::test::table_of;

namespace {

std::shared_ptr<trellis::core::PluginLibrary> validate_plugin() {
    static const auto plugin = open_plugin("data_validate.so");
    return plugin;
}

trellis::Column strings(const std::string& name, const std::vector<std::string>& values) {
    trellis::Column column(name, ColumnType::String);
    for (const auto& v : values) {
        if (v == "<null>") column.append_null();
        else column.append_string(v);
    }
    return column;
}

struct Validated {
    trellis::core::StageOutcome outcome;
    json statistics, schema, anomalies; // null when the stage did not set them
    bool passed_table = false;
    trellis::Table table;
    std::map<std::string, double> metrics;
};

json report_of(const StageRun& run, const std::string& port) {
    if (!run.context.outputs.count(port)) return nullptr;
    return json::parse(trellis::deserialize_report(run.output(port)).json);
}

Validated validate(const trellis::Table& table, const json& config, const trellis::Table* reference = nullptr,
                   const std::string* schema_report = nullptr) {
    StageRun run(validate_plugin(), "data.validate", config);
    run.set_input("table", trellis::ArtifactType::Table, trellis::serialize(table));
    if (reference) run.set_input("reference", trellis::ArtifactType::Table, trellis::serialize(*reference));
    if (schema_report)
        run.set_input("schema", trellis::ArtifactType::Report, trellis::serialize(trellis::Report{*schema_report}));
    Validated out;
    out.outcome = run.invoke();
    out.statistics = report_of(run, "statistics");
    out.schema = report_of(run, "schema");
    out.anomalies = report_of(run, "anomalies");
    out.passed_table = run.context.outputs.count("table") > 0;
    if (out.passed_table) out.table = trellis::deserialize_table(run.output("table"));
    for (const auto& point : run.context.metrics) out.metrics[point.name] = point.value;
    return out;
}

const json& column_of(const json& report, const std::string& name) {
    for (const auto& column : report.at("columns"))
        if (column.at("name") == name) return column;
    FAIL("no column '" << name << "' in " << report.dump());
    throw std::logic_error("unreachable");
}

// The anomalies as "column rule severity" lines, to compare whole lists at once.
std::vector<std::string> anomaly_lines(const json& anomalies) {
    std::vector<std::string> out;
    for (const auto& a : anomalies.at("anomalies"))
        out.push_back(a.at("column").get<std::string>() + " " + a.at("rule").get<std::string>() + " " +
                      a.at("severity").get<std::string>());
    return out;
}

std::string detail_of(const json& anomalies, const std::string& column, const std::string& rule) {
    for (const auto& a : anomalies.at("anomalies"))
        if (a.at("column") == column && a.at("rule") == rule) return a.at("detail");
    return "";
}

// Runs Debian's python3 on `script`; the output, or nullopt with `why` when numpy is not there.
std::optional<std::string> python(const std::string& script, const TempDir& dir, std::string& why) {
    const auto file = dir.write("reference.py", script);
    if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        why = "/usr/bin/python3 cannot import numpy (install python3-numpy, see scripts/install-deps)";
        return std::nullopt;
    }
    FILE* pipe = ::popen(("/usr/bin/python3 " + file.string() + " 2>&1").c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string out;
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
    const int status = ::pclose(pipe);
    INFO(out);
    REQUIRE(status == 0);
    return out;
}

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

template <class T> void write_binary(const std::filesystem::path& file, const std::vector<T>& values) {
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(T)));
    REQUIRE(out.good());
}

// A deterministic generator, so the table and numpy's copy of it are the same numbers.
struct SplitMix {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

// Reference (wine-like) and checked tables for the anomaly tests.
trellis::Table reference_table() {
    std::vector<double> alcohol;
    std::vector<int64_t> quality;
    std::vector<std::string> colour;
    for (int i = 0; i < 40; ++i) {
        alcohol.push_back(10.0 + 0.1 * i); // 10.0 .. 13.9
        quality.push_back(3 + i % 5);      // 3 .. 7
        colour.push_back(i % 3 == 0 ? "white" : "red");
    }
    return table_of({floats("alcohol", alcohol), ints("quality", quality), strings("colour", colour),
                     floats("sugar", alcohol)});
}

} // namespace

TEST_CASE("data.validate: statistics of a small table match values worked out by hand") {
    trellis::Column x("x", ColumnType::Float64);
    for (double v : {1.0, 2.0, 3.0, 4.0}) x.append_float(v);
    x.append_null();
    x.append_float(std::nan(""));
    x.append_float(std::numeric_limits<double>::infinity());
    const auto result = validate(table_of({x, ints("k", {5, 5, 7, 5, 9, 7, 5}),
                                           strings("s", {"b", "a", "b", "<null>", "ccc", "b", "a"})}),
                                 json::object());
    REQUIRE(result.outcome.message == "");
    const json& stats = result.statistics;
    CHECK(stats.at("kind") == "trellis.data_statistics");
    CHECK(stats.at("rows") == 7);

    const json& fx = column_of(stats, "x");
    CHECK(fx.at("type") == "float");
    CHECK(fx.at("count") == 5);    // 1, 2, 3, 4 and infinity
    CHECK(fx.at("missing") == 2);  // the null and the NaN
    CHECK(fx.at("infinite") == 1); // left out of the moments
    CHECK(fx.at("mean").get<double>() == 2.5);
    CHECK(fx.at("std").get<double>() == Approx(std::sqrt(1.25)).epsilon(1e-15)); // population std
    CHECK(fx.at("min") == 1.0);
    CHECK(fx.at("max") == 4.0);
    // numpy.quantile([1, 2, 3, 4], 0.25) = 1 + 0.75 * (2 - 1)
    const json& q = fx.at("quantiles");
    REQUIRE(q.size() == 5);
    CHECK(q[1].at("q") == 0.25);
    CHECK(q[1].at("value").get<double>() == Approx(1.75).epsilon(1e-15));
    CHECK(q[2].at("value").get<double>() == 2.5);
    // numpy.histogram([1, 2, 3, 4], 10): edges 1, 1.3, ..., 4; 1 in bin 0, 2 in bin 3, 3 in bin 6, 4 in bin 9
    const json& h = fx.at("histogram");
    REQUIRE(h.size() == 10);
    std::vector<int> counts;
    for (const auto& bin : h) counts.push_back(bin.at("count"));
    CHECK(counts == std::vector<int>{1, 0, 0, 1, 0, 0, 1, 0, 0, 1});
    CHECK(h[0].at("low") == 1.0);
    CHECK(h[9].at("high") == 4.0);
    CHECK(fx.at("distinct") == 5);

    const json& k = column_of(stats, "k");
    CHECK(k.at("mean").get<double>() == Approx(43.0 / 7).epsilon(1e-15));
    CHECK(k.at("distinct") == 3);
    CHECK(k.at("distinct_exact") == true);
    CHECK(k.at("top_values") == json::parse(R"([{"value": 5, "count": 4}, {"value": 7, "count": 2}, {"value": 9, "count": 1}])"));

    const json& s = column_of(stats, "s");
    CHECK(s.at("count") == 6);
    CHECK(s.at("missing") == 1);
    CHECK(s.at("distinct") == 3);
    CHECK(s.at("top_values")[0] == json::parse(R"({"value": "b", "count": 3})"));
    CHECK(s.at("top_values")[1] == json::parse(R"({"value": "a", "count": 2})"));
    CHECK(s.at("min_length") == 1);
    CHECK(s.at("max_length") == 3);
    CHECK_FALSE(s.contains("mean"));

    // No schema given: it is inferred from the table itself, so nothing is anomalous.
    CHECK(result.anomalies.at("status") == "passed");
    CHECK(result.anomalies.at("anomalies").empty());
    CHECK(result.passed_table);
    CHECK(result.metrics.at("rows") == 7);
    CHECK(result.metrics.at("anomalies") == 0);
    CHECK(result.metrics.at("anomalies_failing") == 0);
}

TEST_CASE("data.validate: statistics of two million rows match numpy") {
    // 2,000,000 rows: a float column with nulls, NaN and infinities, an int column, a string
    // column. numpy gets the same finite numbers through a binary file.
    const size_t n = 2'000'000;
    SplitMix random{42};
    trellis::Column x("x", ColumnType::Float64), k("k", ColumnType::Int64), s("s", ColumnType::String);
    x.reserve(n);
    k.reserve(n);
    std::vector<double> finite_x;
    std::vector<int64_t> all_k;
    size_t nulls = 0, nans = 0, infinities = 0;
    const char* colours[] = {"red", "green", "blue", "white"};
    for (size_t i = 0; i < n; ++i) {
        const double u = random.uniform();
        if (i % 1000 == 7) {
            x.append_null();
            ++nulls;
        } else if (i % 100000 == 3) {
            x.append_float(std::nan(""));
            ++nans;
        } else if (i % 250000 == 11) {
            x.append_float(-std::numeric_limits<double>::infinity());
            ++infinities;
        } else {
            const double v = 100.0 * std::log(u + 1e-12) * (u < 0.5 ? -1.0 : 1.0) + 3.0; // skewed, heavy tails
            x.append_float(v);
            finite_x.push_back(v);
        }
        const auto kv = static_cast<int64_t>(random.next() % 1000) - 500;
        k.append_int(kv);
        all_k.push_back(kv);
        s.append_string(colours[random.next() % 4]);
    }
    const auto result = validate(table_of({x, k, s}), {{"histogram_bins", 20}});
    REQUIRE(result.outcome.message == "");
    const json& fx = column_of(result.statistics, "x");
    CHECK(fx.at("count") == n - nulls - nans);
    CHECK(fx.at("missing") == nulls + nans);
    CHECK(fx.at("infinite") == infinities);
    const json& fs = column_of(result.statistics, "s");
    CHECK(fs.at("distinct") == 4);
    CHECK(fs.at("count") == n);

    TempDir dir;
    write_binary(dir / "x.bin", finite_x);
    write_binary(dir / "k.bin", all_k);
    std::string why;
    const auto out = python(R"(
import json, numpy as np
result = {}
for name, dtype in (("x", np.float64), ("k", np.int64)):
    a = np.fromfile(")" + (dir / "").string() + R"(" + name + ".bin", dtype=dtype).astype(np.float64)
    counts, edges = np.histogram(a, bins=20)
    result[name] = {"mean": a.mean(), "std": a.std(), "min": a.min(), "max": a.max(),
                    "quantiles": list(np.quantile(a, [0.01, 0.25, 0.5, 0.75, 0.99])),
                    "counts": [int(c) for c in counts], "edges": list(edges), "distinct": int(len(np.unique(a)))}
print(json.dumps(result))
)",
                            dir, why);
    if (!out) {
        WARN("skipped: the numpy comparison: " << why);
        return;
    }
    const json numpy = json::parse(*out);
    for (const std::string name : {"x", "k"}) {
        INFO("column " << name);
        const json& ours = column_of(result.statistics, name);
        const json& theirs = numpy.at(name);
        CHECK(ours.at("mean").get<double>() == Approx(theirs.at("mean").get<double>()).epsilon(1e-11));
        CHECK(ours.at("std").get<double>() == Approx(theirs.at("std").get<double>()).epsilon(1e-11));
        CHECK(ours.at("min").get<double>() == theirs.at("min").get<double>());
        CHECK(ours.at("max").get<double>() == theirs.at("max").get<double>());
        for (size_t i = 0; i < 5; ++i)
            CHECK(ours.at("quantiles")[i].at("value").get<double>() ==
                  Approx(theirs.at("quantiles")[i].get<double>()).epsilon(1e-14));
        REQUIRE(ours.at("histogram").size() == 20);
        for (size_t i = 0; i < 20; ++i) {
            CHECK(ours.at("histogram")[i].at("count") == theirs.at("counts")[i]);
            CHECK(ours.at("histogram")[i].at("low").get<double>() == Approx(theirs.at("edges")[i].get<double>()).epsilon(1e-15));
        }
    }
    // Distinct floats: more than the exact bound (100,000), so a HyperLogLog estimate (0.81% std error).
    const double true_distinct = numpy.at("x").at("distinct").get<double>() + 1; // + the infinity
    CHECK(fx.at("distinct_exact") == false);
    CHECK(fx.at("distinct").get<double>() == Approx(true_distinct).epsilon(0.03));
    CHECK(column_of(result.statistics, "k").at("distinct") == numpy.at("k").at("distinct"));
    CHECK(column_of(result.statistics, "k").at("distinct_exact") == true);
}

TEST_CASE("data.validate: past the exact bound, distinct counts are estimated and top values stay right") {
    // 300,000 distinct ids plus one value that occurs 50,000 times.
    std::vector<int64_t> ids;
    std::vector<std::string> names;
    for (int64_t i = 0; i < 300000; ++i) {
        ids.push_back(i * 7919);
        names.push_back("user-" + std::to_string(i));
    }
    for (int i = 0; i < 50000; ++i) {
        ids.push_back(-1);
        names.push_back("anonymous");
    }
    const auto result = validate(table_of({ints("id", ids), strings("name", names)}), json::object());
    REQUIRE(result.outcome.message == "");
    for (const std::string name : {"id", "name"}) {
        INFO("column " << name);
        const json& column = column_of(result.statistics, name);
        CHECK(column.at("distinct_exact") == false);
        CHECK(column.at("distinct").get<double>() == Approx(300001).epsilon(0.03));
        CHECK(column.at("top_values_exact") == false);
        // Counted after the switch (at 100,001 distinct values): over-estimated by at most the
        // rows read after it / 1,000 counters, as documented.
        const auto top = column.at("top_values")[0].at("count").get<int64_t>();
        CHECK(top >= 50000);
        CHECK(top <= 50000 + (350000 - 100001) / 1000);
    }
    CHECK(column_of(result.statistics, "id").at("top_values")[0].at("value") == -1);
    CHECK(column_of(result.statistics, "name").at("top_values")[0].at("value") == "anonymous");
    // Every name differs but one: no domain is inferred for either column.
    const json& schema_id = column_of(result.schema, "id");
    CHECK_FALSE(schema_id.contains("domain"));
}

TEST_CASE("data.validate: the inferred schema has types, ranges with the margin, domains and missing limits") {
    trellis::Column with_nulls("maybe", ColumnType::Float64);
    for (int i = 0; i < 40; ++i) {
        if (i % 10 == 0) with_nulls.append_null();
        else with_nulls.append_float(i);
    }
    trellis::Column flag("flag", ColumnType::Bool);
    for (int i = 0; i < 40; ++i) flag.append_bool(i % 2 == 0);
    std::vector<std::string> ids;
    for (int i = 0; i < 40; ++i) ids.push_back("id" + std::to_string(i));
    const trellis::Table reference = [&] {
        trellis::Table t = reference_table();
        t.add_column(with_nulls);
        t.add_column(flag);
        t.add_column(strings("id", ids));
        return t;
    }();
    const auto result = validate(reference, json::object(), &reference);
    REQUIRE(result.outcome.message == "");
    const json& schema = result.schema;
    CHECK(schema.at("kind") == "trellis.data_schema");
    CHECK(schema.at("version") == 1);

    // Range: [10, 13.9] widened by 0.1 * 3.9 on each side.
    const json& alcohol = column_of(schema, "alcohol");
    CHECK(alcohol.at("type") == "float");
    CHECK(alcohol.at("required") == true);
    CHECK(alcohol.at("max_missing_fraction") == 0);
    // 10 - 0.39 and 13.9 + 0.39, rounded outward to 3 significant digits of the range (3.9).
    CHECK(alcohol.at("min") == 9.61);
    CHECK(alcohol.at("max") == 14.29);
    CHECK_FALSE(alcohol.contains("domain")); // 40 distinct values of 40

    // Int: range widened to whole numbers (3 - 0.4 -> 2, 7 + 0.4 -> 8); 5 distinct values of 40 rows: a domain.
    const json& quality = column_of(schema, "quality");
    CHECK(quality.at("type") == "int");
    CHECK(quality.at("min") == 2);
    CHECK(quality.at("max") == 8);
    CHECK(quality.at("domain") == json::parse("[3, 4, 5, 6, 7]"));

    CHECK(column_of(schema, "colour").at("domain") == json::parse(R"(["red", "white"])"));
    CHECK_FALSE(column_of(schema, "colour").contains("min"));
    CHECK_FALSE(column_of(schema, "id").contains("domain")); // every value different: ids, not categories
    // 4 of 40 missing (10%): twice that is allowed.
    CHECK(column_of(schema, "maybe").at("max_missing_fraction").get<double>() == Approx(0.2));
    CHECK(column_of(schema, "flag").at("type") == "bool");
    CHECK_FALSE(column_of(schema, "flag").contains("min"));

    // The reference checked against its own schema has no anomalies.
    CHECK(result.anomalies.at("anomalies").empty());
    CHECK(result.anomalies.at("schema_source") == "input 'reference'");

    // range_margin = 0: the exact range; max_domain_size = 4: quality (5 values) gets none.
    const auto exact = validate(reference, {{"range_margin", 0.0}, {"max_domain_size", 4}}, &reference);
    REQUIRE(exact.outcome.ok());
    CHECK(column_of(exact.schema, "alcohol").at("min") == 10.0);
    CHECK(column_of(exact.schema, "alcohol").at("max").get<double>() == Approx(13.9));
    CHECK_FALSE(column_of(exact.schema, "quality").contains("domain"));
    CHECK(column_of(exact.schema, "colour").contains("domain"));
}

TEST_CASE("data.validate: every anomaly rule fires on a crafted table and names its column and rule") {
    const trellis::Table reference = reference_table();
    // alcohol: 99 and -5 out of range; quality: 11 out of range and unseen; colour: "purple"
    // unseen; sugar: missing; extra: new; and a type mismatch on a second table below.
    std::vector<double> alcohol(40, 12.0);
    alcohol[17] = 99;
    alcohol[20] = -5;
    std::vector<int64_t> quality(40, 5);
    quality[3] = 11;
    std::vector<std::string> colour(40, "red");
    colour[4] = "purple";
    colour[9] = "purple";
    const trellis::Table bad = table_of({floats("alcohol", alcohol), ints("quality", quality), strings("colour", colour),
                                         ints("extra", std::vector<int64_t>(40, 1))});
    const auto result = validate(bad, json::object(), &reference);
    REQUIRE_FALSE(result.outcome.ok());
    CHECK(result.outcome.status == TRELLIS_ERR_INVALID);
    CHECK_FALSE(result.passed_table); // downstream stages get nothing
    // Failures first, each in schema order; warnings after.
    CHECK(anomaly_lines(result.anomalies) == std::vector<std::string>{
                                                 "alcohol out_of_range fail",
                                                 "quality out_of_range fail",
                                                 "sugar missing_column fail",
                                                 "quality unseen_category warn",
                                                 "colour unseen_category warn",
                                                 "extra new_column warn",
                                             });
    CHECK(detail_of(result.anomalies, "alcohol", "out_of_range") ==
          "2 of 40 values outside [9.61, 14.29] (lowest -5, highest 99, first at row 17)");
    CHECK(detail_of(result.anomalies, "colour", "unseen_category") ==
          "2 of 40 values not in the domain of 2 values: 'purple' x2 (first at row 4)");
    CHECK(detail_of(result.anomalies, "quality", "unseen_category") ==
          "1 of 40 values not in the domain of 5 values: '11' x1 (first at row 3)");
    CHECK(result.anomalies.at("status") == "failed");
    CHECK(result.anomalies.at("counts") == json::parse(R"({"fail": 3, "warn": 3})"));
    // The error is one line naming each failing column and rule.
    const std::string& message = result.outcome.message;
    CHECK(message.find('\n') == std::string::npos);
    CHECK_THAT(message, Catch::StartsWith("3 failing anomalies (of 6): column 'alcohol' out_of_range: 2 of 40 values"));
    CHECK_THAT(message, Catch::Contains("column 'quality' out_of_range") && Catch::Contains("column 'sugar' missing_column"));
    // The reports are set before the stage fails, and the metrics logged.
    CHECK(result.statistics.at("rows") == 40);
    CHECK(result.metrics.at("anomalies") == 6);
    CHECK(result.metrics.at("anomalies_failing") == 3);

    // Type mismatch (quality as string) and too many missing (alcohol with nulls).
    trellis::Column alcohol_nulls("alcohol", ColumnType::Float64);
    for (int i = 0; i < 40; ++i) {
        if (i < 3) alcohol_nulls.append_null();
        else alcohol_nulls.append_float(11);
    }
    const trellis::Table mismatched = table_of({alcohol_nulls, strings("quality", std::vector<std::string>(40, "good")),
                                                strings("colour", std::vector<std::string>(40, "red")),
                                                ints("sugar", std::vector<int64_t>(40, 12))});
    const auto second = validate(mismatched, json::object(), &reference);
    CHECK(anomaly_lines(second.anomalies) ==
          std::vector<std::string>{"alcohol too_many_missing fail", "quality type_mismatch fail"});
    CHECK(detail_of(second.anomalies, "alcohol", "too_many_missing") == "3 of 40 values missing (7.5%), the schema allows 0%");
    CHECK(detail_of(second.anomalies, "quality", "type_mismatch") == "the table's column is string, the schema says int");
    // sugar is int where the schema says float: whole numbers are accepted as floats.
}

TEST_CASE("data.validate: severities decide between warning and failing") {
    const trellis::Table reference = reference_table();
    std::vector<double> alcohol(40, 12.0);
    alcohol[0] = 50;
    const trellis::Table out_of_range = table_of({floats("alcohol", alcohol), ints("quality", std::vector<int64_t>(40, 4)),
                                                  strings("colour", std::vector<std::string>(40, "red")),
                                                  floats("sugar", std::vector<double>(40, 11))});

    // Default: out_of_range fails.
    const auto failing = validate(out_of_range, json::object(), &reference);
    CHECK_FALSE(failing.outcome.ok());
    CHECK_THAT(failing.outcome.message, Catch::Contains("column 'alcohol' out_of_range"));

    // Turned into a warning by the stage's config: the stage succeeds and passes the table on.
    const auto warned = validate(out_of_range, {{"severity", {{"out_of_range", "warn"}}}}, &reference);
    REQUIRE(warned.outcome.message == "");
    CHECK(warned.passed_table);
    CHECK(warned.table == out_of_range);
    CHECK(anomaly_lines(warned.anomalies) == std::vector<std::string>{"alcohol out_of_range warn"});
    CHECK(warned.anomalies.at("status") == "warned");
    CHECK(warned.metrics.at("anomalies") == 1);
    CHECK(warned.metrics.at("anomalies_failing") == 0);

    // Off: no anomaly at all.
    const auto off = validate(out_of_range, {{"severity", {{"out_of_range", "off"}}}}, &reference);
    CHECK(off.outcome.ok());
    CHECK(off.anomalies.at("anomalies").empty());

    // fail_on = "warn": a warning fails the stage; "never": nothing does.
    const auto strict = validate(out_of_range, {{"severity", {{"out_of_range", "warn"}}}, {"fail_on", "warn"}}, &reference);
    CHECK_FALSE(strict.outcome.ok());
    CHECK_THAT(strict.outcome.message, Catch::StartsWith("1 failing anomaly: column 'alcohol' out_of_range"));
    const auto lenient = validate(out_of_range, {{"fail_on", "never"}}, &reference);
    CHECK(lenient.outcome.ok());
    CHECK(lenient.passed_table);
    CHECK(lenient.anomalies.at("status") == "warned");

    // Bad severity config: one line naming the key.
    const auto unknown = validate(out_of_range, {{"severity", {{"out_of_rnage", "warn"}}}}, &reference);
    CHECK(unknown.outcome.message ==
          "severity: unknown rule 'out_of_rnage' (rules: missing_column, type_mismatch, out_of_range, unseen_category, "
          "too_many_missing, new_column)");
    const auto level = validate(out_of_range, {{"severity", {{"out_of_range", "error"}}}}, &reference);
    CHECK(level.outcome.message == "severity: rule 'out_of_range' must be \"warn\", \"fail\" or \"off\"");
    CHECK(validate(out_of_range, {{"fail_on", "always"}}, &reference).outcome.message ==
          "fail_on must be \"fail\", \"warn\" or \"never\", not 'always'");
}

TEST_CASE("data.validate: a hand-edited schema file is checked, with per-column severities") {
    TempDir dir;
    // Edited by hand: quality may be 3..9 with a wider domain, colour's unseen values fail,
    // alcohol's range only warns, sugar is optional, a new column is ignored by config.
    const auto file = dir.write("wine.schema.json", R"({
  "kind": "trellis.data_schema",
  "version": 1,
  "description": "wine, edited",
  "columns": [
    {"name": "alcohol", "type": "float", "min": 9, "max": 15, "severity": {"out_of_range": "warn"}},
    {"name": "quality", "type": "int", "min": 3, "max": 9, "domain": [3, 4, 5, 6, 7, 8, 9]},
    {"name": "colour", "type": "string", "domain": ["red", "white", "rose"], "severity": {"unseen_category": "fail"},
     "description": "the wine's colour"},
    {"name": "sugar", "type": "float", "required": false, "max_missing_fraction": 0.5}
  ]
})");
    std::vector<double> alcohol(10, 12.0);
    alcohol[2] = 16;
    const trellis::Table table = table_of({floats("alcohol", alcohol), ints("quality", {3, 9, 4, 5, 6, 7, 8, 9, 9, 3}),
                                           strings("colour", {"red", "rose", "white", "red", "red", "red", "red", "red", "red", "red"}),
                                           ints("vintage", std::vector<int64_t>(10, 2020))});
    const auto passing = validate(table, {{"schema_file", file.string()}, {"severity", {{"new_column", "off"}}}});
    REQUIRE(passing.outcome.message == "");
    CHECK(anomaly_lines(passing.anomalies) == std::vector<std::string>{"alcohol out_of_range warn"});
    CHECK(passing.anomalies.at("schema_source") == "schema_file '" + file.string() + "'");
    CHECK(passing.passed_table);
    // The schema output is the file's schema, description kept.
    CHECK(passing.schema.at("description") == "wine, edited");
    CHECK(column_of(passing.schema, "colour").at("description") == "the wine's colour");
    CHECK(column_of(passing.schema, "sugar").at("required") == false);

    // The column's own severity beats the config: unseen colours fail although config says warn.
    const trellis::Table pink = table_of({floats("alcohol", std::vector<double>(2, 12)), ints("quality", {3, 4}),
                                          strings("colour", {"red", "pink"})});
    const auto failing = validate(pink, {{"schema_file", file.string()}, {"severity", {{"unseen_category", "warn"}}}});
    CHECK(failing.outcome.message ==
          "1 failing anomaly: column 'colour' unseen_category: 1 of 2 values not in the domain of 3 values: 'pink' x1 "
          "(first at row 1)");
}

TEST_CASE("data.validate: a schema file that is not JSON gives the file, line and column") {
    TempDir dir;
    const trellis::Table table = reference_table();
    auto error_of = [&](const std::string& text) {
        const auto file = dir.write("bad.json", text);
        const auto result = validate(table, {{"schema_file", file.string()}});
        CHECK_FALSE(result.outcome.ok());
        CHECK(result.outcome.message.find('\n') == std::string::npos);
        return result.outcome.message;
    };
    const std::string prefix = "schema_file '" + (dir / "bad.json").string() + "': not valid JSON: ";
    CHECK(error_of("{\n  \"columns\": [\n    {\"name\": \"a\" \"type\": \"int\"}\n  ]\n}") ==
          prefix + "line 3, column 18: expected ',' or '}' after an object member, found '\"'");
    CHECK(error_of("{\"columns\": [1, 2,]}") == prefix + "line 1, column 19: expected a value (object, array, string, "
                                                          "number, true, false or null), found ']'");
    CHECK(error_of("") == prefix + "line 1, column 1: the document is empty; expected a JSON value");
    CHECK(error_of("{\"columns\": []} x") == prefix + "line 1, column 17: unexpected text after the JSON value");
    CHECK(error_of("{\"a\": 1, \"a\": 2}") == prefix + "line 1, column 10: duplicate member \"a\"");
    CHECK(error_of("{\"columns\": [01]}") == prefix + "line 1, column 15: expected ',' or ']' after an array element, found '1'");
    CHECK(error_of("{\"columns\": \"\\x\"}") == prefix + "line 1, column 15: unknown escape '\\x' in a string");

    const auto missing = validate(table, {{"schema_file", (dir / "nope.json").string()}});
    CHECK(missing.outcome.message == "schema_file '" + (dir / "nope.json").string() + "': cannot read: No such file or directory");
}

TEST_CASE("data.validate: a schema of the wrong shape gives the file and the JSON path") {
    TempDir dir;
    const trellis::Table table = reference_table();
    auto error_of = [&](const std::string& text) {
        const auto file = dir.write("shape.json", text);
        const auto result = validate(table, {{"schema_file", file.string()}});
        CHECK_FALSE(result.outcome.ok());
        return result.outcome.message;
    };
    const std::string prefix = "schema_file '" + (dir / "shape.json").string() + "': ";
    CHECK(error_of("[]") == prefix + "$: expected an object, not an array");
    CHECK(error_of("{}") == prefix + "$: a schema needs \"columns\", an array of columns");
    CHECK(error_of(R"({"columns": {}})") == prefix + "$.columns: expected an array, not an object");
    CHECK(error_of(R"({"kind": "trellis.anomalies", "columns": []})") ==
          prefix + "$.kind: \"trellis.anomalies\" is not a schema; expected \"trellis.data_schema\"");
    CHECK(error_of(R"({"version": 2, "columns": []})") == prefix + "$.version: version 2 is not supported (this plugin reads version 1)");
    CHECK(error_of(R"({"columns": [], "colums": []})") ==
          prefix + "$.colums: unknown key (a schema document has: kind, version, description, columns)");
    CHECK(error_of(R"({"columns": [{"type": "int"}]})") == prefix + "$.columns[0]: a column needs a \"name\"");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "integer"}]})") ==
          prefix + "$.columns[0].type: \"integer\" is not a column type (int, float, bool, string)");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "int"}, {"name": "b", "type": "float", "min": "0"}]})") ==
          prefix + "$.columns[1].min: expected a number, not a string");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "float", "min": 5, "max": 1}]})") ==
          prefix + "$.columns[0]: min (5) is greater than max (1)");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "string", "min": 5}]})") ==
          prefix + "$.columns[0].min: min applies to int and float columns; column 'a' is string");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "int", "domain": [1, 2.5]}]})") ==
          prefix + "$.columns[0].domain[1]: expected an integer (column 'a' is int), not 2.5");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "float", "domain": [1]}]})") ==
          prefix + "$.columns[0].domain: a domain applies to string and int columns; column 'a' is float");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "int", "severity": {"new_column": "warn"}}]})") ==
          prefix + "$.columns[0].severity.new_column: not a rule a column can override (missing_column, type_mismatch, "
                   "out_of_range, unseen_category, too_many_missing)");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "int", "severity": {"out_of_range": "loud"}}]})") ==
          prefix + "$.columns[0].severity.out_of_range: \"loud\" is not a severity (warn, fail, off)");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "int", "max_missing_fraction": 2}]})") ==
          prefix + "$.columns[0].max_missing_fraction: must be between 0 and 1, not 2");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "int", "maximum": 2}]})") ==
          prefix + "$.columns[0].maximum: unknown key (a schema column has: name, type, required, max_missing_fraction, "
                   "min, max, domain, severity, description)");
    CHECK(error_of(R"({"columns": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]})") ==
          prefix + "$.columns[1].name: column 'a' is listed twice (also at $.columns[0])");
}

TEST_CASE("data.validate: write_schema writes an editable file, and the schema output feeds another data.validate") {
    TempDir dir;
    const trellis::Table reference = reference_table();
    const auto written = dir / "wine.schema.json";
    const auto first = validate(reference, {{"write_schema", written.string()}}, &reference);
    REQUIRE(first.outcome.message == "");
    const std::string text = read_text(written);
    CHECK(json::parse(text) == first.schema);
    // One column per line, shortest numbers: easy to edit.
    CHECK_THAT(text, Catch::Contains("\n    {\"name\": \"alcohol\", \"type\": \"float\", \"required\": true, "
                                     "\"max_missing_fraction\": 0, \"min\": 9.61, \"max\": 14.29}"));

    // Read back as schema_file, the same schema checks the same data the same way.
    const auto again = validate(reference, {{"schema_file", written.string()}});
    REQUIRE(again.outcome.ok());
    CHECK(again.schema == first.schema);

    // The schema Report as the `schema` input of another stage.
    const std::string report = first.schema.dump();
    std::vector<double> alcohol(40, 12.0);
    alcohol[5] = 20;
    const trellis::Table bad = table_of({floats("alcohol", alcohol), ints("quality", std::vector<int64_t>(40, 4)),
                                         strings("colour", std::vector<std::string>(40, "red")),
                                         floats("sugar", std::vector<double>(40, 11))});
    const auto checked = validate(bad, json::object(), nullptr, &report);
    CHECK_THAT(checked.outcome.message, Catch::StartsWith("1 failing anomaly: column 'alcohol' out_of_range: 1 of 40 values "
                                                          "above max 14.29 (highest 20, first at row 5)"));
    CHECK(checked.anomalies.at("schema_source") == "input 'schema'");

    // Two schema sources are refused; so is overwriting the schema file being checked against.
    const auto both = validate(bad, {{"schema_file", written.string()}}, &reference);
    CHECK(both.outcome.message == "give one schema source, not schema_file '" + written.string() +
                                      "' and input 'reference' (input 'schema', schema_file or input 'reference')");
    const auto overwrite = validate(reference, {{"schema_file", written.string()}, {"write_schema", written.string()}});
    CHECK(overwrite.outcome.message ==
          "write_schema '" + written.string() + "' is the schema_file: writing it would replace your edits");
    const auto nowhere = validate(reference, {{"write_schema", (dir / "no/such/dir/s.json").string()}});
    CHECK_THAT(nowhere.outcome.message, Catch::StartsWith("write_schema '" + (dir / "no/such/dir/s.json").string() +
                                                          "': cannot write: "));
}
