#include "column_drift.hpp"

#include "chi_squared.hpp"
#include "distances.hpp"
#include "ks_test.hpp"
#include "sorted_values.hpp"

#include <cmath>
#include <stdexcept>

namespace drift {
namespace {

using trellis::ColumnType;

// Evidently's cut-offs: exact tests while the reference is small, distances once it is large
// enough that a test flags differences too small to matter; up to five distinct numbers are
// treated as categories.
constexpr uint64_t small_reference_rows = 1000;
constexpr size_t categorical_numeric_values = 5;

bool is_numeric(ColumnType type) { return type == ColumnType::Int64 || type == ColumnType::Float64; }

// Whether a sorted sample has more than `limit` distinct values.
bool more_distinct_than(const std::vector<double>& sorted, size_t limit) {
    size_t distinct = 0;
    for (size_t i = 0; i < sorted.size(); ++i)
        if (i == 0 || sorted[i] != sorted[i - 1])
            if (++distinct > limit) return true;
    return false;
}

std::vector<double> shares(const std::vector<Bin>& bins, uint64_t Bin::*side, uint64_t rows) {
    std::vector<double> out;
    out.reserve(bins.size());
    for (const Bin& bin : bins) out.push_back(rows ? static_cast<double>(bin.*side) / static_cast<double>(rows) : 0.0);
    return out;
}

// Chi-squared of the current counts against the reference's proportions scaled to the current
// count, over present categories only: the test asks whether the mix changed, not the nulls.
void run_chi_squared(ColumnDrift& drift) {
    std::vector<double> observed, expected;
    uint64_t reference_present = 0, current_present = 0;
    for (const Bin& bin : drift.bins)
        if (bin.label != missing_label) {
            reference_present += bin.reference;
            current_present += bin.current;
        }
    const double scale = static_cast<double>(current_present) / static_cast<double>(reference_present);
    for (const Bin& bin : drift.bins) {
        if (bin.label == missing_label) continue;
        observed.push_back(static_cast<double>(bin.current));
        expected.push_back(static_cast<double>(bin.reference) * scale);
    }
    const ChiSquaredResult result = chi_squared(observed, expected);
    drift.statistic = result.statistic;
    drift.degrees_of_freedom = result.degrees_of_freedom;
    drift.p_value = result.p_value;
}

} // namespace

const char* method_name(Method method) {
    switch (method) {
    case Method::Auto: return "auto";
    case Method::Ks: return "ks";
    case Method::ChiSquared: return "chisquare";
    case Method::JensenShannon: return "jensenshannon";
    case Method::Wasserstein: return "wasserstein";
    case Method::Psi: return "psi";
    }
    return "auto";
}

std::optional<Method> method_named(std::string_view name) {
    for (Method m : {Method::Auto, Method::Ks, Method::ChiSquared, Method::JensenShannon, Method::Wasserstein, Method::Psi})
        if (name == method_name(m)) return m;
    return std::nullopt;
}

const char* method_names() { return "auto, ks, chisquare, jensenshannon, wasserstein, psi"; }

bool is_hypothesis_test(Method method) { return method == Method::Ks || method == Method::ChiSquared; }

double default_threshold(Method method) { return is_hypothesis_test(method) ? 0.05 : 0.1; }

bool comparable(ColumnType reference, ColumnType current) {
    return (is_numeric(reference) && is_numeric(current)) || reference == current;
}

ColumnDrift column_drift(const trellis::Column& reference, const trellis::Column& current, const ColumnOptions& options) {
    ColumnDrift drift;
    drift.name = reference.name();
    drift.type = reference.type();
    drift.reference_rows = reference.size();
    drift.current_rows = current.size();
    const bool numeric = is_numeric(reference.type());

    SortedValues ref_values, cur_values;
    if (numeric) {
        ref_values = sorted_values(reference);
        cur_values = sorted_values(current);
        drift.reference_missing = ref_values.missing;
        drift.current_missing = cur_values.missing;
    } else {
        drift.reference_missing = reference.null_count();
        drift.current_missing = current.null_count();
    }

    drift.method = options.method;
    if (drift.method == Method::Auto) {
        drift.chosen_automatically = true;
        const bool continuous = numeric && more_distinct_than(ref_values.values, categorical_numeric_values);
        const bool small = reference.size() <= small_reference_rows;
        drift.method = continuous ? (small ? Method::Ks : Method::Wasserstein)
                                  : (small ? Method::ChiSquared : Method::JensenShannon);
    }
    if ((drift.method == Method::Ks || drift.method == Method::Wasserstein) && !numeric)
        throw std::invalid_argument("column '" + drift.name + "': " + method_name(drift.method) +
                                    " compares numbers, and the column is " + std::string(trellis::to_string(reference.type())) +
                                    "; use chisquare, jensenshannon or psi");
    drift.threshold = options.threshold.value_or(default_threshold(drift.method));

    const uint64_t ref_present = drift.reference_rows - drift.reference_missing;
    const uint64_t cur_present = drift.current_rows - drift.current_missing;
    const bool needs_present = drift.method != Method::Psi && drift.method != Method::JensenShannon;
    if (needs_present && (ref_present == 0 || cur_present == 0)) {
        // Nothing to test on a side; values appearing or vanishing altogether is itself a shift.
        drift.note = std::string("no values to compare in the ") + (ref_present == 0 ? "reference" : "current") +
                     " table";
        drift.statistic = std::nan("");
        drift.score = std::nan("");
        drift.drifted = (ref_present == 0) != (cur_present == 0);
        return drift;
    }

    switch (drift.method) {
    case Method::Ks: {
        const KsResult result = ks_two_sample(ref_values.values, cur_values.values);
        drift.statistic = result.statistic;
        drift.p_value = result.p_value;
        break;
    }
    case Method::Wasserstein:
        drift.statistic = normed_wasserstein_distance(ref_values.values, cur_values.values);
        break;
    case Method::ChiSquared:
        drift.bins = numeric ? value_bins(ref_values, cur_values) : category_bins(reference, current);
        run_chi_squared(drift);
        break;
    case Method::JensenShannon:
    case Method::Psi: {
        drift.bins = numeric ? quantile_bins(ref_values, cur_values, options.bins) : category_bins(reference, current);
        const auto r = shares(drift.bins, &Bin::reference, drift.reference_rows);
        const auto c = shares(drift.bins, &Bin::current, drift.current_rows);
        drift.statistic = drift.method == Method::Psi ? population_stability_index(r, c) : jensen_shannon_distance(r, c);
        break;
    }
    case Method::Auto: break;
    }
    if (drift.method == Method::Wasserstein && !std::isfinite(drift.statistic)) {
        // An infinite value (or one so large its square overflows) leaves no finite distance;
        // say so and count it as drift rather than let NaN compare as "no drift".
        drift.note = "the distance is not finite: the column holds infinite or overflowing values";
        drift.score = drift.statistic;
        drift.drifted = true;
        return drift;
    }
    drift.score = drift.p_value.value_or(drift.statistic);
    drift.drifted = is_hypothesis_test(drift.method) ? drift.score < drift.threshold : drift.score >= drift.threshold;
    return drift;
}

} // namespace drift
