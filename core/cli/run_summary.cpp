#include "cli/run_summary.hpp"

#include "exec/progress.hpp"
#include "util/json_text.hpp"

#include <trellis/artifacts.hpp>

#include <cmath>
#include <fstream>

namespace trellis::cli {
namespace {

using core::StageState;

const char* verdict(const core::RunOutcome& outcome) {
    // As the metadata store says it: "interrupted" is kept for a run whose process died.
    return outcome.interrupted ? "cancelled" : outcome.succeeded() ? "succeeded" : "failed";
}

void write_file(const std::filesystem::path& file, const std::string& text) {
    std::filesystem::create_directories(file.parent_path());
    const auto temporary = file.string() + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush()) throw std::runtime_error("cannot write " + file.string());
    }
    std::filesystem::rename(temporary, file);
}

std::string short_number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.4g", value);
    return text;
}

// One line about an output: its shape for tables and models, values for metrics, a path for the rest.
std::string describe_output(const core::ArtifactBytes& artifact, const std::filesystem::path* saved) {
    const std::span<const uint8_t> bytes = artifact.bytes();
    try {
        switch (static_cast<ArtifactType>(artifact.type)) {
        case ArtifactType::Table: {
            const auto [rows, columns] = table_shape(bytes);
            return std::to_string(rows) + " rows x " + std::to_string(columns) + " columns";
        }
        case ArtifactType::Model: {
            const auto model = deserialize_model(bytes);
            return model.flavor + " model, " + std::to_string(model.signature.size()) + " features";
        }
        case ArtifactType::Metrics: {
            const auto metrics = deserialize_metrics(bytes);
            std::string text;
            size_t shown = 0;
            for (const auto& [name, value] : metrics.values) {
                if (++shown > 6) {
                    text += " ...";
                    break;
                }
                text += (text.empty() ? "" : " ") + name + "=" + short_number(value);
            }
            return text.empty() ? "(no metrics)" : text;
        }
        case ArtifactType::Report: return saved ? saved->string() : "report";
        case ArtifactType::File: return deserialize_file(bytes).path;
        case ArtifactType::Directory: return deserialize_directory(bytes).path;
        }
    } catch (const std::exception& e) {
        return std::string("unreadable: ") + e.what();
    }
    return "?";
}

std::string pad(std::string text, size_t width) {
    if (text.size() < width) text.resize(width, ' ');
    return text;
}

} // namespace

std::map<std::pair<size_t, std::string>, std::filesystem::path>
save_run_outputs(const core::Pipeline& pipeline, const core::RunOutcome& outcome, const std::filesystem::path& run_dir,
                 const std::string& run_id) {
    std::map<std::pair<size_t, std::string>, std::filesystem::path> saved;
    nlohmann::json record = {{"run_id", run_id},
                             {"pipeline", pipeline.name},
                             {"script", pipeline.file},
                             {"params", pipeline.params},
                             {"status", verdict(outcome)},
                             {"seconds", outcome.seconds}};
    // Written one stage a line: building one document of every stage costs a generated pipeline
    // of 100k stages more than running it.
    std::string stages_text;
    for (size_t i = 0; i < pipeline.stages.size(); ++i) {
        const auto& node = pipeline.stages[i];
        const auto& stage = outcome.stages[i];
        nlohmann::json entry = {{"id", node.id}, {"stage", node.stage_name}, {"plugin", node.plugin_name},
                                {"status", stage.reused ? "cached" : core::to_string(stage.state)}, {"attempts", stage.attempts},
                                {"seconds", stage.seconds}, {"outputs", nlohmann::json::object()}};
        if (!stage.message.empty()) entry["message"] = stage.message;
        for (const auto& [port, artifact] : stage.outputs) {
            const std::span<const uint8_t> bytes = artifact.bytes();
            std::filesystem::path file;
            if (artifact.type == TRELLIS_ARTIFACT_METRICS) {
                // Inline: a file per metrics output would cost a generated pipeline of thousands
                // of stages more than running it.
                nlohmann::json values = nlohmann::json::object();
                for (const auto& [name, value] : deserialize_metrics(bytes).values)
                    values[name] = std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
                entry["outputs"][port] = {{"metrics", values}};
                continue;
            } else if (artifact.type == TRELLIS_ARTIFACT_REPORT) {
                // Ids and port names are checked names; still, nothing is written outside the run.
                const auto relative = (std::filesystem::path(node.id) / (port + ".json")).lexically_normal();
                if (relative.is_absolute() || relative.begin()->string() == "..")
                    throw std::runtime_error("refusing to write output '" + port + "' of stage '" + node.id +
                                             "' outside the run folder");
                const auto report = deserialize_report(bytes);
                const auto parsed = nlohmann::json::parse(report.json, nullptr, false);
                file = run_dir / node.id / (port + ".json");
                write_file(file, (parsed.is_discarded() ? report.json : core::dump_json(parsed, 2)) + "\n");
            }
            if (!file.empty()) {
                saved[{i, port}] = file;
                entry["outputs"][port] = file.string();
            } else {
                entry["outputs"][port] = describe_output(artifact, nullptr);
            }
        }
        if (!stage.metrics.empty()) {
            nlohmann::json points = nlohmann::json::array();
            for (const auto& point : stage.metrics)
                points.push_back({{"name", point.name}, {"value", point.value}, {"step", point.step}});
            entry["logged_metrics"] = points.size();
            write_file(run_dir / node.id / "logged_metrics.json", core::dump_json(points) + "\n");
        }
        stages_text += (stages_text.empty() ? "\n    " : ",\n    ") + core::dump_json(entry);
    }
    std::string text = core::dump_json(record, 2);
    text.resize(text.size() - 2); // "\n}": the stages follow
    text += ",\n  \"stages\": [" + stages_text + (stages_text.empty() ? "]\n}\n" : "\n  ]\n}\n");
    write_file(run_dir / "run.json", text);
    return saved;
}

void print_run_summary(std::ostream& out, const core::Pipeline& pipeline, const core::RunOutcome& outcome,
                       const std::map<std::pair<size_t, std::string>, std::filesystem::path>& saved,
                       const std::filesystem::path& run_dir) {
    std::map<StageState, size_t> counts;
    size_t cached = 0;
    for (const auto& stage : outcome.stages) {
        if (stage.reused) ++cached;
        else ++counts[stage.state];
    }
    out << "\npipeline " << pipeline.name << ": " << verdict(outcome) << " in "
        << core::format_duration(outcome.seconds) << " ("
        << pipeline.stages.size() << (pipeline.stages.size() == 1 ? " stage:" : " stages:");
    bool first = true;
    for (auto state : {StageState::Succeeded, StageState::Failed, StageState::Skipped, StageState::Cancelled,
                       StageState::Waiting, StageState::Running})
        if (counts[state]) {
            out << (first ? " " : ", ") << counts[state] << " " << core::to_string(state);
            first = false;
        }
    if (cached) out << (first ? " " : ", ") << cached << " cached";
    out << ")\n";

    // A big generated pipeline lists only what went wrong.
    const bool all = pipeline.stages.size() <= 50;
    size_t id_width = 5, name_width = 12;
    for (size_t i : pipeline.order) {
        id_width = std::max(id_width, pipeline.stages[i].id.size());
        name_width = std::max(name_width, pipeline.stages[i].stage_name.size());
    }
    id_width = std::min<size_t>(id_width, 30);
    name_width = std::min<size_t>(name_width, 24);
    out << "  " << pad("STAGE", id_width) << "  " << pad("PLUGIN STAGE", name_width) << "  " << pad("STATUS", 10) << "  "
        << pad("TIME", 8) << "  OUTPUTS\n";
    for (size_t i : pipeline.order) {
        const auto& node = pipeline.stages[i];
        const auto& stage = outcome.stages[i];
        if (!all && stage.state == StageState::Succeeded) continue; // cached ones too
        std::string detail;
        for (const auto& [port, artifact] : stage.outputs) {
            auto it = saved.find({i, port});
            detail += (detail.empty() ? "" : "; ") + port + ": " +
                      describe_output(artifact, it == saved.end() ? nullptr : &it->second);
        }
        if (!stage.message.empty()) detail = stage.message;
        std::string status = stage.reused ? "cached" : core::to_string(stage.state);
        if (stage.attempts > 1) status += " x" + std::to_string(stage.attempts);
        const bool ran = stage.attempts > 0 && stage.state != StageState::Skipped;
        out << "  " << pad(node.id, id_width) << "  " << pad(node.stage_name, name_width) << "  " << pad(status, 10)
            << "  " << pad(ran ? core::format_duration(stage.seconds) : "-", 8) << "  " << detail << "\n";
    }
    if (!all && counts[StageState::Succeeded] + cached)
        out << "  (" << counts[StageState::Succeeded] + cached << " succeeded or cached stages not listed)\n";
    out << "run folder: " << run_dir.string() << "  (run.json, run.log, reports)\n";
}

} // namespace trellis::cli
