// train.evaluate: scores any model on a labelled table through the host's model_predict, so one
// evaluation stage serves every flavor, and reports classification or regression metrics.
#include <trellis/sdk.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
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

// Area under the ROC curve as the Mann-Whitney statistic: the chance that a random positive scores
// above a random negative, ties counting one half (average ranks give exactly that).
double roc_auc(const std::vector<double>& score, const std::vector<double>& label) {
    const size_t n = score.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
    double positive_rank_sum = 0, positives = 0;
    for (size_t start = 0; start < n;) {
        size_t end = start;
        while (end < n && score[order[end]] == score[order[start]]) ++end;
        const double average_rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
        for (size_t k = start; k < end; ++k)
            if (label[order[k]] == 1.0) positive_rank_sum += average_rank, positives += 1;
        start = end;
    }
    const double negatives = static_cast<double>(n) - positives;
    if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
    return (positive_rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives);
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
            .required("target", trellis::ValueType::String, "column of `data` holding the true values")
            .option_string("task", "auto", "classification, regression, or auto (classification when the "
                                           "predictions have a probability column)")
            .option_float("threshold", 0.5, "classification: predict positive when probability >= threshold");
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
        const std::vector<double> truth = numbers(*target_column, "target");

        // The model sees the features only: a flavor must not be able to peek at the answer.
        trellis::Table features;
        for (const Column& column : data.columns())
            if (column.name() != target) features.add_column(column);
        const trellis::Table predictions = ctx.predict(model, features);
        if (predictions.num_rows() != data.num_rows())
            throw std::runtime_error("flavor '" + model.flavor + "' returned " + std::to_string(predictions.num_rows()) +
                                     " predictions for " + std::to_string(data.num_rows()) + " rows");

        const std::string task =
            task_config != "auto" ? task_config : predictions.find("probability") ? "classification" : "regression";
        trellis::Metrics metrics = task == "classification" ? classification(ctx, truth, predictions, threshold, target)
                                                            : regression(ctx, truth, predictions);
        metrics.values["count"] = static_cast<double>(truth.size());
        for (const auto& [name, value] : metrics.values) ctx.log_metric(name, value);
        ctx.log().info(task + " metrics of a '" + model.flavor + "' model on " + std::to_string(truth.size()) + " rows");
        ctx.output("metrics", metrics);
    }

private:
    // Threshold metrics at `threshold` plus the threshold-free roc_auc and log_loss, which judge the
    // probabilities themselves.
    static trellis::Metrics classification(trellis::Context& ctx, const std::vector<double>& truth,
                                           const trellis::Table& predictions, double threshold, const std::string& target) {
        const Column* column = predictions.find("probability");
        if (!column)
            throw std::invalid_argument("task classification needs a 'probability' column in the predictions; the model "
                                        "gave none (use task = \"regression\")");
        const std::vector<double> probability = numbers(*column, "prediction");
        for (size_t i = 0; i < truth.size(); ++i)
            if (truth[i] != 0.0 && truth[i] != 1.0)
                throw std::invalid_argument("target column '" + target + "' holds " + std::to_string(truth[i]) + " at row " +
                                            std::to_string(i) + "; classification needs labels 0 or 1");

        double tp = 0, fp = 0, tn = 0, fn = 0, log_loss = 0;
        constexpr double eps = 1e-15;
        for (size_t i = 0; i < truth.size(); ++i) {
            const bool predicted = probability[i] >= threshold;
            const bool actual = truth[i] == 1.0;
            (predicted ? (actual ? tp : fp) : (actual ? fn : tn)) += 1;
            const double p = std::clamp(probability[i], eps, 1.0 - eps);
            log_loss -= actual ? std::log(p) : std::log(1.0 - p);
        }
        const double n = static_cast<double>(truth.size());
        const double precision = tp + fp > 0 ? tp / (tp + fp) : 0.0;
        const double recall = tp + fn > 0 ? tp / (tp + fn) : 0.0;
        trellis::Metrics metrics;
        metrics.values["accuracy"] = (tp + tn) / n;
        metrics.values["precision"] = precision;
        metrics.values["recall"] = recall;
        metrics.values["f1"] = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
        metrics.values["log_loss"] = log_loss / n;
        metrics.values["roc_auc"] = roc_auc(probability, truth);
        if (std::isnan(metrics.values["roc_auc"]))
            ctx.log().warn("roc_auc is undefined (NaN): the target column '" + target + "' holds only one class");
        return metrics;
    }

    // Error in the target's own units (rmse, mae) and relative to predicting the mean (r2).
    static trellis::Metrics regression(trellis::Context& ctx, const std::vector<double>& truth,
                                       const trellis::Table& predictions) {
        const Column* column = predictions.find("prediction");
        if (!column) throw std::invalid_argument("task regression needs a 'prediction' column in the predictions; the model gave none");
        const std::vector<double> predicted = numbers(*column, "prediction");
        const double n = static_cast<double>(truth.size());
        const double mean = std::accumulate(truth.begin(), truth.end(), 0.0) / n;
        double squared = 0, absolute = 0, total = 0;
        for (size_t i = 0; i < truth.size(); ++i) {
            const double error = truth[i] - predicted[i];
            squared += error * error;
            absolute += std::abs(error);
            total += (truth[i] - mean) * (truth[i] - mean);
        }
        trellis::Metrics metrics;
        metrics.values["rmse"] = std::sqrt(squared / n);
        metrics.values["mae"] = absolute / n;
        metrics.values["r2"] = total > 0 ? 1.0 - squared / total : std::numeric_limits<double>::quiet_NaN();
        if (!(total > 0)) ctx.log().warn("r2 is undefined (NaN): the target is constant");
        return metrics;
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
