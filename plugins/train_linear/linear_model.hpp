// The "linear" model: what train.linear produces and the flavor that serves it. Kept apart from the
// training stage so the encoding and prediction can be read (and reviewed) on their own.
#pragma once

#include <trellis/sdk.hpp>

#include <memory>
#include <string>
#include <vector>

namespace trellis_linear {

// The fitted model. A row's linear score is intercept + sum_j weights[j] * (x_j - means[j]) / scales[j];
// regression predicts the score, logistic predicts sigmoid(score) = P(y = 1).
struct LinearModel {
    std::string objective;             // "regression" or "logistic"
    std::vector<std::string> features; // input columns, in order
    std::vector<double> means;         // subtracted before scaling (0 when not standardised)
    std::vector<double> scales;        // divided by after centring (1 when not standardised)
    std::vector<double> weights;       // one per feature, on the standardised scale
    double intercept = 0.0;
};

// Version of the byte encoding written by encode(); decode() refuses any other.
inline constexpr int format_version = 1;

// The model's bytes: one line of JSON text (see README.md), doubles written with 17 significant
// digits so decoding gives back the very same doubles.
std::string encode(const LinearModel& model);

// Parses encode()'s text; std::invalid_argument naming what is wrong for anything else.
LinearModel decode(std::string_view text);

// P(y = 1) for a linear score, computed without overflow for large |score|.
double sigmoid(double score);

// Serves LinearModel predictions for the host (deploy, evaluate, monitor) without the trainer.
class LinearFlavor : public trellis::Flavor {
public:
    // The name models carry in Model::flavor, so the host can route them here.
    static trellis::FlavorSpec spec() {
        return {"linear", "linear and logistic regression models trained by train.linear"};
    }
    // Decodes and checks the bytes once, so each predict() call only does arithmetic.
    static std::unique_ptr<trellis::Predictor> load(const trellis::Model& model);
};

} // namespace trellis_linear
