#include "statistics_report.hpp"

#include <trellis/json.hpp>

namespace trellis_validate {

namespace {

using trellis::ColumnType;
using trellis::json_number;
using trellis::json_string;

std::string optional_number(const std::optional<double>& value) { return value ? json_number(*value) : "null"; }

std::string optional_count(const std::optional<uint64_t>& value) { return value ? std::to_string(*value) : "null"; }

std::string column_json(const ColumnStatistics& column) {
    const bool numeric = column.type == ColumnType::Int64 || column.type == ColumnType::Float64;
    std::string out = "{\"name\": " + json_string(column.name) + ", \"type\": " +
                      json_string(trellis::to_string(column.type)) + ", \"count\": " + std::to_string(column.count) +
                      ", \"missing\": " + std::to_string(column.missing);
    if (column.type == ColumnType::Float64) out += ", \"infinite\": " + std::to_string(column.infinite);
    if (column.type != ColumnType::String)
        out += ", \"mean\": " + optional_number(column.mean) + ", \"std\": " + optional_number(column.std) +
               ", \"min\": " + optional_number(column.min) + ", \"max\": " + optional_number(column.max);
    if (numeric) {
        out += ", \"quantiles\": [";
        for (size_t i = 0; i < column.quantiles.size(); ++i)
            out += std::string(i ? ", " : "") + "{\"q\": " + json_number(column.quantiles[i].first) +
                   ", \"value\": " + json_number(column.quantiles[i].second) + "}";
        out += "], \"histogram\": [";
        for (size_t i = 0; i < column.histogram.size(); ++i)
            out += std::string(i ? ", " : "") + "{\"low\": " + json_number(column.histogram[i].low) +
                   ", \"high\": " + json_number(column.histogram[i].high) +
                   ", \"count\": " + std::to_string(column.histogram[i].count) + "}";
        out += "]";
    }
    out += ", \"distinct\": " + std::to_string(column.distinct) +
           ", \"distinct_exact\": " + (column.distinct_exact ? "true" : "false");
    if (column.type != ColumnType::Float64) {
        out += ", \"top_values\": [";
        for (size_t i = 0; i < column.top_values.size(); ++i)
            out += std::string(i ? ", " : "") + "{\"value\": " + value_json(column.top_values[i], column.type) +
                   ", \"count\": " + std::to_string(column.top_values[i].count) + "}";
        out += std::string("], \"top_values_exact\": ") + (column.top_values_exact ? "true" : "false");
    }
    if (column.type == ColumnType::String)
        out += ", \"min_length\": " + optional_count(column.min_length) + ", \"max_length\": " +
               optional_count(column.max_length) + ", \"mean_length\": " + optional_number(column.mean_length);
    return out + "}";
}

} // namespace

std::string value_json(const TopValue& value, ColumnType type) {
    switch (type) {
    case ColumnType::Int64: return std::to_string(value.integer);
    case ColumnType::Bool: return value.integer ? "true" : "false";
    case ColumnType::String: return json_string(value.text);
    case ColumnType::Float64: break;
    }
    return json_string(value.text);
}

std::string statistics_json(const TableStatistics& statistics) {
    std::string out = std::string("{\"kind\": \"") + statistics_kind + "\", \"version\": 1, \"rows\": " +
                      std::to_string(statistics.rows) + ", \"columns\": [";
    for (size_t i = 0; i < statistics.columns.size(); ++i) out += (i ? ",\n  " : "\n  ") + column_json(statistics.columns[i]);
    return out + (statistics.columns.empty() ? "]}" : "\n]}");
}

} // namespace trellis_validate
