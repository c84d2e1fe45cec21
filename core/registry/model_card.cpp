#include "registry/model_card.hpp"

#include "util/utc_time.hpp"

#include "govern/audit_log.hpp"
#include "store/artifact_store.hpp"
#include "store/clock.hpp"
#include "store/run_queries.hpp"

#include <trellis/artifacts.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>
#include <vector>

namespace trellis::registry {

namespace {

using nlohmann::json;

std::string utc(double seconds) { return core::utc_time_text(seconds, "%Y-%m-%d %H:%M:%S UTC"); }

std::string number(const json& value) {
    if (!value.is_number()) return value.is_null() ? "-" : value.dump();
    return metric_text(value.get<double>());
}

std::string cell(const json& value) {
    if (value.is_string()) return value.get<std::string>();
    return number(value);
}

// Per-column statistics of a table, in the shape of data.validate's trellis.data_statistics report.
json table_statistics(const Table& table) {
    json columns = json::array();
    for (const auto& column : table.columns()) {
        json entry = {{"name", column.name()}, {"type", std::string(to_string(column.type()))},
                      {"missing", column.null_count()}};
        if (column.type() != ColumnType::String) {
            double sum = 0, low = 0, high = 0;
            size_t count = 0;
            for (size_t i = 0; i < column.size(); ++i) {
                if (column.is_null(i)) continue;
                const double value = column.type() == ColumnType::Int64   ? static_cast<double>(column.int_at(i))
                                     : column.type() == ColumnType::Bool ? (column.bool_at(i) ? 1.0 : 0.0)
                                                                          : column.float_at(i);
                if (std::isnan(value)) continue;
                low = count ? std::min(low, value) : value;
                high = count ? std::max(high, value) : value;
                sum += value;
                ++count;
            }
            if (count) {
                entry["mean"] = sum / static_cast<double>(count);
                entry["min"] = low;
                entry["max"] = high;
            }
        }
        columns.push_back(entry);
    }
    return {{"kind", "trellis.data_statistics"}, {"rows", table.num_rows()}, {"columns", columns}};
}

// Without a data.validate stage in the trainer's run, the card works the statistics out from the
// training tables themselves (up to a size a card may read).
void add_computed_statistics(const std::filesystem::path& root, json& data) {
    std::optional<store::ArtifactStore> artifacts;
    for (const auto& table : data["tables"]) {
        if (table.value("type", "") != "table") continue;
        const std::string digest = table.value("digest", "");
        try {
            if (!artifacts) artifacts.emplace(root);
            const auto mapped = artifacts->get(digest);
            if (mapped->bytes().size() > (size_t{256} << 20)) continue;
            const json source = {{"computed", true}, {"port", table.value("port", "")}, {"digest", digest}};
            data["statistics"].push_back({{"source", source}, {"report", table_statistics(deserialize_table(mapped->bytes()))}});
        } catch (const std::exception&) {
            // As above: left out when unreadable.
        }
    }
}

// The table artifacts' shapes and the data reports (statistics, schema) of the trainer's run.
json training_data(store::Database& db, const std::filesystem::path& root, const ModelVersion& version) {
    json out = {{"tables", json::array()}, {"statistics", json::array()}, {"schemas", json::array()}};
    for (const auto& [port, digest] : version.training_data) {
        auto query = db.prepare("SELECT type, properties FROM artifacts WHERE digest = ?");
        query.bind(1, digest);
        json table = {{"port", port}, {"digest", digest}};
        if (query.step()) {
            table["type"] = query.text(0);
            auto properties = json::parse(query.text(1), nullptr, false);
            if (properties.is_object()) {
                if (properties.contains("rows")) table["rows"] = properties["rows"];
                if (properties.contains("columns")) table["columns"] = properties["columns"];
            }
        }
        out["tables"].push_back(table);
    }
    if (!version.trained_by) return out;
    auto run = db.prepare("SELECT run_id FROM executions WHERE id = ?");
    run.bind(1, *version.trained_by);
    if (!run.step()) return out;
    const std::string run_id = run.text(0);
    out["run"] = run_id;
    std::optional<store::ArtifactStore> artifacts;
    for (const auto& execution : store::run_executions(db, run_id)) {
        for (const auto& [port, digest] : execution.outputs) {
            auto type = db.prepare("SELECT type, size FROM artifacts WHERE digest = ?");
            type.bind(1, digest);
            if (!type.step() || type.text(0) != "report" || type.int64(1) > (8 << 20)) continue;
            try {
                if (!artifacts) artifacts.emplace(root);
                const auto mapped = artifacts->get(digest);
                auto document = json::parse(deserialize_report(mapped->bytes()).json, nullptr, false);
                if (!document.is_object() || !document.contains("kind")) continue;
                const json source = {{"stage", execution.stage_id}, {"port", port}, {"digest", digest}};
                if (document["kind"] == "trellis.data_statistics")
                    out["statistics"].push_back({{"source", source}, {"report", document}});
                else if (document["kind"] == "trellis.data_schema")
                    out["schemas"].push_back({{"source", source}, {"report", document}});
            } catch (const std::exception&) {
                // A card leaves out what it cannot read; `trellis check` reports damaged objects.
            }
        }
    }
    if (out["statistics"].empty()) add_computed_statistics(root, out);
    return out;
}

json run_params(store::Database& db, const std::optional<std::string>& run_id) {
    if (!run_id) return json::object();
    auto query = db.prepare("SELECT params FROM runs WHERE id = ?");
    query.bind(1, *run_id);
    if (!query.step()) return json::object();
    auto params = json::parse(query.text(0), nullptr, false);
    return params.is_object() ? params : json::object();
}

json trainer_config(store::Database& db, const std::optional<int64_t>& execution) {
    if (!execution) return nullptr;
    auto query = db.prepare("SELECT stage_id, stage_name, plugin_name, plugin_version, config FROM executions WHERE id = ?");
    query.bind(1, *execution);
    if (!query.step()) return nullptr;
    auto config = json::parse(query.text(4), nullptr, false);
    return {{"stage", query.text(0)},
            {"stage_name", query.text(1)},
            {"plugin", query.text(2) + "@" + query.text(3)},
            {"config", config.is_discarded() ? json() : config}};
}

// The audit log's alias moves to this version: who promoted it where, when, past which rules.
json promotions(store::Database& db, const ModelVersion& version) {
    json out = json::array();
    govern::AuditFilter filter;
    filter.object = version.name + "@*";
    filter.action = "alias.*";
    for (const auto& entry : govern::read_audit(db, filter)) {
        if (!entry.after.is_object() || entry.after.value("version", int64_t{-1}) != version.version) continue;
        json promotion = {{"alias", entry.object.substr(version.name.size() + 1)}, {"action", entry.action},
                          {"by", entry.actor}, {"at", entry.at}, {"audit_seq", entry.seq}};
        if (entry.after.contains("checks")) promotion["checks"] = entry.after["checks"];
        out.push_back(promotion);
    }
    return out;
}

void text_section(std::ostringstream& out, const json& card, const std::string& key, const std::string& title) {
    if (!card.contains(key)) return;
    out << "\n## " << title << "\n\n";
    if (card[key].is_array())
        for (const auto& item : card[key]) out << "- " << cell(item) << "\n";
    else
        out << cell(card[key]) << "\n";
}

} // namespace

json model_card_json(store::Database& db, const std::filesystem::path& root, const ModelVersion& version) {
    json card = version_json(version);
    card["kind"] = "trellis.model_card";
    card["version_label"] = version_label(version.name, version.version);
    card["params"] = run_params(db, version.run_id);
    card["trainer"] = trainer_config(db, version.trained_by);
    card["data"] = training_data(db, root, version);
    card["promotions"] = promotions(db, version);
    return card;
}

std::string model_card_markdown(const json& card) {
    std::ostringstream out;
    out << "# Model card: " << card.value("version_label", "?") << "\n\n";
    const json declared = card.value("card", json::object());
    if (card.contains("description") && card["description"].is_string()) out << card["description"].get<std::string>() << "\n\n";
    out << "| | |\n|---|---|\n";
    out << "| Status | " << card.value("status", "?") << " |\n";
    std::string aliases;
    for (const auto& alias : card.value("aliases", json::array())) aliases += (aliases.empty() ? "" : ", ") + cell(alias);
    out << "| Aliases | " << (aliases.empty() ? "-" : aliases) << " |\n";
    out << "| Flavor | " << card.value("flavor", "?") << " |\n";
    out << "| Artifact | `" << card.value("artifact", "?") << "` |\n";
    out << "| Registered | " << utc(card.value("registered_at", 0.0)) << " by "
        << (card["registered_by"].is_string() ? card["registered_by"].get<std::string>() : "?") << " |\n";
    out << "| Run | " << (card["run"].is_string() ? card["run"].get<std::string>() : "-") << " |\n";
    const json tag_values = card.value("tags", json::object()); // items() must not outlive it
    for (const auto& [key, value] : tag_values.items())
        out << "| Tag `" << key << "` | " << cell(value) << " |\n";

    text_section(out, declared, "intended_use", "Intended use");
    text_section(out, declared, "limitations", "Limitations");
    for (const auto& [key, value] : declared.items())
        if (key != "intended_use" && key != "limitations") {
            std::string title = key;
            for (char& c : title) c = c == '_' ? ' ' : c;
            if (!title.empty()) title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
            text_section(out, declared, key, title);
        }

    out << "\n## Inputs\n\n";
    const json inputs = card["signature"].is_object() ? card["signature"].value("inputs", json::array()) : json::array();
    if (inputs.empty()) out << "The flavor records no input schema.\n";
    else {
        out << inputs.size() << " columns: ";
        for (size_t i = 0; i < inputs.size(); ++i)
            out << (i ? ", " : "") << "`" << inputs[i].value("name", "?") << "` (" << inputs[i].value("type", "?") << ")";
        out << "\n";
    }

    out << "\n## Training\n\n";
    if (card["trainer"].is_object()) {
        const json& trainer = card["trainer"];
        out << "Trained by stage `" << trainer.value("stage", "?") << "` (" << trainer.value("stage_name", "?") << ", plugin "
            << trainer.value("plugin", "?") << ").\n\n";
        if (trainer["config"].is_object() && !trainer["config"].empty()) {
            out << "| Parameter | Value |\n|---|---|\n";
            for (const auto& [key, value] : trainer["config"].items()) out << "| " << key << " | `" << value.dump() << "` |\n";
            out << "\n";
        }
    } else {
        out << "The store does not know the execution that trained it.\n\n";
    }
    if (!card["params"].empty()) {
        out << "Pipeline params: ";
        bool first = true;
        for (const auto& [key, value] : card["params"].items()) {
            out << (first ? "" : ", ") << key << "=`" << value.dump() << "`";
            first = false;
        }
        out << "\n\n";
    }
    const json training_values = card.value("training_metrics", json::object());
    for (const auto& [name, value] : training_values.items())
        out << "- training " << name << ": " << number(value) << "\n";

    const json& data = card["data"];
    out << "\n## Training data\n\n";
    for (const auto& table : data.value("tables", json::array()))
        out << "- `" << table.value("port", "?") << "`: artifact `" << table.value("digest", "?").substr(0, 12) << "`"
            << (table.contains("rows") ? ", " + number(table["rows"]) + " rows" : "")
            << (table.contains("columns") ? " x " + number(table["columns"]) + " columns" : "") << "\n";
    for (const auto& statistics : data.value("statistics", json::array())) {
        const json& report = statistics["report"];
        const json& source = statistics["source"];
        out << "\nStatistics ("
            << (source.value("computed", false) ? "of `" + source.value("port", "?") + "`, computed for this card"
                                                 : "stage `" + source.value("stage", "?") + "`")
            << ", " << number(report.value("rows", json())) << " rows):\n\n| Column | Type | Missing | Mean | Min | Max |\n|---|---|---|---|---|---|\n";
        size_t shown = 0;
        for (const auto& column : report.value("columns", json::array())) {
            if (++shown > 50) {
                out << "| ... | | | | | |\n";
                break;
            }
            out << "| " << cell(column.value("name", json("?"))) << " | " << cell(column.value("type", json("?"))) << " | "
                << cell(column.value("missing", json())) << " | " << cell(column.value("mean", json())) << " | "
                << cell(column.value("min", json())) << " | " << cell(column.value("max", json())) << " |\n";
        }
    }
    for (const auto& schema : data.value("schemas", json::array()))
        out << "\nSchema checked by stage `" << schema["source"].value("stage", "?") << "`: "
            << schema["report"].value("columns", json::array()).size() << " columns (artifact `"
            << schema["source"].value("digest", "?").substr(0, 12) << "`).\n";

    out << "\n## Evaluation\n\n";
    const json evaluations = card.value("evaluations", json::array());
    if (evaluations.empty()) out << "No evaluation is recorded.\n";
    // Re-runs repeat an evaluation (cached, or recomputed alike): each distinct result once, newest first.
    std::map<std::string, std::vector<std::string>> repeats; // data and metrics -> the runs that repeated them
    std::vector<const json*> distinct;
    for (const auto& evaluation : evaluations) {
        const std::string result = evaluation.value("data", json::object()).dump() + evaluation.value("metrics", json::object()).dump();
        auto [it, inserted] = repeats.try_emplace(result);
        if (inserted) distinct.push_back(&evaluation);
        else it->second.push_back(evaluation.value("run", "?"));
    }
    for (const json* shown : distinct) {
        const json& evaluation = *shown;
        out << "Stage `" << evaluation.value("stage", "?") << "` (" << evaluation.value("stage_name", "?") << ") of run "
            << evaluation.value("run", "?") << " on ";
        bool first = true;
        const json evaluation_data = evaluation.value("data", json::object());
        for (const auto& [port, digest] : evaluation_data.items()) {
            out << (first ? "" : ", ") << "`" << port << "` " << digest.get<std::string>().substr(0, 12);
            first = false;
        }
        out << ":\n\n| Metric | Value |\n|---|---|\n";
        const json evaluation_metrics = evaluation.value("metrics", json::object());
        for (const auto& [name, value] : evaluation_metrics.items())
            out << "| " << name << " | " << number(value) << " |\n";
        const auto& again = repeats[evaluation.value("data", json::object()).dump() +
                                    evaluation.value("metrics", json::object()).dump()];
        if (!again.empty())
            out << "\nThe same result in " << again.size() << " earlier evaluation" << (again.size() == 1 ? "" : "s")
                << " (oldest: run " << again.back() << ").\n";
        out << "\n";
    }

    out << "## Promotions\n\n";
    const json promotions = card.value("promotions", json::array());
    if (promotions.empty()) out << "None.\n";
    for (const auto& promotion : promotions) {
        out << "- " << (promotion.value("action", "") == "alias.promote" ? "promoted" : "alias set") << " to `@"
            << promotion.value("alias", "?") << "` by " << promotion.value("by", "?") << " on "
            << utc(promotion.value("at", 0.0)) << " (audit entry " << promotion.value("audit_seq", 0) << ")";
        std::string rules;
        for (const auto& check : promotion.value("checks", json::array()))
            rules += (rules.empty() ? "" : "; ") + check.value("rule", "?") + ": " + check.value("detail", "");
        out << (rules.empty() ? "" : ", passing " + rules) << "\n";
    }

    out << "\n## Approvals\n\n";
    const json approvals = card.value("approvals", json::array());
    if (approvals.empty()) out << "None.\n";
    for (const auto& approval : approvals)
        out << "- " << approval.value("decision", "?") << " by " << approval.value("identity", "?") << " ("
            << approval.value("role", "?") << ") on " << utc(approval.value("at", 0.0)) << ": "
            << approval.value("reason", "") << "\n";
    out << "\n## Signatures\n\n";
    const json signatures = card.value("signatures", json::array());
    if (signatures.empty()) out << "None.\n";
    for (const auto& signature : signatures)
        out << "- key " << signature.value("key", "?") << " by " << signature.value("signed_by", "?") << " on "
            << utc(signature.value("signed_at", 0.0)) << " over sha256 `" << signature.value("sha256", "?") << "`\n";
    return out.str();
}

} // namespace trellis::registry
