// The stage's config as XGBoost parameters: typed hyperparameter keys with XGBoost's defaults,
// their aliases, eval_metric, and the free-form `params` object passed through verbatim.
#pragma once

#include <trellis/sdk.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace trellis_xgboost {

// One XGBoost parameter as XGBoosterSetParam takes it.
struct BoosterParam {
    std::string key;
    std::string value;
};

// What training needs from the config, checked.
struct TrainingParams {
    int64_t rounds = 10;                          // boosting rounds (num_boost_round)
    std::optional<int64_t> early_stopping_rounds; // set: stop after this many rounds without improvement
    int64_t nthread = 0;                          // threads; 0: XGBoost's default (every core)
    // Hyperparameters the pipeline set and `params` entries, in that order: only what was set
    // reaches XGBoost, so everything else keeps XGBoost's own default.
    std::vector<BoosterParam> booster;
    std::vector<std::string> eval_metrics;        // in order; empty: XGBoost's default for the objective
};

// Declares the config keys of train.xgboost (used by the stage's spec()).
void declare_training_keys(trellis::StageSpec& spec);

// Reads and checks the config; std::invalid_argument naming the key for a bad value. Logs every
// hyperparameter as a param of the execution, defaults included (the objective is logged by the
// stage once it is resolved).
TrainingParams read_training_params(trellis::Context& ctx);

} // namespace trellis_xgboost
