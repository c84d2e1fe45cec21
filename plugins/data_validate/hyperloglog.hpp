// Distinct-value estimation for columns with more distinct values than data.validate counts
// exactly: HyperLogLog (Flajolet et al. 2007) with 2^14 one-byte registers and a 64-bit hash, so
// the relative standard error is 1.04 / sqrt(16384) = 0.81% and no large-range correction is
// needed; small cardinalities use linear counting, as the paper recommends.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace trellis_validate {

/// A 64-bit hash whose every bit depends on every input bit (splitmix64's finaliser), as
/// HyperLogLog needs: it reads the leading bits as a register index.
inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/// Hash of a byte string: FNV-1a, then mixed, since FNV's high bits alone are weak.
inline uint64_t hash_bytes(std::string_view bytes) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return mix64(h ^ bytes.size());
}

/// A HyperLogLog sketch of the distinct 64-bit hashes added to it.
class HyperLogLog {
public:
    /// Register count is 2^precision.
    static constexpr unsigned precision = 14;

    HyperLogLog() : registers_(size_t{1} << precision, 0) {}

    /// Adds one (already hashed) value; adding the same hash again changes nothing.
    void add(uint64_t hash) {
        const size_t index = static_cast<size_t>(hash >> (64 - precision));
        const uint64_t rest = hash << precision;
        // Position of the first 1 bit in the remaining 50 bits (51 when they are all zero).
        const uint8_t rank = rest == 0 ? static_cast<uint8_t>(64 - precision + 1)
                                       : static_cast<uint8_t>(__builtin_clzll(rest) + 1);
        if (rank > registers_[index]) registers_[index] = rank;
    }

    /// The estimated number of distinct values added.
    double estimate() const;

private:
    std::vector<uint8_t> registers_;
};

} // namespace trellis_validate
