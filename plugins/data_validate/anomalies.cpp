#include "anomalies.hpp"

#include "json_reader.hpp"
#include "json_writer.hpp"

#include <trellis/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace trellis_validate {

namespace {

using trellis::ColumnType;
using trellis::json_string;

std::string percent(double fraction) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3g%%", 100.0 * fraction);
    return text;
}

std::string first_row(const std::optional<size_t>& row) {
    return row ? "first at row " + std::to_string(*row) : std::string();
}

// A value found in the data; JSON has no infinity, so it is written in words.
std::string value_text(double value) {
    if (std::isinf(value)) return value > 0 ? "infinity" : "-infinity";
    return short_json_number(value);
}

std::string range_detail(const SchemaColumn& column, const ColumnStatistics& stats) {
    const ConstraintCounts& v = stats.violations;
    const uint64_t outside = v.below_min + v.above_max;
    std::string out = std::to_string(outside) + " of " + std::to_string(stats.count) + " values ";
    std::string extremes;
    if (v.below_min > 0 && v.above_max > 0) {
        out += "outside [" + short_json_number(*column.min) + ", " + short_json_number(*column.max) + "]";
        extremes = "lowest " + value_text(v.lowest) + ", highest " + value_text(v.highest);
    } else if (v.below_min > 0) {
        out += "below min " + short_json_number(*column.min);
        extremes = "lowest " + value_text(v.lowest);
    } else {
        out += "above max " + short_json_number(*column.max);
        extremes = "highest " + value_text(v.highest);
    }
    return out + " (" + extremes + ", " + first_row(v.first_out_of_range_row) + ")";
}

std::string unseen_detail(const SchemaColumn& column, const ColumnStatistics& stats) {
    const ConstraintCounts& v = stats.violations;
    const size_t domain_size = column.string_domain ? column.string_domain->size()
                                                    : column.int_domain ? column.int_domain->size() : 0;
    std::vector<std::pair<std::string, uint64_t>> examples(v.unseen_values.begin(), v.unseen_values.end());
    std::stable_sort(examples.begin(), examples.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::string shown;
    for (size_t i = 0; i < examples.size() && i < 3; ++i)
        shown += (i ? ", " : "") + quoted(examples[i].first) + " x" + std::to_string(examples[i].second);
    if (examples.size() > 3) shown += ", ...";
    return std::to_string(v.unseen) + " of " + std::to_string(stats.count) + " values not in the domain of " +
           std::to_string(domain_size) + " values: " + shown + " (" + first_row(v.first_unseen_row) + ")";
}

void add(std::vector<Anomaly>& out, const SeverityPolicy& policy, const SchemaColumn* column, const std::string& name,
         const char* rule, std::string detail) {
    const Severity severity = policy.resolve(rule, column);
    if (severity == Severity::Off) return;
    out.push_back({name, rule, severity, std::move(detail)});
}

void check_column(const SchemaColumn& column, const trellis::Column* actual, const TableStatistics& statistics,
                  const SeverityPolicy& policy, std::vector<Anomaly>& out) {
    if (!actual) {
        if (column.required)
            add(out, policy, &column, column.name, "missing_column",
                "required by the schema (" + std::string(trellis::to_string(column.type)) + ") but not in the table");
        return;
    }
    const ColumnStatistics* stats = statistics.find(column.name);
    if (!stats) return; // statistics cover every table column; nothing to say otherwise
    if (!type_fits(column.type, actual->type())) {
        add(out, policy, &column, column.name, "type_mismatch",
            "the table's column is " + std::string(trellis::to_string(actual->type())) + ", the schema says " +
                std::string(trellis::to_string(column.type)));
    } else {
        if (stats->violations.below_min + stats->violations.above_max > 0)
            add(out, policy, &column, column.name, "out_of_range", range_detail(column, *stats));
        if (stats->violations.unseen > 0)
            add(out, policy, &column, column.name, "unseen_category", unseen_detail(column, *stats));
    }
    if (column.max_missing_fraction && statistics.rows > 0) {
        const double fraction = static_cast<double>(stats->missing) / static_cast<double>(statistics.rows);
        if (fraction > *column.max_missing_fraction)
            add(out, policy, &column, column.name, "too_many_missing",
                std::to_string(stats->missing) + " of " + std::to_string(statistics.rows) + " values missing (" +
                    percent(fraction) + "), the schema allows " + percent(*column.max_missing_fraction));
    }
}

const char* fail_on_name(FailOn fail_on) {
    switch (fail_on) {
    case FailOn::Fail: return "fail";
    case FailOn::Warn: return "warn";
    case FailOn::Never: return "never";
    }
    return "fail";
}

bool counts_as_failure(const Anomaly& anomaly, FailOn fail_on) {
    switch (fail_on) {
    case FailOn::Fail: return anomaly.severity == Severity::Fail;
    case FailOn::Warn: return anomaly.severity != Severity::Off;
    case FailOn::Never: return false;
    }
    return false;
}

} // namespace

SeverityPolicy SeverityPolicy::from_config_json(const std::string& json_text) {
    JsonValue value;
    try {
        value = parse_json(json_text);
    } catch (const JsonSyntaxError& e) {
        throw std::invalid_argument(std::string("severity: not valid JSON: ") + e.what());
    }
    if (value.kind != JsonValue::Kind::Object)
        throw std::invalid_argument(std::string("severity: expected a table of rule = \"warn\"|\"fail\"|\"off\", not ") +
                                    describe(value.kind));
    SeverityPolicy policy;
    for (const auto& [rule, level] : value.members) {
        if (!find_rule(rule))
            throw std::invalid_argument("severity: unknown rule " + quoted(rule) + " (rules: " + rule_list() + ")");
        const auto severity = level.kind == JsonValue::Kind::String ? severity_from_string(level.text) : std::nullopt;
        if (!severity)
            throw std::invalid_argument("severity: rule '" + rule + "' must be \"warn\", \"fail\" or \"off\"");
        policy.overrides_[rule] = *severity;
    }
    return policy;
}

Severity SeverityPolicy::resolve(const std::string& rule, const SchemaColumn* column) const {
    if (column)
        if (auto it = column->severity.find(rule); it != column->severity.end()) return it->second;
    if (auto it = overrides_.find(rule); it != overrides_.end()) return it->second;
    const Rule* known = find_rule(rule);
    return known ? known->default_severity : Severity::Fail;
}

bool type_fits(ColumnType expected, ColumnType actual) {
    return expected == actual || (expected == ColumnType::Float64 && actual == ColumnType::Int64);
}

std::map<std::string, ColumnConstraints> constraints_for(const DataSchema& schema, const trellis::Table& table) {
    std::map<std::string, ColumnConstraints> out;
    for (const SchemaColumn& column : schema.columns) {
        const trellis::Column* actual = table.find(column.name);
        if (!actual || !type_fits(column.type, actual->type())) continue;
        ColumnConstraints constraints;
        constraints.min = column.min;
        constraints.max = column.max;
        if (column.string_domain && actual->type() == ColumnType::String) {
            constraints.check_domain = true;
            for (const std::string& value : *column.string_domain) constraints.string_domain.insert(value);
        }
        if (column.int_domain && actual->type() == ColumnType::Int64) {
            constraints.check_domain = true;
            constraints.int_domain.insert(column.int_domain->begin(), column.int_domain->end());
        }
        out.emplace(column.name, std::move(constraints));
    }
    return out;
}

std::vector<Anomaly> find_anomalies(const DataSchema& schema, const trellis::Table& table,
                                    const TableStatistics& statistics, const SeverityPolicy& policy) {
    std::vector<Anomaly> out;
    for (const SchemaColumn& column : schema.columns) check_column(column, table.find(column.name), statistics, policy, out);
    for (const trellis::Column& column : table.columns())
        if (!schema.find(column.name()))
            add(out, policy, nullptr, column.name(), "new_column",
                "not in the schema (a " + std::string(trellis::to_string(column.type())) + " column)");
    std::stable_sort(out.begin(), out.end(), [](const Anomaly& a, const Anomaly& b) {
        return (a.severity == Severity::Fail) > (b.severity == Severity::Fail);
    });
    return out;
}

bool fails(const std::vector<Anomaly>& anomalies, FailOn fail_on) {
    return std::any_of(anomalies.begin(), anomalies.end(), [&](const Anomaly& a) { return counts_as_failure(a, fail_on); });
}

std::string anomalies_json(const std::vector<Anomaly>& anomalies, size_t rows, const std::string& schema_source,
                           FailOn fail_on) {
    size_t failing = 0, warning = 0;
    for (const Anomaly& anomaly : anomalies) (anomaly.severity == Severity::Fail ? failing : warning) += 1;
    const char* status = fails(anomalies, fail_on) ? "failed" : anomalies.empty() ? "passed" : "warned";
    std::string out = std::string("{\"kind\": \"") + anomalies_kind + "\", \"version\": 1, \"status\": \"" + status +
                      "\", \"fail_on\": \"" + fail_on_name(fail_on) + "\", \"rows\": " + std::to_string(rows) +
                      ", \"schema_source\": " + json_string(schema_source) + ", \"counts\": {\"fail\": " +
                      std::to_string(failing) + ", \"warn\": " + std::to_string(warning) + "}, \"anomalies\": [";
    for (size_t i = 0; i < anomalies.size(); ++i) {
        const Anomaly& a = anomalies[i];
        out += std::string(i ? ",\n  " : "\n  ") + "{\"column\": " + json_string(a.column) + ", \"rule\": " +
               json_string(a.rule) + ", \"severity\": \"" + to_string(a.severity) + "\", \"detail\": " +
               json_string(a.detail) + "}";
    }
    return out + (anomalies.empty() ? "]}" : "\n]}");
}

std::string failure_summary(const std::vector<Anomaly>& anomalies, FailOn fail_on, size_t listed) {
    std::vector<const Anomaly*> failing;
    for (const Anomaly& anomaly : anomalies)
        if (counts_as_failure(anomaly, fail_on)) failing.push_back(&anomaly);
    std::string out = std::to_string(failing.size()) + (failing.size() == 1 ? " failing anomaly" : " failing anomalies");
    if (anomalies.size() > failing.size()) out += " (of " + std::to_string(anomalies.size()) + ")";
    out += ": ";
    for (size_t i = 0; i < failing.size() && i < listed; ++i)
        out += (i ? "; " : "") + std::string("column ") + quoted(failing[i]->column) + " " + failing[i]->rule + ": " +
               failing[i]->detail;
    if (failing.size() > listed)
        out += "; and " + std::to_string(failing.size() - listed) + " more (see the anomalies report)";
    return out;
}

std::string quoted(const std::string& name) {
    std::string out = "'";
    for (char c : name) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
    return out + "'";
}

} // namespace trellis_validate
