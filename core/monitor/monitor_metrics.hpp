// The /metrics page of a running trellis monitor: the latest window's metrics as gauges (one
// series per stage and metric, groups such as accuracy{version=3,variant=canary} as labels),
// each alert's state, and counts of windows by outcome, for Prometheus to scrape and alert on.
#pragma once

#include "monitor/monitor_history.hpp"

#include <map>
#include <mutex>
#include <string>

namespace trellis::monitor {

class MonitorMetrics {
public:
    explicit MonitorMetrics(const MonitorPolicy& policy);

    // A window was looked at (checked, failed or skipped), and the alerts are now `alerts` (null:
    // as they were).
    void window_done(const WindowRecord& record, const std::map<std::string, AlertState>* alerts);
    // The exposition text.
    std::string render() const;

private:
    std::string monitor_;
    std::string endpoint_;
    std::map<std::string, std::string> severities_; // alert -> severity
    mutable std::mutex mutex_;
    std::map<std::string, int64_t> windows_; // by status
    std::optional<WindowRecord> last_checked_;
    std::map<std::string, AlertState> alerts_;
};

// Splits "accuracy{version=3,variant=canary}" into "accuracy" and its labels; a name without
// braces has none. Label names are made valid for Prometheus ([a-zA-Z_][a-zA-Z0-9_]*).
std::pair<std::string, std::map<std::string, std::string>> split_metric_name(const std::string& name);

} // namespace trellis::monitor
