// Distances between two distributions: Wasserstein-1 on samples, and Jensen–Shannon and the
// population stability index on binned shares.
#pragma once

#include <vector>

namespace drift {

/// Wasserstein-1 distance (earth mover's) between two ascending, non-empty samples: the area
/// between their empirical CDFs (scipy.stats.wasserstein_distance).
double wasserstein_distance(const std::vector<double>& reference, const std::vector<double>& current);

/// Population standard deviation (ddof 0, like numpy.std) of a non-empty sample.
double standard_deviation(const std::vector<double>& values);

/// The Wasserstein distance in units of the reference's standard deviation (floored at 0.001, so
/// a constant reference does not divide by zero), as Evidently norms it: 0.1 means the mass moved
/// a tenth of a standard deviation on average.
double normed_wasserstein_distance(const std::vector<double>& reference, const std::vector<double>& current);

/// Jensen–Shannon distance, natural log (scipy.spatial.distance.jensenshannon): the square root of
/// the mean of the KL divergences of each side from their average. In [0, sqrt(ln 2)]. Shares
/// are normalised to sum to 1 first.
double jensen_shannon_distance(const std::vector<double>& reference_shares, const std::vector<double>& current_shares);

/// Population stability index: sum of (c - r) ln(c / r) over bins, both shares floored at 1e-4 so
/// an empty bin gives a large but finite term.
double population_stability_index(const std::vector<double>& reference_shares, const std::vector<double>& current_shares);

} // namespace drift
