// `trellis lineage ARTIFACT|MODEL`: how an artifact was made and what was made from it, as an
// indented tree, JSON or Graphviz.
#include "cli/store_commands.hpp"

#include "cli/exit_codes.hpp"
#include "cli/store_view.hpp"
#include "store/lineage.hpp"
#include "util/join.hpp"
#include "util/json_text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

namespace trellis::cli {
namespace {

using core::join;
using nlohmann::json;
using store::short_digest;

struct LineageArgs {
    std::string target;
    bool upstream = false;
    bool downstream = false;
    int depth = 0;
    bool json = false;
    bool dot = false;
};

// "table, 33.1 KiB, 427 rows x 31 columns"
std::string artifact_details(const store::LineageArtifact& artifact) {
    std::vector<std::string> parts = {artifact.type};
    if (artifact.type != "?") parts.push_back(format_bytes(artifact.size));
    const auto& p = artifact.properties;
    if (p.contains("rows") && p.contains("columns") && p["rows"].is_number() && p["columns"].is_number())
        parts.push_back(core::dump_json(p["rows"]) + " rows x " + core::dump_json(p["columns"]) + " columns");
    if (p.contains("flavor") && p["flavor"].is_string()) parts.push_back("flavor " + p["flavor"].get<std::string>());
    if (p.contains("description") && p["description"].is_string())
        parts.push_back(p["description"].get<std::string>());
    return join(parts, ", ");
}

std::string model_list(const std::vector<store::ModelRef>& models) {
    std::vector<std::string> names;
    for (const auto& model : models) names.push_back(model.name + " v" + std::to_string(model.version));
    return join(names, ", ");
}

std::string artifact_line(const store::LineageArtifact& artifact) {
    std::string text = short_digest(artifact.digest) + " (" + artifact_details(artifact) + ")";
    if (!artifact.models.empty()) text += " model " + model_list(artifact.models);
    if (artifact.removed_at) text += " [removed by gc " + local_time(*artifact.removed_at) + "]";
    return text;
}

std::string execution_line(const store::ExecutionSummary& execution) {
    std::string text = execution.stage_id + " (" + execution.stage_name;
    if (execution.plugin_name) text += ", " + execution.plugin_label();
    if (execution.plugin_digest) text += ", so " + short_digest(*execution.plugin_digest);
    text += ") in run " + execution.run_id + ", exec " + std::to_string(execution.id);
    if (execution.status == "cached")
        text += ", cached: reused exec " + (execution.cached_from ? std::to_string(*execution.cached_from) : "?") +
                (execution.cached_from_run ? " of run " + *execution.cached_from_run : "");
    else if (execution.status != "succeeded")
        text += ", " + execution.status;
    return text;
}

std::string shortened(std::string text, size_t most = 120) {
    if (text.size() > most) text = text.substr(0, most - 3) + "...";
    return text;
}

class TreePrinter {
public:
    TreePrinter(const store::LineageGraph& graph, std::ostream& out) : graph_(graph), out_(out) {}

    void upstream() {
        out_ << "upstream (how it was made):\n";
        const auto& root = graph_.artifacts.at(graph_.root.digest);
        seen_artifacts_ = {root.digest};
        seen_executions_.clear();
        if (root.produced_by.empty() && !root.upstream_truncated) out_ << "  no recorded execution made it\n";
        producers(root, "  ");
    }

    void downstream() {
        out_ << "downstream (what was made from it):\n";
        const auto& root = graph_.artifacts.at(graph_.root.digest);
        seen_artifacts_ = {root.digest};
        seen_executions_.clear();
        if (root.consumed_by.empty() && !root.downstream_truncated) out_ << "  nothing read it\n";
        consumers(root, "  ");
    }

private:
    const store::ExecutionSummary* execution(int64_t id) const {
        const auto it = graph_.executions.find(id);
        return it == graph_.executions.end() ? nullptr : &it->second;
    }

    void execution_details(const store::ExecutionSummary& execution, const std::string& indent) {
        if (!execution.config.empty()) out_ << indent << "config " << shortened(core::dump_json(execution.config)) << "\n";
        if (const auto params = graph_.execution_params.find(execution.id); params != graph_.execution_params.end()) {
            std::vector<std::string> items;
            for (const auto& [key, value] : params->second) items.push_back(key + "=" + core::dump_json(value));
            out_ << indent << "params " << shortened(join(items, " ")) << "\n";
        }
    }

    void producers(const store::LineageArtifact& artifact, const std::string& indent) {
        if (artifact.upstream_truncated) out_ << indent << "<- ... (more upstream: raise --depth)\n";
        for (const auto id : artifact.produced_by) {
            const auto* row = execution(id);
            if (!row) continue;
            if (!seen_executions_.insert(id).second) {
                out_ << indent << "<- " << row->stage_id << " in run " << row->run_id << ", exec " << id
                     << " (shown above)\n";
                continue;
            }
            out_ << indent << "<- " << execution_line(*row) << "\n";
            execution_details(*row, indent + "     ");
            for (const auto& [port, digest] : row->inputs) {
                const auto input = graph_.artifacts.find(digest);
                if (input == graph_.artifacts.end()) continue;
                const bool first = seen_artifacts_.insert(digest).second;
                out_ << indent << "   " << port << ": " << artifact_line(input->second) << (first ? "" : " (shown above)")
                     << "\n";
                if (first) producers(input->second, indent + "     ");
            }
        }
        reuses(artifact, indent);
    }

    void reuses(const store::LineageArtifact& artifact, const std::string& indent) {
        if (artifact.reused_by.empty()) return;
        std::vector<std::string> items;
        for (const auto id : artifact.reused_by) {
            if (items.size() == 3) {
                items.push_back("and " + std::to_string(artifact.reused_by.size() - 3) + " more");
                break;
            }
            if (const auto* row = execution(id))
                items.push_back("run " + row->run_id + " (" + row->stage_id + ", exec " + std::to_string(id) + ")");
        }
        out_ << indent << "reused from the cache by " << join(items, ", ") << "\n";
    }

    void consumers(const store::LineageArtifact& artifact, const std::string& indent) {
        if (artifact.downstream_truncated) out_ << indent << "-> ... (more downstream: raise --depth)\n";
        // A cached reader whose source read this artifact too made the same outputs: one line.
        std::vector<const store::ExecutionSummary*> collapsed;
        for (const auto id : artifact.consumed_by) {
            const auto* row = execution(id);
            if (!row) continue;
            if (row->status == "cached" && row->cached_from &&
                std::count(artifact.consumed_by.begin(), artifact.consumed_by.end(), *row->cached_from)) {
                collapsed.push_back(row);
                continue;
            }
            std::string port;
            for (const auto& [name, digest] : row->inputs)
                if (digest == artifact.digest) port += (port.empty() ? "" : ", ") + name;
            if (!seen_executions_.insert(id).second) {
                out_ << indent << "-> " << row->stage_id << " in run " << row->run_id << ", exec " << id
                     << " (shown above)\n";
                continue;
            }
            out_ << indent << "-> " << execution_line(*row) << ", reads it as " << port << "\n";
            execution_details(*row, indent + "     ");
            for (const auto& [name, digest] : row->outputs) {
                const auto output = graph_.artifacts.find(digest);
                if (output == graph_.artifacts.end()) continue;
                const bool first = seen_artifacts_.insert(digest).second;
                out_ << indent << "   " << name << ": " << artifact_line(output->second) << (first ? "" : " (shown above)")
                     << "\n";
                if (first) consumers(output->second, indent + "     ");
            }
        }
        if (!collapsed.empty()) {
            std::vector<std::string> items;
            for (const auto* row : collapsed) {
                if (items.size() == 3) {
                    items.push_back("and " + std::to_string(collapsed.size() - 3) + " more");
                    break;
                }
                items.push_back("run " + row->run_id + " (" + row->stage_id + ", exec " + std::to_string(row->id) + ")");
            }
            out_ << indent << "-> also read by cached executions (same outputs as above): " << join(items, ", ") << "\n";
        }
    }

    const store::LineageGraph& graph_;
    std::ostream& out_;
    std::set<std::string> seen_artifacts_;
    std::set<int64_t> seen_executions_;
};

json lineage_json(const store::LineageGraph& graph, const LineageArgs& args) {
    auto optional_text = [](const std::optional<std::string>& text) { return text ? json(*text) : json(); };
    json root = {{"digest", graph.root.digest}, {"model", json()}};
    if (graph.root.model) root["model"] = {{"name", graph.root.model->name}, {"version", graph.root.model->version}};
    json out = {{"root", root},
                {"upstream", args.upstream},
                {"downstream", args.downstream},
                {"depth", args.depth > 0 ? json(args.depth) : json()},
                {"artifacts", json::array()},
                {"executions", json::array()}};
    for (const auto& [digest, artifact] : graph.artifacts) {
        json models = json::array();
        for (const auto& model : artifact.models) models.push_back({{"name", model.name}, {"version", model.version}});
        out["artifacts"].push_back({{"digest", digest},
                                    {"type", artifact.type},
                                    {"size", artifact.size},
                                    {"properties", artifact.properties},
                                    {"created_at", artifact.created_at},
                                    {"removed_at", json_number(artifact.removed_at)},
                                    {"models", models},
                                    {"produced_by", artifact.produced_by},
                                    {"reused_by", artifact.reused_by},
                                    {"consumed_by", artifact.consumed_by},
                                    {"upstream_truncated", artifact.upstream_truncated},
                                    {"downstream_truncated", artifact.downstream_truncated}});
    }
    for (const auto& [id, execution] : graph.executions) {
        json params = json::object();
        if (const auto it = graph.execution_params.find(id); it != graph.execution_params.end())
            for (const auto& [key, value] : it->second) params[key] = value;
        out["executions"].push_back({{"id", id},
                                     {"run_id", execution.run_id},
                                     {"stage_id", execution.stage_id},
                                     {"stage", execution.stage_name},
                                     {"plugin", optional_text(execution.plugin_name)},
                                     {"plugin_version", optional_text(execution.plugin_version)},
                                     {"plugin_digest", optional_text(execution.plugin_digest)},
                                     {"status", execution.status},
                                     {"cached_from", execution.cached_from ? json(*execution.cached_from) : json()},
                                     {"cached_from_run", optional_text(execution.cached_from_run)},
                                     {"started_at", json_number(execution.started_at)},
                                     {"ended_at", json_number(execution.ended_at)},
                                     {"config", execution.config},
                                     {"params", params},
                                     {"inputs", execution.inputs},
                                     {"outputs", execution.outputs}});
    }
    return out;
}

// A Graphviz string literal.
std::string dot_string(const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out + "\"";
}

void print_dot(const store::LineageGraph& graph, std::ostream& out) {
    auto artifact_node = [](const std::string& digest) { return dot_string("a:" + digest); };
    auto execution_node = [](int64_t id) { return dot_string("e:" + std::to_string(id)); };
    out << "digraph lineage {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n"
           "  edge [fontname=\"Helvetica\", fontsize=9];\n";
    for (const auto& [digest, artifact] : graph.artifacts) {
        std::string label = artifact.type + "\n" + short_digest(digest);
        if (!artifact.models.empty()) label += "\nmodel " + model_list(artifact.models);
        if (artifact.removed_at) label += "\nremoved by gc";
        std::string style = artifact.removed_at ? "dashed" : "solid";
        if (digest == graph.root.digest) style += ",bold";
        out << "  " << artifact_node(digest) << " [shape=ellipse, style=" << dot_string(style) << ", label=" << dot_string(label)
            << "];\n";
    }
    for (const auto& [id, execution] : graph.executions) {
        std::string label = execution.stage_id + "\n" + execution.stage_name;
        if (execution.plugin_name) label += "\n" + execution.plugin_label();
        label += "\nrun " + execution.run_id;
        if (execution.status != "succeeded") label += "\n" + execution.status;
        out << "  " << execution_node(id) << " [shape=box, style=" << dot_string(execution.status == "cached" ? "dashed" : "solid")
            << ", label=" << dot_string(label) << "];\n";
    }
    for (const auto& [id, execution] : graph.executions) {
        for (const auto& [port, digest] : execution.inputs)
            if (graph.artifacts.count(digest))
                out << "  " << artifact_node(digest) << " -> " << execution_node(id) << " [label=" << dot_string(port) << "];\n";
        for (const auto& [port, digest] : execution.outputs)
            if (graph.artifacts.count(digest))
                out << "  " << execution_node(id) << " -> " << artifact_node(digest) << " [label=" << dot_string(port) << "];\n";
        if (execution.cached_from && graph.executions.count(*execution.cached_from))
            out << "  " << execution_node(id) << " -> " << execution_node(*execution.cached_from)
                << " [style=dotted, label=\"reuses\"];\n";
    }
    out << "}\n";
}

int show_lineage(CliContext& context, LineageArgs args) {
    if (args.depth < 0) throw UsageError("--depth must be 0 (no limit) or more");
    auto metadata = open_metadata(context);
    if (!metadata) throw UsageError(no_store_message(context));
    auto& db = metadata->db();
    const auto target = store::resolve_artifact(db, args.target);
    if (!args.upstream && !args.downstream) args.upstream = args.downstream = true;
    store::LineageOptions options;
    options.upstream = args.upstream;
    options.downstream = args.downstream;
    options.depth = args.depth;
    const auto graph = store::trace_lineage(db, target, options);

    if (args.json) {
        std::cout << core::dump_json(lineage_json(graph, args), 2) << "\n";
        return exit_ok;
    }
    if (args.dot) {
        print_dot(graph, std::cout);
        return exit_ok;
    }
    const auto& root = graph.artifacts.at(target.digest);
    std::cout << "artifact " << root.digest << "\n  " << artifact_details(root) << ", recorded "
              << (root.created_at > 0 ? local_time(root.created_at) : "-");
    if (root.removed_at) std::cout << ", removed by gc " << local_time(*root.removed_at);
    std::cout << "\n";
    if (!root.models.empty()) std::cout << "  model " << model_list(root.models) << "\n";
    TreePrinter printer(graph, std::cout);
    if (args.upstream) printer.upstream();
    if (args.downstream) printer.downstream();
    return exit_ok;
}

} // namespace

void add_lineage_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto args = std::make_shared<LineageArgs>();
    auto* lineage = app.add_subcommand("lineage", "Show how an artifact or model was made, and what was made from it");
    lineage->add_option("ARTIFACT", args->target,
                        "An artifact digest (or a unique prefix, 6 hex digits or more), or a model: NAME (newest "
                        "version), NAME:VERSION or NAME@VERSION")
        ->required();
    lineage->add_flag("--upstream", args->upstream, "Only how it was made");
    lineage->add_flag("--downstream", args->downstream, "Only what was made from it");
    lineage->add_option("--depth", args->depth, "Follow at most N stages in each direction (default 0: no limit)");
    auto* as_json = lineage->add_flag("--json", args->json, "Print the graph as JSON");
    auto* as_dot = lineage->add_flag("--dot", args->dot, "Print the graph in Graphviz format");
    as_json->excludes(as_dot);
    lineage->callback([=, &action] {
        action = [=] { return with_lookup_errors([&] { return show_lineage(context(), *args); }); };
    });
}

} // namespace trellis::cli
