// Distinct values and the most frequent values of a column in one pass, in bounded memory: exact
// counts while the column has at most `exact_limit` distinct values; past that, the distinct count
// is a HyperLogLog estimate (0.81% standard error) and the most frequent values come from the
// Space-Saving algorithm (Metwally et al. 2005) with `heavy_capacity` counters, whose counts may
// over-estimate by at most (values seen after the switch) / heavy_capacity.
#pragma once

#include "hyperloglog.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

namespace trellis_validate {

/// Space-Saving: `capacity` counters; a value without a counter takes over the smallest one.
/// The counters live in a min-heap by count, indexed by value, so each step is O(log capacity).
template <class Key, class Hasher> class SpaceSaving {
public:
    explicit SpaceSaving(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

    /// Starts a counter with a known count (the exact counts when the counter switches over).
    void seed(const Key& key, uint64_t count) {
        heap_.push_back({key, count});
        where_[key] = heap_.size() - 1;
        sift_up(heap_.size() - 1);
    }

    /// Counts one occurrence of `key`.
    void add(const Key& key) {
        if (auto it = where_.find(key); it != where_.end()) {
            ++heap_[it->second].count;
            sift_down(it->second);
            return;
        }
        if (heap_.size() < capacity_) {
            seed(key, 1);
            return;
        }
        // The smallest counter changes hands; its map node is reused, which saves an allocation
        // per row on a column of mostly new values.
        auto node = where_.extract(heap_[0].key);
        node.key() = key;
        node.mapped() = 0;
        where_.insert(std::move(node));
        heap_[0] = {key, heap_[0].count + 1};
        sift_down(0);
    }

    /// The counters, any order.
    std::vector<std::pair<Key, uint64_t>> counts() const {
        std::vector<std::pair<Key, uint64_t>> out;
        out.reserve(heap_.size());
        for (const auto& counter : heap_) out.emplace_back(counter.key, counter.count);
        return out;
    }

    size_t capacity() const { return capacity_; }

private:
    struct Counter {
        Key key;
        uint64_t count;
    };

    void swap_at(size_t a, size_t b) {
        std::swap(heap_[a], heap_[b]);
        where_[heap_[a].key] = a;
        where_[heap_[b].key] = b;
    }
    void sift_up(size_t i) {
        while (i > 0) {
            const size_t parent = (i - 1) / 2;
            if (heap_[parent].count <= heap_[i].count) return;
            swap_at(parent, i);
            i = parent;
        }
    }
    void sift_down(size_t i) {
        for (;;) {
            size_t smallest = i;
            for (size_t child : {2 * i + 1, 2 * i + 2})
                if (child < heap_.size() && heap_[child].count < heap_[smallest].count) smallest = child;
            if (smallest == i) return;
            swap_at(i, smallest);
            i = smallest;
        }
    }

    size_t capacity_;
    std::vector<Counter> heap_;
    std::unordered_map<Key, size_t, Hasher> where_;
};

/// Exact value counts up to a bound, then estimates (see the file comment). `Hasher` must mix
/// well (every output bit depending on every input bit): HyperLogLog reads its leading bits.
template <class Key, class Hasher> class ValueCounter {
public:
    /// `track_top`: keep counting the most frequent values after the switch (not needed for
    /// floats, whose top values are not reported).
    ValueCounter(size_t exact_limit, size_t heavy_capacity, bool track_top)
        : exact_limit_(exact_limit), track_top_(track_top), heavy_(heavy_capacity) {}

    /// Counts one value.
    void add(const Key& key) {
        if (!switched_) {
            ++exact_[key];
            if (exact_.size() > exact_limit_) switch_to_estimates();
            return;
        }
        sketch_.add(Hasher{}(key));
        if (track_top_) heavy_.add(key);
    }

    /// Whether distinct() and top() are exact.
    bool exact() const { return !switched_; }

    /// The number of distinct values (an estimate once !exact()).
    uint64_t distinct() const {
        if (!switched_) return exact_.size();
        return static_cast<uint64_t>(sketch_.estimate() + 0.5);
    }

    /// The `k` most frequent values with their counts, most frequent first; ties in ascending
    /// order of the value, so the same data always gives the same list.
    std::vector<std::pair<Key, uint64_t>> top(size_t k) const {
        std::vector<std::pair<Key, uint64_t>> all =
            switched_ ? heavy_.counts() : std::vector<std::pair<Key, uint64_t>>(exact_.begin(), exact_.end());
        auto order = [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; };
        if (all.size() > k) {
            std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), order);
            all.resize(k);
        } else {
            std::sort(all.begin(), all.end(), order);
        }
        return all;
    }

    /// The exact counts (empty once !exact()): for checking values against a domain.
    const std::unordered_map<Key, uint64_t, Hasher>& exact_counts() const { return exact_; }

private:
    // Every distinct value seen so far enters the sketch once, which gives the same registers as
    // adding every occurrence; the most frequent ones seed the Space-Saving counters.
    void switch_to_estimates() {
        switched_ = true;
        for (const auto& [key, count] : exact_) sketch_.add(Hasher{}(key));
        if (track_top_) {
            std::vector<std::pair<Key, uint64_t>> all(exact_.begin(), exact_.end());
            const size_t keep = std::min(all.size(), heavy_.capacity());
            std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                              [](const auto& a, const auto& b) { return a.second > b.second; });
            for (size_t i = 0; i < keep; ++i) heavy_.seed(all[i].first, all[i].second);
        }
        std::unordered_map<Key, uint64_t, Hasher>().swap(exact_);
    }

    size_t exact_limit_;
    bool track_top_;
    bool switched_ = false;
    std::unordered_map<Key, uint64_t, Hasher> exact_;
    HyperLogLog sketch_;
    SpaceSaving<Key, Hasher> heavy_;
};

} // namespace trellis_validate
