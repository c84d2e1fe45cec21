// The built-in train.xgboost plugin and its "xgboost" flavor, loaded from the build's plugin folder
// and run through the host API, against python xgboost (Debian python3-xgboost 1.7.4, the same
// libxgboost) on the same data and parameters: tests/reference/xgboost_reference.py.
#include "builtin_fixtures.hpp"

#include <trellis/artifacts.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using trellis::Column;
using trellis::ColumnType;
using trellis::test::StageRun;
using trellis::test::TempDir;
using trellis::test::open_plugin;
using trellis::test::floats;
using trellis::test::ints;
using trellis::test::table_of;
using nlohmann::json;

namespace {

const std::string data_dir = TEST_DATA_DIR;
const std::string reference_script = std::string(TEST_DATA_DIR) + "/../reference/xgboost_reference.py";
constexpr double parity = 1e-6; // the bound; in practice the numbers are identical

std::shared_ptr<trellis::core::PluginLibrary> xgboost_plugin() {
    static const auto plugin = open_plugin("train_xgboost.so");
    return plugin;
}

// A CSV file as data.csv reads it.
trellis::Table load_csv(const std::string& path) {
    StageRun run(open_plugin("data_csv.so"), "data.csv", {{"path", path}});
    const auto outcome = run.invoke();
    INFO(outcome.message);
    REQUIRE(outcome.ok());
    return trellis::deserialize_table(run.output("table"));
}

// The rows of `table` for which `keep(row)` holds, every column copied.
trellis::Table select_rows(const trellis::Table& table, const std::function<bool(size_t)>& keep) {
    trellis::Table out;
    for (const Column& column : table.columns()) {
        Column copy(column.name(), column.type());
        for (size_t r = 0; r < column.size(); ++r) {
            if (!keep(r)) continue;
            if (column.is_null(r)) {
                copy.append_null();
                continue;
            }
            switch (column.type()) {
            case ColumnType::Int64: copy.append_int(column.int_at(r)); break;
            case ColumnType::Float64: copy.append_float(column.float_at(r)); break;
            case ColumnType::Bool: copy.append_bool(column.bool_at(r)); break;
            case ColumnType::String: copy.append_string(column.string_at(r)); break;
            }
        }
        out.add_column(std::move(copy));
    }
    return out;
}

// The table without column `name`, as train.evaluate hands data to a flavor.
trellis::Table without(const trellis::Table& table, const std::string& name) {
    trellis::Table out;
    for (const Column& column : table.columns())
        if (column.name() != name) out.add_column(column);
    return out;
}

struct Trained {
    trellis::core::StageOutcome outcome;
    trellis::Model model;
    std::vector<trellis::core::MetricPoint> metrics;
    std::map<std::string, json> params;
    double progress_done = 0, progress_total = 0;
};

Trained train(const trellis::Table& table, const json& config, const trellis::Table* valid = nullptr,
              const std::function<void(StageRun&)>& before = {}) {
    StageRun run(xgboost_plugin(), "train.xgboost", config);
    run.set_input("train", trellis::ArtifactType::Table, trellis::serialize(table));
    if (valid) run.set_input("valid", trellis::ArtifactType::Table, trellis::serialize(*valid));
    run.context.progress = std::make_shared<trellis::core::StageProgress>();
    if (before) before(run);
    Trained out{run.invoke(), {}, run.context.metrics, run.context.params, run.context.progress->done.load(),
                run.context.progress->total.load()};
    if (out.outcome.ok()) out.model = trellis::deserialize_model(run.output("model"));
    return out;
}

// The points of step metric `name`, in step order.
std::vector<double> metric_curve(const Trained& trained, const std::string& name) {
    std::vector<std::pair<int64_t, double>> points;
    for (const auto& point : trained.metrics)
        if (point.name == name) points.emplace_back(point.step, point.value);
    std::sort(points.begin(), points.end());
    std::vector<double> out;
    for (size_t i = 0; i < points.size(); ++i) {
        CHECK(points[i].first == static_cast<int64_t>(i));
        out.push_back(points[i].second);
    }
    return out;
}

json model_json(const trellis::Model& model) { return json::parse(model.bytes.begin(), model.bytes.end()); }

struct Predicted {
    int32_t status = TRELLIS_OK;
    std::string message;
    trellis::Table table;
};

// The plugin's "xgboost" flavor as the host calls it: load, predict (from `threads` threads at
// once, each `calls` times; every result must be the same), destroy.
Predicted flavor_predict(const trellis::Model& model, const trellis::Table& input, int threads = 1, int calls = 1) {
    const trellis_flavor_descriptor* flavor = xgboost_plugin()->find_flavor("xgboost");
    REQUIRE(flavor != nullptr);
    trellis_context context;
    context.logger = trellis::core::logging::get("test");
    trellis_error error;
    trellis_predictor* predictor = nullptr;
    const auto model_bytes = trellis::serialize(model);
    Predicted out;
    out.status = flavor->load(trellis::core::host_api(), &context, model_bytes.data(), model_bytes.size(), &predictor, &error);
    if (out.status != TRELLIS_OK) {
        out.message = error.message;
        return out;
    }
    const auto table_bytes = trellis::serialize(input);
    std::vector<std::vector<uint8_t>> results(static_cast<size_t>(threads));
    std::vector<int32_t> statuses(static_cast<size_t>(threads), TRELLIS_OK);
    std::vector<std::string> messages(static_cast<size_t>(threads));
    std::atomic<int> mismatches{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            trellis_context thread_context;
            thread_context.logger = context.logger;
            for (int c = 0; c < calls; ++c) {
                trellis_buffer buffer;
                trellis_error thread_error;
                const int32_t status = flavor->predict(trellis::core::host_api(), &thread_context, predictor,
                                                       table_bytes.data(), table_bytes.size(), &buffer, &thread_error);
                if (status != TRELLIS_OK) {
                    statuses[t] = status;
                    messages[t] = thread_error.message;
                    return;
                }
                if (c == 0) results[t] = buffer.bytes;
                else if (buffer.bytes != results[t]) ++mismatches;
            }
        });
    for (auto& worker : workers) worker.join();
    flavor->destroy(predictor);
    CHECK(mismatches == 0);
    for (int t = 0; t < threads; ++t) {
        if (statuses[t] != TRELLIS_OK) {
            out.status = statuses[t];
            out.message = messages[t];
            return out;
        }
        CHECK(results[t] == results[0]);
    }
    out.table = trellis::deserialize_table(std::span<const uint8_t>(results[0].data(), results[0].size()));
    return out;
}

// Whether /usr/bin/python3 can import xgboost and numpy; tests that need it say they are skipped.
bool python_reference_available(std::string& why) {
    static const int status = std::system("/usr/bin/python3 -c 'import xgboost, numpy' >/dev/null 2>&1");
    if (status != 0) why = "/usr/bin/python3 cannot import xgboost and numpy (install python3-xgboost, python3-numpy)";
    return status == 0;
}

#define REQUIRE_PYTHON_REFERENCE()                                                                                 \
    do {                                                                                                           \
        std::string why_skipped;                                                                                   \
        if (!python_reference_available(why_skipped)) {                                                            \
            WARN("skipped: " << why_skipped);                                                                     \
            return;                                                                                                \
        }                                                                                                          \
    } while (false)

// Runs the python reference on `spec` and returns what it wrote.
json python_reference(const TempDir& dir, const json& spec) {
    const auto spec_path = dir.write("spec.json", spec.dump());
    const auto out_path = dir / "reference.json";
    const std::string command = "/usr/bin/python3 '" + reference_script + "' '" + spec_path.string() + "' '" +
                                out_path.string() + "' 2>'" + (dir / "reference.err").string() + "'";
    const int status = std::system(command.c_str());
    std::ifstream err(dir / "reference.err");
    std::stringstream err_text;
    err_text << err.rdbuf();
    INFO("python reference failed: " << err_text.str());
    REQUIRE(status == 0);
    std::ifstream in(out_path);
    return json::parse(in);
}

std::filesystem::path write_model(const TempDir& dir, const trellis::Model& model, const std::string& name) {
    const auto path = dir / name;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(model.bytes.data()), static_cast<std::streamsize>(model.bytes.size()));
    REQUIRE(out.flush());
    return path;
}

// Largest |column[i] - expected[i]|; the sizes must match.
double max_difference(const Column& column, const json& expected) {
    REQUIRE(expected.size() == column.size());
    double worst = 0;
    for (size_t i = 0; i < column.size(); ++i) worst = std::max(worst, std::abs(column.float_at(i) - expected[i].get<double>()));
    return worst;
}

// Largest difference of per-class column k against a reference of one list of K values per row.
double max_class_difference(const Column& column, const json& expected, size_t k) {
    REQUIRE(expected.size() == column.size());
    double worst = 0;
    for (size_t i = 0; i < column.size(); ++i)
        worst = std::max(worst, std::abs(column.float_at(i) - expected[i].at(k).get<double>()));
    return worst;
}

std::string message_of(const Trained& trained) { return trained.outcome.message; }

// The same hyperparameters in trellis's keys and python's, so both sides train the same model.
struct SameParams {
    json trellis;
    json python;
};

SameParams same_params(const std::string& objective, const std::string& tree_method, int rounds) {
    SameParams out;
    out.trellis = {{"objective", objective}, {"max_depth", 4}, {"learning_rate", 0.3}, {"subsample", 0.8},
                   {"colsample_bytree", 0.9}, {"lambda", 1.5}, {"alpha", 0.1}, {"min_child_weight", 1.0},
                   {"tree_method", tree_method}, {"nthread", 2}, {"seed", 7}, {"num_boost_round", rounds}};
    out.python = {{"objective", objective}, {"max_depth", 4}, {"eta", 0.3}, {"subsample", 0.8},
                  {"colsample_bytree", 0.9}, {"lambda", 1.5}, {"alpha", 0.1}, {"min_child_weight", 1.0},
                  {"tree_method", tree_method}, {"nthread", 2}, {"seed", 7}};
    return out;
}

} // namespace

TEST_CASE("train.xgboost: binary breast cancer matches python xgboost, and python loads the model") {
    REQUIRE_PYTHON_REFERENCE();
    const std::string csv = data_dir + "/breast_cancer.csv";
    const trellis::Table data = load_csv(csv);
    auto params = same_params("binary:logistic", "hist", 20);
    params.trellis["target"] = "malignant";
    const auto trained = train(data, params.trellis);
    INFO(message_of(trained));
    REQUIRE(trained.outcome.ok());
    CHECK(trained.model.flavor == "xgboost");
    REQUIRE(trained.model.signature.size() == 30);
    CHECK(trained.model.signature[0] == trellis::Field{"mean_radius", ColumnType::Float64});

    TempDir dir;
    const auto model_path = write_model(dir, trained.model, "model.json");
    const json reference = python_reference(dir, {{"csv", csv}, {"target", "malignant"}, {"params", params.python},
                                                  {"num_boost_round", 20}, {"trellis_model", model_path.string()}});
    const auto predicted = flavor_predict(trained.model, without(data, "malignant"));
    REQUIRE(predicted.message == "");
    CHECK(predicted.table.column_names() ==
          std::vector<std::string>{"probability", "probability:0", "probability:1", "prediction"});
    const Column& probability = predicted.table.column("probability");
    CHECK(max_difference(probability, reference.at("predictions")) <= parity);
    CHECK(max_difference(probability, reference.at("trellis_predictions")) <= parity);
    CHECK(max_difference(predicted.table.column("probability:1"), reference.at("predictions")) <= parity);
    for (size_t i = 0; i < probability.size(); ++i) {
        CHECK(predicted.table.column("prediction").int_at(i) == (probability.float_at(i) >= 0.5 ? 1 : 0));
        CHECK(predicted.table.column("probability:0").float_at(i) == Approx(1 - probability.float_at(i)).margin(1e-15));
    }
    // The metadata travels inside XGBoost's own model: python sees the feature names.
    std::vector<std::string> features = data.column_names();
    features.pop_back();
    CHECK(reference.at("trellis_feature_names") == json(features));
    CHECK(reference.at("trellis_attributes").at("trellis_class_labels") == "[\"0\",\"1\"]");

    // One train-logloss point per round, the very numbers python's evals_result holds.
    const auto curve = metric_curve(trained, "train-logloss");
    const auto& python_curve = reference.at("evals_result").at("train").at("logloss");
    REQUIRE(curve.size() == 20);
    REQUIRE(python_curve.size() == 20);
    for (size_t i = 0; i < curve.size(); ++i) CHECK(curve[i] == python_curve[i].get<double>());
    // Hyperparameters logged as params, defaults and resolved values included.
    CHECK(trained.params.at("objective") == "binary:logistic");
    CHECK(trained.params.at("max_depth") == 4);
    CHECK(trained.params.at("learning_rate") == 0.3);
    CHECK(trained.params.at("num_boost_round") == 20);
    CHECK(trained.params.at("tree_method") == "hist");
    CHECK(trained.params.at("rows") == 569);
    CHECK(trained.params.at("features") == 30);
    // Progress reached the end.
    CHECK(trained.progress_done == 20);
    CHECK(trained.progress_total == 20);
}

TEST_CASE("train.xgboost: multiclass wine matches python xgboost, labels mapped to classes") {
    REQUIRE_PYTHON_REFERENCE();
    const std::string csv = data_dir + "/wine.csv";
    const trellis::Table data = load_csv(csv);
    REQUIRE(data.column("cultivar").type() == ColumnType::Int64);
    auto params = same_params("multi:softprob", "exact", 15);
    params.trellis["target"] = "cultivar";
    params.python["num_class"] = 3;
    const auto trained = train(data, params.trellis);
    INFO(message_of(trained));
    REQUIRE(trained.outcome.ok());
    CHECK(trained.params.at("num_class") == 3);

    TempDir dir;
    // No .json extension: python's Booster(model_file=...) recognises XGBoost's JSON by content.
    const auto model_path = write_model(dir, trained.model, "model");
    const json reference = python_reference(dir, {{"csv", csv}, {"target", "cultivar"}, {"params", params.python},
                                                  {"num_boost_round", 15}, {"trellis_model", model_path.string()}});
    const auto predicted = flavor_predict(trained.model, without(data, "cultivar"));
    REQUIRE(predicted.message == "");
    CHECK(predicted.table.column_names() ==
          std::vector<std::string>{"probability:0", "probability:1", "probability:2", "prediction"});
    for (size_t k = 0; k < 3; ++k) {
        const Column& column = predicted.table.column("probability:" + std::to_string(k));
        CHECK(max_class_difference(column, reference.at("predictions"), k) <= parity);
        CHECK(max_class_difference(column, reference.at("trellis_predictions"), k) <= parity);
    }
    const Column& prediction = predicted.table.column("prediction");
    REQUIRE(prediction.type() == ColumnType::Int64);
    size_t right = 0;
    for (size_t i = 0; i < prediction.size(); ++i) right += prediction.int_at(i) == data.column("cultivar").int_at(i);
    CHECK(right > 170); // training rows: nearly all right
    CHECK(metric_curve(trained, "train-mlogloss").size() == 15);
}

TEST_CASE("train.xgboost: string labels (iris) become classes in label order, predictions are labels") {
    REQUIRE_PYTHON_REFERENCE();
    const std::string csv = data_dir + "/iris.csv";
    const trellis::Table data = load_csv(csv);
    auto params = same_params("multi:softprob", "hist", 10);
    params.trellis["target"] = "species";
    params.python["num_class"] = 3;
    const auto trained = train(data, params.trellis);
    INFO(message_of(trained));
    REQUIRE(trained.outcome.ok());
    TempDir dir;
    const json reference = python_reference(dir, {{"csv", csv}, {"target", "species"}, {"params", params.python},
                                                  {"num_boost_round", 10}});
    const auto predicted = flavor_predict(trained.model, without(data, "species"));
    REQUIRE(predicted.message == "");
    const std::vector<std::string> labels{"setosa", "versicolor", "virginica"};
    for (size_t k = 0; k < 3; ++k)
        CHECK(max_class_difference(predicted.table.column("probability:" + labels[k]), reference.at("predictions"), k) <= parity);
    const Column& prediction = predicted.table.column("prediction");
    REQUIRE(prediction.type() == ColumnType::String);
    CHECK(prediction.string_at(0) == "setosa");
    CHECK(prediction.string_at(149) == "virginica");

    // objective auto picks multi:softprob for a string target of three classes.
    const auto automatic = train(data, {{"target", "species"}, {"num_boost_round", 3}});
    REQUIRE(automatic.outcome.ok());
    CHECK(automatic.params.at("objective") == "multi:softprob");
}

TEST_CASE("train.xgboost: regression and passthrough objectives match python xgboost") {
    REQUIRE_PYTHON_REFERENCE();
    const std::string csv = data_dir + "/wine.csv";
    const trellis::Table data = load_csv(csv);
    for (const std::string objective : {"reg:squarederror", "reg:absoluteerror", "count:poisson"}) {
        DYNAMIC_SECTION(objective) {
            // magnesium is a positive count-like value, so every objective here can model it.
            auto params = same_params(objective, "approx", 12);
            params.trellis["target"] = "magnesium";
            params.trellis["features"] = {"alcohol", "malic_acid", "ash", "color_intensity", "hue", "proline"};
            const auto trained = train(data, params.trellis);
            INFO(message_of(trained));
            REQUIRE(trained.outcome.ok());
            CHECK(trained.model.signature.size() == 6);
            TempDir dir;
            const auto model_path = write_model(dir, trained.model, "model.json");
            const json reference =
                python_reference(dir, {{"csv", csv}, {"target", "magnesium"}, {"features", params.trellis["features"]},
                                       {"params", params.python}, {"num_boost_round", 12},
                                       {"trellis_model", model_path.string()}});
            const auto predicted = flavor_predict(trained.model, data);
            REQUIRE(predicted.message == "");
            CHECK(predicted.table.column_names() == std::vector<std::string>{"prediction"});
            CHECK(max_difference(predicted.table.column("prediction"), reference.at("predictions")) <= parity);
            CHECK(max_difference(predicted.table.column("prediction"), reference.at("trellis_predictions")) <= parity);
            CHECK(trained.params.at("objective") == objective);
        }
    }
}

TEST_CASE("train.xgboost: early stopping keeps python's model and best_iteration") {
    REQUIRE_PYTHON_REFERENCE();
    const std::string csv = data_dir + "/breast_cancer.csv";
    const trellis::Table data = load_csv(csv);
    // Every 4th row validates (the reference's valid_every = 4).
    const trellis::Table train_rows = select_rows(data, [](size_t r) { return r % 4 != 0; });
    const trellis::Table valid_rows = select_rows(data, [](size_t r) { return r % 4 == 0; });
    for (const std::string metric : {"logloss", "auc"}) {
        DYNAMIC_SECTION(metric) {
            auto params = same_params("binary:logistic", "hist", 300);
            params.trellis["target"] = "malignant";
            params.trellis["early_stopping_rounds"] = 5;
            params.trellis["eval_metric"] = metric;
            params.python["eval_metric"] = metric;
            const auto trained = train(train_rows, params.trellis, &valid_rows);
            INFO(message_of(trained));
            REQUIRE(trained.outcome.ok());
            TempDir dir;
            const auto model_path = write_model(dir, trained.model, "model.json");
            const json reference = python_reference(
                dir, {{"csv", csv}, {"target", "malignant"}, {"params", params.python}, {"num_boost_round", 300},
                      {"valid_every", 4}, {"early_stopping_rounds", 5}, {"trellis_model", model_path.string()}});
            const auto attributes = model_json(trained.model).at("learner").at("attributes");
            INFO(attributes.dump());
            const int best = reference.at("best_iteration").get<int>();
            CHECK(attributes.at("best_iteration") == std::to_string(best));
            CHECK(attributes.at("best_score") == reference.at("best_score"));
            // The kept model has every round trained, as python's has.
            const int rounds = reference.at("num_boosted_rounds").get<int>();
            CHECK(rounds < 300);
            CHECK(model_json(trained.model).at("learner").at("gradient_booster").at("model").at("gbtree_model_param")
                      .at("num_trees") == std::to_string(rounds));
            const auto valid_curve = metric_curve(trained, "valid-" + metric);
            CHECK(valid_curve.size() == static_cast<size_t>(rounds));
            const auto& python_curve = reference.at("evals_result").at("valid").at(metric);
            REQUIRE(python_curve.size() == valid_curve.size());
            for (size_t i = 0; i < valid_curve.size(); ++i) CHECK(valid_curve[i] == python_curve[i].get<double>());
            CHECK(metric_curve(trained, "train-" + metric).size() == static_cast<size_t>(rounds));
            bool logged_best = false;
            for (const auto& point : trained.metrics)
                if (point.name == "best_iteration") logged_best = point.value == best;
            CHECK(logged_best);
            // Predictions use the rounds up to the best one, as python's iteration_range does.
            const auto predicted = flavor_predict(trained.model, without(data, "malignant"));
            REQUIRE(predicted.message == "");
            CHECK(max_difference(predicted.table.column("probability"), reference.at("predictions")) <= parity);
            CHECK(max_difference(predicted.table.column("probability"), reference.at("trellis_predictions")) <= parity);
        }
    }
}

TEST_CASE("train.xgboost: null features are XGBoost's missing values, as NaN is in python") {
    REQUIRE_PYTHON_REFERENCE();
    // breast_cancer.csv with cells blanked in two columns.
    std::ifstream in(data_dir + "/breast_cancer.csv");
    std::string line, text;
    for (size_t row = 0; std::getline(in, line); ++row) {
        if (row > 0 && (row % 7 == 0 || row % 11 == 0)) {
            std::vector<std::string> cells;
            std::stringstream fields(line);
            for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
            if (row % 7 == 0) cells[0] = "";
            if (row % 11 == 0) cells[7] = "";
            line.clear();
            for (size_t i = 0; i < cells.size(); ++i) line += (i ? "," : "") + cells[i];
        }
        text += line + "\n";
    }
    TempDir dir;
    const auto csv = dir.write("with_missing.csv", text).string();
    const trellis::Table data = load_csv(csv);
    REQUIRE(data.column("mean_radius").null_count() > 50);
    auto params = same_params("binary:logistic", "exact", 10);
    params.trellis["target"] = "malignant";
    const auto trained = train(data, params.trellis);
    INFO(message_of(trained));
    REQUIRE(trained.outcome.ok());
    const json reference =
        python_reference(dir, {{"csv", csv}, {"target", "malignant"}, {"params", params.python}, {"num_boost_round", 10}});
    const auto predicted = flavor_predict(trained.model, data);
    REQUIRE(predicted.message == "");
    CHECK(max_difference(predicted.table.column("probability"), reference.at("predictions")) <= parity);
}

TEST_CASE("train.xgboost: the same data and config give the same model bytes") {
    const trellis::Table data = load_csv(data_dir + "/breast_cancer.csv");
    const json config{{"target", "malignant"}, {"num_boost_round", 5}, {"subsample", 0.7}, {"seed", 3}};
    const auto a = train(data, config);
    const auto b = train(data, config);
    REQUIRE(a.outcome.ok());
    REQUIRE(b.outcome.ok());
    CHECK(a.model == b.model);
    // Defaults: objective auto resolves to binary:logistic for 0/1 labels, 10 rounds by default.
    CHECK(a.params.at("objective") == "binary:logistic");
    const auto defaults = train(data, {{"target", "malignant"}});
    REQUIRE(defaults.outcome.ok());
    CHECK(metric_curve(defaults, "train-logloss").size() == 10);
    CHECK(defaults.params.at("max_depth") == 6);
    CHECK(defaults.params.at("learning_rate") == 0.3);
    CHECK(defaults.params.at("nthread") == 0);
}

TEST_CASE("train.xgboost: the flavor predicts from several threads at once") {
    const trellis::Table data = load_csv(data_dir + "/wine.csv");
    const auto trained = train(data, {{"target", "cultivar"}, {"objective", "multi:softprob"}, {"num_boost_round", 20}});
    REQUIRE(trained.outcome.ok());
    const auto once = flavor_predict(trained.model, data);
    REQUIRE(once.message == "");
    const auto concurrent = flavor_predict(trained.model, data, 4, 25);
    REQUIRE(concurrent.message == "");
    CHECK(concurrent.table == once.table);
    // No rows in, no rows out.
    const auto empty = flavor_predict(trained.model, select_rows(data, [](size_t) { return false; }));
    REQUIRE(empty.message == "");
    CHECK(empty.table.num_rows() == 0);
    CHECK(empty.table.column_names().size() == 4);
}

TEST_CASE("train.xgboost: bad input is a one-line error naming the stage and what is at fault") {
    const trellis::Table data = load_csv(data_dir + "/breast_cancer.csv");
    const auto expect_error = [](const Trained& trained, const std::string& part) {
        INFO(trained.outcome.message);
        CHECK_FALSE(trained.outcome.ok());
        CHECK(trained.outcome.message.rfind("train.xgboost: ", 0) == 0);
        CHECK(trained.outcome.message.find('\n') == std::string::npos);
        CHECK_THAT(trained.outcome.message, Catch::Contains(part));
    };
    auto with_text = data;
    Column species("colour", ColumnType::String);
    for (size_t i = 0; i < data.num_rows(); ++i) species.append_string(i % 2 ? "red" : "blue");
    with_text.add_column(std::move(species));
    auto failed = train(with_text, {{"target", "malignant"}});
    expect_error(failed, "feature column 'colour' is a string column");
    CHECK(failed.outcome.status == TRELLIS_ERR_INVALID);

    const trellis::Table one_class = select_rows(data, [&](size_t r) { return data.column("malignant").int_at(r) == 1; });
    expect_error(train(one_class, {{"target", "malignant"}, {"objective", "binary:logistic"}}),
                 "target column 'malignant' holds a single class ('1')");
    expect_error(train(one_class, {{"target", "malignant"}}), "single class");

    expect_error(train(data, {{"target", "diagnosis"}}), "input 'train' has no target column 'diagnosis'");
    expect_error(train(data, {{"target", "malignant"}, {"features", {"mean_radius", "nope"}}}),
                 "has no feature column 'nope'");
    expect_error(train(data, {{"target", "malignant"}, {"features", {"malignant"}}}), "'malignant' is the target");
    expect_error(train(data, {{"target", "mean_radius"}, {"objective", "binary:logistic"}}),
                 "target column 'mean_radius' holds floats");
    const trellis::Table wine = load_csv(data_dir + "/wine.csv");
    expect_error(train(wine, {{"target", "cultivar"}, {"objective", "binary:logistic"}}),
                 "holds 3 classes ('0', '1', '2'); objective binary:logistic needs exactly two");
    expect_error(train(data, {{"target", "malignant"}, {"early_stopping_rounds", 3}}),
                 "early_stopping_rounds needs the optional input 'valid'");
    expect_error(train(data, {{"target", "malignant"}, {"params", {{"max_depth", 3}}}}),
                 "params.max_depth: this parameter has its own config key");
    expect_error(train(data, {{"target", "malignant"}, {"params", {{"num_class", 3}}}}), "params.num_class");
    expect_error(train(data, {{"target", "malignant"}, {"params", json::array({1, 2})}}), "params must be a table");
    expect_error(train(data, {{"target", "malignant"}, {"tree_method", "fast"}}), "tree_method must be");
    expect_error(train(data, {{"target", "malignant"}, {"subsample", 0.0}}), "subsample must be in (0, 1]");
    expect_error(train(data, {{"target", "malignant"}, {"rounds", 3}, {"num_boost_round", 4}}),
                 "'rounds' is another name for 'num_boost_round'");
    expect_error(train(data, {{"target", "malignant"}, {"eval_metric", 3}}), "eval_metric must be a metric name");
    // XGBoost's own complaint, cut to one line.
    failed = train(data, {{"target", "mean_radius"}, {"objective", "reg:nonsense"}});
    expect_error(failed, "Unknown objective function");
    CHECK(failed.outcome.status == TRELLIS_ERR_INVALID);

    // A class in the validation rows that training never saw.
    const trellis::Table wine_train = select_rows(wine, [&](size_t r) { return wine.column("cultivar").int_at(r) != 2; });
    expect_error(train(wine_train, {{"target", "cultivar"}}, &wine),
                 "input 'valid': target column 'cultivar' holds class '2' in row");

    // A feature that is infinite.
    auto infinite = table_of({floats("x", {1, 2, INFINITY, 4}), ints("y", {0, 1, 0, 1})});
    expect_error(train(infinite, {{"target", "y"}}), "column 'x' is infinite in row 3");
}

TEST_CASE("train.xgboost: the flavor refuses tables without the model's features") {
    const trellis::Table data = load_csv(data_dir + "/breast_cancer.csv");
    const auto trained = train(data, {{"target", "malignant"}, {"num_boost_round", 2}});
    REQUIRE(trained.outcome.ok());
    auto missing = flavor_predict(trained.model, without(data, "mean_area"));
    CHECK(missing.status == TRELLIS_ERR_INVALID);
    CHECK_THAT(missing.message, Catch::Contains("no feature column 'mean_area'"));
    trellis::Model mangled = trained.model;
    mangled.signature.pop_back();
    missing = flavor_predict(mangled, data);
    CHECK_THAT(missing.message, Catch::Contains("the signature does not list the model's 30 features"));
    mangled = trained.model;
    mangled.bytes.assign({'{', 'x'});
    missing = flavor_predict(mangled, data);
    CHECK(missing.status != TRELLIS_OK);
    CHECK(missing.message.find('\n') == std::string::npos);
}

TEST_CASE("train.xgboost: training stops promptly when the run is cancelled") {
    const trellis::Table data = load_csv(data_dir + "/breast_cancer.csv");
    const auto before_start = train(data, {{"target", "malignant"}}, nullptr, [](StageRun& run) { run.cancelled = true; });
    CHECK(before_start.outcome.status == TRELLIS_ERR_CANCELLED);

    // Far more rounds than could finish: only the per-round check ends it.
    std::thread canceller;
    const auto start = std::chrono::steady_clock::now();
    const auto midway = train(data, {{"target", "malignant"}, {"num_boost_round", 1000000}}, nullptr, [&](StageRun& run) {
        canceller = std::thread([&run] {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            run.cancelled = true;
        });
    });
    canceller.join();
    CHECK(midway.outcome.status == TRELLIS_ERR_CANCELLED);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
    CHECK(metric_curve(midway, "train-logloss").size() > 0);
}
