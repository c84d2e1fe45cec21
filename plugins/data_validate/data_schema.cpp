#include "data_schema.hpp"

#include "json_reader.hpp"
#include "json_writer.hpp"

#include <trellis/json.hpp>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <stdexcept>

namespace trellis_validate {

namespace {

using trellis::ColumnType;
using trellis::json_string;
using Kind = JsonValue::Kind;

bool numeric(ColumnType type) { return type == ColumnType::Int64 || type == ColumnType::Float64; }

// ---- inference

// `value` rounded down (or up) to 3 significant digits of `range`, so that a widened bound reads
// 14.3 in the schema file, not 14.290000000000001. Dividing by a power of ten (instead of
// multiplying by its inverse) gives the double nearest to the decimal.
double round_outward(double value, double range, bool up) {
    if (!(range > 0) || !std::isfinite(range)) return value;
    const int exponent = static_cast<int>(std::floor(std::log10(range))) - 2;
    const double scale = std::pow(10.0, std::abs(exponent));
    if (exponent < 0) return (up ? std::ceil(value * scale) : std::floor(value * scale)) / scale;
    return (up ? std::ceil(value / scale) : std::floor(value / scale)) * scale;
}

void infer_range(const ColumnStatistics& stats, const InferenceOptions& options, SchemaColumn& column) {
    // A reference with infinities has no finite bound to give; leave the range open.
    if (!numeric(stats.type) || !stats.min || !stats.max || stats.infinite > 0) return;
    const double range = *stats.max - *stats.min;
    double low = *stats.min, high = *stats.max;
    if (options.range_margin > 0) {
        low = round_outward(low - options.range_margin * range, range, false);
        high = round_outward(high + options.range_margin * range, range, true);
    }
    if (stats.type == ColumnType::Int64) {
        low = std::floor(low);
        high = std::ceil(high);
    }
    column.min = low;
    column.max = high;
}

void infer_domain(const ColumnStatistics& stats, const InferenceOptions& options, SchemaColumn& column) {
    if (stats.type != ColumnType::Int64 && stats.type != ColumnType::String) return;
    if (!stats.all_values || stats.all_values->empty() || stats.all_values->size() > options.max_domain_size) return;
    // Values must repeat (at least two rows per value on average): a small reference whose
    // values are all different (ids, names) says nothing about which values may come.
    if (stats.all_values->size() * 2 > stats.count) return;
    if (stats.type == ColumnType::Int64) {
        std::vector<int64_t> values;
        for (const auto& value : *stats.all_values) values.push_back(value.integer);
        std::sort(values.begin(), values.end());
        column.int_domain = std::move(values);
    } else {
        std::vector<std::string> values;
        for (const auto& value : *stats.all_values) values.push_back(value.text);
        std::sort(values.begin(), values.end());
        column.string_domain = std::move(values);
    }
}

// ---- writing

std::string column_json(const SchemaColumn& column) {
    std::string out = "{\"name\": " + json_string(column.name) + ", \"type\": " + json_string(trellis::to_string(column.type)) +
                      ", \"required\": " + (column.required ? "true" : "false");
    if (column.max_missing_fraction) out += ", \"max_missing_fraction\": " + short_json_number(*column.max_missing_fraction);
    if (column.min) out += ", \"min\": " + short_json_number(*column.min);
    if (column.max) out += ", \"max\": " + short_json_number(*column.max);
    if (column.int_domain) {
        out += ", \"domain\": [";
        for (size_t i = 0; i < column.int_domain->size(); ++i) out += (i ? ", " : "") + std::to_string((*column.int_domain)[i]);
        out += "]";
    }
    if (column.string_domain) {
        out += ", \"domain\": [";
        for (size_t i = 0; i < column.string_domain->size(); ++i) out += (i ? ", " : "") + json_string((*column.string_domain)[i]);
        out += "]";
    }
    if (!column.severity.empty()) {
        out += ", \"severity\": {";
        bool first = true;
        for (const auto& [rule, severity] : column.severity) {
            out += (first ? "" : ", ") + json_string(rule) + ": " + json_string(to_string(severity));
            first = false;
        }
        out += "}";
    }
    if (!column.description.empty()) out += ", \"description\": " + json_string(column.description);
    return out + "}";
}

// ---- reading

// Walks the document with the JSON path of the value in hand, so every shape error says where.
class ShapeReader {
public:
    explicit ShapeReader(std::string source) : source_(std::move(source)) {}

    [[noreturn]] void fail(const std::string& path, const std::string& why) const {
        throw std::invalid_argument(source_ + ": " + path + ": " + why);
    }

    const JsonValue& expect(const JsonValue& value, Kind kind, const std::string& path) const {
        if (value.kind != kind) fail(path, std::string("expected ") + describe(kind) + ", not " + describe(value.kind));
        return value;
    }

    void known_keys(const JsonValue& object, std::initializer_list<const char*> keys, const std::string& path) const {
        for (const auto& [key, value] : object.members) {
            const bool known = std::any_of(keys.begin(), keys.end(), [&](const char* k) { return key == k; });
            if (known) continue;
            std::string list;
            for (const char* k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
            fail(member_path(path, key), "unknown key (a schema " + std::string(path == "$" ? "document" : "column") +
                                             " has: " + list + ")");
        }
    }

    static std::string member_path(const std::string& path, const std::string& key) {
        const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        });
        return plain ? path + "." + key : path + "[" + json_string(key) + "]";
    }

    SchemaColumn column(const JsonValue& value, const std::string& path) const {
        expect(value, Kind::Object, path);
        known_keys(value, {"name", "type", "required", "max_missing_fraction", "min", "max", "domain", "severity", "description"},
                   path);
        SchemaColumn out;
        const JsonValue* name = value.find("name");
        if (!name) fail(path, "a column needs a \"name\"");
        out.name = expect(*name, Kind::String, path + ".name").text;
        if (out.name.empty()) fail(path + ".name", "a column name must not be empty");

        const JsonValue* type = value.find("type");
        if (!type) fail(path, "column '" + out.name + "' needs a \"type\" (int, float, bool or string)");
        const auto parsed = trellis::column_type_from_string(expect(*type, Kind::String, path + ".type").text);
        if (!parsed) fail(path + ".type", json_string(type->text) + " is not a column type (int, float, bool, string)");
        out.type = *parsed;

        if (const JsonValue* required = value.find("required"))
            out.required = expect(*required, Kind::Bool, path + ".required").boolean;
        if (const JsonValue* fraction = value.find("max_missing_fraction"); fraction && fraction->kind != Kind::Null) {
            const double f = expect(*fraction, Kind::Number, path + ".max_missing_fraction").number;
            if (!(f >= 0 && f <= 1)) fail(path + ".max_missing_fraction", "must be between 0 and 1, not " + short_json_number(f));
            out.max_missing_fraction = f;
        }
        out.min = bound(value, "min", out, path);
        out.max = bound(value, "max", out, path);
        if (out.min && out.max && *out.min > *out.max)
            fail(path, "min (" + short_json_number(*out.min) + ") is greater than max (" + short_json_number(*out.max) + ")");
        domain(value, out, path);
        if (const JsonValue* severity = value.find("severity")) severities(*severity, out, path + ".severity");
        if (const JsonValue* description = value.find("description"))
            out.description = expect(*description, Kind::String, path + ".description").text;
        return out;
    }

private:
    std::optional<double> bound(const JsonValue& column, const char* key, const SchemaColumn& out, const std::string& path) const {
        const JsonValue* value = column.find(key);
        if (!value || value->kind == Kind::Null) return std::nullopt;
        const std::string at = path + "." + key;
        if (!numeric(out.type))
            fail(at, std::string(key) + " applies to int and float columns; column '" + out.name + "' is " +
                         std::string(trellis::to_string(out.type)));
        return expect(*value, Kind::Number, at).number;
    }

    void domain(const JsonValue& column, SchemaColumn& out, const std::string& path) const {
        const JsonValue* value = column.find("domain");
        if (!value || value->kind == Kind::Null) return;
        const std::string at = path + ".domain";
        expect(*value, Kind::Array, at);
        if (out.type == ColumnType::String) {
            std::vector<std::string> values;
            for (size_t i = 0; i < value->items.size(); ++i)
                values.push_back(expect(value->items[i], Kind::String, at + "[" + std::to_string(i) + "]").text);
            out.string_domain = std::move(values);
        } else if (out.type == ColumnType::Int64) {
            std::vector<int64_t> values;
            for (size_t i = 0; i < value->items.size(); ++i) {
                const JsonValue& item = value->items[i];
                const std::string item_path = at + "[" + std::to_string(i) + "]";
                if (!item.is_integer())
                    fail(item_path, std::string("expected an integer (column '") + out.name + "' is int), not " +
                                        (item.kind == Kind::Number ? short_json_number(item.number) : describe(item.kind)));
                values.push_back(static_cast<int64_t>(item.number));
            }
            out.int_domain = std::move(values);
        } else {
            fail(at, "a domain applies to string and int columns; column '" + out.name + "' is " +
                         std::string(trellis::to_string(out.type)));
        }
    }

    void severities(const JsonValue& value, SchemaColumn& out, const std::string& path) const {
        expect(value, Kind::Object, path);
        for (const auto& [rule_name, level] : value.members) {
            const std::string at = member_path(path, rule_name);
            const Rule* rule = find_rule(rule_name);
            if (!rule || !rule->per_column)
                fail(at, "not a rule a column can override (" + rule_list(true) + ")");
            const auto severity =
                severity_from_string(expect(level, Kind::String, at).text);
            if (!severity) fail(at, json_string(level.text) + " is not a severity (warn, fail, off)");
            out.severity[rule_name] = *severity;
        }
    }

    std::string source_;
};

} // namespace

const SchemaColumn* DataSchema::find(std::string_view name) const {
    for (const auto& column : columns)
        if (column.name == name) return &column;
    return nullptr;
}

DataSchema infer_schema(const TableStatistics& reference, const InferenceOptions& options) {
    DataSchema schema;
    for (const ColumnStatistics& stats : reference.columns) {
        SchemaColumn column;
        column.name = stats.name;
        column.type = stats.type;
        column.required = true;
        if (reference.rows > 0) {
            // No missing value in the reference: none allowed. Some: up to twice as many.
            const double fraction = static_cast<double>(stats.missing) / static_cast<double>(reference.rows);
            column.max_missing_fraction = std::min(1.0, 2 * fraction);
        }
        infer_range(stats, options, column);
        infer_domain(stats, options, column);
        schema.columns.push_back(std::move(column));
    }
    return schema;
}

std::string schema_json(const DataSchema& schema) {
    std::string out = std::string("{\n  \"kind\": \"") + schema_kind + "\",\n  \"version\": 1,\n";
    if (!schema.description.empty()) out += "  \"description\": " + json_string(schema.description) + ",\n";
    out += "  \"columns\": [";
    for (size_t i = 0; i < schema.columns.size(); ++i) out += (i ? ",\n    " : "\n    ") + column_json(schema.columns[i]);
    return out + (schema.columns.empty() ? "]\n}\n" : "\n  ]\n}\n");
}

DataSchema parse_schema(std::string_view text, const std::string& source) {
    JsonValue document;
    try {
        document = parse_json(text);
    } catch (const JsonSyntaxError& e) {
        throw std::invalid_argument(source + ": not valid JSON: " + e.what());
    }
    const ShapeReader reader(source);
    reader.expect(document, Kind::Object, "$");
    reader.known_keys(document, {"kind", "version", "description", "columns"}, "$");
    if (const JsonValue* kind = document.find("kind")) {
        if (reader.expect(*kind, Kind::String, "$.kind").text != schema_kind)
            reader.fail("$.kind", json_string(kind->text) + " is not a schema; expected \"" + schema_kind + "\"");
    }
    if (const JsonValue* version = document.find("version")) {
        if (reader.expect(*version, Kind::Number, "$.version").number != 1)
            reader.fail("$.version", "version " + short_json_number(version->number) + " is not supported (this plugin reads version 1)");
    }
    DataSchema schema;
    if (const JsonValue* description = document.find("description"))
        schema.description = reader.expect(*description, Kind::String, "$.description").text;
    const JsonValue* columns = document.find("columns");
    if (!columns) reader.fail("$", "a schema needs \"columns\", an array of columns");
    reader.expect(*columns, Kind::Array, "$.columns");
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < columns->items.size(); ++i) {
        const std::string path = "$.columns[" + std::to_string(i) + "]";
        SchemaColumn column = reader.column(columns->items[i], path);
        if (auto [it, fresh] = seen.emplace(column.name, i); !fresh)
            reader.fail(path + ".name", "column '" + column.name + "' is listed twice (also at $.columns[" +
                                            std::to_string(it->second) + "])");
        schema.columns.push_back(std::move(column));
    }
    return schema;
}

} // namespace trellis_validate
