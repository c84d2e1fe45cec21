// train.evaluate on classifiers that give per-class "probability:<label>" columns (predictions.hpp):
// multiclass metrics worked out by hand, two-class models, the report's confusion matrix, metric
// names that govern.gate rules can use, and label errors.
#include "builtin_fixtures.hpp"

#include <trellis/artifacts.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
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

// A version-2 "linear" model of one feature x (see plugins/train_linear/README.md): class k's
// score is weights[k] * x + intercepts[k], its probability the softmax of the scores.
trellis::Model softmax_model(const std::vector<std::string>& classes, const std::string& label_type,
                             const std::vector<double>& weights, const std::vector<double>& intercepts) {
    nlohmann::json json = {{"format", "trellis.linear"}, {"version", 2}, {"objective", "multinomial"},
                           {"features", {"x"}},          {"means", {0}}, {"scales", {1}},
                           {"classes", classes},         {"label_type", label_type}};
    json["weights"] = nlohmann::json::array();
    for (double w : weights) json["weights"].push_back({w});
    json["intercepts"] = intercepts;
    const std::string text = json.dump();
    return {"linear", {{"x", ColumnType::Float64}}, std::vector<uint8_t>(text.begin(), text.end())};
}

trellis::Column text_column(const std::string& name, const std::vector<std::string>& values) {
    Column column(name, ColumnType::String);
    for (const auto& v : values) column.append_string(v);
    return column;
}

struct Evaluated {
    trellis::core::StageOutcome outcome;
    std::map<std::string, double> metrics;
    nlohmann::json report;
};

Evaluated evaluate(const trellis::Model& model, const trellis::Table& data, const nlohmann::json& config) {
    static const auto plugin = open_plugin("train_evaluate.so");
    StageRun run(plugin, "train.evaluate", config);
    run.set_input("model", trellis::ArtifactType::Model, trellis::serialize(model));
    run.set_input("data", trellis::ArtifactType::Table, trellis::serialize(data));
    Evaluated out{run.invoke(), {}, {}};
    if (out.outcome.ok()) {
        out.metrics = trellis::deserialize_metrics(run.output("metrics")).values;
        out.report = nlohmann::json::parse(trellis::deserialize_report(run.output("report")).json);
    }
    return out;
}

// Scores (x, 0, -x) for classes a, b, c: x > 0 predicts a, x < 0 predicts c, x = 0 ties (a wins).
const std::vector<double> xs = {2, 1, 0, -1.5, -3, 0.5};
trellis::Table three_classes() {
    return table_of({floats("x", xs), text_column("y", {"a", "b", "b", "c", "b", "a"})});
}
double softmax_of(double x, size_t k) {
    const double s[3] = {x, 0, -x};
    return std::exp(s[k]) / (std::exp(s[0]) + std::exp(s[1]) + std::exp(s[2]));
}

} // namespace

TEST_CASE("train.evaluate: multiclass metrics worked out by hand") {
    const auto model = softmax_model({"a", "b", "c"}, "string", {1, 0, -1}, {0, 0, 0});
    const auto result = evaluate(model, three_classes(), {{"target", "y"}});
    REQUIRE(result.outcome.message == "");
    const auto& m = result.metrics;
    // Predicted a a a c c a against a b b c b a. Confusion (rows true a, b, c): [2 0 0] [2 0 1] [0 0 1].
    CHECK(m.at("count") == 6);
    CHECK(m.at("accuracy") == Approx(0.5));
    CHECK(m.at("precision/a") == Approx(0.5));
    CHECK(m.at("recall/a") == 1.0);
    CHECK(m.at("f1/a") == Approx(2.0 / 3));
    CHECK(m.at("precision/b") == 0.0); // never predicted: 0, as scikit-learn's zero_division = 0
    CHECK(m.at("recall/b") == 0.0);
    CHECK(m.at("f1/b") == 0.0);
    CHECK(m.at("precision/c") == Approx(0.5));
    CHECK(m.at("recall/c") == 1.0);
    CHECK(m.at("f1_macro") == Approx(4.0 / 9));
    CHECK(m.at("f1_weighted") == Approx((2 * 2.0 / 3 + 3 * 0.0 + 1 * 2.0 / 3) / 6));
    // One-vs-rest AUCs: a 7/8 (p_a rises with x), b 5/9 (p_b falls with |x|), c 4/5.
    CHECK(m.at("roc_auc") == Approx((7.0 / 8 + 5.0 / 9 + 4.0 / 5) / 3));
    const size_t truth[6] = {0, 1, 1, 2, 1, 0};
    double log_loss = 0;
    for (size_t i = 0; i < 6; ++i) log_loss -= std::log(softmax_of(xs[i], truth[i]));
    CHECK(m.at("log_loss") == Approx(log_loss / 6));
    CHECK(m.count("precision") == 0); // the binary names are for two classes
    CHECK(m.size() == 15);

    const auto& report = result.report;
    CHECK(report["task"] == "classification");
    CHECK(report["predictions"] == "classes");
    CHECK(report["labels"] == nlohmann::json{"a", "b", "c"});
    CHECK(report["confusion_matrix"]["rows"] == "true class");
    CHECK(report["confusion_matrix"]["counts"] == nlohmann::json{{2, 0, 0}, {2, 0, 1}, {0, 0, 1}});
    REQUIRE(report["per_class"].size() == 3);
    CHECK(report["per_class"][1]["label"] == "b");
    CHECK(report["per_class"][1]["support"] == 3);
    CHECK(report["per_class"][1]["predicted"] == 0);
    CHECK(report["per_class"][2]["roc_auc"].get<double>() == Approx(0.8));
    CHECK(report["metrics"]["accuracy"].get<double>() == Approx(0.5));
}

TEST_CASE("train.evaluate: a class absent from the data is left out of the averages") {
    // Only a and c occur and only a and c are predicted: b counts in no average; its AUC is undefined.
    const auto data = table_of({floats("x", {2, 1, -1, -2}), text_column("y", {"a", "c", "c", "c"})});
    const auto result = evaluate(softmax_model({"a", "b", "c"}, "string", {1, 0, -1}, {0, 0, 0}), data, {{"target", "y"}});
    REQUIRE(result.outcome.message == "");
    // Predicted a a c c: f1 a = 2/3 (p 1/2, r 1), f1 c = 0.8 (p 1, r 2/3).
    CHECK(result.metrics.at("f1_macro") == Approx((2.0 / 3 + 0.8) / 2));
    CHECK(result.metrics.at("f1_weighted") == Approx((2.0 / 3 + 3 * 0.8) / 4));
    CHECK(result.metrics.at("roc_auc") == Approx(1.0)); // a and c are ranked perfectly
    CHECK(result.report["per_class"][1]["roc_auc"].is_null());
}

TEST_CASE("train.evaluate: two per-class columns give the binary metrics too, equal to a probability column") {
    // Softmax of (0, x) is sigmoid(x): the same model as the 0/1 hand model with weight 1.
    const std::string v1 = R"({"format":"trellis.linear","version":1,"objective":"logistic","features":["x"],)"
                           R"("means":[0],"scales":[1],"weights":[1],"intercept":0})";
    const trellis::Model binary{"linear", {{"x", ColumnType::Float64}}, std::vector<uint8_t>(v1.begin(), v1.end())};
    const auto data = table_of({floats("x", {-2, -1, 0, 0, 1, 2}), ints("y", {0, 0, 1, 0, 1, 1})});
    const auto classic = evaluate(binary, data, {{"target", "y"}});
    const auto per_class = evaluate(softmax_model({"0", "1"}, "int", {0, 1}, {0, 0}), data, {{"target", "y"}});
    REQUIRE((classic.outcome.message == "" && per_class.outcome.message == ""));
    CHECK(classic.metrics.size() == 7); // the binary metrics as before
    for (const auto& [name, value] : classic.metrics) CHECK(per_class.metrics.at(name) == Approx(value).epsilon(1e-12));
    CHECK(per_class.metrics.at("precision/1") == per_class.metrics.at("precision"));
    CHECK(per_class.metrics.at("recall/0") == Approx(2.0 / 3));
    // Both reports hold the confusion matrix at the threshold (rows true 0, 1).
    CHECK(classic.report["predictions"] == "binary");
    CHECK(classic.report["confusion_matrix"]["counts"] == nlohmann::json{{2, 1}, {0, 3}});
    CHECK(per_class.report["confusion_matrix"]["counts"] == nlohmann::json{{2, 1}, {0, 3}});
    CHECK(per_class.report["threshold"] == 0.5);

    const auto strict = evaluate(softmax_model({"0", "1"}, "int", {0, 1}, {0, 0}), data, {{"target", "y"}, {"threshold", 0.8}});
    const auto classic_strict = evaluate(binary, data, {{"target", "y"}, {"threshold", 0.8}});
    REQUIRE((strict.outcome.ok() && classic_strict.outcome.ok()));
    CHECK(strict.metrics.at("recall") == Approx(classic_strict.metrics.at("recall")));

    // Bool and string labels work the same way.
    Column flags("y", ColumnType::Bool);
    for (int v : {0, 0, 1, 0, 1, 1}) flags.append_bool(v != 0);
    const auto bools = evaluate(softmax_model({"0", "1"}, "int", {0, 1}, {0, 0}),
                                table_of({floats("x", {-2, -1, 0, 0, 1, 2}), std::move(flags)}), {{"target", "y"}});
    REQUIRE(bools.outcome.message == "");
    CHECK(bools.metrics.at("accuracy") == Approx(5.0 / 6));
    const auto words = evaluate(softmax_model({"no", "yes"}, "string", {0, 1}, {0, 0}),
                                table_of({floats("x", {-2, -1, 0, 0, 1, 2}), text_column("y", {"no", "no", "yes", "no", "yes", "yes"})}),
                                {{"target", "y"}});
    REQUIRE(words.outcome.message == "");
    CHECK(words.metrics.at("roc_auc") == Approx(classic.metrics.at("roc_auc")));
    CHECK(words.metrics.at("recall/yes") == 1.0);
}

TEST_CASE("train.evaluate: per-class metric names are valid govern.gate metric names") {
    const auto model = softmax_model({"a b", "a_b", "c:d"}, "string", {1, 0, -1}, {0, 0, 0});
    const auto data = table_of({floats("x", {2, 0, -2}), text_column("y", {"a b", "a_b", "c:d"})});
    const auto result = evaluate(model, data, {{"target", "y"}});
    REQUIRE(result.outcome.message == "");
    CHECK(result.metrics.count("recall/a_b") == 1);   // "a b"
    CHECK(result.metrics.count("recall/a_b_1") == 1); // "a_b", renamed so the two stay apart
    CHECK(result.metrics.count("recall/c_d") == 1);
    CHECK(result.report["labels"] == nlohmann::json{"a b", "a_b", "c:d"}); // the report keeps the labels

    static const auto gate_plugin = open_plugin("govern_gate.so");
    StageRun gate(gate_plugin, "govern.gate", {{"rules", {"recall/a_b >= 1", "f1/c_d > 0.5", "f1_macro >= 0.5"}}});
    gate.set_input("metrics", trellis::ArtifactType::Metrics, trellis::serialize(trellis::Metrics{result.metrics}));
    CHECK(gate.invoke().message == "");
}

TEST_CASE("train.evaluate: multiclass label errors name the column, row and label") {
    const auto model = softmax_model({"a", "b", "c"}, "string", {1, 0, -1}, {0, 0, 0});
    const auto fails_with = [&](const trellis::Table& data, const std::string& needle) {
        const auto result = evaluate(model, data, {{"target", "y"}});
        CHECK(result.outcome.status == TRELLIS_ERR_INVALID);
        CHECK_THAT(result.outcome.message, Catch::Contains(needle));
    };
    fails_with(table_of({floats("x", {1, 2}), text_column("y", {"a", "z"})}),
               "target column 'y' holds class 'z' at row 1, for which the model gives no probability (its classes: a, b, c)");
    fails_with(table_of({floats("x", {1, 2}), floats("y", {0, 2.5})}), "holds 2.500000 at row 1, a float");
    Column y("y", ColumnType::String);
    y.append_string("a");
    y.append_null();
    fails_with(table_of({floats("x", {1, 2}), std::move(y)}), "target column 'y' is null at row 1");
    // Int labels against string classes do not match by accident of spelling only when equal.
    fails_with(table_of({floats("x", {1}), ints("y", {1})}), "holds class '1'");
}
