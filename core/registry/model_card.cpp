#include "registry/model_card.hpp"

#include "store/artifact_store.hpp"
#include "store/clock.hpp"
#include "store/run_queries.hpp"

#include <trellis/artifacts.hpp>

#include <cstdio>
#include <ctime>
#include <sstream>

namespace trellis::registry {

namespace {

using nlohmann::json;

std::string utc(double seconds) {
    const auto whole = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&whole, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return text;
}

std::string number(const json& value) {
    if (!value.is_number()) return value.is_null() ? "-" : value.dump();
    char text[40];
    std::snprintf(text, sizeof text, "%.6g", value.get<double>());
    return text;
}

std::string cell(const json& value) {
    if (value.is_string()) return value.get<std::string>();
    return number(value);
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
    card["version_label"] = version.name + ":" + std::to_string(version.version);
    card["params"] = run_params(db, version.run_id);
    card["trainer"] = trainer_config(db, version.trained_by);
    card["data"] = training_data(db, root, version);
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
    for (const auto& [key, value] : card.value("tags", json::object()).items())
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
    for (const auto& [name, value] : card.value("training_metrics", json::object()).items())
        out << "- training " << name << ": " << number(value) << "\n";

    const json& data = card["data"];
    out << "\n## Training data\n\n";
    for (const auto& table : data.value("tables", json::array()))
        out << "- `" << table.value("port", "?") << "`: artifact `" << table.value("digest", "?").substr(0, 12) << "`"
            << (table.contains("rows") ? ", " + number(table["rows"]) + " rows" : "")
            << (table.contains("columns") ? " x " + number(table["columns"]) + " columns" : "") << "\n";
    for (const auto& statistics : data.value("statistics", json::array())) {
        const json& report = statistics["report"];
        out << "\nStatistics (stage `" << statistics["source"].value("stage", "?") << "`, " << number(report.value("rows", json()))
            << " rows):\n\n| Column | Type | Missing | Mean | Min | Max |\n|---|---|---|---|---|---|\n";
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
    for (const auto& evaluation : evaluations) {
        out << "Stage `" << evaluation.value("stage", "?") << "` (" << evaluation.value("stage_name", "?") << ") of run "
            << evaluation.value("run", "?") << " on ";
        bool first = true;
        for (const auto& [port, digest] : evaluation.value("data", json::object()).items()) {
            out << (first ? "" : ", ") << "`" << port << "` " << digest.get<std::string>().substr(0, 12);
            first = false;
        }
        out << ":\n\n| Metric | Value |\n|---|---|\n";
        for (const auto& [name, value] : evaluation.value("metrics", json::object()).items())
            out << "| " << name << " | " << number(value) << " |\n";
        out << "\n";
    }

    out << "## Approvals\n\n";
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
