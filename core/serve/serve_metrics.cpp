#include "serve/serve_metrics.hpp"

#include "http/prometheus_text.hpp"

#include <mutex>

namespace trellis::serve {

using http::prometheus_header;
using http::prometheus_label;

ServeMetrics::Series& ServeMetrics::series(const std::string& endpoint, int64_t version, const std::string& variant,
                                           int status) {
    const Key key{endpoint, version, variant, status};
    {
        std::shared_lock lock(mutex_);
        if (auto found = series_.find(key); found != series_.end()) return *found->second;
    }
    std::unique_lock lock(mutex_);
    auto& slot = series_[key];
    if (!slot) slot = std::make_unique<Series>();
    return *slot;
}

void ServeMetrics::observe(const std::string& endpoint, int64_t version, const std::string& variant, int status,
                           double seconds) {
    Series& s = series(endpoint, version, variant, status);
    s.count.fetch_add(1, std::memory_order_relaxed);
    s.sum_nanoseconds.fetch_add(static_cast<int64_t>(seconds * 1e9), std::memory_order_relaxed);
    for (size_t i = 0; i < latency_buckets.size(); ++i)
        if (seconds <= latency_buckets[i]) s.buckets[i].fetch_add(1, std::memory_order_relaxed);
}

void ServeMetrics::increment(std::map<std::string, int64_t>& counts, const std::string& endpoint, int64_t by) {
    std::unique_lock lock(mutex_);
    counts[endpoint] += by;
}

void ServeMetrics::load_failed(const std::string& endpoint) { increment(load_failures_, endpoint); }

void ServeMetrics::shadow_dropped(const std::string& endpoint) { increment(shadow_drops_, endpoint); }

void ServeMetrics::labels_received(const std::string& endpoint, size_t count) {
    increment(labels_, endpoint, static_cast<int64_t>(count));
}

std::string ServeMetrics::render(const ExternalCounters& external) const {
    std::string out;
    std::shared_lock lock(mutex_);
    prometheus_header(out, "trellis_requests_total",
                   "Inference requests answered, by endpoint, model version, variant and HTTP status.");
    for (const auto& [key, s] : series_) {
        const auto& [endpoint, version, variant, status] = key;
        out += "trellis_requests_total{endpoint=\"" + prometheus_label(endpoint) + "\",version=\"" + std::to_string(version) +
               "\",variant=\"" + prometheus_label(variant) + "\",code=\"" + std::to_string(status) + "\"} " +
               std::to_string(s->count.load()) + "\n";
    }
    prometheus_header(out, "trellis_request_duration_seconds", "Time from a whole request to its response being ready.",
                   "histogram");
    // One histogram per endpoint, version and variant: the per-status series summed.
    struct Sum {
        std::array<int64_t, latency_buckets.size()> buckets{};
        int64_t count = 0;
        int64_t nanoseconds = 0;
    };
    std::map<std::tuple<std::string, int64_t, std::string>, Sum> histograms;
    for (const auto& [key, s] : series_) {
        Sum& sum = histograms[{std::get<0>(key), std::get<1>(key), std::get<2>(key)}];
        for (size_t i = 0; i < latency_buckets.size(); ++i) sum.buckets[i] += s->buckets[i].load();
        sum.count += s->count.load();
        sum.nanoseconds += s->sum_nanoseconds.load();
    }
    for (const auto& [key, sum] : histograms) {
        const auto& [endpoint, version, variant] = key;
        const std::string labels = "endpoint=\"" + prometheus_label(endpoint) + "\",version=\"" + std::to_string(version) +
                                   "\",variant=\"" + prometheus_label(variant) + "\"";
        for (size_t i = 0; i < latency_buckets.size(); ++i)
            out += "trellis_request_duration_seconds_bucket{" + labels + ",le=\"" + http::prometheus_number(latency_buckets[i]) + "\"} " +
                   std::to_string(sum.buckets[i]) + "\n";
        out += "trellis_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(sum.count) + "\n";
        out += "trellis_request_duration_seconds_sum{" + labels + "} " + http::prometheus_number(static_cast<double>(sum.nanoseconds) / 1e9) + "\n";
        out += "trellis_request_duration_seconds_count{" + labels + "} " + std::to_string(sum.count) + "\n";
    }
    prometheus_header(out, "trellis_model_load_failures_total", "Model versions that failed to load or warm up.");
    for (const auto& [endpoint, count] : load_failures_)
        out += "trellis_model_load_failures_total{endpoint=\"" + prometheus_label(endpoint) + "\"} " + std::to_string(count) + "\n";
    prometheus_header(out, "trellis_shadow_dropped_total", "Shadow copies of requests dropped because the shadow queue was full.");
    for (const auto& [endpoint, count] : shadow_drops_)
        out += "trellis_shadow_dropped_total{endpoint=\"" + prometheus_label(endpoint) + "\"} " + std::to_string(count) + "\n";
    prometheus_header(out, "trellis_labels_received_total", "Delayed labels posted to the endpoint and stored.");
    for (const auto& [endpoint, count] : labels_)
        out += "trellis_labels_received_total{endpoint=\"" + prometheus_label(endpoint) + "\"} " + std::to_string(count) + "\n";
    prometheus_header(out, "trellis_prediction_log_records_total", "Records written to the prediction log.");
    out += "trellis_prediction_log_records_total " + std::to_string(external.log_written) + "\n";
    prometheus_header(out, "trellis_prediction_log_dropped_total",
                   "Prediction log records dropped: the queue was full or the file could not be written.");
    out += "trellis_prediction_log_dropped_total " + std::to_string(external.log_dropped) + "\n";
    if (const auto* server = external.server) {
        prometheus_header(out, "trellis_http_open_connections", "Connections open now.", "gauge");
        out += "trellis_http_open_connections " + std::to_string(server->open_connections.load()) + "\n";
        prometheus_header(out, "trellis_http_requests_in_flight", "Requests being worked on now.", "gauge");
        out += "trellis_http_requests_in_flight " + std::to_string(server->in_flight.load()) + "\n";
        prometheus_header(out, "trellis_http_overload_refusals_total", "Connections and requests refused with 503 for overload.");
        out += "trellis_http_overload_refusals_total " + std::to_string(server->refused_overloaded.load()) + "\n";
    }
    return out;
}

} // namespace trellis::serve
