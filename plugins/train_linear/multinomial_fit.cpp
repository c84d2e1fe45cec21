// Newton-CG for multinomial logistic regression: each Newton step solves H d = -g by conjugate
// gradients with Hessian-vector products (never forming the (classes x features)^2 Hessian), with
// a Jacobi preconditioner, then halves the step until the loss does not increase.
#include "multinomial_fit.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace trellis_linear {
namespace {

// The parameters theta are classes x (features + 1), row-major, column 0 holding the intercept.
class Objective {
public:
    explicit Objective(const MultinomialProblem& problem)
        : n_(problem.rows), p_(problem.features), k_(problem.classes), width_(problem.features + 1), problem_(problem) {}

    size_t size() const { return k_ * width_; }

    // The penalised loss at theta; fills `probabilities` (rows x classes) for the gradient and
    // Hessian products of this point.
    double loss(const std::vector<double>& theta, std::vector<double>& probabilities) const {
        probabilities.assign(n_ * k_, 0.0);
        double total = 0;
        for (size_t i = 0; i < n_; ++i) {
            const double* x = problem_.x + i * p_;
            double* s = &probabilities[i * k_];
            for (size_t k = 0; k < k_; ++k) {
                const double* t = &theta[k * width_];
                double score = t[0];
                for (size_t j = 0; j < p_; ++j) score += t[j + 1] * x[j];
                s[k] = score;
            }
            double largest = s[0];
            for (size_t k = 1; k < k_; ++k) largest = std::max(largest, s[k]);
            const double true_score = s[problem_.labels[i]];
            double sum = 0;
            for (size_t k = 0; k < k_; ++k) sum += s[k] = std::exp(s[k] - largest);
            for (size_t k = 0; k < k_; ++k) s[k] /= sum;
            total += largest + std::log(sum) - true_score;
        }
        double penalty = 0;
        for (size_t k = 0; k < k_; ++k)
            for (size_t j = 1; j < width_; ++j) penalty += theta[k * width_ + j] * theta[k * width_ + j];
        return total + 0.5 * problem_.l2 * penalty;
    }

    // The gradient at theta and the Hessian's diagonal (the preconditioner), from its probabilities.
    void gradient(const std::vector<double>& theta, const std::vector<double>& probabilities, std::vector<double>& g,
                  std::vector<double>& diagonal) const {
        g.assign(size(), 0.0);
        diagonal.assign(size(), 0.0);
        for (size_t i = 0; i < n_; ++i) {
            const double* x = problem_.x + i * p_;
            const double* prob = &probabilities[i * k_];
            for (size_t k = 0; k < k_; ++k) {
                const double residual = prob[k] - (problem_.labels[i] == k ? 1.0 : 0.0);
                const double curvature = prob[k] * (1.0 - prob[k]);
                double* gk = &g[k * width_];
                double* dk = &diagonal[k * width_];
                gk[0] += residual;
                dk[0] += curvature;
                for (size_t j = 0; j < p_; ++j) {
                    gk[j + 1] += residual * x[j];
                    dk[j + 1] += curvature * x[j] * x[j];
                }
            }
        }
        for (size_t k = 0; k < k_; ++k)
            for (size_t j = 1; j < width_; ++j) {
                g[k * width_ + j] += problem_.l2 * theta[k * width_ + j];
                diagonal[k * width_ + j] += problem_.l2;
            }
        project(g);
    }

    // H v at the point whose probabilities are given.
    void hessian_times(const std::vector<double>& probabilities, const std::vector<double>& v, std::vector<double>& out) const {
        out.assign(size(), 0.0);
        std::vector<double> u(k_);
        for (size_t i = 0; i < n_; ++i) {
            const double* x = problem_.x + i * p_;
            const double* prob = &probabilities[i * k_];
            double mean = 0;
            for (size_t k = 0; k < k_; ++k) {
                const double* vk = &v[k * width_];
                double dot = vk[0];
                for (size_t j = 0; j < p_; ++j) dot += vk[j + 1] * x[j];
                u[k] = dot;
                mean += prob[k] * dot;
            }
            for (size_t k = 0; k < k_; ++k) {
                const double a = prob[k] * (u[k] - mean);
                double* ok = &out[k * width_];
                ok[0] += a;
                for (size_t j = 0; j < p_; ++j) ok[j + 1] += a * x[j];
            }
        }
        for (size_t k = 0; k < k_; ++k)
            for (size_t j = 1; j < width_; ++j) out[k * width_ + j] += problem_.l2 * v[k * width_ + j];
        project(out);
    }

    // Removes the part of v that adds one constant to every class (per feature and for the
    // intercepts): the directions in which the loss is flat, or (with l2 > 0) not optimal.
    void project(std::vector<double>& v) const {
        for (size_t j = 0; j < width_; ++j) {
            double mean = 0;
            for (size_t k = 0; k < k_; ++k) mean += v[k * width_ + j];
            mean /= static_cast<double>(k_);
            for (size_t k = 0; k < k_; ++k) v[k * width_ + j] -= mean;
        }
    }

private:
    size_t n_, p_, k_, width_;
    const MultinomialProblem& problem_;
};

double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double sum = 0;
    for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
    return sum;
}

// Preconditioned conjugate gradients for H d = -g, stopped once the residual is `relative` times
// |g|: loose far from the optimum, tight near it, which keeps Newton's fast final convergence.
std::vector<double> newton_direction(const Objective& objective, const std::vector<double>& probabilities,
                                     const std::vector<double>& g, const std::vector<double>& diagonal, double relative) {
    const size_t size = g.size();
    const double g_norm = std::sqrt(dot(g, g));
    std::vector<double> d(size, 0.0), r(size), z(size), direction, hd;
    for (size_t i = 0; i < size; ++i) r[i] = -g[i];
    const auto precondition = [&] {
        for (size_t i = 0; i < size; ++i) z[i] = r[i] / (diagonal[i] > 0 ? diagonal[i] : 1.0);
        objective.project(z);
    };
    precondition();
    direction = z;
    double rz = dot(r, z);
    for (size_t iteration = 0; iteration < size; ++iteration) {
        objective.hessian_times(probabilities, direction, hd);
        const double curvature = dot(direction, hd);
        if (!(curvature > 0)) {
            if (iteration == 0)
                throw std::invalid_argument("multinomial: the loss has no curvature along the gradient (collinear or "
                                            "constant features with l2 = 0); set l2 > 0");
            break;
        }
        const double alpha = rz / curvature;
        for (size_t i = 0; i < size; ++i) {
            d[i] += alpha * direction[i];
            r[i] -= alpha * hd[i];
        }
        if (std::sqrt(dot(r, r)) <= relative * g_norm) break;
        precondition();
        const double rz_next = dot(r, z);
        const double beta = rz_next / rz;
        rz = rz_next;
        for (size_t i = 0; i < size; ++i) direction[i] = z[i] + beta * direction[i];
    }
    return d;
}

} // namespace

MultinomialFit fit_multinomial(const MultinomialProblem& problem,
                               const std::function<void(int64_t step, double loss)>& on_step) {
    if (problem.classes < 2) throw std::invalid_argument("multinomial: needs at least two classes");
    const Objective objective(problem);
    std::vector<double> theta(objective.size(), 0.0), probabilities, g, diagonal, next, next_probabilities;
    double loss = objective.loss(theta, probabilities);
    on_step(0, loss);
    MultinomialFit fit;
    while (fit.iterations < problem.max_iterations && !fit.converged) {
        objective.gradient(theta, probabilities, g, diagonal);
        const double g_norm = std::sqrt(dot(g, g));
        if (g_norm == 0) {
            fit.converged = true;
            break;
        }
        const std::vector<double> step =
            newton_direction(objective, probabilities, g, diagonal, std::min(0.5, std::sqrt(g_norm)));
        double scale = 1.0, next_loss = std::numeric_limits<double>::infinity();
        for (int halving = 0; halving <= 30; ++halving, scale *= 0.5) {
            next = theta;
            for (size_t i = 0; i < next.size(); ++i) next[i] += scale * step[i];
            objective.project(next);
            next_loss = objective.loss(next, next_probabilities);
            if (next_loss <= loss) break;
        }
        // No step decreases the loss any more: theta is as good as doubles can tell.
        if (!(next_loss <= loss)) {
            fit.converged = true;
            break;
        }
        double largest = 0;
        for (size_t i = 0; i < theta.size(); ++i) largest = std::max(largest, std::abs(next[i] - theta[i]));
        theta.swap(next);
        probabilities.swap(next_probabilities);
        loss = next_loss;
        ++fit.iterations;
        on_step(fit.iterations, loss);
        fit.converged = largest < problem.tolerance;
    }
    const size_t width = problem.features + 1;
    for (size_t k = 0; k < problem.classes; ++k) {
        fit.intercepts.push_back(theta[k * width]);
        for (size_t j = 1; j < width; ++j) fit.weights.push_back(theta[k * width + j]);
    }
    fit.loss = loss;
    return fit;
}

} // namespace trellis_linear
