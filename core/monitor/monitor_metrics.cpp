#include "monitor/monitor_metrics.hpp"

#include "http/prometheus_text.hpp"

namespace trellis::monitor {

using http::prometheus_header;
using http::prometheus_label;
using http::prometheus_number;

namespace {

std::string label_name(std::string name) {
    for (char& c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) c = '_';
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) name = "_" + name;
    // The series' own labels keep their meaning.
    if (name == "monitor" || name == "endpoint" || name == "stage" || name == "metric" || name.starts_with("__"))
        name = "group_" + name;
    return name;
}

} // namespace

std::pair<std::string, std::map<std::string, std::string>> split_metric_name(const std::string& name) {
    const size_t open = name.find('{');
    if (open == std::string::npos || name.back() != '}') return {name, {}};
    std::map<std::string, std::string> labels;
    const std::string inside = name.substr(open + 1, name.size() - open - 2);
    size_t start = 0;
    while (start <= inside.size()) {
        size_t end = inside.find(',', start);
        if (end == std::string::npos) end = inside.size();
        const std::string pair = inside.substr(start, end - start);
        const size_t equals = pair.find('=');
        if (equals != std::string::npos) labels[label_name(pair.substr(0, equals))] = pair.substr(equals + 1);
        start = end + 1;
    }
    return {name.substr(0, open), labels};
}

MonitorMetrics::MonitorMetrics(const MonitorPolicy& policy) : monitor_(policy.name), endpoint_(policy.endpoint) {
    for (const auto& rule : policy.alerts) severities_[rule.name] = rule.severity;
}

void MonitorMetrics::window_done(const WindowRecord& record, const std::map<std::string, AlertState>* alerts) {
    std::lock_guard lock(mutex_);
    ++windows_[record.status];
    if (record.status == "checked") last_checked_ = record;
    if (alerts) alerts_ = *alerts;
}

std::string MonitorMetrics::render() const {
    std::lock_guard lock(mutex_);
    const std::string own = "monitor=\"" + prometheus_label(monitor_) + "\",endpoint=\"" + prometheus_label(endpoint_) + "\"";
    std::string out;
    prometheus_header(out, "trellis_monitor_windows_total", "Windows of the prediction log the monitor looked at, by outcome.");
    for (const char* status : {"checked", "failed", "skipped"}) {
        const auto found = windows_.find(status);
        out += "trellis_monitor_windows_total{" + own + ",status=\"" + status + "\"} " +
               std::to_string(found == windows_.end() ? 0 : found->second) + "\n";
    }
    prometheus_header(out, "trellis_monitor_metric",
                      "What the policy's stages measured on the latest checked window, by stage and metric.", "gauge");
    if (last_checked_) {
        for (const auto& [full, value] : last_checked_->metrics) {
            const size_t dot = full.find('.');
            const std::string stage = full.substr(0, dot);
            auto [metric, labels] = split_metric_name(full.substr(dot + 1));
            std::string series = own + ",stage=\"" + prometheus_label(stage) + "\",metric=\"" + prometheus_label(metric) + "\"";
            for (const auto& [name, text] : labels) series += "," + name + "=\"" + prometheus_label(text) + "\"";
            out += "trellis_monitor_metric{" + series + "} " + prometheus_number(value) + "\n";
        }
    }
    prometheus_header(out, "trellis_monitor_window_rows", "Rows in the latest checked window.", "gauge");
    prometheus_header(out, "trellis_monitor_window_labelled_rows", "Rows of the latest checked window with a label.", "gauge");
    prometheus_header(out, "trellis_monitor_last_window_timestamp_seconds", "When the latest window was checked.", "gauge");
    if (last_checked_) {
        out += "trellis_monitor_window_rows{" + own + "} " + std::to_string(last_checked_->rows) + "\n";
        if (last_checked_->labelled)
            out += "trellis_monitor_window_labelled_rows{" + own + "} " + std::to_string(*last_checked_->labelled) + "\n";
        out += "trellis_monitor_last_window_timestamp_seconds{" + own + "} " + prometheus_number(last_checked_->at) + "\n";
    }
    prometheus_header(out, "trellis_monitor_alert_firing", "1 while the alert fires, else 0.", "gauge");
    for (const auto& [alert, severity] : severities_) {
        const auto found = alerts_.find(alert);
        const bool firing = found != alerts_.end() && found->second.firing;
        out += "trellis_monitor_alert_firing{" + own + ",alert=\"" + prometheus_label(alert) + "\",severity=\"" + severity +
               "\"} " + (firing ? "1" : "0") + "\n";
    }
    return out;
}

} // namespace trellis::monitor
