// train.xgboost through the real trellis binary: a Lua pipeline data.csv -> data.split ->
// train.xgboost -> train.evaluate, whose params and per-round metrics show in `trellis runs show`,
// and whose model train.evaluate scores through the "xgboost" flavor.
#include "run_trellis.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace trellis::testing;

namespace {

const std::string breast_cancer = std::string(EXAMPLES_DIR) + "/data/breast_cancer.csv";

} // namespace

TEST_CASE("xgboost: a pipeline trains, evaluates and records per-round metrics and params") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", R"(
        pipeline { name = "xgboost" }
        local data = stage "data.csv" { id = "load", path = ")" + breast_cancer + R"(" }
        local split = stage "data.split" { table = data.table, test_fraction = 0.25, seed = 7, stratify = "malignant" }
        local model = stage "train.xgboost" {
          id = "train", train = split.train, valid = split.test, target = "malignant",
          num_boost_round = 200, max_depth = 3, tree_method = "hist", nthread = 2,
          eval_metric = { "auc", "logloss" }, early_stopping_rounds = 5, params = { max_bin = 64 },
        }
        stage "train.evaluate" { id = "evaluate", model = model.model, data = split.test, target = "malignant" }
    )");
    const auto run = sandbox.run("-q run pipeline.lua");
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);

    const auto show = sandbox.run("runs show latest --json");
    REQUIRE(show.exit_code == 0);
    const auto shown = show.json();
    INFO(shown.dump(2));
    const auto& params = shown.at("params");
    CHECK(params.at("train.objective") == "binary:logistic");
    CHECK(params.at("train.max_depth") == 3);
    CHECK(params.at("train.num_boost_round") == 200);
    CHECK(params.at("train.tree_method") == "hist");
    CHECK(params.at("train.max_bin") == 64);
    CHECK(params.at("train.early_stopping_rounds") == 5);
    CHECK(params.at("train.eval_metric") == nlohmann::json{"auc", "logloss"});
    const auto& metrics = shown.at("metrics");
    // Early stopping watches the last metric on the validation rows: it stopped well before 200.
    const int64_t rounds = metrics.at("valid-logloss").at("points").get<int64_t>();
    CHECK(rounds > 5);
    CHECK(rounds < 200);
    CHECK(metrics.at("train-logloss").at("points") == rounds);
    CHECK(metrics.at("train-auc").at("points") == rounds);
    CHECK(metrics.at("valid-auc").at("points") == rounds);
    CHECK(metrics.at("valid-logloss").at("step") == rounds - 1);
    CHECK(metrics.at("best_iteration").at("value").get<double>() == Approx(static_cast<double>(rounds - 6)));
    // train.evaluate scored the xgboost model through the host and the flavor.
    CHECK(metrics.at("roc_auc").at("value").get<double>() > 0.95);
    CHECK(metrics.at("accuracy").at("value").get<double>() > 0.9);

    const auto curve = sandbox.run("runs show latest --metric valid-logloss --json");
    REQUIRE(curve.exit_code == 0);
    CHECK(curve.json().at("points").size() == static_cast<size_t>(rounds));
    const auto text = sandbox.run("runs show latest");
    CHECK_THAT(text.out, Catch::Contains("train.max_depth") && Catch::Contains("valid-logloss"));
}

TEST_CASE("xgboost: a bad target fails the stage with a one-line message naming the stage and column") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", R"(
        local data = stage "data.csv" { id = "load", path = ")" + breast_cancer + R"(" }
        stage "train.xgboost" { id = "train", train = data.table, target = "diagnosis" }
    )");
    const auto run = sandbox.run("-q run pipeline.lua");
    INFO(run.out << run.err);
    CHECK(run.exit_code != 0);
    CHECK_THAT(run.out + run.err, Catch::Contains("train.xgboost: input 'train' has no target column 'diagnosis'"));
}
