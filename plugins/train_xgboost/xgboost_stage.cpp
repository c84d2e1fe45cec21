// train.xgboost: gradient-boosted trees trained through XGBoost's C API the way python's
// xgboost.train(params, dtrain, num_boost_round, evals=[(dtrain, "train"), (dvalid, "valid")],
// early_stopping_rounds=N) trains them, producing an "xgboost" Model served by XGBoostFlavor.
#include "dense_matrix.hpp"
#include "early_stopping.hpp"
#include "number_text.hpp"
#include "target_labels.hpp"
#include "training_params.hpp"
#include "xgboost_api.hpp"
#include "xgboost_flavor.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using trellis::Column;
using trellis_xgboost::BoosterParam;
using trellis_xgboost::ClassEncoding;
using trellis_xgboost::DMatrix;
using trellis_xgboost::XGBoostError;
using trellis_xgboost::check;

constexpr const char* stage_name = "train.xgboost";

// One table ready for XGBoost: its DMatrix (labels and feature names set) and its row count.
struct PreparedTable {
    DMatrix matrix;
    size_t rows = 0;
};

// Builds a DMatrix from the dense float32 copy of the features, as python's DMatrix(numpy array)
// does; the copy is freed as soon as XGBoost has taken the data in.
PreparedTable prepare(const trellis::Table& table, const std::vector<std::string>& features,
                      const std::vector<float>& labels, int64_t nthread, const std::string& input) {
    PreparedTable out;
    out.rows = table.num_rows();
    {
        const trellis_xgboost::DenseMatrix dense = trellis_xgboost::dense_features(table, features, input);
        DMatrixHandle handle = nullptr;
        const std::string config = "{\"missing\":NaN,\"nthread\":" + std::to_string(nthread) + "}";
        check(XGDMatrixCreateFromDense(dense.array_interface().c_str(), config.c_str(), &handle),
              "reading " + input + " into XGBoost");
        out.matrix = DMatrix(handle);
    }
    check(XGDMatrixSetFloatInfo(out.matrix.get(), "label", labels.data(), labels.size()), "setting the labels of " + input);
    std::vector<const char*> names;
    for (const std::string& name : features) names.push_back(name.c_str());
    check(XGDMatrixSetStrFeatureInfo(out.matrix.get(), "feature_name", names.data(), names.size()),
          "setting the feature names of " + input);
    return out;
}

// Trains gradient-boosted trees; a train stage so that pipelines get XGBoost models that evaluate,
// gate, export and serve through the same built-in stages as any other.
class XGBoostTrainer : public trellis::TrainStage {
public:
    // Declares the ports and keys so the host validates config before run() and documents the stage.
    static trellis::StageSpec spec() {
        trellis::StageSpec spec(stage_name, "gradient-boosted trees with XGBoost (classification, regression, any objective)");
        spec.input("train", trellis::ArtifactType::Table, "training rows: the target and numeric features")
            .optional_input("valid", trellis::ArtifactType::Table,
                            "validation rows, evaluated each round and used for early stopping")
            .output("model", trellis::ArtifactType::Model, "a model of flavor \"xgboost\" (XGBoost's JSON model)")
            .required("target", trellis::ValueType::String, "column to predict")
            .option_string_list("features", {}, "feature columns; empty: every column but the target")
            .option_string("objective", "auto",
                           "XGBoost objective (binary:logistic, multi:softprob, reg:squarederror, ...) or auto");
        trellis_xgboost::declare_training_keys(spec);
        return spec;
    }

    // Every failure names the stage: the message is all a pipeline author sees of it.
    void run(trellis::Context& ctx) override {
        const std::string prefix = std::string(stage_name) + ": ";
        try {
            train(ctx);
        } catch (const trellis::Cancelled&) {
            throw;
        } catch (const trellis::Error& e) {
            throw trellis::Error(e.code(), prefix + e.what());
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(prefix + e.what());
        } catch (const std::exception& e) {
            throw std::runtime_error(prefix + e.what());
        }
    }

private:
    static void train(trellis::Context& ctx) {
        const trellis_xgboost::LogRoute route(ctx.log());
        const trellis_xgboost::TrainingParams params = trellis_xgboost::read_training_params(ctx);
        const trellis::Table train_table = ctx.input<trellis::Table>("train");
        const bool has_valid = ctx.has_input("valid");
        std::optional<trellis::Table> valid_table;
        if (has_valid) valid_table = ctx.input<trellis::Table>("valid");
        if (params.early_stopping_rounds && !has_valid)
            throw std::invalid_argument("early_stopping_rounds needs the optional input 'valid' (the rows it watches)");

        const std::string target = ctx.config<std::string>("target");
        const Column& train_target = target_column(train_table, target, "input 'train'");
        const std::vector<std::string> features = feature_names(ctx, train_table, target);
        if (train_table.num_rows() == 0) throw std::invalid_argument("input 'train' has no rows");

        const std::string objective = trellis_xgboost::resolve_objective(ctx.config<std::string>("objective"), train_target, ctx.log());
        std::optional<ClassEncoding> classes;
        std::vector<float> train_labels;
        if (trellis_xgboost::is_classification(objective)) {
            classes = trellis_xgboost::encode_classes(train_target, objective);
            train_labels = trellis_xgboost::class_indices(train_target, *classes, "input 'train'");
        } else {
            train_labels = trellis_xgboost::value_labels(train_target, objective, "input 'train'");
        }
        std::vector<PreparedTable> sets;
        sets.push_back(prepare(train_table, features, train_labels, params.nthread, "input 'train'"));
        if (valid_table) {
            const Column& valid_target = target_column(*valid_table, target, "input 'valid'");
            const std::vector<float> valid_labels =
                classes ? trellis_xgboost::class_indices(valid_target, *classes, "input 'valid'")
                        : trellis_xgboost::value_labels(valid_target, objective, "input 'valid'");
            if (valid_table->num_rows() == 0) throw std::invalid_argument("input 'valid' has no rows");
            sets.push_back(prepare(*valid_table, features, valid_labels, params.nthread, "input 'valid'"));
        }

        ctx.log_param("objective", objective);
        if (classes && objective.rfind("multi:", 0) == 0) ctx.log_param("num_class", static_cast<int64_t>(classes->labels.size()));
        ctx.log_param("features", static_cast<int64_t>(features.size()));
        ctx.log_param("rows", static_cast<int64_t>(sets[0].rows));
        if (valid_table) ctx.log_param("valid_rows", static_cast<int64_t>(sets[1].rows));

        std::vector<DMatrixHandle> handles;
        for (const PreparedTable& set : sets) handles.push_back(set.matrix.get());
        trellis_xgboost::Booster booster(handles.data(), handles.size());
        configure(booster, features, objective, classes, params);

        ctx.log().info("training " + std::to_string(params.rounds) + " rounds of " + objective + " on " +
                       std::to_string(sets[0].rows) + " rows x " + std::to_string(features.size()) + " features" +
                       (valid_table ? ", validating on " + std::to_string(sets[1].rows) + " rows" : std::string()));
        const std::optional<trellis_xgboost::EarlyStopping> stopped = boost(ctx, booster, handles, params);

        if (stopped) {
            // The attributes python's EarlyStopping callback sets, in its text form.
            booster.set_attr("best_iteration", std::to_string(stopped->best_iteration()));
            booster.set_attr("best_score", trellis_xgboost::python_float_text(stopped->best_score()));
            ctx.log_metric("best_iteration", static_cast<double>(stopped->best_iteration()));
            ctx.log_metric("best_score", stopped->best_score());
        }
        if (classes) trellis_xgboost::store_class_labels(booster, *classes);

        trellis::Model model;
        model.flavor = trellis_xgboost::XGBoostFlavor::spec().name;
        for (const std::string& name : features) model.signature.push_back({name, train_table.column(name).type()});
        model.bytes = trellis_xgboost::save_model_json(booster);
        ctx.output("model", model);
    }

    static const Column& target_column(const trellis::Table& table, const std::string& target, const std::string& input) {
        const Column* column = table.find(target);
        if (!column)
            throw std::invalid_argument(input + " has no target column '" + target + "' (columns: " +
                                        trellis::column_list(table) + ")");
        return *column;
    }

    // The configured features, or every column but the target (string columns are then an error
    // naming them, from dense_features: XGBoost needs numbers, and dropping a column silently
    // would train on less than the author thinks).
    static std::vector<std::string> feature_names(const trellis::Context& ctx, const trellis::Table& table,
                                                  const std::string& target) {
        std::vector<std::string> names = ctx.config<std::vector<std::string>>("features");
        if (names.empty()) {
            for (const Column& column : table.columns())
                if (column.name() != target) names.push_back(column.name());
            if (names.empty()) throw std::invalid_argument("features: input 'train' has no column besides the target");
            return names;
        }
        std::set<std::string> seen;
        for (const std::string& name : names) {
            if (name == target) throw std::invalid_argument("features: '" + name + "' is the target");
            if (!seen.insert(name).second) throw std::invalid_argument("features: '" + name + "' is listed twice");
        }
        return names;
    }

    // Sets what python's Booster(params, cache) sets: feature names from the training matrix, the
    // parameters one by one (eval_metric once per metric, in order), then validate_parameters.
    static void configure(trellis_xgboost::Booster& booster, const std::vector<std::string>& features,
                          const std::string& objective, const std::optional<ClassEncoding>& classes,
                          const trellis_xgboost::TrainingParams& params) {
        std::vector<const char*> names;
        for (const std::string& name : features) names.push_back(name.c_str());
        check(XGBoosterSetStrFeatureInfo(booster.get(), "feature_name", names.data(), names.size()),
              "setting the booster's feature names");
        // XGBoost checks parameters when training starts; a bad one is the pipeline's to fix.
        try {
            booster.set_param("objective", objective);
            if (classes && objective.rfind("multi:", 0) == 0)
                booster.set_param("num_class", std::to_string(classes->labels.size()));
            for (const BoosterParam& param : params.booster) booster.set_param(param.key, param.value);
            for (const std::string& metric : params.eval_metrics) booster.set_param("eval_metric", metric);
            booster.set_param("validate_parameters", "1");
        } catch (const XGBoostError& e) {
            throw std::invalid_argument(e.what());
        }
    }

    // The boosting loop with python's evaluation and early stopping; returns the early stopping
    // state when it was on. Logs every round's scores as step metrics and progress as it goes.
    static std::optional<trellis_xgboost::EarlyStopping> boost(trellis::Context& ctx, trellis_xgboost::Booster& booster,
                                                                std::vector<DMatrixHandle>& handles,
                                                                const trellis_xgboost::TrainingParams& params) {
        std::optional<trellis_xgboost::EarlyStopping> stopping;
        if (params.early_stopping_rounds) stopping.emplace(*params.early_stopping_rounds);
        const char* set_names[] = {"train", "valid"};
        using Clock = std::chrono::steady_clock;
        auto last_line = Clock::now();
        const int64_t line_every = std::max<int64_t>(1, params.rounds / 10);
        for (int64_t round = 0; round < params.rounds; ++round) {
            ctx.throw_if_cancelled();
            const int iteration = static_cast<int>(round);
            const int status = XGBoosterUpdateOneIter(booster.get(), iteration, handles[0]);
            if (status != 0) {
                // The first round is where XGBoost reads the parameters: an error there is the
                // config's (an unknown objective, a bad parameter value).
                try {
                    check(status, round == 0 ? std::string("training round 0 (where XGBoost checks the parameters)")
                                             : "training round " + std::to_string(round));
                } catch (const XGBoostError& e) {
                    if (round == 0) throw std::invalid_argument(e.what());
                    throw;
                }
            }
            const char* text = nullptr;
            check(XGBoosterEvalOneIter(booster.get(), iteration, handles.data(), set_names, handles.size(), &text),
                  "evaluating round " + std::to_string(round));
            const std::vector<trellis_xgboost::EvalScore> scores = trellis_xgboost::parse_eval_text(text ? text : "");
            for (const auto& score : scores) ctx.log_metric(score.name, score.value, round);

            bool stop = false;
            if (stopping && !scores.empty()) {
                // python: the last metric of the last evaluation set ("valid").
                const auto& watched = scores.back();
                const size_t dash = watched.name.find('-');
                stop = stopping->update(round, dash == std::string::npos ? watched.name : watched.name.substr(dash + 1),
                                        watched.value);
            }
            const bool last = stop || round + 1 == params.rounds;
            // The status line on a terminal (API 1.3); the log lines below for logs and older hosts.
            ctx.progress(static_cast<double>(round + 1), static_cast<double>(params.rounds));
            if (last || (round + 1) % line_every == 0 || Clock::now() - last_line >= std::chrono::seconds(5)) {
                std::string line = "round " + std::to_string(round + 1) + "/" + std::to_string(params.rounds);
                for (const auto& score : scores) line += " " + score.name + "=" + trellis_xgboost::python_float_text(score.value);
                ctx.log().info(line);
                last_line = Clock::now();
            }
            if (stop) {
                ctx.log().info("early stopping after round " + std::to_string(round + 1) + ": best iteration " +
                               std::to_string(stopping->best_iteration()) + " (" + scores.back().name + "=" +
                               trellis_xgboost::python_float_text(stopping->best_score()) + "), no improvement for " +
                               std::to_string(*params.early_stopping_rounds) + " rounds");
                break;
            }
        }
        return stopping;
    }
};

const trellis::PluginInfo info{
    .name = "train-xgboost",
    .version = "0.1.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "gradient-boosted trees with XGBoost, and the \"xgboost\" model flavor",
};

} // namespace

TRELLIS_PLUGIN(info, XGBoostTrainer, trellis_xgboost::XGBoostFlavor)
