// The host's own copy of what a plugin descriptor declares. Read once from the C descriptor (in
// the scan child or in-process) and then passed around, cached and printed without touching the
// plugin again.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trellis::core {

struct PortManifest {
    std::string name;
    std::string artifact_type; // "table", "model", ...
    bool optional = false;
    std::string doc;
};

struct ConfigKeyManifest {
    std::string key;
    std::string type; // "bool", "int", "float", "string", "string_list", "json"
    bool required = false;
    std::optional<nlohmann::json> default_value;
    std::string doc;
};

struct StageManifest {
    std::string kind; // "data", "train", "deploy", "monitor", "govern"
    std::string name;
    std::string description;
    std::vector<PortManifest> inputs;
    std::vector<PortManifest> outputs;
    std::vector<ConfigKeyManifest> config;
    bool has_fingerprint = false; // provides a fingerprint entry point for its cache key (API 1.3)
};

struct FlavorManifest {
    std::string name;
    std::string description;
};

struct PluginManifest {
    uint32_t api_major = 0;
    uint32_t api_minor = 0;
    std::string name;
    std::string version;
    std::string vendor;
    std::string license;
    std::string description;
    std::vector<StageManifest> stages;
    std::vector<FlavorManifest> flavors;

    // Distinct stage kinds in declaration order, e.g. {"data", "train"}.
    std::vector<std::string> kinds() const;
    const StageManifest* find_stage(const std::string& stage_name) const;
};

void to_json(nlohmann::json& out, const PortManifest& port);
void from_json(const nlohmann::json& in, PortManifest& port);
void to_json(nlohmann::json& out, const ConfigKeyManifest& key);
void from_json(const nlohmann::json& in, ConfigKeyManifest& key);
void to_json(nlohmann::json& out, const StageManifest& stage);
void from_json(const nlohmann::json& in, StageManifest& stage);
void to_json(nlohmann::json& out, const FlavorManifest& flavor);
void from_json(const nlohmann::json& in, FlavorManifest& flavor);
void to_json(nlohmann::json& out, const PluginManifest& plugin);
void from_json(const nlohmann::json& in, PluginManifest& plugin);

} // namespace trellis::core
