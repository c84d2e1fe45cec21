#include "sorted_values.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace drift {
namespace {

constexpr int digit_bits = 11;
constexpr int digit_count = 6; // 6 * 11 >= 64
constexpr size_t buckets = size_t{1} << digit_bits;
// Below this a comparison sort wins: the radix sort's histograms cost more than the data.
constexpr size_t radix_threshold = 2048;

// Maps a double to an unsigned key with the same order: negative values have every bit flipped,
// the others only the sign bit.
uint64_t key_of(double value) {
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return (bits & 0x8000000000000000ull) ? ~bits : bits ^ 0x8000000000000000ull;
}

double value_of(uint64_t key) {
    const uint64_t bits = (key & 0x8000000000000000ull) ? key ^ 0x8000000000000000ull : ~key;
    double value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

} // namespace

void radix_sort(std::vector<double>& values) {
    const size_t n = values.size();
    if (n < radix_threshold) {
        std::sort(values.begin(), values.end());
        return;
    }
    std::vector<uint64_t> keys(n), scratch(n);
    std::vector<std::array<size_t, buckets>> counts(digit_count);
    for (auto& count : counts) count.fill(0);
    for (size_t i = 0; i < n; ++i) {
        const uint64_t key = key_of(values[i]);
        keys[i] = key;
        for (int d = 0; d < digit_count; ++d) ++counts[d][(key >> (d * digit_bits)) & (buckets - 1)];
    }
    for (int d = 0; d < digit_count; ++d) {
        auto& count = counts[d];
        const int shift = d * digit_bits;
        // A digit every key shares orders nothing: skipping it is common for the top digits.
        if (count[(keys[0] >> shift) & (buckets - 1)] == n) continue;
        size_t offset = 0;
        for (auto& c : count) {
            const size_t here = c;
            c = offset;
            offset += here;
        }
        for (size_t i = 0; i < n; ++i) scratch[count[(keys[i] >> shift) & (buckets - 1)]++] = keys[i];
        keys.swap(scratch);
    }
    for (size_t i = 0; i < n; ++i) values[i] = value_of(keys[i]);
}

SortedValues sorted_values(const trellis::Column& column) {
    SortedValues out;
    const size_t n = column.size();
    out.values.reserve(n - column.null_count());
    const uint8_t* validity = column.validity_bits();
    const auto valid = [&](size_t i) { return validity == nullptr || ((validity[i / 8] >> (i % 8)) & 1); };
    if (column.type() == trellis::ColumnType::Int64) {
        const auto* data = static_cast<const int64_t*>(column.data_buffer());
        for (size_t i = 0; i < n; ++i)
            if (valid(i)) out.values.push_back(static_cast<double>(data[i]));
    } else {
        const auto* data = static_cast<const double*>(column.data_buffer());
        for (size_t i = 0; i < n; ++i) {
            if (!valid(i) || std::isnan(data[i])) continue;
            out.values.push_back(data[i] + 0.0); // -0.0 + 0.0 is 0.0
        }
    }
    out.missing = n - out.values.size();
    radix_sort(out.values);
    return out;
}

} // namespace drift
