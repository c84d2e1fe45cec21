// One column's drift: which test runs on it, what the test said, and whether that is drift.
#pragma once

#include "binning.hpp"

#include <trellis/table.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drift {

/// The tests a column can be compared with. `Auto` picks one per column the way Evidently does.
enum class Method { Auto, Ks, ChiSquared, JensenShannon, Wasserstein, Psi };

/// The method's name in configs and reports: auto, ks, chisquare, jensenshannon, wasserstein, psi.
const char* method_name(Method method);
/// The method of that name, or nothing.
std::optional<Method> method_named(std::string_view name);
/// Every name method_named() takes, for error messages.
const char* method_names();
/// Whether the method yields a p-value (drift when below the threshold) rather than a distance
/// (drift when at or above it).
bool is_hypothesis_test(Method method);
/// The threshold used when none is configured: 0.05 for p-values, 0.1 for distances.
double default_threshold(Method method);

/// How to compare one column.
struct ColumnOptions {
    Method method = Method::Auto;
    std::optional<double> threshold;  ///< nothing: the method's default
    int64_t bins = 10;                ///< equal-frequency bins for numbers (PSI, Jensen–Shannon)
};

/// What the comparison of one column found.
struct ColumnDrift {
    std::string name;
    trellis::ColumnType type = trellis::ColumnType::Float64;
    Method method = Method::Ks;         ///< the method that ran (never Auto)
    bool chosen_automatically = false;
    double statistic = 0;               ///< KS D, chi-squared, or the distance
    std::optional<double> p_value;      ///< for ks and chisquare
    double degrees_of_freedom = 0;      ///< for chisquare
    double score = 0;                   ///< the p-value or the distance: what meets the threshold
    double threshold = 0;
    bool drifted = false;
    std::string note;                   ///< why the test could not run, when it could not
    uint64_t reference_rows = 0, current_rows = 0;
    uint64_t reference_missing = 0, current_missing = 0;
    std::vector<Bin> bins;              ///< for psi, jensenshannon and chisquare
};

/// Whether two column types can be compared (numbers with numbers, otherwise the same type).
bool comparable(trellis::ColumnType reference, trellis::ColumnType current);

/// Compares `current` with `reference` (already known comparable). std::invalid_argument names
/// the column when the method cannot apply to it (ks or wasserstein on a non-numeric column).
ColumnDrift column_drift(const trellis::Column& reference, const trellis::Column& current, const ColumnOptions& options);

} // namespace drift
