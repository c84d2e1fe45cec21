// A monitoring policy: a pipeline script with a `monitor { ... }` declaration, which says which
// endpoint to watch, how often and over which window, and which alerts to raise on the metrics the
// script's stages (monitor.drift, monitor.performance, a vendor's own) compute on each window.
#pragma once

#include "pipeline/pipeline.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace trellis::monitor {

// A policy that cannot be used: one line naming FILE:LINE of the monitor declaration and the key.
class PolicyError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// "STAGE.METRIC OP NUMBER", e.g. "drift.drift_share >= 0.5" or
// "performance.accuracy{version=3,variant=primary} < 0.9".
struct MetricCondition {
    std::string stage;  // a stage id of the script
    std::string metric; // the metric that stage logs
    std::string op;     // >=, >, <=, <
    double value = 0;
    std::string text;   // as written
    bool holds(double observed) const;
};

// Fires when `when` has held for `for_windows` windows in a row; resolves when `clear` (by default:
// `when` not holding) has held for `clear_windows` windows in a row. A clear threshold apart from
// the firing one, and more than one window, keep an alert from flapping on a value near its limit.
// A window without the metric (no labels yet) changes nothing.
struct AlertRule {
    std::string name;
    MetricCondition when;
    std::optional<MetricCondition> clear;
    int for_windows = 1;
    int clear_windows = 1;
    std::string severity = "warning"; // warning | critical
};

struct MonitorPolicy {
    std::string name;      // the pipeline's name
    std::string endpoint;
    double every = 60;     // seconds between windows, when running continuously
    std::optional<double> window_seconds; // a window of the last N seconds ...
    std::optional<size_t> window_rows;    // ... or of the newest N rows
    size_t min_rows = 1;   // fewer rows: the window is skipped, not checked
    std::vector<AlertRule> alerts;
    core::SourceLocation where;
};

// Reads the `monitor` declaration of a validated pipeline (stage ids resolved). Throws PolicyError
// for a script without one, an unknown or mistyped key, and an alert naming a stage the script
// does not have.
MonitorPolicy read_monitor_policy(const core::Pipeline& pipeline);

// Parses "STAGE.METRIC OP NUMBER" against the pipeline's stage ids; throws PolicyError (without
// location) saying what is wrong.
MetricCondition parse_condition(const std::string& text, const core::Pipeline& pipeline);

} // namespace trellis::monitor
