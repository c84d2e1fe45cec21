#include "hyperloglog.hpp"

#include <cmath>

namespace trellis_validate {

double HyperLogLog::estimate() const {
    const double m = static_cast<double>(registers_.size());
    double sum = 0;
    size_t zeros = 0;
    for (uint8_t rank : registers_) {
        sum += std::ldexp(1.0, -static_cast<int>(rank));
        if (rank == 0) ++zeros;
    }
    const double alpha = 0.7213 / (1.0 + 1.079 / m);
    const double raw = alpha * m * m / sum;
    // Linear counting is the better estimate while many registers are still empty.
    if (raw <= 2.5 * m && zeros > 0) return m * std::log(m / static_cast<double>(zeros));
    return raw;
}

} // namespace trellis_validate
