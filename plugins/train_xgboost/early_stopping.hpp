// What python's xgboost.train does with each round's evaluation text: parse
// "[3]\ttrain-logloss:0.21\tvalid-logloss:0.25" into named scores, and stop early the way its
// EarlyStopping callback does (1.7: the last metric of the last evaluation set; higher is better
// for auc, aucpr, map and ndcg metrics; a round counts as better only when strictly better).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trellis_xgboost {

// One "<set>-<metric>" score of a round, e.g. {"valid-logloss", 0.25}.
struct EvalScore {
    std::string name;
    double value = 0;
};

// The scores of XGBoosterEvalOneIter's text, in order; the values are read as python's float()
// reads them. std::runtime_error for text that is not of that form.
std::vector<EvalScore> parse_eval_text(std::string_view text);

// Whether early stopping treats larger values of `metric` (without the set name) as better.
bool metric_maximizes(const std::string& metric);

// Early stopping on one score per round, as xgboost.callback.EarlyStopping(rounds) does.
class EarlyStopping {
public:
    explicit EarlyStopping(int64_t rounds) : rounds_(rounds) {}

    // Records round `iteration`'s score of `metric`; true when training should stop now.
    bool update(int64_t iteration, const std::string& metric, double score);

    // The round with the best score so far (0-based, as XGBoost numbers rounds).
    int64_t best_iteration() const noexcept { return best_iteration_; }
    // The best score so far.
    double best_score() const noexcept { return best_score_; }

private:
    int64_t rounds_;
    bool started_ = false;
    bool maximize_ = false;
    int64_t best_iteration_ = 0;
    double best_score_ = 0;
    int64_t rounds_without_improvement_ = 0;
};

} // namespace trellis_xgboost
