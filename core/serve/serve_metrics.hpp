// What `trellis serve` counts, exposed at /metrics in the Prometheus text format (version 0.0.4):
// requests by endpoint, version and status code, their latency as a histogram, model load
// failures, and the HTTP layer's own counters (open connections, requests in flight, refusals).
#pragma once

#include "http/http_server.hpp"

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

namespace trellis::serve {

class ServeMetrics {
public:
    // Upper bounds of the latency buckets, in seconds.
    static constexpr std::array<double, 14> latency_buckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                            0.025,  0.05,    0.1,    0.25,  0.5,   1.0,  2.5};

    // One answered request.
    void observe(const std::string& endpoint, int64_t version, int status, double seconds);
    // A version that could not be loaded or warmed.
    void load_failed(const std::string& endpoint);
    // The exposition text.
    std::string render(const http::ServerCounters& server) const;

private:
    struct Series {
        std::map<int, int64_t> by_status;
        std::array<int64_t, latency_buckets.size()> buckets{};
        int64_t count = 0;
        double sum = 0;
    };
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int64_t>, Series> series_;
    std::map<std::string, int64_t> load_failures_;
};

} // namespace trellis::serve
