#include "cli/data_reports.hpp"

#include "cli/store_view.hpp"
#include "store/artifact_store.hpp"

#include <trellis/artifacts.hpp>

#include <optional>

namespace trellis::cli {

namespace {

using nlohmann::json;

// Reports bigger than this are not read for display (a statistics report of 100k columns is a
// few tens of MiB); --json and the run folder still have them.
constexpr int64_t largest_shown_report = 64 * 1024 * 1024;
// Rows of a statistics table printed before "... more columns".
constexpr size_t shown_columns = 40;

// A field of a report written by any plugin: shown as "-" when absent or of another type.
std::string text_field(const json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) return "-";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
    if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
    if (it->is_number_unsigned()) return std::to_string(it->get<uint64_t>());
    if (it->is_number()) return format_value(it->get<double>());
    return "-";
}

// One line of text whatever a plugin put in a field: control characters would break the table.
std::string one_line(std::string text) {
    for (char& c : text)
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    return text;
}

std::optional<std::string> artifact_type(store::Database& db, const std::string& digest, int64_t& size) {
    auto query = db.prepare("SELECT type, size FROM artifacts WHERE digest = ?1");
    query.bind(1, digest);
    if (!query.step()) return std::nullopt;
    size = query.int64(1);
    return query.text(0);
}

void print_statistics(std::ostream& out, const DataReport& report) {
    const json& doc = report.document;
    const json columns = doc.contains("columns") && doc["columns"].is_array() ? doc["columns"] : json::array();
    out << "\ndata statistics (" << report.stage_id << "." << report.port << ", " << text_field(doc, "rows") << " rows, "
        << columns.size() << " columns):\n";
    std::vector<std::vector<std::string>> rows = {{"COLUMN", "TYPE", "COUNT", "MISSING", "MEAN", "STD", "MIN", "MAX", "DISTINCT"}};
    for (size_t i = 0; i < columns.size() && i < shown_columns; ++i) {
        const json& column = columns[i];
        if (!column.is_object()) continue;
        std::string distinct = text_field(column, "distinct");
        if (column.value("distinct_exact", true) == false && distinct != "-") distinct = "~" + distinct;
        rows.push_back({one_line(text_field(column, "name")), text_field(column, "type"), text_field(column, "count"),
                        text_field(column, "missing"), text_field(column, "mean"), text_field(column, "std"),
                        text_field(column, "min"), text_field(column, "max"), distinct});
    }
    print_columns(out, rows, "  ");
    if (columns.size() > shown_columns)
        out << "  (" << columns.size() - shown_columns << " more columns; --json or the run folder has them all)\n";
}

void print_anomalies(std::ostream& out, const DataReport& report) {
    const json& doc = report.document;
    const json anomalies = doc.contains("anomalies") && doc["anomalies"].is_array() ? doc["anomalies"] : json::array();
    out << "\nanomalies (" << report.stage_id << "." << report.port << "): " << text_field(doc, "status");
    if (doc.contains("counts") && doc["counts"].is_object())
        out << ", " << text_field(doc["counts"], "fail") << " fail, " << text_field(doc["counts"], "warn") << " warn";
    if (doc.contains("schema_source")) out << "; schema from " << one_line(text_field(doc, "schema_source"));
    out << "\n";
    if (anomalies.empty()) {
        out << "  none\n";
        return;
    }
    std::vector<std::vector<std::string>> rows = {{"SEVERITY", "COLUMN", "RULE", "DETAIL"}};
    for (const json& anomaly : anomalies)
        if (anomaly.is_object())
            rows.push_back({text_field(anomaly, "severity"), one_line(text_field(anomaly, "column")),
                            one_line(text_field(anomaly, "rule")), one_line(text_field(anomaly, "detail"))});
    print_columns(out, rows, "  ");
}

} // namespace

std::vector<DataReport> find_data_reports(store::Database& db, const std::filesystem::path& store_root,
                                          const std::vector<store::ExecutionSummary>& executions) {
    std::vector<DataReport> out;
    std::optional<store::ArtifactStore> artifacts;
    for (const auto& execution : executions) {
        for (const auto& [port, digest] : execution.outputs) {
            int64_t size = 0;
            const auto type = artifact_type(db, digest, size);
            if (!type || *type != "report" || size > largest_shown_report) continue;
            DataReport report{execution.stage_id, port, digest, "", nullptr, ""};
            try {
                if (!artifacts) artifacts.emplace(store_root);
                const auto mapped = artifacts->get(digest);
                auto document = json::parse(deserialize_report(mapped->bytes()).json, nullptr, false);
                if (!document.is_object() || !document.contains("kind") || !document["kind"].is_string()) continue;
                report.kind = document["kind"].get<std::string>();
                if (report.kind != data_statistics_kind && report.kind != anomalies_kind) continue;
                report.document = std::move(document);
            } catch (const std::exception& e) {
                report.problem = e.what();
            }
            out.push_back(std::move(report));
        }
    }
    return out;
}

json data_reports_json(const std::vector<DataReport>& reports) {
    json out = json::array();
    for (const auto& report : reports) {
        json entry = {{"stage_id", report.stage_id}, {"port", report.port}, {"digest", report.digest}};
        if (report.problem.empty()) {
            entry["kind"] = report.kind;
            entry["report"] = report.document;
        } else {
            entry["error"] = report.problem;
        }
        out.push_back(std::move(entry));
    }
    return out;
}

void print_data_reports(std::ostream& out, const std::vector<DataReport>& reports) {
    for (const auto& report : reports) {
        if (!report.problem.empty())
            out << "\n" << report.stage_id << "." << report.port << ": cannot read the report: " << one_line(report.problem) << "\n";
        else if (report.kind == data_statistics_kind)
            print_statistics(out, report);
        else
            print_anomalies(out, report);
    }
}

} // namespace trellis::cli
