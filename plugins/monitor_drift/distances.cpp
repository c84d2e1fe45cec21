#include "distances.hpp"

#include "sorted_values.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace drift {
namespace {

// Shares below this are raised to it in the PSI sum, so ln(c / r) stays finite.
constexpr double psi_share_floor = 1e-4;
// The normed Wasserstein distance divides by at least this.
constexpr double std_floor = 0.001;

// x ln(x / y) with the limits information theory gives it: 0 when x is 0.
double relative_entropy_term(double x, double y) {
    if (x == 0) return 0.0;
    return x * std::log(x / y);
}

} // namespace

double wasserstein_distance(const std::vector<double>& reference, const std::vector<double>& current) {
    const size_t n1 = reference.size(), n2 = current.size();
    if (n1 == 0 || n2 == 0) throw std::invalid_argument("wasserstein_distance: a sample is empty");
    const double d1 = static_cast<double>(n1), d2 = static_cast<double>(n2);
    // Between one distinct value and the next both CDFs are flat: add |F1 - F2| times the gap.
    double sum = 0, previous = 0, previous_gap = 0;
    bool started = false;
    for_each_distinct_value(reference, current, [&](double value, size_t i, size_t j) {
        if (started) sum += previous_gap * (value - previous);
        previous_gap = std::abs(static_cast<double>(i) / d1 - static_cast<double>(j) / d2);
        previous = value;
        started = true;
    });
    return sum;
}

double standard_deviation(const std::vector<double>& values) {
    if (values.empty()) throw std::invalid_argument("standard_deviation: the sample is empty");
    double mean = 0;
    for (double v : values) mean += v;
    mean /= static_cast<double>(values.size());
    double squares = 0;
    for (double v : values) squares += (v - mean) * (v - mean);
    return std::sqrt(squares / static_cast<double>(values.size()));
}

double normed_wasserstein_distance(const std::vector<double>& reference, const std::vector<double>& current) {
    return wasserstein_distance(reference, current) / std::max(standard_deviation(reference), std_floor);
}

double jensen_shannon_distance(const std::vector<double>& reference_shares, const std::vector<double>& current_shares) {
    if (reference_shares.size() != current_shares.size())
        throw std::invalid_argument("jensen_shannon_distance: the share lists differ in length");
    double total_p = 0, total_q = 0;
    for (size_t i = 0; i < reference_shares.size(); ++i) {
        total_p += reference_shares[i];
        total_q += current_shares[i];
    }
    if (total_p <= 0 || total_q <= 0) throw std::invalid_argument("jensen_shannon_distance: a side has no mass");
    double divergence = 0;
    for (size_t i = 0; i < reference_shares.size(); ++i) {
        const double p = reference_shares[i] / total_p, q = current_shares[i] / total_q, m = (p + q) / 2;
        divergence += relative_entropy_term(p, m) + relative_entropy_term(q, m);
    }
    return std::sqrt(std::max(divergence / 2, 0.0));
}

double population_stability_index(const std::vector<double>& reference_shares, const std::vector<double>& current_shares) {
    if (reference_shares.size() != current_shares.size())
        throw std::invalid_argument("population_stability_index: the share lists differ in length");
    double sum = 0;
    for (size_t i = 0; i < reference_shares.size(); ++i) {
        const double r = std::max(reference_shares[i], psi_share_floor);
        const double c = std::max(current_shares[i], psi_share_floor);
        sum += (c - r) * std::log(c / r);
    }
    return sum;
}

} // namespace drift
