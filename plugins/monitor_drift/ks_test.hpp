// The two-sample Kolmogorov–Smirnov test, two-sided, computed as scipy.stats.ks_2samp computes it
// with its default method: exact when neither sample has more than 10,000 values, otherwise the
// distribution of the one-sample statistic at the samples' effective size.
#pragma once

#include <cstddef>
#include <vector>

namespace drift {

/// The statistic, where it was reached, and its p-value.
struct KsResult {
    double statistic = 0;  ///< sup |F_reference - F_current|, in [0, 1]
    double location = 0;   ///< the value at which the statistic is reached
    double p_value = 1;    ///< two-sided
    bool exact = false;    ///< whether the p-value came from the exact distribution
};

/// Two-sided KS test of two ascending, non-empty samples without NaN.
KsResult ks_two_sample(const std::vector<double>& reference, const std::vector<double>& current);

/// The p-value alone, for a statistic `d` of samples of sizes n1 and n2 (as ks_2samp's 'auto').
double ks_two_sample_p_value(double d, size_t n1, size_t n2, bool* exact = nullptr);

} // namespace drift
