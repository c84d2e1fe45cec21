// The built-in monitor.performance stage (in the train_evaluate plugin): logged predictions scored
// against delayed labels, with unlabelled rows counted and left out, overall and per group,
// worked out by hand.
#include "builtin_fixtures.hpp"

#include <trellis/artifacts.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

using trellis::Column;
using trellis::ColumnType;
using trellis::test::StageRun;
using trellis::test::floats;
using trellis::test::ints;
using trellis::test::open_plugin;
using trellis::test::table_of;

namespace {

struct Scored {
    trellis::core::StageOutcome outcome;
    std::map<std::string, double> metrics;
    nlohmann::json report;
};

Scored score(const trellis::Table& data, const nlohmann::json& config) {
    static const auto plugin = open_plugin("train_evaluate.so");
    StageRun run(plugin, "monitor.performance", config);
    run.set_input("data", trellis::ArtifactType::Table, trellis::serialize(data));
    Scored out{run.invoke(), {}, nullptr};
    if (out.outcome.ok()) {
        out.metrics = trellis::deserialize_metrics(run.output("metrics")).values;
        out.report = nlohmann::json::parse(trellis::deserialize_report(run.output("report")).json);
    }
    return out;
}

Column labels(const std::string& name, const std::vector<std::optional<int64_t>>& values) {
    Column column(name, ColumnType::Int64);
    for (const auto& value : values) value ? column.append_int(*value) : column.append_null();
    return column;
}

Column words(const std::string& name, const std::vector<std::string>& values) {
    Column column(name, ColumnType::String);
    for (const auto& value : values) column.append_string(value);
    return column;
}

// Six logged answers of a binary classifier: version 1 answered three as primary, version 2 three
// as canary; rows 3 and 5 have no label yet.
trellis::Table window() {
    return table_of({floats("x", {1, 2, 3, 4, 5, 6}), floats("probability", {0.9, 0.2, 0.6, 0.4, 0.8, 0.3}),
                     ints("prediction", {1, 0, 1, 0, 1, 0}), ints("version", {1, 1, 1, 2, 2, 2}),
                     words("variant", {"primary", "primary", "primary", "canary", "canary", "canary"}),
                     labels("label", {1, 0, 0, std::nullopt, 1, std::nullopt})});
}

} // namespace

TEST_CASE("monitor.performance: binary metrics of the labelled rows, overall and per group") {
    const auto result = score(window(), {{"group_by", {"version", "variant"}}, {"min_labels", 2}});
    REQUIRE(result.outcome.message == "");
    const auto& m = result.metrics;
    CHECK(m.at("rows") == 6);
    CHECK(m.at("labelled") == 4);
    CHECK(m.at("unlabelled") == 2);
    // Labelled: p .9 .2 .6 .8 against 1 0 0 1; at 0.5 the third is wrong. Every positive outranks every negative.
    CHECK(m.at("accuracy") == Approx(0.75));
    CHECK(m.at("roc_auc") == Approx(1.0));
    CHECK(m.at("precision") == Approx(2.0 / 3.0));
    CHECK(m.at("recall") == Approx(1.0));
    CHECK(m.count("count") == 0);
    CHECK(m.at("accuracy{version=1,variant=primary}") == Approx(2.0 / 3.0));
    CHECK(m.at("labelled{version=1,variant=primary}") == 3);
    CHECK(m.at("unlabelled{version=1,variant=primary}") == 0);
    // Version 2 has one label, fewer than min_labels: counted, not scored.
    CHECK(m.at("labelled{version=2,variant=canary}") == 1);
    CHECK(m.at("unlabelled{version=2,variant=canary}") == 2);
    CHECK(m.count("accuracy{version=2,variant=canary}") == 0);

    const auto& report = result.report;
    CHECK(report.at("task") == "classification");
    CHECK(report.at("predictions") == "binary");
    CHECK(report.at("labelled") == 4);
    CHECK(report.at("metrics").at("accuracy") == Approx(0.75));
    REQUIRE(report.at("groups").size() == 2);
    CHECK(report.at("groups")[0].at("by") == nlohmann::json{{"version", "1"}, {"variant", "primary"}});
    CHECK(report.at("groups")[1].at("metrics") == nlohmann::json::object());
}

TEST_CASE("monitor.performance: regression, and a window without labels yet") {
    auto data = table_of({floats("prediction", {1, 2, 4}), floats("y", {1, 3, 2})});
    const auto regression = score(data, {{"target", "y"}});
    REQUIRE(regression.outcome.message == "");
    CHECK(regression.report.at("task") == "regression");
    CHECK(regression.metrics.at("rmse") == Approx(std::sqrt(5.0 / 3.0)));
    CHECK(regression.metrics.at("mae") == Approx(1.0));

    const auto none = score(table_of({floats("probability", {0.5, 0.7}), labels("label", {std::nullopt, std::nullopt})}), {});
    REQUIRE(none.outcome.message == "");
    CHECK(none.metrics.at("labelled") == 0);
    CHECK(none.metrics.at("unlabelled") == 2);
    CHECK(none.metrics.count("accuracy") == 0);
    CHECK(none.report.at("metrics") == nlohmann::json::object());
}

TEST_CASE("monitor.performance: bad config and data are named") {
    CHECK_THAT(score(window(), {{"target", "truth"}}).outcome.message,
               Catch::Contains("target: no column 'truth' in input 'data'") && Catch::Contains("trellis monitor window --labels"));
    CHECK_THAT(score(window(), {{"group_by", {"versoin"}}}).outcome.message,
               Catch::Contains("group_by: no column 'versoin' in input 'data'"));
    CHECK_THAT(score(window(), {{"group_by", {"label"}}}).outcome.message, Catch::Contains("group_by: 'label' is the target column"));
    CHECK_THAT(score(window(), {{"min_labels", 0}}).outcome.message, Catch::Contains("min_labels must be at least 1"));
    CHECK_THAT(score(window(), {{"task", "ranking"}}).outcome.message, Catch::Contains("task must be classification"));
    const auto no_probability = score(table_of({ints("prediction", {1, 0}), labels("label", {1, 0})}), {{"task", "classification"}});
    CHECK_THAT(no_probability.outcome.message, Catch::Contains("task classification needs per-class 'probability:<label>' columns"));
    const auto bad_label = score(table_of({floats("probability", {0.5, 0.7}), labels("label", {1, 3})}), {});
    CHECK_THAT(bad_label.outcome.message, Catch::Contains("target column 'label' holds 3") && Catch::Contains("labels 0 or 1"));
}
