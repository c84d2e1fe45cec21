// What `trellis serve` counts, exposed at /metrics in the Prometheus text format (version 0.0.4):
// requests by endpoint, model version, variant (primary, canary, shadow, version) and status code,
// their latency as a histogram, model load failures, prediction log records and drops, shadow
// copies dropped, and the HTTP layer's own counters (open connections, requests in flight,
// refusals). Counting is lock-free once a series exists: requests on every thread count at once.
#pragma once

#include "http/http_server.hpp"

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <tuple>

namespace trellis::serve {

// Counters kept elsewhere that /metrics shows too.
struct ExternalCounters {
    const http::ServerCounters* server = nullptr;
    int64_t log_written = 0;
    int64_t log_dropped = 0;
};

class ServeMetrics {
public:
    // Upper bounds of the latency buckets, in seconds.
    static constexpr std::array<double, 14> latency_buckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                            0.025,  0.05,    0.1,    0.25,  0.5,   1.0,  2.5};

    // One answered request.
    void observe(const std::string& endpoint, int64_t version, const std::string& variant, int status, double seconds);
    // A version that could not be loaded or warmed.
    void load_failed(const std::string& endpoint);
    // A shadow copy dropped because the shadow's queue was full.
    void shadow_dropped(const std::string& endpoint);
    // Labels stored from a POST to the endpoint's labels path.
    void labels_received(const std::string& endpoint, size_t count);
    // The exposition text.
    std::string render(const ExternalCounters& external) const;

private:
    struct Series {
        std::array<std::atomic<int64_t>, latency_buckets.size()> buckets{};
        std::atomic<int64_t> count{0};
        std::atomic<int64_t> sum_nanoseconds{0};
    };
    using Key = std::tuple<std::string, int64_t, std::string, int>; // endpoint, version, variant, status
    Series& series(const std::string& endpoint, int64_t version, const std::string& variant, int status);
    void increment(std::map<std::string, int64_t>& counts, const std::string& endpoint, int64_t by = 1);

    mutable std::shared_mutex mutex_;
    std::map<Key, std::unique_ptr<Series>, std::less<>> series_;
    std::map<std::string, int64_t> load_failures_;
    std::map<std::string, int64_t> shadow_drops_;
    std::map<std::string, int64_t> labels_;
};

} // namespace trellis::serve
