// The "xgboost" model: its bytes are XGBoost's own JSON model (what python's
// Booster.save_model("model.json") writes and xgboost.Booster(model_file=...) loads), and the
// flavor that serves it through XGBoost's in-place prediction.
//
// What trellis needs beyond the trees is kept inside those bytes, where XGBoost keeps it too: the
// feature names in learner.feature_names, the objective in the model, and the class labels in
// learner.attributes (XGBoosterSetAttr), next to python's best_iteration and best_score.
#pragma once

#include "target_labels.hpp"
#include "xgboost_api.hpp"

#include <trellis/sdk.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trellis_xgboost {

// learner.attributes key: the class labels as a JSON array of strings, in class-index order.
inline constexpr const char* class_labels_attribute = "trellis_class_labels";
// learner.attributes key: "1" when the labels are int or bool (predictions are ints), "0" for strings.
inline constexpr const char* integer_labels_attribute = "trellis_integer_labels";

// Writes the class labels of a classifier into the booster's attributes.
void store_class_labels(Booster& booster, const ClassEncoding& classes);

// The booster as XGBoost's JSON model bytes.
std::vector<uint8_t> save_model_json(const Booster& booster);

// Serves "xgboost" models for the host (train.evaluate, deploy, monitor, serve).
class XGBoostFlavor : public trellis::Flavor {
public:
    // The name models carry in Model::flavor, so the host can route them here.
    static trellis::FlavorSpec spec() {
        return {"xgboost", "XGBoost gradient-boosted tree models (XGBoost's JSON model format) trained by train.xgboost"};
    }
    // Loads the bytes into a booster and checks them against the signature once, so predict()
    // only converts the table and calls XGBoost. The predictor may be used by several threads.
    static std::unique_ptr<trellis::Predictor> load(const trellis::Model& model);
};

} // namespace trellis_xgboost
