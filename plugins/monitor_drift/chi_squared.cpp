#include "chi_squared.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace drift {
namespace {

constexpr double epsilon = std::numeric_limits<double>::epsilon();
constexpr int max_iterations = 1000000;

// x^a e^-x / Gamma(a), in logs so that large a and x do not overflow.
double gamma_prefactor(double a, double x) { return std::exp(a * std::log(x) - x - std::lgamma(a)); }

// P(a, x) by its power series; converges quickly when x < a + 1.
double lower_series(double a, double x) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < max_iterations; ++n) {
        term *= x / (a + n);
        sum += term;
        if (std::abs(term) < std::abs(sum) * epsilon) break;
    }
    return sum * gamma_prefactor(a, x);
}

// Q(a, x) by its continued fraction (modified Lentz); converges quickly when x >= a + 1.
double upper_fraction(double a, double x) {
    constexpr double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < max_iterations; ++i) {
        const double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (std::abs(d) < tiny) d = tiny;
        c = b + an / c;
        if (std::abs(c) < tiny) c = tiny;
        d = 1.0 / d;
        const double delta = d * c;
        h *= delta;
        if (std::abs(delta - 1.0) < epsilon) break;
    }
    return h * gamma_prefactor(a, x);
}

} // namespace

double upper_incomplete_gamma(double a, double x) {
    if (!(a > 0) || std::isnan(x)) return std::numeric_limits<double>::quiet_NaN();
    if (x <= 0) return 1.0;
    if (std::isinf(x)) return 0.0;
    if (x < a + 1.0) return std::max(0.0, 1.0 - lower_series(a, x));
    return upper_fraction(a, x);
}

double chi_squared_sf(double x, double df) {
    if (std::isnan(x) || !(df > 0)) return std::numeric_limits<double>::quiet_NaN();
    if (x <= 0) return 1.0;
    return upper_incomplete_gamma(df / 2.0, x / 2.0);
}

ChiSquaredResult chi_squared(const std::vector<double>& observed, const std::vector<double>& expected) {
    if (observed.size() != expected.size()) throw std::invalid_argument("chi_squared: observed and expected differ in length");
    ChiSquaredResult result;
    for (size_t i = 0; i < observed.size(); ++i) {
        const double difference = observed[i] - expected[i];
        if (expected[i] == 0) {
            if (observed[i] != 0) result.statistic = std::numeric_limits<double>::infinity();
            continue;
        }
        result.statistic += difference * difference / expected[i];
    }
    result.degrees_of_freedom = static_cast<double>(observed.size()) - 1;
    if (result.degrees_of_freedom < 1) {
        result.p_value = 1.0; // a single category cannot show a shift in proportions
        return result;
    }
    result.p_value = std::isinf(result.statistic) ? 0.0 : chi_squared_sf(result.statistic, result.degrees_of_freedom);
    return result;
}

} // namespace drift
