// The anomaly rules data.validate checks, and their severities. The rule names are what the
// anomalies Report, the stage's `severity` config and a schema column's "severity" use.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace trellis_validate {

/// What an anomaly does: nothing (the rule is off), a warning, or a failure of the stage.
enum class Severity { Off, Warn, Fail };

/// "off", "warn" or "fail".
inline const char* to_string(Severity severity) {
    switch (severity) {
    case Severity::Off: return "off";
    case Severity::Warn: return "warn";
    case Severity::Fail: return "fail";
    }
    return "off";
}

/// Parses "off", "warn" or "fail".
inline std::optional<Severity> severity_from_string(std::string_view text) {
    for (Severity severity : {Severity::Off, Severity::Warn, Severity::Fail})
        if (text == to_string(severity)) return severity;
    return std::nullopt;
}

/// One anomaly rule with its default severity.
struct Rule {
    const char* name;
    Severity default_severity;
    bool per_column; ///< may be overridden in a schema column's "severity"
};

/// Every rule, in the order anomalies are listed.
inline constexpr std::array<Rule, 6> rules = {{
    {"missing_column", Severity::Fail, true},    // a required schema column is not in the table
    {"type_mismatch", Severity::Fail, true},     // the column has another type than the schema's
    {"out_of_range", Severity::Fail, true},      // values below the schema's min or above its max
    {"unseen_category", Severity::Warn, true},   // values outside the column's domain
    {"too_many_missing", Severity::Fail, true},  // more missing values than max_missing_fraction
    {"new_column", Severity::Warn, false},       // a table column the schema does not list
}};

/// The rule named `name`, or nullptr.
inline const Rule* find_rule(std::string_view name) {
    for (const Rule& rule : rules)
        if (name == rule.name) return &rule;
    return nullptr;
}

/// "missing_column, type_mismatch, ...", for messages.
inline std::string rule_list(bool per_column_only = false) {
    std::string out;
    for (const Rule& rule : rules)
        if (!per_column_only || rule.per_column) out += (out.empty() ? "" : ", ") + std::string(rule.name);
    return out;
}

} // namespace trellis_validate
