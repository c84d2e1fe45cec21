#include "monitor/monitor_policy.hpp"

#include "util/duration.hpp"
#include "util/nearest_names.hpp"

#include <charconv>
#include <cmath>
#include <set>

namespace trellis::monitor {
namespace {

using nlohmann::json;

std::string hint(const std::string& wanted, const std::vector<std::string>& candidates) {
    const auto near = core::nearest_names(wanted, candidates);
    return near.empty() ? "" : " (did you mean " + near.front() + "?)";
}

double duration_of(const json& value, const std::string& key) {
    if (value.is_number() && value.get<double>() > 0) return value.get<double>();
    if (value.is_string())
        if (const auto seconds = core::parse_duration(value.get<std::string>()); seconds && *seconds > 0) return *seconds;
    throw PolicyError(key + ": a duration such as \"30s\", \"5m\" or \"1h\", not " + value.dump());
}

int64_t count_of(const json& value, const std::string& key, int64_t least) {
    if (!value.is_number_integer() || value.get<int64_t>() < least)
        throw PolicyError(key + ": a whole number of at least " + std::to_string(least) + ", not " + value.dump());
    return value.get<int64_t>();
}

AlertRule read_alert(const std::string& name, json spec, const core::Pipeline& pipeline) {
    const std::string at = "alerts." + name;
    AlertRule rule;
    rule.name = name;
    if (spec.is_string()) spec = json{{"when", spec}};
    if (!spec.is_object()) throw PolicyError(at + ": a condition such as \"drift.drift_share >= 0.5\" or a table { when = ..., ... }");
    for (const auto& [key, value] : spec.items()) {
        if (key == "when" || key == "clear") {
            if (!value.is_string()) throw PolicyError(at + "." + key + ": a condition such as \"drift.drift_share >= 0.5\"");
            try {
                MetricCondition condition = parse_condition(value.get<std::string>(), pipeline);
                if (key == "when") rule.when = std::move(condition);
                else rule.clear = std::move(condition);
            } catch (const PolicyError& e) {
                throw PolicyError(at + "." + key + ": " + e.what());
            }
        } else if (key == "for_windows") {
            rule.for_windows = static_cast<int>(count_of(value, at + ".for_windows", 1));
        } else if (key == "clear_windows") {
            rule.clear_windows = static_cast<int>(count_of(value, at + ".clear_windows", 1));
        } else if (key == "severity") {
            if (value != "warning" && value != "critical") throw PolicyError(at + ".severity: \"warning\" or \"critical\"");
            rule.severity = value.get<std::string>();
        } else {
            throw PolicyError(at + ": unknown key '" + key + "'" +
                              hint(key, {"when", "clear", "for_windows", "clear_windows", "severity"}) +
                              "; keys: when, clear, for_windows, clear_windows, severity");
        }
    }
    if (rule.when.stage.empty()) throw PolicyError(at + ": has no 'when' condition");
    if (rule.clear && (rule.clear->stage != rule.when.stage || rule.clear->metric != rule.when.metric))
        throw PolicyError(at + ".clear: must watch the metric 'when' watches (" + rule.when.stage + "." + rule.when.metric + ")");
    if (!spec.contains("clear_windows")) rule.clear_windows = rule.for_windows;
    return rule;
}

} // namespace

bool MetricCondition::holds(double observed) const {
    if (op == ">=") return observed >= value;
    if (op == ">") return observed > value;
    if (op == "<=") return observed <= value;
    return observed < value;
}

MetricCondition parse_condition(const std::string& text, const core::Pipeline& pipeline) {
    MetricCondition condition;
    condition.text = text;
    size_t op_at = std::string::npos;
    for (const char* op : {">=", "<=", ">", "<"}) {
        const size_t found = text.find(op);
        if (found != std::string::npos && (op_at == std::string::npos || found < op_at ||
                                           (found == op_at && std::string(op).size() > condition.op.size()))) {
            op_at = found;
            condition.op = op;
        }
    }
    if (op_at == std::string::npos)
        throw PolicyError("'" + text + "' is not STAGE.METRIC OP NUMBER (OP one of >=, >, <=, <), e.g. \"drift.drift_share >= 0.5\"");
    const auto trim = [](std::string part) {
        part.erase(0, part.find_first_not_of(" \t"));
        part.erase(part.find_last_not_of(" \t") + 1);
        return part;
    };
    const std::string name = trim(text.substr(0, op_at));
    const std::string number = trim(text.substr(op_at + condition.op.size()));
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), condition.value);
    if (number.empty() || error != std::errc() || end != number.data() + number.size() || !std::isfinite(condition.value))
        throw PolicyError("'" + text + "': '" + number + "' is not a number");
    // The longest stage id that prefixes the name: ids may hold dots themselves.
    std::vector<std::string> ids;
    for (const auto& stage : pipeline.stages) {
        ids.push_back(stage.id);
        if (name.size() > stage.id.size() + 1 && name.compare(0, stage.id.size(), stage.id) == 0 && name[stage.id.size()] == '.' &&
            stage.id.size() > condition.stage.size())
            condition.stage = stage.id;
    }
    if (condition.stage.empty()) {
        const std::string first = name.substr(0, name.find('.'));
        throw PolicyError("'" + text + "' names no stage of the script: '" + first + "'" + hint(first, ids) +
                          " (a condition reads STAGE.METRIC, e.g. drift.drift_share)");
    }
    condition.metric = name.substr(condition.stage.size() + 1);
    return condition;
}

MonitorPolicy read_monitor_policy(const core::Pipeline& pipeline) {
    if (!pipeline.monitor.is_object())
        throw PolicyError(pipeline.file + ": declares no monitor { endpoint = ..., ... }; it is a pipeline, not a monitoring "
                                          "policy (run it with trellis run)");
    MonitorPolicy policy;
    policy.name = pipeline.name;
    policy.where = pipeline.monitor_where;
    const std::string at = policy.where.str() + ": monitor: ";
    try {
        for (const auto& [key, value] : pipeline.monitor.items()) {
            if (key == "endpoint") {
                if (!value.is_string() || value.get<std::string>().empty()) throw PolicyError("endpoint: the served endpoint's name");
                policy.endpoint = value.get<std::string>();
            } else if (key == "every") {
                policy.every = duration_of(value, "every");
            } else if (key == "window") {
                if (value.is_number_integer()) policy.window_rows = static_cast<size_t>(count_of(value, "window", 1));
                else policy.window_seconds = duration_of(value, "window (a duration such as \"10m\", or a number of rows)");
            } else if (key == "min_rows") {
                policy.min_rows = static_cast<size_t>(count_of(value, "min_rows", 1));
            } else if (key == "alerts") {
                if (!value.is_object())
                    throw PolicyError("alerts: a table of named alerts { data_drift = \"drift.drift_share >= 0.5\", ... }");
                for (const auto& [name, spec] : value.items()) policy.alerts.push_back(read_alert(name, spec, pipeline));
            } else {
                throw PolicyError("unknown key '" + key + "'" +
                                  hint(key, {"endpoint", "every", "window", "min_rows", "alerts"}) +
                                  "; keys: endpoint, every, window, min_rows, alerts");
            }
        }
        if (policy.endpoint.empty()) throw PolicyError("endpoint: required, the served endpoint to watch");
        if (!policy.window_seconds && !policy.window_rows) policy.window_seconds = policy.every;
    } catch (const PolicyError& e) {
        throw PolicyError(at + e.what());
    }
    return policy;
}

} // namespace trellis::monitor
