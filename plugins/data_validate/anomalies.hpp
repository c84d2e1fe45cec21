// Checking a table against a schema: the constraints the statistics pass checks per value, the
// anomalies found (each naming its column and rule, with a severity), and the anomalies Report
// (JSON of kind "trellis.anomalies", version 1, documented in the README).
#pragma once

#include "column_statistics.hpp"
#include "data_schema.hpp"
#include "rules.hpp"

#include <map>
#include <string>
#include <vector>

namespace trellis_validate {

/// The "kind" of the anomalies Report.
inline constexpr const char* anomalies_kind = "trellis.anomalies";

/// One way the table breaks the schema.
struct Anomaly {
    std::string column;
    std::string rule;
    Severity severity = Severity::Warn;
    std::string detail; ///< one line: what was found, with counts, values and the first row
};

/// Severities: each rule's default, then the stage's `severity` config, then a schema column's
/// own "severity" (the most specific wins).
class SeverityPolicy {
public:
    SeverityPolicy() = default;
    /// Overrides from the stage's `severity` config, a JSON object of rule -> "warn"|"fail"|"off".
    /// Throws std::invalid_argument naming the key at fault.
    static SeverityPolicy from_config_json(const std::string& json_text);

    /// The severity of `rule` for `column` (may be null: a column the schema does not list).
    Severity resolve(const std::string& rule, const SchemaColumn* column) const;

private:
    std::map<std::string, Severity> overrides_;
};

/// Whether a table column of type `actual` satisfies a schema column of type `expected`: the same
/// type, or an int column where the schema says float (a CSV of whole numbers reads as int).
bool type_fits(trellis::ColumnType expected, trellis::ColumnType actual);

/// The per-value checks for the statistics pass, for each table column the schema lists with a
/// fitting type. Views into `schema`, which must outlive the result.
std::map<std::string, ColumnConstraints> constraints_for(const DataSchema& schema, const trellis::Table& table);

/// Every anomaly of `table` (whose statistics, computed with constraints_for, are `statistics`)
/// against `schema`, failures first, then in schema order, then columns the schema lacks. Rules
/// whose severity is off give none.
std::vector<Anomaly> find_anomalies(const DataSchema& schema, const trellis::Table& table,
                                    const TableStatistics& statistics, const SeverityPolicy& policy);

/// What the stage does about anomalies: fail on `fail` ones (the default), on any, or never.
enum class FailOn { Fail, Warn, Never };

/// Whether the anomalies fail the stage under `fail_on`.
bool fails(const std::vector<Anomaly>& anomalies, FailOn fail_on);

/// The anomalies Report's JSON text.
std::string anomalies_json(const std::vector<Anomaly>& anomalies, size_t rows, const std::string& schema_source,
                           FailOn fail_on);

/// One line for the stage's error: "2 failing anomalies: column 'x' out_of_range: ...; ...",
/// listing at most `listed` of the anomalies that fail it.
std::string failure_summary(const std::vector<Anomaly>& anomalies, FailOn fail_on, size_t listed = 3);

/// `name` in single quotes, control characters shown as '?', so a message stays one line.
std::string quoted(const std::string& name);

} // namespace trellis_validate
