// Tail probabilities of the Kolmogorov–Smirnov statistics. The branches and the methods in each
// follow Simard & L'Ecuyer (2011), "Computing the two-sided Kolmogorov–Smirnov distribution", as
// scipy.stats.kstwo does, so p-values agree with scipy's to far better than 1e-9.
#pragma once

#include <cstdint>

namespace drift {

/// Pr(D_n >= x) for the two-sided one-sample statistic D_n with `n` observations (scipy's
/// `kstwo.sf(x, n)`).
double kolmogorov_sf(int64_t n, double x);

/// Pr(D+_n >= x) for the one-sided statistic (Birnbaum & Tingey's exact sum; scipy's `smirnov`).
double smirnov_sf(int64_t n, double x);

} // namespace drift
