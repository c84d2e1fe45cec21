#include "prediction_scores.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace trellis_evaluate {
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

// Per-class probabilities against the target's labels, checked to be probabilities first: a
// flavor's rows that do not sum to 1 would make every metric quietly wrong.
Scores probability_class_scores(const trellis::ClassProbabilities& classes, const Column& target,
                                     double threshold, const Warn& warn) {
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
    return class_scores(classes.labels, truth, probabilities, threshold, warn);
}

} // namespace

ScoredPredictions score_predictions(const trellis::Table& predictions, const Column& target, const std::string& task,
                                    double threshold, const Warn& warn) {
    // predictions.hpp's order: per-class columns first, then "probability", then "prediction".
    const trellis::ClassProbabilities classes = trellis::find_class_probabilities(predictions);
    const Column* probability = predictions.find(trellis::probability_column);
    ScoredPredictions out;
    out.task = task != "auto" ? task : !classes.empty() || probability ? "classification" : "regression";
    if (out.task == "regression") {
        out.kind = "regression";
        const Column* column = predictions.find(trellis::prediction_column);
        if (!column)
            throw std::invalid_argument("task regression needs a 'prediction' column in the predictions; the model gave none");
        out.scores = regression_scores(numbers(target, "target"), numbers(*column, "prediction"), warn);
    } else if (!classes.empty()) {
        out.kind = "classes";
        out.classes = classes.labels.size();
        out.scores = probability_class_scores(classes, target, threshold, warn);
    } else if (probability) {
        out.kind = "binary";
        const std::vector<double> truth = numbers(target, "target");
        for (size_t i = 0; i < truth.size(); ++i)
            if (truth[i] != 0.0 && truth[i] != 1.0)
                throw std::invalid_argument("target column '" + target.name() + "' holds " + std::to_string(truth[i]) +
                                            " at row " + std::to_string(i) +
                                            "; the model gives one 'probability' column, which needs labels 0 or 1");
        out.scores = binary_scores(truth, numbers(*probability, "prediction"), threshold, warn);
    } else {
        throw std::invalid_argument("task classification needs per-class 'probability:<label>' columns or a 'probability' "
                                    "column in the predictions; the model gave none (use task = \"regression\")");
    }
    return out;
}

} // namespace trellis_evaluate
