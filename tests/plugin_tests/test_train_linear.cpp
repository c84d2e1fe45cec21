// The built-in train.linear plugin and its "linear" flavor, loaded from the build's plugin folder
// and run through the host API.
#include "builtin_fixtures.hpp"
#include "flavor_call.hpp"

#include <trellis/artifacts.hpp>

#include <nlohmann/json.hpp>

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
using trellis::test::linear_json;
using trellis::test::linear_plugin;
using trellis::test::linear_predict;

namespace {

struct Trained {
    trellis::core::StageOutcome outcome;
    trellis::Model model;
    std::vector<uint8_t> bytes;
    std::vector<trellis::core::MetricPoint> metrics;
};

Trained train(const trellis::Table& table, const nlohmann::json& config) {
    StageRun run(linear_plugin(), "train.linear", config);
    run.set_input("train", trellis::ArtifactType::Table, trellis::serialize(table));
    Trained out{run.invoke(), {}, {}, run.context.metrics};
    if (out.outcome.ok()) {
        const auto bytes = run.output("model");
        out.bytes.assign(bytes.begin(), bytes.end());
        out.model = trellis::deserialize_model(bytes);
    }
    return out;
}

// x1 = 1 2 3 4, x2 = 1 0 1 0, y = 2 3 5 6.
trellis::Table tiny() {
    return table_of({floats("x1", {1, 2, 3, 4}), floats("x2", {1, 0, 1, 0}), floats("y", {2, 3, 5, 6})});
}

} // namespace

TEST_CASE("train.linear: ridge matches the closed form worked out by hand") {
    // Centred: x1c = -1.5 -0.5 0.5 1.5, x2c = 0.5 -0.5 0.5 -0.5, yc = -2 -1 1 2.
    // Sums: S11 = 5, S22 = 1, S12 = -1, S1y = 7, S2y = -1.
    // One feature, l2 = 1: w = S1y / (S11 + 1) = 7/6, b = ybar - xbar w = 4 - 2.5 * 7/6 = 13/12.
    const auto one = train(tiny(), {{"target", "y"}, {"features", {"x1"}}, {"standardize", false}, {"l2", 1.0}});
    REQUIRE(one.outcome.message == "");
    auto json = linear_json(one.model);
    CHECK(json["objective"] == "regression");
    CHECK(json["weights"][0].get<double>() == Approx(7.0 / 6).epsilon(1e-14));
    CHECK(json["intercept"].get<double>() == Approx(13.0 / 12).epsilon(1e-14));
    CHECK(json["means"][0].get<double>() == 0.0);
    CHECK(json["scales"][0].get<double>() == 1.0);

    // Two features, l2 = 1: [[6, -1], [-1, 2]] w = [7, -1], det 11 -> w = (13/11, 1/11);
    // b = 4 - 2.5 * 13/11 - 0.5 * 1/11 = 1.
    const auto two = train(tiny(), {{"target", "y"}, {"standardize", false}, {"l2", 1.0}});
    REQUIRE(two.outcome.ok());
    json = linear_json(two.model);
    CHECK(json["features"] == nlohmann::json{"x1", "x2"});
    CHECK(json["weights"][0].get<double>() == Approx(13.0 / 11).epsilon(1e-14));
    CHECK(json["weights"][1].get<double>() == Approx(1.0 / 11).epsilon(1e-14));
    CHECK(json["intercept"].get<double>() == Approx(1.0).epsilon(1e-14));
    CHECK(two.model.flavor == "linear");
    CHECK(two.model.signature == std::vector<trellis::Field>{{"x1", ColumnType::Float64}, {"x2", ColumnType::Float64}});

    // The flavor serves the same numbers: at (1, 1) the prediction is 1 + 13/11 + 1/11 = 25/11.
    const auto predicted = linear_predict(two.model, tiny());
    REQUIRE(predicted.message == "");
    REQUIRE(predicted.table.column_names() == std::vector<std::string>{"prediction"});
    CHECK(predicted.table.column("prediction").type() == ColumnType::Float64);
    CHECK(predicted.table.column("prediction").float_at(0) == Approx(25.0 / 11).epsilon(1e-14));
    CHECK(predicted.table.column("prediction").float_at(1) == Approx(1 + 26.0 / 11).epsilon(1e-14));
}

TEST_CASE("train.linear: l2 = 0 is ordinary least squares, exact on y = 3 + 2x") {
    std::vector<int64_t> x;
    std::vector<double> y;
    for (int64_t i = 0; i < 10; ++i) {
        x.push_back(i);
        y.push_back(3.0 + 2.0 * static_cast<double>(i));
    }
    const auto table = table_of({ints("x", x), floats("y", y)});
    const auto raw = train(table, {{"target", "y"}, {"l2", 0.0}, {"standardize", false}});
    REQUIRE(raw.outcome.message == "");
    const auto json = linear_json(raw.model);
    CHECK(json["weights"][0].get<double>() == 2.0);
    CHECK(json["intercept"].get<double>() == 3.0);
    CHECK(raw.model.signature == std::vector<trellis::Field>{{"x", ColumnType::Int64}});

    // Standardised, the weight is on another scale but the fitted line is the same.
    const auto scaled = train(table, {{"target", "y"}, {"l2", 0.0}});
    REQUIRE(scaled.outcome.ok());
    const auto scaled_json = linear_json(scaled.model);
    CHECK(scaled_json["means"][0].get<double>() == 4.5);
    CHECK(scaled_json["scales"][0].get<double>() == Approx(std::sqrt(8.25)).epsilon(1e-15));
    const auto predicted = linear_predict(scaled.model, table_of({ints("x", {0, 5, 100})}));
    REQUIRE(predicted.message == "");
    CHECK(predicted.table.column("prediction").float_at(0) == Approx(3.0).epsilon(1e-12));
    CHECK(predicted.table.column("prediction").float_at(1) == Approx(13.0).epsilon(1e-12));
    CHECK(predicted.table.column("prediction").float_at(2) == Approx(203.0).epsilon(1e-12));
}

TEST_CASE("train.linear: logistic regression on breast_cancer fits the training data") {
    const auto trained = train(breast_cancer(), {{"target", "malignant"}});
    REQUIRE(trained.outcome.message == "");
    CHECK(linear_json(trained.model)["objective"] == "logistic"); // auto: the target is all 0/1
    CHECK(trained.model.signature.size() == 30);

    const auto predicted = linear_predict(trained.model, breast_cancer());
    REQUIRE(predicted.message == "");
    const auto& probability = predicted.table.column("probability");
    const auto& prediction = predicted.table.column("prediction");
    CHECK(probability.type() == ColumnType::Float64);
    CHECK(prediction.type() == ColumnType::Int64);
    const auto& truth = breast_cancer().column("malignant");
    size_t correct = 0;
    for (size_t i = 0; i < truth.size(); ++i) {
        CHECK(prediction.int_at(i) == (probability.float_at(i) >= 0.5 ? 1 : 0));
        correct += prediction.int_at(i) == truth.int_at(i);
    }
    CHECK(static_cast<double>(correct) / static_cast<double>(truth.size()) > 0.95);

    // A learning curve: train_loss at steps 0, 1, ... never increasing.
    REQUIRE(trained.metrics.size() >= 3);
    for (size_t i = 0; i < trained.metrics.size(); ++i) {
        CHECK(trained.metrics[i].name == "train_loss");
        CHECK(trained.metrics[i].step == static_cast<int64_t>(i));
        if (i > 0) CHECK(trained.metrics[i].value <= trained.metrics[i - 1].value);
    }
    CHECK(trained.metrics.front().value == Approx(569 * std::log(2.0))); // all-zero start: p = 1/2
}

TEST_CASE("train.linear: the same data and config give the same model bytes") {
    const nlohmann::json config = {{"target", "malignant"}, {"features", {"mean_radius", "mean_texture", "worst_area"}}};
    const auto a = train(breast_cancer(), config);
    const auto b = train(breast_cancer(), config);
    REQUIRE((a.outcome.ok() && b.outcome.ok()));
    CHECK(a.bytes == b.bytes);
    const auto c = train(breast_cancer(), {{"target", "malignant"}, {"features", {"mean_radius", "mean_texture"}}});
    CHECK(c.bytes != a.bytes);
}

TEST_CASE("train.linear: objective auto, bool labels, and logistic by hand on a symmetric case") {
    // Bool target -> logistic. x = -1, 1 with labels 0, 1 and l2 = 1, unstandardised: by symmetry
    // b = 0 and the optimum solves w = 2 (1 - sigmoid(w)) (the gradient of 2 log(1 + e^-w) + w^2/2).
    Column label("label", ColumnType::Bool);
    label.append_bool(false);
    label.append_bool(true);
    const auto table = table_of({floats("x", {-1, 1}), std::move(label)});
    const auto trained = train(table, {{"target", "label"}, {"standardize", false}});
    REQUIRE(trained.outcome.message == "");
    const auto json = linear_json(trained.model);
    CHECK(json["objective"] == "logistic");
    const double w = json["weights"][0].get<double>();
    CHECK(w == Approx(2.0 * (1.0 - 1.0 / (1.0 + std::exp(-w)))).margin(1e-12));
    CHECK(w == Approx(0.674832).margin(1e-6)); // bisection on w = 2 (1 - sigmoid(w)) gives 0.6748316
    CHECK(std::abs(json["intercept"].get<double>()) < 1e-12);

    // Float 0/1 target -> logistic; anything else -> regression.
    CHECK(linear_json(train(table_of({floats("x", {1, 2, 3}), floats("y", {0, 1, 0})}), {{"target", "y"}}).model)["objective"] ==
          "logistic");
    CHECK(linear_json(train(table_of({floats("x", {1, 2, 3}), floats("y", {0, 1, 2})}), {{"target", "y"}}).model)["objective"] ==
          "regression");
    // Forcing regression on 0/1 labels is allowed.
    CHECK(linear_json(train(table_of({floats("x", {1, 2, 3}), floats("y", {0, 1, 0})}),
                           {{"target", "y"}, {"objective", "regression"}})
                         .model)["objective"] == "regression");
}

TEST_CASE("train.linear: missing values fail by default and are skipped with drop_missing") {
    Column x("x", ColumnType::Float64);
    for (double v : {1.0, 2.0, 3.0, 4.0, 5.0}) v == 3.0 ? x.append_null() : x.append_float(v);
    Column y("y", ColumnType::Float64);
    for (double v : {5.0, 7.0, 0.0, 11.0, 13.0}) v == 0.0 ? y.append_null() : y.append_float(v);
    const auto table = table_of({std::move(x), std::move(y)});

    const auto failed = train(table, {{"target", "y"}});
    CHECK(failed.outcome.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(failed.outcome.message, Catch::Contains("'y'") && Catch::Contains("1 null"));

    const auto dropped = train(table, {{"target", "y"}, {"drop_missing", true}, {"l2", 0.0}, {"standardize", false}});
    REQUIRE(dropped.outcome.message == "");
    const auto json = linear_json(dropped.model); // rows (1,5) (2,7) (4,11) (5,13): y = 3 + 2x
    CHECK(json["weights"][0].get<double>() == Approx(2.0).epsilon(1e-14));
    CHECK(json["intercept"].get<double>() == Approx(3.0).epsilon(1e-14));
}

TEST_CASE("train.linear: the flavor checks its input columns") {
    const auto trained = train(tiny(), {{"target", "y"}, {"standardize", false}, {"l2", 1.0}});
    REQUIRE(trained.outcome.ok());

    const auto missing = linear_predict(trained.model, table_of({floats("x1", {1})}));
    CHECK(missing.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(missing.message, Catch::Contains("'x2'"));

    Column x2("x2", ColumnType::Float64);
    x2.append_float(1);
    x2.append_null();
    const auto null = linear_predict(trained.model, table_of({floats("x1", {1, 2}), std::move(x2)}));
    CHECK(null.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(null.message, Catch::Contains("'x2'") && Catch::Contains("row 1"));

    // Int and bool columns are numbers; extra columns and column order do not matter.
    Column flag("x2", ColumnType::Bool);
    flag.append_bool(true);
    Column words("note", ColumnType::String);
    words.append_string("ignored");
    const auto mixed = linear_predict(trained.model, table_of({std::move(words), std::move(flag), ints("x1", {1})}));
    REQUIRE(mixed.message == "");
    CHECK(mixed.table.column("prediction").float_at(0) == Approx(25.0 / 11).epsilon(1e-14));

    Column text("x2", ColumnType::String);
    text.append_string("1");
    const auto typed = linear_predict(trained.model, table_of({floats("x1", {1}), std::move(text)}));
    CHECK(typed.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(typed.message, Catch::Contains("'x2'"));

    trellis::Model corrupt = trained.model;
    corrupt.bytes.resize(10);
    CHECK(linear_predict(corrupt, tiny()).status == TRELLIS_ERR_INVALID);
}

TEST_CASE("train.linear: errors name the key, column or value at fault") {
    const auto fails_with = [](const trellis::Table& table, const nlohmann::json& config, const std::string& needle) {
        const auto result = train(table, config);
        CHECK(result.outcome.status == TRELLIS_ERR_INVALID);
        CHECK_THAT(result.outcome.message, Catch::Contains(needle));
    };
    fails_with(tiny(), {{"target", "nope"}}, "'nope'");
    fails_with(tiny(), {{"target", "y"}, {"features", {"x1", "zz"}}}, "'zz'");
    fails_with(tiny(), {{"target", "y"}, {"features", {"y"}}}, "'y' is the target");
    fails_with(tiny(), {{"target", "y"}, {"l2", -1.0}}, "l2");
    fails_with(tiny(), {{"target", "y"}, {"objective", "poisson"}}, "objective");
    fails_with(tiny(), {{"target", "y"}, {"objective", "logistic"}}, "holds 2");
    // A constant feature is kept (see below), but with l2 = 0 its weight is undetermined.
    fails_with(table_of({floats("x", {1, 1, 1}), floats("z", {1, 2, 4}), floats("y", {1, 2, 3})}),
               {{"target", "y"}, {"l2", 0.0}}, "'x' is constant");
    // Two copies of one feature with l2 = 0: the normal equations are singular.
    fails_with(table_of({floats("a", {1, 2, 3}), floats("b", {1, 2, 3}), floats("y", {1, 2, 4})}),
               {{"target", "y"}, {"l2", 0.0}}, "l2 > 0");
    fails_with(trellis::Table{}, {{"target", "y"}}, "'y'");

    Column name("name", ColumnType::String);
    for (const char* s : {"a", "b", "c", "d"}) name.append_string(s);
    auto with_text = tiny();
    with_text.add_column(std::move(name));
    // A string target is a classifier's labels, never a regression's values.
    fails_with(with_text, {{"target", "name"}, {"objective", "regression"}}, "'name' is a string column");
    // Unlisted string columns are left out of the default features.
    const auto ok = train(with_text, {{"target", "y"}});
    REQUIRE(ok.outcome.ok());
    CHECK(ok.model.signature.size() == 2);
}
