// Pearson's chi-squared goodness-of-fit test (scipy.stats.chisquare) and the chi-squared
// distribution's upper tail it needs.
#pragma once

#include <vector>

namespace drift {

/// The statistic, its degrees of freedom and p-value.
struct ChiSquaredResult {
    double statistic = 0;
    double degrees_of_freedom = 0;
    double p_value = 1;
};

/// Sum of (observed - expected)^2 / expected over categories, with k - 1 degrees of freedom.
/// A category expected 0 times but observed gives an infinite statistic and p-value 0; one
/// neither expected nor observed adds nothing.
ChiSquaredResult chi_squared(const std::vector<double>& observed, const std::vector<double>& expected);

/// Pr(X >= x) for X chi-squared with `df` degrees of freedom (scipy's `chi2.sf`).
double chi_squared_sf(double x, double df);

/// The regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a).
double upper_incomplete_gamma(double a, double x);

} // namespace drift
