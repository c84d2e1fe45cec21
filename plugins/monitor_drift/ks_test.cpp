#include "ks_test.hpp"

#include "kolmogorov.hpp"
#include "sorted_values.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>

namespace drift {
namespace {

// Up to this sample size the exact distribution is used, as ks_2samp's method='auto' does.
constexpr size_t exact_limit = 10000;

// Pr(D_{n,n} >= h/n) for equal sample sizes: the alternating sum of reflected lattice paths,
// 2 (A0 - A0 A1 + A0 A1 A2 - ...), evaluated in Horner form to avoid cancellation.
double prob_outside_square(int64_t n, int64_t h) {
    double p = 0.0;
    for (int64_t k = n / h; k >= 0; --k) {
        double term = 1.0;
        for (int64_t j = 0; j < h; ++j)
            term = static_cast<double>(n - k * h - j) * term / static_cast<double>(n + k * h + j + 1);
        p = term * (1.0 - p);
    }
    return 2 * p;
}

// Pr(D_{m,n} >= h/lcm(m,n)): one minus the share of lattice paths from (0,0) to (m,n) that stay
// strictly inside |x/m - y/n| < h/lcm. Hodges' (1958) inside method, with Viehmann's (2021)
// recursion that carries the complement directly, column by column in a sliding window.
double prob_outside_band(int64_t m, int64_t n, int64_t g, int64_t h) {
    if (m < n) std::swap(m, n);
    const int64_t mg = m / g, ng = n / g;
    int64_t minj = 0;
    int64_t maxj = std::min((h + mg - 1) / mg, n + 1);
    int64_t current_length = maxj - minj;
    const int64_t length = std::min(2 * maxj + 2, n + 1);
    std::vector<double> column(static_cast<size_t>(length), 1.0);
    std::fill(column.begin() + minj, column.begin() + maxj, 0.0);
    for (int64_t i = 1; i <= m; ++i) {
        const int64_t last_minj = minj, last_length = current_length;
        // floor((ng*i - h)/mg) + 1 and ceil((ng*i + h)/mg), in integers.
        const int64_t low = ng * i - h;
        const int64_t floor_low = low >= 0 ? low / mg : -((-low + mg - 1) / mg);
        minj = std::min(std::max(floor_low + 1, int64_t{0}), n);
        maxj = std::min((ng * i + h + mg - 1) / mg, n + 1);
        if (maxj <= minj) return 1.0;
        double value = minj == 0 ? 0.0 : 1.0;
        for (int64_t jj = 0; jj < maxj - minj; ++jj) {
            const int64_t j = jj + minj;
            value = (column[static_cast<size_t>(jj + minj - last_minj)] * static_cast<double>(i) +
                     value * static_cast<double>(j)) /
                    static_cast<double>(i + j);
            column[static_cast<size_t>(jj)] = value;
        }
        current_length = maxj - minj;
        if (last_length > current_length)
            std::fill(column.begin() + current_length, column.begin() + last_length, 1.0);
    }
    return column[static_cast<size_t>(maxj - minj - 1)];
}

} // namespace

double ks_two_sample_p_value(double d, size_t n1, size_t n2, bool* exact) {
    if (n1 == 0 || n2 == 0) throw std::invalid_argument("ks_two_sample: a sample is empty");
    if (exact) *exact = false;
    if (std::max(n1, n2) <= exact_limit) {
        const auto a = static_cast<int64_t>(n1), b = static_cast<int64_t>(n2);
        const int64_t g = std::gcd(a, b);
        const int64_t lcm = (a / g) * b;
        const int64_t h = static_cast<int64_t>(std::nearbyint(d * static_cast<double>(lcm)));
        double p = 1.0;
        if (h != 0) p = a == b ? prob_outside_square(a, h) : prob_outside_band(a, b, g, h);
        if (p >= 0 && p <= 1) {
            if (exact) *exact = true;
            return p;
        }
    }
    const double m = static_cast<double>(std::max(n1, n2)), n = static_cast<double>(std::min(n1, n2));
    const double effective = m * n / (m + n);
    return std::clamp(kolmogorov_sf(static_cast<int64_t>(std::nearbyint(effective)), d), 0.0, 1.0);
}

KsResult ks_two_sample(const std::vector<double>& reference, const std::vector<double>& current) {
    const size_t n1 = reference.size(), n2 = current.size();
    if (n1 == 0 || n2 == 0) throw std::invalid_argument("ks_two_sample: a sample is empty");
    // The empirical CDFs differ most just after some data value, once its ties on both sides
    // are passed.
    const double d1 = static_cast<double>(n1), d2 = static_cast<double>(n2);
    double highest = 0, lowest = 0, at_highest = reference.front(), at_lowest = reference.front();
    for_each_distinct_value(reference, current, [&](double value, size_t i, size_t j) {
        const double difference = static_cast<double>(i) / d1 - static_cast<double>(j) / d2;
        if (difference > highest) {
            highest = difference;
            at_highest = value;
        }
        if (difference < lowest) {
            lowest = difference;
            at_lowest = value;
        }
    });
    KsResult result;
    const double below = std::clamp(-lowest, 0.0, 1.0);
    result.statistic = below > highest ? below : highest;
    result.location = below > highest ? at_lowest : at_highest;
    const auto a = static_cast<int64_t>(n1), b = static_cast<int64_t>(n2);
    if (std::max(n1, n2) <= exact_limit) {
        // The exact method measures the statistic in steps of 1/lcm; report it on that grid too.
        const int64_t g = std::gcd(a, b);
        const double lcm = static_cast<double>((a / g) * b);
        result.statistic = std::nearbyint(result.statistic * lcm) / lcm;
    }
    result.p_value = ks_two_sample_p_value(result.statistic, n1, n2, &result.exact);
    return result;
}

} // namespace drift
