#include "kolmogorov.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

namespace drift {
namespace {

constexpr double pi = std::numbers::pi;

double clip(double p) { return std::clamp(p, 0.0, 1.0); }

// log(n! / n^n), without the overflow of either side.
double log_factorial_over_power(int64_t n) {
    const double dn = static_cast<double>(n);
    return std::lgamma(dn + 1) - dn * std::log(dn);
}

// A square matrix stored row-major, with the product the Durbin algorithm raises to powers.
struct Matrix {
    int size;
    std::vector<double> cells;
    explicit Matrix(int n) : size(n), cells(static_cast<size_t>(n) * static_cast<size_t>(n), 0.0) {}
    double& at(int row, int col) { return cells[static_cast<size_t>(row) * static_cast<size_t>(size) + static_cast<size_t>(col)]; }
    double at(int row, int col) const { return cells[static_cast<size_t>(row) * static_cast<size_t>(size) + static_cast<size_t>(col)]; }
    Matrix operator*(const Matrix& other) const {
        Matrix out(size);
        for (int i = 0; i < size; ++i)
            for (int k = 0; k < size; ++k) {
                const double a = at(i, k);
                if (a == 0) continue;
                for (int j = 0; j < size; ++j) out.at(i, j) += a * other.at(k, j);
            }
        return out;
    }
};

// Pr(D_n < x) by Durbin's matrix method as Marsaglia, Tsang & Wang (2003) evaluate it: the k-th
// diagonal entry of H^n times n!/n^n, with power-of-two rescaling to stay inside double range.
double durbin_cdf(int64_t n, double x) {
    const double nd = static_cast<double>(n) * x;
    if (x >= 1.0) return 1.0;
    if (nd <= 0.5) return 0.0;
    const int k = static_cast<int>(std::ceil(nd));
    const double h = k - nd;
    const int m = 2 * k - 1;
    constexpr int scale_exponent = 128;
    const double big = std::ldexp(1.0, scale_exponent), small = std::ldexp(1.0, -scale_exponent);

    std::vector<double> v(static_cast<size_t>(m)), w(static_cast<size_t>(m));
    double factorial_inverse = 1.0;
    for (int j = 1; j <= m; ++j) {
        w[static_cast<size_t>(j - 1)] = factorial_inverse;
        factorial_inverse /= j;
        v[static_cast<size_t>(j - 1)] = (1.0 - std::pow(h, j)) * factorial_inverse;
    }
    const double tail = std::pow(std::max(2 * h - 1.0, 0.0), m) - 2 * std::pow(h, m);
    v[static_cast<size_t>(m - 1)] = (1.0 + tail) * factorial_inverse;

    Matrix H(m);
    for (int i = 1; i < m; ++i)
        for (int row = i - 1; row < m; ++row) H.at(row, i) = w[static_cast<size_t>(row - (i - 1))];
    for (int row = 0; row < m; ++row) H.at(row, 0) = v[static_cast<size_t>(row)];
    for (int col = 0; col < m; ++col) H.at(m - 1, col) = v[static_cast<size_t>(m - 1 - col)];

    Matrix power(m);
    for (int i = 0; i < m; ++i) power.at(i, i) = 1.0;
    int64_t exponent = 0, h_exponent = 0;
    for (int64_t left = n; left > 0; left /= 2) {
        if (left % 2) {
            power = power * H;
            exponent += h_exponent;
        }
        H = H * H;
        h_exponent *= 2;
        if (std::abs(H.at(k - 1, k - 1)) > big) {
            for (double& cell : H.cells) cell /= big;
            h_exponent += scale_exponent;
        }
    }
    double p = power.at(k - 1, k - 1);
    for (int64_t i = 1; i <= n; ++i) {
        p = static_cast<double>(i) * p / static_cast<double>(n);
        if (std::abs(p) < small) {
            p *= big;
            exponent -= scale_exponent;
        }
    }
    if (exponent != 0) p = std::ldexp(p, static_cast<int>(exponent));
    return clip(p);
}

// Pr(D_n < x) by Pomeranz's (1974) recursion, the accurate method for small n and mid-range x.
double pomeranz_cdf(int64_t n64, double x) {
    const int n = static_cast<int>(n64);
    const double t = n * x;
    const int ll = static_cast<int>(std::floor(t));
    const double f = t - ll;
    const double g = std::min(f, 1.0 - f);
    const int ceilf = f > 0 ? 1 : 0;
    const int roundf = f > 0.5 ? 1 : 0;
    const int npowers = 2 * (ll + 1);
    constexpr int scale_exponent = 128;
    const double big = std::ldexp(1.0, scale_exponent), small = std::ldexp(1.0, -scale_exponent);

    // (g/n)^m/m!, (2g/n)^m/m! and ((1-2g)/n)^m/m!: the three kinds of step between rows.
    std::vector<double> gpower(static_cast<size_t>(npowers)), twogpower(static_cast<size_t>(npowers)),
        onem2gpower(static_cast<size_t>(npowers));
    gpower[0] = twogpower[0] = onem2gpower[0] = 1.0;
    for (int m = 1; m < npowers; ++m) {
        gpower[static_cast<size_t>(m)] = gpower[static_cast<size_t>(m - 1)] * (g / n) / m;
        twogpower[static_cast<size_t>(m)] = twogpower[static_cast<size_t>(m - 1)] * (2 * g / n) / m;
        onem2gpower[static_cast<size_t>(m)] = onem2gpower[static_cast<size_t>(m - 1)] * ((1 - 2 * g) / n) / m;
    }
    // The columns row i may reach: [j1, j2].
    const auto bounds = [&](int i, int& j1, int& j2) {
        if (i == 0) {
            j1 = -ll - ceilf - 1;
            j2 = ll + ceilf - 1;
        } else {
            const int half = (i + 1) / 2;
            if ((i + 1) % 2 == 0) {
                if (half == n + 1) {
                    j1 = n - ll - ceilf - 1;
                    j2 = n + ll + ceilf - 1;
                } else {
                    j1 = half - 1 - ll - roundf - 1;
                    j2 = half + ll - 1 + ceilf - 1;
                }
            } else {
                j1 = half - 1 - ll - 1;
                j2 = half + ll + roundf - 1;
            }
        }
        j1 = std::max(j1 + 2, 0);
        j2 = std::min(j2, n);
    };

    std::vector<double> previous(static_cast<size_t>(npowers), 0.0), row(static_cast<size_t>(npowers), 0.0);
    row[0] = 1.0;
    int previous_start = 0, row_start = 0;
    int64_t exponent = 0;
    int j1, j2;
    bounds(0, j1, j2);
    for (int i = 1; i < 2 * n + 2; ++i) {
        const int k1 = j1;
        std::swap(previous, row);
        std::swap(previous_start, row_start);
        std::fill(row.begin(), row.end(), 0.0);
        bounds(i, j1, j2);
        const std::vector<double>& powers = (i == 1 || i == 2 * n + 1) ? gpower : (i % 2 ? twogpower : onem2gpower);
        const int span = j2 - k1 + 1;
        if (span > 0) {
            // row[c] = sum over the convolution of previous[k1..] with powers, from index j1-k1.
            const int start = j1 - k1, length = j2 - j1 + 1;
            double largest = 0;
            for (int c = 0; c < length; ++c) {
                const int index = start + c;
                double sum = 0;
                for (int a = 0; a <= index && a < span; ++a) {
                    const int b = index - a, from = k1 - previous_start + a;
                    if (b >= span || from < 0 || from >= npowers) continue;
                    sum += previous[static_cast<size_t>(from)] * powers[static_cast<size_t>(b)];
                }
                row[static_cast<size_t>(c)] = sum;
                largest = std::max(largest, sum);
            }
            if (largest > 0 && largest < small) {
                for (double& cell : row) cell *= big;
                exponent -= scale_exponent;
            }
            row_start = previous_start + j1 - k1;
        }
    }
    double answer = row[static_cast<size_t>(n - row_start)];
    for (int m = 1; m <= n; ++m) {
        if (std::abs(answer) > big) {
            answer *= small;
            exponent += scale_exponent;
        }
        answer *= m;
    }
    if (exponent != 0) answer = std::ldexp(answer, static_cast<int>(exponent));
    return clip(answer);
}

// Pr(D_n < x) by Pelz & Good's (1976) asymptotic series: four terms in 1/sqrt(n), each in the
// Jacobi-theta form that converges fast for small sqrt(n) x.
double pelz_good_cdf(int64_t n, double x) {
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    const double dn = static_cast<double>(n);
    const double z = std::sqrt(dn) * x;
    const double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
    const double qlog = -pi * pi / 8 / z2;
    if (qlog < -708) return 0.0;
    double q = std::exp(qlog);
    const double pi2 = pi * pi, pi4 = pi2 * pi2, pi6 = pi4 * pi2;

    const double k1a = -z2, k1b = pi2 / 4;
    const double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4, k2c = pi4 * (1 - 2 * z2) / 16;
    const double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16,
                 k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * z4 * z4;

    double K[4] = {0, 0, 0, 0};
    const int maxk = static_cast<int>(std::ceil(16 * z / pi));
    for (int k = maxk; k > 0; --k) {
        const double m = 2.0 * k - 1, m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
        const double qpower = std::pow(q, 8.0 * k);
        const double terms[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6};
        for (int i = 0; i < 4; ++i) K[i] = K[i] * qpower + terms[i];
    }
    const double sqrt_2pi = std::sqrt(2 * pi);
    const double divisors[4] = {z, 6 * z4, 72 * z4 * z3, 6480 * z6 * z4};
    for (int i = 0; i < 4; ++i) K[i] = K[i] * q * sqrt_2pi / divisors[i];

    q = std::exp(-pi2 / 2 / z2);
    double k2extra = 0, k3extra = 0;
    const double sqrt3z = std::sqrt(3.0) * z;
    for (int k = maxk; k > 0; --k) {
        const double k2 = static_cast<double>(k) * k, qk = std::pow(q, k2), kpi = pi * k;
        k2extra += k2 * qk;
        k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk;
    }
    K[2] += k2extra * pi2 * sqrt_2pi / (-36 * z3);
    K[3] += k3extra * pi2 * sqrt_2pi / (216 * z6);
    double sum = 0;
    for (int i = 0; i < 4; ++i) sum += K[i] / std::pow(dn, i / 2.0);
    return sum;
}

} // namespace

double smirnov_sf(int64_t n, double x) {
    if (!(n > 0 && x >= 0.0 && x <= 1.0)) return std::numeric_limits<double>::quiet_NaN();
    if (x == 0.0) return 1.0;
    const double dn = static_cast<double>(n);
    // Past a million terms scipy's smirnov takes the asymptotic form exp(-(6nx+1)^2 / 18n)
    // (within parts in 1e7 of the sum there); take it too, for the same answers.
    if (n > 1000000) return clip(std::exp(-(6 * dn * x + 1) * (6 * dn * x + 1) / (18 * dn)));
    const int64_t last = static_cast<int64_t>(std::floor(dn * (1.0 - x)));
    // Term v = C(n,v) x (x + v/n)^(v-1) (1 - x - v/n)^(n-v), summed in logs. The terms rise to
    // one peak and fall; once past it, terms below 1e-18 of the sum cannot change the answer.
    // log C(n, v), kept by the ratio C(n,v+1)/C(n,v) = (n-v)/(v+1) with compensated (Kahan)
    // summation: half a million plain additions would drift by parts in 1e9.
    double log_binomial = 0.0, compensation = 0.0;
    double sum = 0.0, previous_log = -std::numeric_limits<double>::infinity();
    for (int64_t v = 0; v <= last; ++v) {
        const double dv = static_cast<double>(v);
        const double at = x + dv / dn;
        const double rest = 1.0 - at;
        if (rest > 0.0 || v == n) {
            const double log_term = log_binomial + (dv - 1) * std::log(at) + (rest > 0.0 ? (dn - dv) * std::log(rest) : 0.0);
            const double term = std::exp(log_term);
            sum += term;
            if (log_term < previous_log && term < sum * 1e-18) break;
            previous_log = log_term;
        }
        const double step = std::log((dn - dv) / (dv + 1)) - compensation;
        const double next = log_binomial + step;
        compensation = (next - log_binomial) - step;
        log_binomial = next;
    }
    return clip(sum * x);
}

double kolmogorov_sf(int64_t n, double x) {
    if (n <= 0 || std::isnan(x)) return std::numeric_limits<double>::quiet_NaN();
    if (x >= 1.0) return 0.0;
    if (x <= 0.0) return 1.0;
    const double dn = static_cast<double>(n);
    const double t = dn * x;
    if (t <= 1.0) { // Ruben & Gambino: exact for 1/2n <= x <= 1/n
        if (t <= 0.5) return 1.0;
        double cdf;
        if (n <= 140) {
            cdf = 1.0;
            for (int64_t i = 1; i <= n; ++i) cdf *= static_cast<double>(i) * (1.0 / dn) * (2 * t - 1);
        } else {
            cdf = std::exp(log_factorial_over_power(n) + dn * std::log(2 * t - 1));
        }
        return clip(1.0 - cdf);
    }
    if (t >= dn - 1) return clip(2 * std::pow(1.0 - x, dn)); // Ruben & Gambino, the other end
    if (x >= 0.5) return clip(2 * smirnov_sf(n, x));          // the two tails no longer overlap
    const double nx2 = t * x;
    if (n <= 140) {
        if (nx2 <= 0.754693) return clip(1.0 - durbin_cdf(n, x));
        if (nx2 <= 4) return clip(1.0 - pomeranz_cdf(n, x));
        return clip(2 * smirnov_sf(n, x));
    }
    if (nx2 >= 370.0) return 0.0;
    if (nx2 >= 2.2) return clip(2 * smirnov_sf(n, x));
    const double cdf = (n <= 100000 && dn * std::pow(x, 1.5) <= 1.4) ? durbin_cdf(n, x) : pelz_good_cdf(n, x);
    return clip(1.0 - cdf);
}

} // namespace drift
