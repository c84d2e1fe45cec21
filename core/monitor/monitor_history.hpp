// What trellis monitor keeps in the metadata store: a row per window it looked at (tables
// monitor_windows) and the state of each alert (monitor_alerts), and the hysteresis step that moves
// an alert between ok and firing. Alert changes are audited by the caller in the same transaction.
#pragma once

#include "monitor/monitor_policy.hpp"
#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trellis::monitor {

struct WindowRecord {
    int64_t id = 0;
    std::string monitor;
    std::string endpoint;
    std::optional<std::string> run_id;
    std::string status = "checked"; // checked | failed | skipped
    std::optional<std::string> message;
    std::optional<double> since, until;
    int64_t rows = 0;
    std::optional<int64_t> labelled;
    std::optional<double> first_at, last_at;
    std::map<std::string, double> metrics; // "STAGE.METRIC" -> value
    double at = 0;
};

// Appends `record` (inside the caller's transaction, if one is open); returns its id.
int64_t record_window(store::Database& db, const WindowRecord& record);
// The newest `limit` windows of `monitor`, newest first.
std::vector<WindowRecord> recent_windows(store::Database& db, const std::string& monitor, size_t limit);
// Every monitor that has recorded a window, by name, with its endpoint.
std::map<std::string, std::string> known_monitors(store::Database& db);

struct AlertState {
    std::string alert;
    bool firing = false;
    int streak = 0;               // windows in a row pointing to the other state
    std::optional<double> value;  // the metric in the last window that had it
    double since = 0;             // when it entered its state
    double updated_at = 0;
};

// The stored states of `monitor`'s alerts, by alert name.
std::map<std::string, AlertState> load_alerts(store::Database& db, const std::string& monitor);
void save_alert(store::Database& db, const std::string& monitor, const AlertState& state);

// One window's step of `rule`: with the metric's `value` in this window (none: no change), the
// state after it. It fires after `for_windows` windows in a row with `when` holding, and resolves
// after `clear_windows` windows in a row with `clear` holding (or, without `clear`, `when` not).
AlertState step_alert(const AlertRule& rule, AlertState state, std::optional<double> value, double now);

nlohmann::json window_json(const WindowRecord& record);
nlohmann::json alert_json(const AlertState& state);

} // namespace trellis::monitor
