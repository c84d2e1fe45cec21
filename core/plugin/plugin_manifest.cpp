#include "plugin/plugin_manifest.hpp"

#include <algorithm>

namespace trellis::core {

std::vector<std::string> PluginManifest::kinds() const {
    std::vector<std::string> out;
    for (const auto& stage : stages)
        if (std::find(out.begin(), out.end(), stage.kind) == out.end()) out.push_back(stage.kind);
    return out;
}

const StageManifest* PluginManifest::find_stage(const std::string& stage_name) const {
    for (const auto& stage : stages)
        if (stage.name == stage_name) return &stage;
    return nullptr;
}

void to_json(nlohmann::json& out, const PortManifest& port) {
    out = {{"name", port.name}, {"type", port.artifact_type}, {"optional", port.optional}, {"doc", port.doc}};
}
void from_json(const nlohmann::json& in, PortManifest& port) {
    in.at("name").get_to(port.name);
    in.at("type").get_to(port.artifact_type);
    in.at("optional").get_to(port.optional);
    in.at("doc").get_to(port.doc);
}

void to_json(nlohmann::json& out, const ConfigKeyManifest& key) {
    out = {{"key", key.key}, {"type", key.type}, {"required", key.required}, {"doc", key.doc}};
    if (key.default_value) out["default"] = *key.default_value;
}
void from_json(const nlohmann::json& in, ConfigKeyManifest& key) {
    in.at("key").get_to(key.key);
    in.at("type").get_to(key.type);
    in.at("required").get_to(key.required);
    in.at("doc").get_to(key.doc);
    if (in.contains("default")) key.default_value = in.at("default");
}

void to_json(nlohmann::json& out, const StageManifest& stage) {
    out = {{"kind", stage.kind},     {"name", stage.name},       {"description", stage.description},
           {"inputs", stage.inputs}, {"outputs", stage.outputs}, {"config", stage.config}};
    if (stage.has_fingerprint) out["fingerprint"] = true;
}
void from_json(const nlohmann::json& in, StageManifest& stage) {
    in.at("kind").get_to(stage.kind);
    in.at("name").get_to(stage.name);
    in.at("description").get_to(stage.description);
    in.at("inputs").get_to(stage.inputs);
    in.at("outputs").get_to(stage.outputs);
    in.at("config").get_to(stage.config);
    stage.has_fingerprint = in.value("fingerprint", false);
}

void to_json(nlohmann::json& out, const FlavorManifest& flavor) {
    out = {{"name", flavor.name}, {"description", flavor.description}};
}
void from_json(const nlohmann::json& in, FlavorManifest& flavor) {
    in.at("name").get_to(flavor.name);
    in.at("description").get_to(flavor.description);
}

void to_json(nlohmann::json& out, const PluginManifest& plugin) {
    out = {{"api", std::to_string(plugin.api_major) + "." + std::to_string(plugin.api_minor)},
           {"name", plugin.name},
           {"version", plugin.version},
           {"vendor", plugin.vendor},
           {"license", plugin.license},
           {"description", plugin.description},
           {"stages", plugin.stages},
           {"flavors", plugin.flavors}};
}
void from_json(const nlohmann::json& in, PluginManifest& plugin) {
    const std::string api = in.at("api").get<std::string>();
    const auto dot = api.find('.');
    plugin.api_major = static_cast<uint32_t>(std::stoul(api.substr(0, dot)));
    plugin.api_minor = dot == std::string::npos ? 0 : static_cast<uint32_t>(std::stoul(api.substr(dot + 1)));
    in.at("name").get_to(plugin.name);
    in.at("version").get_to(plugin.version);
    in.at("vendor").get_to(plugin.vendor);
    in.at("license").get_to(plugin.license);
    in.at("description").get_to(plugin.description);
    in.at("stages").get_to(plugin.stages);
    in.at("flavors").get_to(plugin.flavors);
}

} // namespace trellis::core
