// The "linear" model: what train.linear produces and the flavor that serves it. Kept apart from the
// training stage so the encoding and prediction can be read (and reviewed) on their own.
#pragma once

#include <trellis/sdk.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace trellis_linear {

// The fitted model. Each feature is standardised as z_j = (x_j - means[j]) / scales[j]; a score is
// intercept + sum_j w_j * z_j. Regression predicts its one score; logistic gives P(classes[1]) =
// sigmoid(score); multinomial has one score per class and gives softmax(scores).
struct LinearModel {
    std::string objective;             // "regression", "logistic" (two classes) or "multinomial"
    std::vector<std::string> features; // input columns, in order
    std::vector<double> means;         // subtracted before scaling (0 when not standardised)
    std::vector<double> scales;        // divided by after centring (1 when not standardised)
    std::vector<double> weights;       // row-major, one row of features per score, on the standardised scale
    std::vector<double> intercepts;    // one per score: 1 for regression and logistic, one per class for multinomial
    std::vector<std::string> classes;  // classifiers: the labels in class order (trellis::class_labels order)
    bool integer_labels = true;        // classifiers: labels are ints (int or bool targets), else strings

    // Whether this is the classic binary model of 0/1 labels, served as "probability" + int
    // "prediction" and encoded in format version 1 as before multiclass support.
    bool is_binary_01() const {
        return objective == "logistic" && integer_labels && classes == std::vector<std::string>{"0", "1"};
    }
};

// Newest version of the byte encoding. encode() writes version 1 for regression and 0/1 logistic
// models (the bytes such models always had) and version 2 for other classifiers; decode() reads both.
inline constexpr int format_version = 2;

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
        return {"linear", "linear, logistic and multinomial logistic regression models trained by train.linear"};
    }
    // Decodes and checks the bytes once, so each predict() call only does arithmetic.
    static std::unique_ptr<trellis::Predictor> load(const trellis::Model& model);
};

} // namespace trellis_linear
