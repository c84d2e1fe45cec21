// Scores predictions the way train.evaluate and monitor.performance both need: a table of
// predictions.hpp's columns (per-class "probability:<label>", "probability", "prediction")
// against a column of true values, as classification (binary or any number of classes) or
// regression.
#pragma once

#include "scores.hpp"

#include <trellis/sdk.hpp>

#include <string>

namespace trellis_evaluate {

struct ScoredPredictions {
    std::string task;   // classification | regression
    std::string kind;   // binary | classes | regression: which predictions were scored
    size_t classes = 0; // for kind "classes"
    Scores scores;
};

// Scores `predictions` against `target` (same rows, none null). `task` is classification,
// regression or auto (classification when there are probability columns). Throws
// std::invalid_argument naming the column and row at fault.
ScoredPredictions score_predictions(const trellis::Table& predictions, const trellis::Column& target,
                                    const std::string& task, double threshold, const Warn& warn);

} // namespace trellis_evaluate
