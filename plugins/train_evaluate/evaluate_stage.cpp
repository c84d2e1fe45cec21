// train.evaluate: scores any model on a labelled table through the host's model_predict, so one
// evaluation stage serves every flavor, and reports classification (binary or any number of
// classes) or regression metrics, with a confusion matrix for classifiers.
#include "scores.hpp"

#include <trellis/sdk.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace {

using trellis::Column;
using trellis::ColumnType;

// A numeric value of a column; int, float and bool targets and predictions are all compared as numbers.
double number_at(const Column& column, size_t row) {
    switch (column.type()) {
    case ColumnType::Int64: return static_cast<double>(column.int_at(row));
    case ColumnType::Float64: return column.float_at(row);
    case ColumnType::Bool: return column.bool_at(row) ? 1.0 : 0.0;
    case ColumnType::String: break;
    }
    return 0.0;
}

// Reads a whole column as finite numbers, naming the first bad row, because a metric computed
// over a null or NaN would silently be NaN.
std::vector<double> numbers(const Column& column, const std::string& where) {
    if (column.type() == ColumnType::String)
        throw std::invalid_argument(where + " column '" + column.name() + "' is a string column; it must be numeric");
    std::vector<double> out(column.size());
    for (size_t i = 0; i < column.size(); ++i) {
        if (column.is_null(i))
            throw std::invalid_argument(where + " column '" + column.name() + "' is null at row " + std::to_string(i));
        out[i] = number_at(column, i);
        if (!std::isfinite(out[i]))
            throw std::invalid_argument(where + " column '" + column.name() + "' is not finite at row " + std::to_string(i));
    }
    return out;
}

// The target's class labels as text, one per row: ints and bools as numbers, strings as they are,
// and 0/1 floats as "0"/"1" (the classic binary target); any other float is not a class label.
std::vector<std::string> truth_labels(const Column& target) {
    std::vector<std::string> out(target.size());
    for (size_t i = 0; i < target.size(); ++i) {
        if (target.is_null(i))
            throw std::invalid_argument("target column '" + target.name() + "' is null at row " + std::to_string(i));
        if (target.type() == ColumnType::Float64) {
            const double value = target.float_at(i);
            if (value != 0.0 && value != 1.0)
                throw std::invalid_argument("target column '" + target.name() + "' holds " + std::to_string(value) +
                                            " at row " + std::to_string(i) +
                                            ", a float; class labels must be int, bool or string (read a CSV column as "
                                            "ints with types = { \"" + target.name() + ":int\" })");
            out[i] = value == 1.0 ? "1" : "0";
            continue;
        }
        out[i] = trellis::label_text(target, i);
    }
    return out;
}

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

        // predictions.hpp's order: per-class columns first, then "probability", then "prediction".
        const trellis::ClassProbabilities classes = trellis::find_class_probabilities(predictions);
        const Column* probability = predictions.find(trellis::probability_column);
        const std::string task = task_config != "auto"              ? task_config
                                 : !classes.empty() || probability ? "classification"
                                                                   : "regression";
        const trellis_evaluate::Warn warn = [&](const std::string& message) { ctx.log().warn("target '" + target + "': " + message); };
        std::string kind;
        trellis_evaluate::Scores scores;
        if (task == "regression") {
            kind = "regression";
            const Column* column = predictions.find(trellis::prediction_column);
            if (!column)
                throw std::invalid_argument("task regression needs a 'prediction' column in the predictions; the model gave none");
            scores = trellis_evaluate::regression_scores(numbers(*target_column, "target"), numbers(*column, "prediction"), warn);
        } else if (!classes.empty()) {
            kind = "classes";
            if (classes.labels.size() > 2 && ctx.config_is_set("threshold"))
                ctx.log().warn("threshold applies to two classes only; " + std::to_string(classes.labels.size()) +
                               " classes are decided by the most probable one");
            scores = class_scores(classes, *target_column, threshold, warn);
        } else if (probability) {
            kind = "binary";
            const std::vector<double> truth = numbers(*target_column, "target");
            for (size_t i = 0; i < truth.size(); ++i)
                if (truth[i] != 0.0 && truth[i] != 1.0)
                    throw std::invalid_argument("target column '" + target + "' holds " + std::to_string(truth[i]) +
                                                " at row " + std::to_string(i) +
                                                "; the model gives one 'probability' column, which needs labels 0 or 1");
            scores = trellis_evaluate::binary_scores(truth, numbers(*probability, "prediction"), threshold, warn);
        } else {
            throw std::invalid_argument("task classification needs per-class 'probability:<label>' columns or a 'probability' "
                                        "column in the predictions; the model gave none (use task = \"regression\")");
        }
        trellis::Metrics& metrics = scores.metrics;
        metrics.values["count"] = static_cast<double>(data.num_rows());
        for (const auto& [name, value] : metrics.values) ctx.log_metric(name, value);
        ctx.log().info(task + " metrics of a '" + model.flavor + "' model on " + std::to_string(data.num_rows()) + " rows" +
                       (kind == "classes" ? " over " + std::to_string(classes.labels.size()) + " classes" : ""));
        ctx.output("metrics", metrics);
        ctx.output("report", trellis::Report{report_json(task, kind, target, model.flavor, scores)});
    }

private:
    // Per-class probabilities against the target's labels, checked to be probabilities first: a
    // flavor's rows that do not sum to 1 would make every metric quietly wrong.
    static trellis_evaluate::Scores class_scores(const trellis::ClassProbabilities& classes, const Column& target,
                                                 double threshold, const trellis_evaluate::Warn& warn) {
        const size_t k = classes.labels.size(), n = target.size();
        std::map<std::string, size_t> index;
        std::string known;
        for (size_t c = 0; c < k; ++c) {
            index[classes.labels[c]] = c;
            known += (c ? ", " : "") + classes.labels[c];
        }
        const std::vector<std::string> labels = truth_labels(target);
        std::vector<size_t> truth(n);
        for (size_t i = 0; i < n; ++i) {
            const auto found = index.find(labels[i]);
            if (found == index.end())
                throw std::invalid_argument("target column '" + target.name() + "' holds class '" + labels[i] + "' at row " +
                                            std::to_string(i) + ", for which the model gives no probability (its classes: " +
                                            known + ")");
            truth[i] = found->second;
        }
        std::vector<double> probabilities(n * k);
        for (size_t i = 0; i < n; ++i) {
            double sum = 0;
            for (size_t c = 0; c < k; ++c) {
                const Column& column = *classes.columns[c];
                const double p = column.is_null(i) ? std::numeric_limits<double>::quiet_NaN() : column.float_at(i);
                if (!(p >= 0.0 && p <= 1.0))
                    throw std::invalid_argument("prediction column '" + column.name() + "' holds " + std::to_string(p) +
                                                " at row " + std::to_string(i) + ", which is not a probability");
                probabilities[i * k + c] = p;
                sum += p;
            }
            if (std::abs(sum - 1.0) > 1e-6)
                throw std::invalid_argument("prediction row " + std::to_string(i) + ": the class probabilities sum to " +
                                            std::to_string(sum) + ", not 1");
        }
        return trellis_evaluate::class_scores(classes.labels, truth, probabilities, threshold, warn);
    }

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
    .description = "evaluates models of any flavor on labelled tables",
};

} // namespace

TRELLIS_PLUGIN(info, Evaluator)
