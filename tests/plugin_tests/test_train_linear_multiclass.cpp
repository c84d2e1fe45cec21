// train.linear's classifiers beyond 0/1 labels: multinomial (softmax) regression, binary models of
// any two labels, constant features, and the linear flavor's prediction columns for them.
#include "flavor_call.hpp"

#include <trellis/predictions.hpp>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

using trellis::Column;
using trellis::ColumnType;
using namespace trellis::test;

namespace {

// The optimality conditions of the multinomial fit, checked from outside the trainer: on the
// training rows, with z the standardised features and p the flavor's probabilities, the gradient
// sum_i (p_ik - [y_i = k]) (1, z_i) + l2 (0, w_k) is zero for every class k.
double largest_gradient(const trellis::Table& table, const std::string& target, const nlohmann::json& json,
                        const trellis::Table& predictions, double l2) {
    const auto classes = json["classes"].get<std::vector<std::string>>();
    const auto features = json["features"].get<std::vector<std::string>>();
    const size_t p = features.size();
    std::vector<std::vector<double>> gradient(classes.size(), std::vector<double>(p + 1, 0.0));
    const Column& labels = table.column(target);
    for (size_t i = 0; i < table.num_rows(); ++i) {
        std::vector<double> z(p);
        for (size_t j = 0; j < p; ++j) {
            const Column& column = table.column(features[j]);
            const double x = column.type() == ColumnType::Int64 ? static_cast<double>(column.int_at(i)) : column.float_at(i);
            z[j] = (x - json["means"][j].get<double>()) / json["scales"][j].get<double>();
        }
        for (size_t k = 0; k < classes.size(); ++k) {
            const double prob = predictions.column(trellis::class_probability_column(classes[k])).float_at(i);
            const double residual = prob - (trellis::label_text(labels, i) == classes[k] ? 1.0 : 0.0);
            gradient[k][0] += residual;
            for (size_t j = 0; j < p; ++j) gradient[k][j + 1] += residual * z[j];
        }
    }
    double largest = 0;
    for (size_t k = 0; k < classes.size(); ++k)
        for (size_t j = 0; j <= p; ++j) {
            const double penalty = j == 0 ? 0.0 : l2 * json["weights"][k][j - 1].get<double>();
            largest = std::max(largest, std::abs(gradient[k][j] + penalty));
        }
    return largest;
}

} // namespace

TEST_CASE("train.linear: multinomial on iris's string species reaches the optimum") {
    const auto trained = train_linear(iris(), {{"target", "species"}}); // auto: a string target is a classifier
    REQUIRE(trained.outcome.message == "");
    const auto json = linear_json(trained.model);
    CHECK(json["version"] == 2);
    CHECK(json["objective"] == "multinomial");
    CHECK(json["classes"] == nlohmann::json{"setosa", "versicolor", "virginica"});
    CHECK(json["label_type"] == "string");
    REQUIRE(json["weights"].size() == 3);
    REQUIRE(json["intercepts"].size() == 3);
    CHECK(json.size() == 10);

    // The unique optimum of the penalised loss has intercepts and each feature's weights summing to 0.
    double intercept_sum = 0;
    for (const auto& b : json["intercepts"]) intercept_sum += b.get<double>();
    CHECK(std::abs(intercept_sum) < 1e-9);
    for (size_t j = 0; j < 4; ++j)
        CHECK(std::abs(json["weights"][0][j].get<double>() + json["weights"][1][j].get<double>() +
                       json["weights"][2][j].get<double>()) < 1e-9);

    const auto predicted = linear_predict(trained.model, iris());
    REQUIRE(predicted.message == "");
    CHECK(predicted.table.column_names() == std::vector<std::string>{"probability:setosa", "probability:versicolor",
                                                                     "probability:virginica", "prediction"});
    CHECK(predicted.table.column("prediction").type() == ColumnType::String);
    CHECK(largest_gradient(iris(), "species", json, predicted.table, 1.0) < 1e-8);

    size_t correct = 0;
    for (size_t i = 0; i < iris().num_rows(); ++i) {
        double sum = 0;
        for (const char* label : {"setosa", "versicolor", "virginica"})
            sum += predicted.table.column(std::string("probability:") + label).float_at(i);
        CHECK(sum == Approx(1.0).epsilon(1e-12));
        correct += predicted.table.column("prediction").string_at(i) == iris().column("species").string_at(i);
    }
    CHECK(correct >= 140);

    // A learning curve that starts at n log 3 (all scores 0) and never rises.
    REQUIRE(trained.metrics.size() >= 3);
    CHECK(trained.metrics.front().value == Approx(150 * std::log(3.0)));
    for (size_t i = 1; i < trained.metrics.size(); ++i) CHECK(trained.metrics[i].value <= trained.metrics[i - 1].value);
}

TEST_CASE("train.linear: logistic on three int classes is multinomial, with int predictions") {
    const auto trained = train_linear(wine(), {{"target", "cultivar"}, {"objective", "logistic"}, {"l2", 0.5}});
    REQUIRE(trained.outcome.message == "");
    const auto json = linear_json(trained.model);
    CHECK(json["objective"] == "multinomial");
    CHECK(json["classes"] == nlohmann::json{"0", "1", "2"});
    CHECK(json["label_type"] == "int");
    const auto predicted = linear_predict(trained.model, wine());
    REQUIRE(predicted.message == "");
    CHECK(predicted.table.column("prediction").type() == ColumnType::Int64);
    CHECK(predicted.table.find("probability:2") != nullptr);
    CHECK(largest_gradient(wine(), "cultivar", json, predicted.table, 0.5) < 1e-8);

    // "softmax" is the same objective; "auto" keeps fitting a regression to ints other than 0/1.
    const auto softmax = train_linear(wine(), {{"target", "cultivar"}, {"objective", "softmax"}, {"l2", 0.5}});
    REQUIRE(softmax.outcome.ok());
    CHECK(softmax.model.bytes == trained.model.bytes);
    CHECK(linear_json(train_linear(wine(), {{"target", "cultivar"}}).model)["objective"] == "regression");
}

TEST_CASE("train.linear: sorted int classes, and multinomial on 0/1 labels gives per-class columns") {
    // Labels 10, 2, -1: class order is numeric (-1, 2, 10), not textual.
    const auto table = table_of({floats("x", {-3, -2, -1.5, 0, 0.5, 1, 2.5, 3, 4}), ints("y", {-1, -1, 2, -1, 2, 10, 2, 10, 10})});
    const auto trained = train_linear(table, {{"target", "y"}, {"objective", "multinomial"}});
    REQUIRE(trained.outcome.message == "");
    CHECK(linear_json(trained.model)["classes"] == nlohmann::json{"-1", "2", "10"});
    const auto predicted = linear_predict(trained.model, table_of({floats("x", {-3, 4})}));
    REQUIRE(predicted.message == "");
    CHECK(predicted.table.column("prediction").int_at(0) == -1);
    CHECK(predicted.table.column("prediction").int_at(1) == 10);

    const auto zero_one = train_linear(table_of({floats("x", {1, 2, 3, 4}), ints("y", {0, 1, 0, 1})}),
                                       {{"target", "y"}, {"objective", "multinomial"}});
    REQUIRE(zero_one.outcome.ok());
    const auto columns = linear_predict(zero_one.model, table_of({floats("x", {1})})).table.column_names();
    CHECK(columns == std::vector<std::string>{"probability:0", "probability:1", "prediction"});
}

TEST_CASE("train.linear: two string labels give a binary model with per-class columns") {
    // The same data as 0/1 ints and as "no"/"yes": the same fit, the second class is the positive one.
    const std::vector<double> x = {-2, -1, 0, 0.5, 1, 2};
    const auto as_ints = train_linear(table_of({floats("x", x), ints("y", {0, 0, 1, 0, 1, 1})}), {{"target", "y"}});
    const auto as_text = train_linear(table_of({floats("x", x), text_column("y", {"no", "no", "yes", "no", "yes", "yes"})}),
                                      {{"target", "y"}});
    REQUIRE(as_ints.outcome.message == "");
    REQUIRE(as_text.outcome.message == "");
    const auto ints_json = linear_json(as_ints.model), text_json = linear_json(as_text.model);
    CHECK(ints_json["version"] == 1); // 0/1 models keep their format
    CHECK(text_json["version"] == 2);
    CHECK(text_json["objective"] == "logistic");
    CHECK(text_json["classes"] == nlohmann::json{"no", "yes"});
    CHECK(text_json["weights"][0][0].get<double>() == ints_json["weights"][0].get<double>());
    CHECK(text_json["intercepts"][0].get<double>() == ints_json["intercept"].get<double>());

    const auto input = table_of({floats("x", x)});
    const auto binary = linear_predict(as_ints.model, input), named = linear_predict(as_text.model, input);
    REQUIRE((binary.message == "" && named.message == ""));
    CHECK(binary.table.column_names() == std::vector<std::string>{"probability", "prediction"});
    CHECK(named.table.column_names() == std::vector<std::string>{"probability:no", "probability:yes", "prediction"});
    for (size_t i = 0; i < x.size(); ++i) {
        CHECK(named.table.column("probability:yes").float_at(i) == binary.table.column("probability").float_at(i));
        CHECK(named.table.column("probability:no").float_at(i) == 1.0 - binary.table.column("probability").float_at(i));
        CHECK(named.table.column("prediction").string_at(i) == (binary.table.column("prediction").int_at(i) ? "yes" : "no"));
    }
}

TEST_CASE("train.linear: a constant feature is kept with scale 1, as StandardScaler does") {
    const auto table = table_of({floats("c", {5, 5, 5, 5, 5}), floats("x", {1, 2, 3, 4, 6}), floats("y", {2, 4, 6, 8, 12})});
    const auto ridge = train_linear(table, {{"target", "y"}});
    REQUIRE(ridge.outcome.message == "");
    auto json = linear_json(ridge.model);
    CHECK(json["means"][0].get<double>() == 5.0);
    CHECK(json["scales"][0].get<double>() == 1.0);
    CHECK(json["weights"][0].get<double>() == 0.0);
    CHECK(json["weights"][1].get<double>() != 0.0);
    // Without standardising, the centred column is all 0 too.
    CHECK(linear_json(train_linear(table, {{"target", "y"}, {"standardize", false}}).model)["weights"][0].get<double>() == 0.0);

    Column label("label", ColumnType::String);
    for (const char* s : {"a", "a", "b", "c", "c"}) label.append_string(s);
    const auto softmax = train_linear(table_of({floats("c", {5, 5, 5, 5, 5}), floats("x", {1, 2, 3, 4, 6}), std::move(label)}),
                                      {{"target", "label"}});
    REQUIRE(softmax.outcome.message == "");
    json = linear_json(softmax.model);
    for (size_t k = 0; k < 3; ++k) CHECK(json["weights"][k][0].get<double>() == 0.0);
}

TEST_CASE("train.linear: classifier label errors name the stage and the column") {
    const auto fails_with = [](const trellis::Table& table, const nlohmann::json& config, const std::string& needle) {
        const auto result = train_linear(table, config);
        CHECK(result.outcome.status == TRELLIS_ERR_INVALID);
        CHECK_THAT(result.outcome.message, Catch::Contains(needle));
        CHECK(result.outcome.message.find('\n') == std::string::npos);
    };
    fails_with(table_of({floats("x", {1, 2, 3}), text_column("y", {"a", "a", "a"})}), {{"target", "y"}},
               "train.linear: target column 'y' holds only one class ('a')");
    fails_with(table_of({floats("x", {1, 2, 3}), ints("y", {1, 1, 1})}), {{"target", "y"}, {"objective", "multinomial"}},
               "holds only one class ('1')");
    fails_with(table_of({floats("x", {1, 2, 3}), ints("y", {0, 0, 0})}), {{"target", "y"}}, "holds only one class ('0')");
    fails_with(table_of({floats("x", {1, 2, 3}), floats("y", {0, 1, 2.5})}), {{"target", "y"}, {"objective", "multinomial"}},
               "train.linear: objective multinomial: target column 'y' holds 2.5");
    fails_with(table_of({floats("x", {1, 2, 3}), floats("y", {0, 1, 2.5})}), {{"target", "y"}, {"objective", "multinomial"}},
               "class labels must be int, bool or string");
    fails_with(table_of({floats("x", {1, 2, 3}), ints("y", {0, 1, 2})}), {{"target", "y"}, {"objective", "tree"}},
               "multinomial");
}

TEST_CASE("train.linear: the flavor reads version 1 models and checks version 2 bytes") {
    // A version-1 logistic model written by hand, as models saved before multiclass support are.
    const std::string v1 = R"({"format":"trellis.linear","version":1,"objective":"logistic","features":["x"],)"
                           R"("means":[0],"scales":[1],"weights":[2],"intercept":-1})";
    const trellis::Model old{"linear", {{"x", ColumnType::Float64}}, std::vector<uint8_t>(v1.begin(), v1.end())};
    const auto predicted = linear_predict(old, table_of({floats("x", {0, 1})}));
    REQUIRE(predicted.message == "");
    CHECK(predicted.table.column_names() == std::vector<std::string>{"probability", "prediction"});
    CHECK(predicted.table.column("probability").float_at(1) == Approx(1 / (1 + std::exp(-1.0))));
    CHECK(predicted.table.column("prediction").int_at(0) == 0);
    CHECK(predicted.table.column("prediction").int_at(1) == 1);

    const auto with_bytes = [](const std::string& text) {
        return trellis::Model{"linear", {{"x", ColumnType::Float64}}, std::vector<uint8_t>(text.begin(), text.end())};
    };
    const std::string head = R"({"format":"trellis.linear","version":2,"objective":"multinomial","features":["x"],)"
                             R"("means":[0],"scales":[1],)";
    const std::string good = head + R"("classes":["a","b","c"],"label_type":"string","weights":[[1],[0],[-1]],"intercepts":[0,0,0]})";
    const auto ok = linear_predict(with_bytes(good), table_of({floats("x", {5})}));
    REQUIRE(ok.message == "");
    CHECK(ok.table.column("prediction").string_at(0) == "a");
    const auto bad = [&](const std::string& text, const std::string& needle) {
        const auto result = linear_predict(with_bytes(text), table_of({floats("x", {5})}));
        CHECK(result.status == TRELLIS_ERR_INVALID);
        CHECK_THAT(result.message, Catch::Contains(needle));
    };
    bad(head + R"("classes":["a","b"],"label_type":"string","weights":[[1],[0],[-1]],"intercepts":[0,0,0]})", "'weights'");
    bad(head + R"("classes":["a","b","c"],"label_type":"int","weights":[[1],[0],[-1]],"intercepts":[0,0,0]})", "class 'a'");
    bad(head + R"("classes":["a","a","c"],"label_type":"string","weights":[[1],[0],[-1]],"intercepts":[0,0,0]})", "twice");
    bad(head + R"("classes":["a","b","c"],"label_type":"string","weights":[[1],[0,2],[-1]],"intercepts":[0,0,0]})", "row");
    bad(head + R"("classes":["a","b","c"],"label_type":"string","weights":[[1],[0],[-1]],"intercepts":[0,0]})", "'intercepts'");
    bad(R"({"format":"trellis.linear","version":3})", "unsupported version 3");
}
