// train.evaluate: scores any model on a labelled table through the host's model_predict, so one
// evaluation stage serves every flavor, and reports classification (binary or any number of
// classes) or regression metrics, with a confusion matrix for classifiers.
#include "performance_stage.hpp"
#include "prediction_scores.hpp"

#include <trellis/sdk.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace {

using trellis::Column;
using trellis::ColumnType;

// Measures a model on held-out data; a stage so that the numbers land in the run's metrics and the
// model's lineage rather than in ad-hoc scripts.
class Evaluator : public trellis::TrainStage {
public:
    // Declares the ports and keys so the host validates config before run() and documents the stage.
    static trellis::StageSpec spec() {
        return trellis::StageSpec("train.evaluate", "computes a model's metrics on a labelled table")
            .input("model", trellis::ArtifactType::Model, "the model to evaluate, of any installed flavor")
            .input("data", trellis::ArtifactType::Table, "rows with the model's features and the true target")
            .output("metrics", trellis::ArtifactType::Metrics, "classification or regression metrics")
            .output("report", trellis::ArtifactType::Report,
                    "JSON: the metrics and, for classifiers, the confusion matrix (rows = true class) and per-class scores")
            .required("target", trellis::ValueType::String, "column of `data` holding the true values")
            .option_string("task", "auto", "classification, regression, or auto (classification when the "
                                           "predictions have probability:<label> columns or a probability column)")
            .option_float("threshold", 0.5, "binary classifiers: predict the positive class when its probability >= threshold");
    }

    // Predicts through the host (any flavor), then computes the metrics the task calls for.
    void run(trellis::Context& ctx) override {
        const std::string target = ctx.config<std::string>("target");
        const std::string task_config = ctx.config<std::string>("task");
        if (task_config != "auto" && task_config != "classification" && task_config != "regression")
            throw std::invalid_argument("task must be classification, regression or auto, not '" + task_config + "'");
        const double threshold = ctx.config<double>("threshold");
        if (!(threshold >= 0.0 && threshold <= 1.0))
            throw std::invalid_argument("threshold must be between 0 and 1, not " + std::to_string(threshold));

        const trellis::Model model = ctx.input<trellis::Model>("model");
        const trellis::Table data = ctx.input<trellis::Table>("data");
        const Column* target_column = data.find(target);
        if (!target_column) throw std::invalid_argument("target: no column '" + target + "' in input 'data' (columns: " +
                                                             trellis::column_list(data) + ")");
        if (data.num_rows() == 0) throw std::invalid_argument("input 'data' has no rows to evaluate on");

        // The model sees the features only: a flavor must not be able to peek at the answer.
        trellis::Table features;
        for (const Column& column : data.columns())
            if (column.name() != target) features.add_column(column);
        const trellis::Table predictions = ctx.predict(model, features);
        if (predictions.num_rows() != data.num_rows())
            throw std::runtime_error("flavor '" + model.flavor + "' returned " + std::to_string(predictions.num_rows()) +
                                     " predictions for " + std::to_string(data.num_rows()) + " rows");

        const trellis_evaluate::Warn warn = [&](const std::string& message) { ctx.log().warn("target '" + target + "': " + message); };
        trellis_evaluate::ScoredPredictions scored =
            trellis_evaluate::score_predictions(predictions, *target_column, task_config, threshold, warn);
        if (scored.classes > 2 && ctx.config_is_set("threshold"))
            ctx.log().warn("threshold applies to two classes only; " + std::to_string(scored.classes) +
                           " classes are decided by the most probable one");
        const std::string& task = scored.task;
        const std::string& kind = scored.kind;
        trellis_evaluate::Scores& scores = scored.scores;
        trellis::Metrics& metrics = scores.metrics;
        metrics.values["count"] = static_cast<double>(data.num_rows());
        for (const auto& [name, value] : metrics.values) ctx.log_metric(name, value);
        ctx.log().info(task + " metrics of a '" + model.flavor + "' model on " + std::to_string(data.num_rows()) + " rows" +
                       (kind == "classes" ? " over " + std::to_string(scored.classes) + " classes" : ""));
        ctx.output("metrics", metrics);
        ctx.output("report", trellis::Report{report_json(task, kind, target, model.flavor, scores)});
    }

private:
    // The report: what was evaluated, the metrics, and the kind's own members (confusion matrix).
    static std::string report_json(const std::string& task, const std::string& kind, const std::string& target,
                                   const std::string& flavor, const trellis_evaluate::Scores& scores) {
        std::string metrics;
        for (const auto& [name, value] : scores.metrics.values)
            metrics += (metrics.empty() ? "" : ",") + trellis::json_string(name) + ":" + trellis::json_number(value);
        return "{\"task\":" + trellis::json_string(task) + ",\"predictions\":" + trellis::json_string(kind) +
               ",\"target\":" + trellis::json_string(target) + ",\"flavor\":" + trellis::json_string(flavor) +
               ",\"count\":" + trellis::json_number(scores.metrics.values.at("count")) + ",\"metrics\":{" + metrics + "}" +
               (scores.report_members.empty() ? "" : "," + scores.report_members) + "}";
    }
};

const trellis::PluginInfo info{
    .name = "train-evaluate",
    .version = "0.1.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "evaluates models of any flavor on labelled tables, and served predictions on their delayed labels",
};

} // namespace

TRELLIS_PLUGIN(info, Evaluator, trellis_evaluate::Performance)
