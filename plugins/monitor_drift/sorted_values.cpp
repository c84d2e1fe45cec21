#include "sorted_values.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

namespace drift {
namespace {

// The sort is most-significant-digit first: a pass on the top 16 bits (sign, exponent, four
// mantissa bits), then within each bucket a pass on the next digit, whose width follows the
// bucket's size (about one value per counter), and so on until buckets are small enough for
// insertion sort. After two passes a million varied values sit in groups of a few, so each value
// is moved about twice; a least-significant-digit sort moves it once per digit, through the whole
// array each time (measured on a million normal values: see docs/performance.md).
constexpr int top_bits = 16;
constexpr int max_digit_bits = 12;
// Below this a comparison sort wins: the radix sort's histograms cost more than the data.
constexpr size_t radix_threshold = 2048;
// Buckets this small are finished by insertion sort.
constexpr size_t small_bucket = 32;

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

// Sorts keys[0, n), which agree on their bits above `bits_left`, and writes the values, ascending,
// to `out`; scratch has room for n and may be overwritten, as may keys.
void sort_range(uint64_t* keys, uint64_t* scratch, size_t n, double* out, int bits_left, int digit_bits) {
    if (n <= small_bucket || bits_left == 0) {
        for (size_t i = 1; i < n; ++i) {
            const uint64_t key = keys[i];
            size_t k = i;
            for (; k > 0 && keys[k - 1] > key; --k) keys[k] = keys[k - 1];
            keys[k] = key;
        }
        for (size_t i = 0; i < n; ++i) out[i] = value_of(keys[i]);
        return;
    }
    digit_bits = std::min(digit_bits, bits_left);
    const int shift = bits_left - digit_bits;
    const size_t buckets = size_t{1} << digit_bits;
    const uint64_t mask = buckets - 1;
    std::vector<uint32_t> start(buckets + 1, 0);
    for (size_t i = 0; i < n; ++i) ++start[((keys[i] >> shift) & mask) + 1];
    for (size_t b = 0; b < buckets; ++b) start[b + 1] += start[b];
    std::vector<uint32_t> next(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) scratch[next[(keys[i] >> shift) & mask]++] = keys[i];
    for (size_t b = 0; b < buckets; ++b) {
        const size_t first = start[b], count = start[b + 1] - start[b];
        if (count == 0) continue;
        // About one value per counter in the next pass: wide enough to split, small enough that
        // clearing the counters costs less than the values.
        const int width = std::clamp(static_cast<int>(std::bit_width(count)) - 1, 4, max_digit_bits);
        sort_range(scratch + first, keys + first, count, out + first, shift, width);
    }
}

// Sorts keys[0, n) (scratch has room for n) and writes the values, ascending, to `out`.
void sort_keys(uint64_t* keys, uint64_t* scratch, size_t n, double* out) { sort_range(keys, scratch, n, out, 64, top_bits); }

} // namespace

SortedValues sorted_values(const trellis::Column& column) {
    SortedValues out;
    const size_t n = column.size();
    const uint8_t* validity = column.validity_bits();
    const auto valid = [&](size_t i) { return validity == nullptr || ((validity[i / 8] >> (i % 8)) & 1); };
    // Keys straight from the column's buffer: one pass fewer than copying the values first.
    // Not value-initialised: every key is written before it is read.
    const std::unique_ptr<uint64_t[]> keys(new uint64_t[n]);
    size_t present = 0;
    if (column.type() == trellis::ColumnType::Int64) {
        const auto* data = static_cast<const int64_t*>(column.data_buffer());
        for (size_t i = 0; i < n; ++i)
            if (valid(i)) keys[present++] = key_of(static_cast<double>(data[i]));
    } else {
        const auto* data = static_cast<const double*>(column.data_buffer());
        for (size_t i = 0; i < n; ++i)
            if (valid(i) && !std::isnan(data[i])) keys[present++] = key_of(data[i] + 0.0); // -0.0 + 0.0 is 0.0
    }
    out.missing = n - present;
    out.values.resize(present);
    if (present < radix_threshold || present > UINT32_MAX) {
        for (size_t i = 0; i < present; ++i) out.values[i] = value_of(keys[i]);
        std::sort(out.values.begin(), out.values.end());
    } else {
        const std::unique_ptr<uint64_t[]> scratch(new uint64_t[present]);
        sort_keys(keys.get(), scratch.get(), present, out.values.data());
    }
    return out;
}

} // namespace drift
