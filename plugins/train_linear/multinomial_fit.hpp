// Multinomial (softmax) logistic regression with an L2 penalty, fitted by a truncated Newton
// method (Newton-CG). Kept apart from the stage: it is the one numerically delicate part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace trellis_linear {

// What fit_multinomial() needs: features row-major (rows x features) and each row's class index.
struct MultinomialProblem {
    size_t rows = 0, features = 0, classes = 0;
    const double* x = nullptr;      // rows * features values
    const size_t* labels = nullptr; // rows values in [0, classes)
    double l2 = 0.0;                // penalty 0.5 * l2 * |W|^2 on the weights, never the intercepts
    int64_t max_iterations = 100;   // most Newton steps
    double tolerance = 1e-10;       // stop when no parameter moves by this much in a step
};

// The fitted parameters and how the fit went.
struct MultinomialFit {
    std::vector<double> weights;    // classes x features, row-major
    std::vector<double> intercepts; // one per class, summing to 0
    int64_t iterations = 0;         // Newton steps taken
    bool converged = false;         // stopped by `tolerance` (or no further decrease) rather than max_iterations
    double loss = 0.0;              // the penalised loss at the result
};

// Minimises sum_i [log sum_k e^(s_ik) - s_i,y_i] + 0.5 * l2 * |W|^2, s_ik = b_k + W_k . x_i.
// The loss does not change when one constant is added to every class's intercept (or, with l2 = 0,
// to every class's weights of a feature), so the fit stays in the subspace where each such sum is
// zero, as scikit-learn's solvers end up: that makes the answer unique and equal to theirs.
// `on_step(step, loss)` is called with the loss at the start (step 0) and after each Newton step;
// it may throw to cancel. std::invalid_argument when the problem has no finite optimum.
MultinomialFit fit_multinomial(const MultinomialProblem& problem,
                               const std::function<void(int64_t step, double loss)>& on_step);

} // namespace trellis_linear
