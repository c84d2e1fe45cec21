#include "serve/serve_metrics.hpp"

#include <cstdio>

namespace trellis::serve {

namespace {

// A label value with the exposition format's escapes.
std::string label(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

std::string number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return text;
}

} // namespace

void ServeMetrics::observe(const std::string& endpoint, int64_t version, int status, double seconds) {
    std::lock_guard lock(mutex_);
    Series& series = series_[{endpoint, version}];
    ++series.by_status[status];
    ++series.count;
    series.sum += seconds;
    for (size_t i = 0; i < latency_buckets.size(); ++i)
        if (seconds <= latency_buckets[i]) ++series.buckets[i];
}

void ServeMetrics::load_failed(const std::string& endpoint) {
    std::lock_guard lock(mutex_);
    ++load_failures_[endpoint];
}

std::string ServeMetrics::render(const http::ServerCounters& server) const {
    std::string out;
    out += "# HELP trellis_requests_total Inference requests answered, by endpoint, model version and HTTP status.\n";
    out += "# TYPE trellis_requests_total counter\n";
    std::lock_guard lock(mutex_);
    for (const auto& [key, series] : series_)
        for (const auto& [status, count] : series.by_status)
            out += "trellis_requests_total{endpoint=\"" + label(key.first) + "\",version=\"" + std::to_string(key.second) +
                   "\",code=\"" + std::to_string(status) + "\"} " + std::to_string(count) + "\n";
    out += "# HELP trellis_request_duration_seconds Time from a whole request to its response being ready.\n";
    out += "# TYPE trellis_request_duration_seconds histogram\n";
    for (const auto& [key, series] : series_) {
        const std::string labels = "endpoint=\"" + label(key.first) + "\",version=\"" + std::to_string(key.second) + "\"";
        for (size_t i = 0; i < latency_buckets.size(); ++i)
            out += "trellis_request_duration_seconds_bucket{" + labels + ",le=\"" + number(latency_buckets[i]) + "\"} " +
                   std::to_string(series.buckets[i]) + "\n";
        out += "trellis_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(series.count) + "\n";
        out += "trellis_request_duration_seconds_sum{" + labels + "} " + number(series.sum) + "\n";
        out += "trellis_request_duration_seconds_count{" + labels + "} " + std::to_string(series.count) + "\n";
    }
    out += "# HELP trellis_model_load_failures_total Model versions that failed to load or warm up.\n";
    out += "# TYPE trellis_model_load_failures_total counter\n";
    for (const auto& [endpoint, count] : load_failures_)
        out += "trellis_model_load_failures_total{endpoint=\"" + label(endpoint) + "\"} " + std::to_string(count) + "\n";
    out += "# HELP trellis_http_open_connections Connections open now.\n# TYPE trellis_http_open_connections gauge\n";
    out += "trellis_http_open_connections " + std::to_string(server.open_connections.load()) + "\n";
    out += "# HELP trellis_http_requests_in_flight Requests being worked on now.\n# TYPE trellis_http_requests_in_flight gauge\n";
    out += "trellis_http_requests_in_flight " + std::to_string(server.in_flight.load()) + "\n";
    out += "# HELP trellis_http_overload_refusals_total Connections and requests refused with 503 for overload.\n";
    out += "# TYPE trellis_http_overload_refusals_total counter\n";
    out += "trellis_http_overload_refusals_total " + std::to_string(server.refused_overloaded.load()) + "\n";
    return out;
}

} // namespace trellis::serve
