// The metrics train.evaluate computes, apart from how it gets the predictions: binary (a
// "probability" column), classes (per-class "probability:<label>" columns) and regression.
#pragma once

#include <trellis/sdk.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace trellis_evaluate {

// Passed the text of each warning a computation has (an undefined metric, say).
using Warn = std::function<void(const std::string&)>;

// What an evaluation produces: the metrics and the report's JSON members (without braces), so the
// stage can add what it knows (target, flavor) around them.
struct Scores {
    trellis::Metrics metrics;
    std::string report_members;
};

// Area under the ROC curve of `score` for the rows where `positive` is true, ties counting one
// half; NaN when either side is empty.
double roc_auc(const std::vector<double>& score, const std::vector<bool>& positive);

// 0/1 labels and P(y = 1): accuracy, precision, recall and f1 at `threshold`, log_loss, roc_auc.
Scores binary_scores(const std::vector<double>& truth, const std::vector<double>& probability, double threshold,
                     const Warn& warn);

// Classes `labels` (in the predictions' column order), each row's true class index, and the
// probabilities row-major (rows x classes). Two classes are decided as the binary case is (the
// second class when its probability >= threshold) and also get precision, recall and f1 of it;
// more classes are decided by the most probable class (the first on a tie).
Scores class_scores(const std::vector<std::string>& labels, const std::vector<size_t>& truth,
                    const std::vector<double>& probabilities, double threshold, const Warn& warn);

// rmse, mae and r2 of `predicted` against `truth`.
Scores regression_scores(const std::vector<double>& truth, const std::vector<double>& predicted, const Warn& warn);

// The metric name part for a class label: the label itself when it is made of letters, digits and
// _ . - only (what govern.gate rules and `trellis runs --sort` read), else with each other byte
// replaced by '_'. Labels that would collide get "_<class index>" appended.
std::vector<std::string> metric_labels(const std::vector<std::string>& labels);

} // namespace trellis_evaluate
