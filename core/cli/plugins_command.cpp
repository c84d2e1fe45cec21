#include "cli/plugins_command.hpp"

#include "exec/core_stages.hpp"

#include "cli/exit_codes.hpp"
#include "util/join.hpp"
#include "util/json_text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <memory>

namespace trellis::cli {
namespace {

using core::join;

std::vector<std::string> stage_names_of(const core::PluginManifest& manifest) {
    std::vector<std::string> out;
    for (const auto& stage : manifest.stages) out.push_back(stage.name);
    return out;
}

int list_plugins(CliContext& context, bool as_json) {
    const auto& files = context.registry().files();
    if (as_json) {
        nlohmann::json out = {{"plugins", nlohmann::json::array()},
                              {"broken", nlohmann::json::array()},
                              {"shadowed", nlohmann::json::array()}};
        for (const auto& file : files) {
            if (!file.scan.ok()) {
                out["broken"].push_back({{"file", file.scan.path.string()}, {"reason", file.scan.reason}});
                continue;
            }
            const auto& m = *file.scan.manifest;
            if (!file.shadowed_by.empty()) {
                out["shadowed"].push_back(
                    {{"file", file.scan.path.string()}, {"name", m.name}, {"shadowed_by", file.shadowed_by}});
                continue;
            }
            std::vector<std::string> flavors;
            for (const auto& flavor : m.flavors) flavors.push_back(flavor.name);
            out["plugins"].push_back({{"name", m.name}, {"version", m.version}, {"vendor", m.vendor},
                                      {"license", m.license}, {"api", std::to_string(m.api_major) + "." + std::to_string(m.api_minor)},
                                      {"kinds", m.kinds()}, {"stages", stage_names_of(m)}, {"flavors", flavors},
                                      {"file", file.scan.path.string()}});
        }
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }

    std::vector<std::vector<std::string>> rows = {{"NAME", "VERSION", "KINDS", "STAGES", "FILE"}};
    for (const auto& file : files)
        if (file.active()) {
            const auto& m = *file.scan.manifest;
            rows.push_back({m.name, m.version, join(m.kinds(), ","), join(stage_names_of(m), ","), file.scan.path.string()});
        }
    if (rows.size() == 1) {
        std::cout << "No plugins found. Search path:\n";
        for (const auto& dir : context.settings().plugin_search_path()) std::cout << "  " << dir.string() << "\n";
    } else {
        std::vector<size_t> widths(rows[0].size(), 0);
        for (const auto& row : rows)
            for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
        for (const auto& row : rows) {
            std::string line;
            for (size_t c = 0; c < row.size(); ++c)
                line += c + 1 == row.size() ? row[c] : row[c] + std::string(widths[c] - row[c].size() + 2, ' ');
            std::cout << line << "\n";
        }
    }
    bool header = false, broken = false;
    for (const auto& file : files) {
        if (file.active()) continue;
        if (!header) std::cout << "\nNot loaded:\n";
        header = true;
        // A refusal for want of a signature is checked again on every start, not cached.
        broken = broken || (!file.scan.ok() && file.scan.reason.rfind("refused (trust.", 0) != 0);
        if (!file.scan.ok()) std::cout << "  " << file.scan.path.string() << ": " << file.scan.reason << "\n";
        else
            std::cout << "  " << file.scan.path.string() << ": duplicate plugin name '" << file.scan.manifest->name
                      << "', already provided by " << file.shadowed_by << "\n";
    }
    if (broken)
        std::cout << "\nA file's result is kept until the file changes; 'trellis --rescan plugins list' tries again.\n";
    return exit_ok;
}

void print_ports(const char* title, const std::vector<core::PortManifest>& ports) {
    std::cout << "    " << title << ":";
    if (ports.empty()) std::cout << " none";
    std::cout << "\n";
    for (const auto& port : ports)
        std::cout << "      " << port.name << " (" << port.artifact_type << (port.optional ? ", optional" : "") << ")"
                  << (port.doc.empty() ? "" : ": " + port.doc) << "\n";
}

void print_stage(const core::StageManifest& stage) {
    std::cout << "\n  stage " << stage.name << " (" << stage.kind << ")"
              << (stage.description.empty() ? "" : ": " + stage.description) << "\n";
    print_ports("inputs", stage.inputs);
    print_ports("outputs", stage.outputs);
    std::cout << "    config:" << (stage.config.empty() ? " none" : "") << "\n";
    for (const auto& key : stage.config) {
        std::cout << "      " << key.key << " (" << key.type
                  << (key.required ? ", required" : key.default_value ? ", default " + core::dump_json(*key.default_value) : ", optional")
                  << ")" << (key.doc.empty() ? "" : ": " + key.doc) << "\n";
    }
}

// `plugins info trellis`, or a core stage's name: the stages the core provides itself.
int core_stages_info(bool as_json) {
    if (as_json) {
        nlohmann::json out = {{"name", "trellis"}, {"version", TRELLIS_VERSION}, {"core", true},
                              {"stages", core::core_stage_manifests()}};
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }
    std::cout << "trellis " << TRELLIS_VERSION << "\n  the stages the core provides itself: they read and change the "
                 "model registry, and always run\n";
    for (const auto& stage : core::core_stage_manifests()) print_stage(stage);
    return exit_ok;
}

int plugin_info(CliContext& context, const std::string& name, bool as_json) {
    auto& registry = context.registry();
    const core::PluginFile* file = registry.find_plugin(name);
    if (!file) file = registry.find_stage_provider(name); // a stage name finds its plugin too
    if (!file && (name == "trellis" || core::core_stage_manifest(name))) return core_stages_info(as_json);
    if (!file) {
        std::vector<std::string> candidates = registry.stage_names();
        for (const auto& f : registry.files())
            if (f.active()) candidates.push_back(f.scan.manifest->name);
        const auto hints = nearest_names(name, candidates);
        size_t not_loaded = 0;
        for (const auto& f : registry.files()) not_loaded += f.scan.ok() ? 0 : 1;
        throw UsageError("no plugin or stage named '" + name + "'" +
                         (hints.empty() ? "" : "; did you mean " + join(hints, ", ") + "?") +
                         (not_loaded ? " (" + std::to_string(not_loaded) +
                                           " plugin file(s) did not load: see 'trellis plugins list')"
                                     : hints.empty() ? " (see 'trellis plugins list')" : ""));
    }
    const auto& m = *file->scan.manifest;
    if (as_json) {
        nlohmann::json out = m;
        out["file"] = file->scan.path.string();
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }
    std::cout << m.name << " " << m.version << "\n";
    if (!m.description.empty()) std::cout << "  " << m.description << "\n";
    std::cout << "  vendor:  " << (m.vendor.empty() ? "-" : m.vendor) << "\n"
              << "  license: " << (m.license.empty() ? "-" : m.license) << "\n"
              << "  api:     " << m.api_major << "." << m.api_minor << "\n"
              << "  file:    " << file->scan.path.string() << "\n";
    for (const auto& stage : m.stages) print_stage(stage);
    for (const auto& flavor : m.flavors)
        std::cout << "\n  flavor " << flavor.name << (flavor.description.empty() ? "" : ": " + flavor.description) << "\n";
    return exit_ok;
}

} // namespace

void add_plugins_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto* plugins = app.add_subcommand("plugins", "List and inspect plugins");
    plugins->require_subcommand(1);

    auto list_json = std::make_shared<bool>(false);
    auto* list = plugins->add_subcommand("list", "List plugins on the search path, and files that failed to load");
    list->add_flag("--json", *list_json, "Print JSON instead of a table");
    list->callback([=, &action] { action = [=] { return list_plugins(context(), *list_json); }; });

    auto info_json = std::make_shared<bool>(false);
    auto info_name = std::make_shared<std::string>();
    auto* info = plugins->add_subcommand("info", "Show a plugin's stages, ports, config keys and flavors");
    info->add_option("NAME", *info_name, "Plugin name, or the name of a stage it provides")->required();
    info->add_flag("--json", *info_json, "Print JSON");
    info->callback([=, &action] { action = [=] { return plugin_info(context(), *info_name, *info_json); }; });
}

} // namespace trellis::cli
