// The data schema: what data.validate expects of a table, per column. Inferred from a reference
// table's statistics, written as editable JSON (kind "trellis.data_schema", version 1, format in
// the README) and read back, with errors that name the line and column (bad JSON) or the JSON
// path (valid JSON of the wrong shape).
#pragma once

#include "column_statistics.hpp"
#include "rules.hpp"

#include <trellis/table.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis_validate {

/// The "kind" of a schema document.
inline constexpr const char* schema_kind = "trellis.data_schema";

/// What one column must satisfy. An absent bound, domain or missing limit checks nothing.
struct SchemaColumn {
    std::string name;
    trellis::ColumnType type = trellis::ColumnType::Float64;
    bool required = true;                         ///< the column must be in the table
    std::optional<double> max_missing_fraction;   ///< of the rows, in [0, 1]; 0: no missing value
    std::optional<double> min, max;               ///< int and float columns
    std::optional<std::vector<std::string>> string_domain; ///< string columns: the allowed values
    std::optional<std::vector<int64_t>> int_domain;        ///< int columns: the allowed values
    std::map<std::string, Severity> severity;     ///< per-rule overrides for this column
    std::string description;                      ///< free text, kept when written back
};

struct DataSchema {
    std::vector<SchemaColumn> columns;
    std::string description;
    /// The column named `name`, or nullptr.
    const SchemaColumn* find(std::string_view name) const;
};

/// How a schema is inferred from statistics (documented in the README).
struct InferenceOptions {
    double range_margin = 0.1;  ///< widen [min, max] by this fraction of (max - min) on each side
    size_t max_domain_size = 20; ///< string and int columns with at most this many distinct values get a domain
};

/// The schema the reference's statistics imply.
DataSchema infer_schema(const TableStatistics& reference, const InferenceOptions& options);

/// The schema as indented JSON, one column per line, for people to edit.
std::string schema_json(const DataSchema& schema);

/// Reads a schema document. `source` names where it came from ("schema_file 'x.json'") and
/// starts every error: "<source>: line 3, column 7: ..." or "<source>: $.columns[2].min: ...".
/// Throws std::invalid_argument.
DataSchema parse_schema(std::string_view text, const std::string& source);

} // namespace trellis_validate
