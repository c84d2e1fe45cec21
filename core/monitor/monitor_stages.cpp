#include "monitor/monitor_stages.hpp"

#include "monitor/labels.hpp"
#include "registry/model_registry.hpp"

#include <trellis/artifacts.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace trellis::monitor {

using core::ArtifactBytes;
using core::AttemptResult;
using core::StageNode;

MonitorStages::MonitorStages(core::CoreStageRunner& others, core::RunRecorder& recorder, std::filesystem::path root,
                             WindowBounds bounds, std::optional<PredictionWindow> current, WindowSummary& summary)
    : others_(others), recorder_(recorder), root_(std::move(root)), bounds_(std::move(bounds)), summary_(summary) {
    if (current) windows_.emplace(std::pair(false, false), std::move(*current));
}

AttemptResult MonitorStages::run(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs) {
    try {
        if (node.stage_name == StageNode::monitor_window_stage_name) return window(node);
        if (node.stage_name == StageNode::monitor_reference_stage_name) return reference(node);
    } catch (const std::exception& e) {
        return AttemptResult::failure(TRELLIS_ERR_FAILED, e.what());
    }
    return others_.run(node, inputs);
}

const PredictionWindow& MonitorStages::read(bool previous, bool shadow) {
    const auto key = std::pair(previous, shadow);
    auto found = windows_.find(key);
    if (found == windows_.end()) {
        WindowQuery query = previous ? bounds_.previous : bounds_.current;
        query.include_shadow = query.include_shadow || shadow;
        PredictionWindow read = read_prediction_window(root_ / "predictions", bounds_.endpoint, query);
        for (const auto& reason : read.skipped) spdlog::warn("prediction log: skipped {}", reason);
        found = windows_.emplace(key, std::move(read)).first;
    }
    return found->second;
}

AttemptResult MonitorStages::window(const StageNode& node) {
    const bool previous = node.config.value("previous", false);
    const PredictionWindow& rows = read(previous, node.config.value("shadow", false));
    std::optional<Column> labels;
    if (node.config.value("labels", true))
        labels = window_labels(recorder_.metadata().db(), bounds_.endpoint, rows.request_ids, rows.request_rows,
                               node.config.value("label_column", "label"));
    const Table table = window_table(rows, labels ? &*labels : nullptr);
    if (!previous) {
        summary_.rows = rows.request_ids.size();
        summary_.records = rows.records;
        if (labels) summary_.labelled = labels->size() - labels->null_count();
        if (!rows.times.empty()) {
            summary_.first = rows.times.front();
            summary_.last = rows.times.back();
        }
    }
    AttemptResult result;
    result.outputs["table"] = ArtifactBytes::own(TRELLIS_ARTIFACT_TABLE, serialize(table));
    result.params["endpoint"] = bounds_.endpoint;
    result.params["rows"] = rows.request_ids.size();
    if (labels) result.params["labelled"] = labels->size() - labels->null_count();
    spdlog::info("stage '{}': {} window of endpoint {}: {} rows from {} records{}", node.id, previous ? "the previous" : "the",
                 bounds_.endpoint, rows.request_ids.size(), rows.records,
                 labels ? ", " + std::to_string(labels->size() - labels->null_count()) + " labelled" : "");
    return result;
}

AttemptResult MonitorStages::reference(const StageNode& node) {
    auto& db = recorder_.metadata().db();
    std::string ref = node.config.value("model", "");
    if (ref.empty()) {
        // The version that answered most of the window's routed (primary and canary) rows.
        const PredictionWindow& rows = read(false, false);
        std::map<std::pair<std::string, int64_t>, size_t> answered;
        for (size_t r = 0; r < rows.versions.size(); ++r)
            if (rows.variants[r] == "primary" && !rows.models[r].empty()) ++answered[{rows.models[r], rows.versions[r]}];
        if (answered.empty())
            return AttemptResult::failure(TRELLIS_ERR_NOT_FOUND,
                                          "no primary answers in the window of endpoint " + bounds_.endpoint +
                                              " to find the served model by; give the stage model = \"NAME@ALIAS\"");
        const auto most = std::max_element(answered.begin(), answered.end(),
                                           [](const auto& a, const auto& b) { return a.second < b.second; });
        ref = registry::version_label(most->first.first, most->first.second);
    }
    const registry::ModelVersion version = registry::load_version(db, ref);
    const std::string label = registry::version_label(version.name, version.version);
    if (!version.trained_by || version.training_data.empty())
        return AttemptResult::failure(TRELLIS_ERR_NOT_FOUND,
                                      label + " has no lineage to the data it learned from (no stage of a pipeline in this "
                                              "store trained it); compare the window with a table of your own instead");
    // The trainer's table inputs: its training data, or, among several, the one `port` names.
    std::map<std::string, std::string> tables;
    auto type_of = db.prepare("SELECT type FROM artifacts WHERE digest = ?1");
    for (const auto& [port, digest] : version.training_data) {
        type_of.reset();
        type_of.bind(1, digest);
        if (type_of.step() && type_of.text(0) == "table") tables[port] = digest;
    }
    std::string ports;
    for (const auto& [port, digest] : tables) ports += (ports.empty() ? "" : ", ") + port;
    std::string port = node.config.value("port", "");
    if (port.empty()) {
        if (tables.size() == 1) port = tables.begin()->first;
        else if (tables.count("train")) port = "train";
        else
            return AttemptResult::failure(TRELLIS_ERR_INVALID, "the stage that trained " + label + " read several tables (" +
                                                                   ports + "); name the training data with port = ...");
    }
    const auto chosen = tables.find(port);
    if (chosen == tables.end())
        return AttemptResult::failure(TRELLIS_ERR_NOT_FOUND, "port: the stage that trained " + label + " read no table at '" +
                                                                 port + "' (its table inputs: " + ports + ")");
    AttemptResult result;
    // Loading checks that the bytes are still in the store and hash to the digest.
    result.outputs["table"] = recorder_.load(ArtifactBytes::stored(TRELLIS_ARTIFACT_TABLE, chosen->second));
    result.params["model"] = label;
    result.params["port"] = port;
    summary_.reference = label + " " + port + " " + chosen->second.substr(0, 12);
    spdlog::info("stage '{}': {} learned from {} (input '{}' of execution {})", node.id, label, chosen->second.substr(0, 12),
                 port, *version.trained_by);
    return result;
}

} // namespace trellis::monitor
