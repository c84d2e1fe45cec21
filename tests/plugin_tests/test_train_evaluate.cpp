// The built-in train.evaluate plugin, loaded from the build's plugin folder; it predicts through the
// host's model_predict, which StageRun resolves among the built-in flavors ("linear" here).
#include "builtin_fixtures.hpp"

#include <trellis/artifacts.hpp>

#include <cmath>
#include <string>
#include <vector>

using trellis::Column;
using trellis::ColumnType;
using trellis::test::StageRun;
using trellis::test::open_plugin;
using trellis::test::breast_cancer;
using trellis::test::floats;
using trellis::test::ints;
using trellis::test::table_of;

namespace {

std::shared_ptr<trellis::core::PluginLibrary> evaluate_plugin() {
    static const auto plugin = open_plugin("train_evaluate.so");
    return plugin;
}

// A "linear" model of one feature x written by hand (see plugins/train_linear/README.md), so that
// every prediction is known: score = intercept + weight * x.
trellis::Model hand_model(const std::string& objective, double weight, double intercept) {
    const std::string json = R"({"format":"trellis.linear","version":1,"objective":")" + objective +
                             R"(","features":["x"],"means":[0],"scales":[1],"weights":[)" + std::to_string(weight) +
                             R"(],"intercept":)" + std::to_string(intercept) + "}";
    return {"linear", {{"x", ColumnType::Float64}}, std::vector<uint8_t>(json.begin(), json.end())};
}

struct Evaluated {
    trellis::core::StageOutcome outcome;
    std::map<std::string, double> metrics;
    std::vector<trellis::core::MetricPoint> logged;
};

Evaluated evaluate(const trellis::Model& model, const trellis::Table& data, const nlohmann::json& config) {
    StageRun run(evaluate_plugin(), "train.evaluate", config);
    run.set_input("model", trellis::ArtifactType::Model, trellis::serialize(model));
    run.set_input("data", trellis::ArtifactType::Table, trellis::serialize(data));
    Evaluated out{run.invoke(), {}, run.context.metrics};
    if (out.outcome.ok()) out.metrics = trellis::deserialize_metrics(run.output("metrics")).values;
    return out;
}

// x -2 -1 0 0 1 2 with labels 0 0 1 0 1 1; the hand model's probability is sigmoid(x).
trellis::Table classified() {
    return table_of({floats("x", {-2, -1, 0, 0, 1, 2}), ints("y", {0, 0, 1, 0, 1, 1})});
}

} // namespace

TEST_CASE("train.evaluate: classification metrics worked out by hand, with a tied score") {
    const auto result = evaluate(hand_model("logistic", 1, 0), classified(), {{"target", "y"}});
    REQUIRE(result.outcome.message == "");
    const auto& m = result.metrics;
    // Predicted positive where sigmoid(x) >= 0.5, i.e. x >= 0: TP 3 (x = 0, 1, 2), FP 1 (the other
    // x = 0), TN 2, FN 0.
    CHECK(m.at("count") == 6);
    CHECK(m.at("accuracy") == Approx(5.0 / 6));
    CHECK(m.at("precision") == Approx(3.0 / 4));
    CHECK(m.at("recall") == 1.0);
    CHECK(m.at("f1") == Approx(6.0 / 7)); // 2 * 3/4 * 1 / (3/4 + 1)
    // Positives score 0, 1, 2; negatives -2, -1, 0. Of 9 pairs the positive wins 8 and one (0 vs 0)
    // is a tie counted 1/2.
    CHECK(m.at("roc_auc") == Approx(8.5 / 9));
    // -log sigmoid(x) = log(1 + e^-x) for a positive, -log(1 - sigmoid(x)) = log(1 + e^x) for a negative.
    const double log_loss = (2 * std::log(1 + std::exp(-2.0)) + 2 * std::log(1 + std::exp(-1.0)) + 2 * std::log(2.0)) / 6;
    CHECK(m.at("log_loss") == Approx(log_loss));
    CHECK(m.size() == 7);

    // Every metric is also logged, as a scalar (step 0).
    std::map<std::string, double> logged;
    for (const auto& point : result.logged) {
        CHECK(point.step == 0);
        logged[point.name] = point.value;
    }
    CHECK(logged == m);
}

TEST_CASE("train.evaluate: threshold moves the decision, not the ranking metrics") {
    // sigmoid(1) = 0.73 < 0.8 <= sigmoid(2) = 0.88: only x = 2 is predicted positive. TP 1, TN 3, FN 2.
    const auto result = evaluate(hand_model("logistic", 1, 0), classified(), {{"target", "y"}, {"threshold", 0.8}});
    REQUIRE(result.outcome.ok());
    CHECK(result.metrics.at("accuracy") == Approx(4.0 / 6));
    CHECK(result.metrics.at("precision") == 1.0);
    CHECK(result.metrics.at("recall") == Approx(1.0 / 3));
    CHECK(result.metrics.at("f1") == Approx(0.5));
    CHECK(result.metrics.at("roc_auc") == Approx(8.5 / 9));

    // Nothing predicted positive: precision's denominator is zero, so precision and f1 are 0.
    const auto none = evaluate(hand_model("logistic", 1, -10), classified(), {{"target", "y"}});
    REQUIRE(none.outcome.ok());
    CHECK(none.metrics.at("precision") == 0.0);
    CHECK(none.metrics.at("recall") == 0.0);
    CHECK(none.metrics.at("f1") == 0.0);
    CHECK(none.metrics.at("accuracy") == Approx(0.5));
}

TEST_CASE("train.evaluate: regression metrics worked out by hand") {
    // prediction = 1 + 2x = 1 3 5 7 against y = 1 4 4 8: errors 0 -1 1 -1.
    const auto data = table_of({floats("x", {0, 1, 2, 3}), floats("y", {1, 4, 4, 8})});
    const auto result = evaluate(hand_model("regression", 2, 1), data, {{"target", "y"}});
    REQUIRE(result.outcome.message == "");
    const auto& m = result.metrics;
    CHECK(m.size() == 4);
    CHECK(m.at("count") == 4);
    CHECK(m.at("rmse") == Approx(std::sqrt(3.0 / 4)));
    CHECK(m.at("mae") == Approx(3.0 / 4));
    // mean y = 4.25; total sum of squares 3.25^2 + 0.25^2 + 0.25^2 + 3.75^2 = 24.75; r2 = 1 - 3/24.75.
    CHECK(m.at("r2") == Approx(29.0 / 33));

    // task = regression on a classifier scores its 0/1 prediction column.
    const auto forced = evaluate(hand_model("logistic", 1, 0), classified(), {{"target", "y"}, {"task", "regression"}});
    REQUIRE(forced.outcome.ok());
    CHECK(forced.metrics.at("mae") == Approx(1.0 / 6)); // one wrong label of six
}

TEST_CASE("train.evaluate: one class only gives a NaN roc_auc, not an error") {
    const auto data = table_of({floats("x", {-1, 1}), ints("y", {1, 1})});
    const auto result = evaluate(hand_model("logistic", 1, 0), data, {{"target", "y"}});
    REQUIRE(result.outcome.message == "");
    CHECK(std::isnan(result.metrics.at("roc_auc")));
    CHECK(result.metrics.at("accuracy") == 0.5);
}

TEST_CASE("train.evaluate: end to end on breast_cancer with train.linear") {
    StageRun trainer(open_plugin("train_linear.so"), "train.linear", {{"target", "malignant"}});
    trainer.set_input("train", trellis::ArtifactType::Table, trellis::serialize(breast_cancer()));
    REQUIRE(trainer.invoke().message == "");
    const auto model = trellis::deserialize_model(trainer.output("model"));

    const auto result = evaluate(model, breast_cancer(), {{"target", "malignant"}});
    REQUIRE(result.outcome.message == "");
    CHECK(result.metrics.at("count") == 569);
    CHECK(result.metrics.at("roc_auc") > 0.98);
    CHECK(result.metrics.at("accuracy") > 0.95);
    CHECK(result.metrics.at("log_loss") < 0.2);
}

TEST_CASE("train.evaluate: errors name the key, column or row at fault") {
    const auto model = hand_model("logistic", 1, 0);
    const auto fails_with = [&](const trellis::Table& data, const nlohmann::json& config, const std::string& needle,
                                int32_t status = TRELLIS_ERR_INVALID) {
        const auto result = evaluate(model, data, config);
        CHECK(result.outcome.status == status);
        CHECK_THAT(result.outcome.message, Catch::Contains(needle));
    };
    fails_with(classified(), {{"target", "nope"}}, "'nope'");
    fails_with(classified(), {{"target", "y"}, {"task", "ranking"}}, "task");
    fails_with(classified(), {{"target", "y"}, {"threshold", 1.5}}, "threshold");
    fails_with(table_of({floats("x", {1, 2}), ints("y", {0, 2})}), {{"target", "y"}}, "row 1");

    Column y("y", ColumnType::Int64);
    y.append_int(1);
    y.append_null();
    fails_with(table_of({floats("x", {1, 2}), std::move(y)}), {{"target", "y"}}, "null at row 1");

    // The flavor's own errors come through, with the flavor named.
    fails_with(table_of({floats("z", {1}), ints("y", {1})}), {{"target", "y"}}, "'x'");
    const auto regression = evaluate(hand_model("regression", 1, 0), classified(), {{"target", "y"}, {"task", "classification"}});
    CHECK(regression.outcome.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(regression.outcome.message, Catch::Contains("probability"));

    trellis::Model unknown = model;
    unknown.flavor = "no-such-flavor";
    const auto missing = evaluate(unknown, classified(), {{"target", "y"}});
    CHECK_FALSE(missing.outcome.ok());
    CHECK_THAT(missing.outcome.message, Catch::Contains("no-such-flavor"));
}
