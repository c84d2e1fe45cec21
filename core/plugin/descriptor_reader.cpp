#include "plugin/descriptor_reader.hpp"

#include "util/utf8.hpp"
#include "plugin/config_types.hpp"

#include <cstring>
#include <regex>
#include <set>

namespace trellis::core {
namespace {

// Generous bounds that still keep a corrupt descriptor from making the host loop or allocate forever.
constexpr size_t max_text = 4096;
constexpr uint32_t max_items = 4096;

[[noreturn]] void invalid(const std::string& where, const std::string& what) {
    throw DescriptorError("invalid descriptor: " + (where.empty() ? "" : where + ": ") + what);
}

std::string text(const char* value, const std::string& where, const char* field, bool required) {
    if (value == nullptr) {
        if (required) invalid(where, std::string(field) + " is NULL");
        return {};
    }
    const size_t length = strnlen(value, max_text + 1);
    if (length > max_text) invalid(where, std::string(field) + " is longer than " + std::to_string(max_text));
    if (required && length == 0) invalid(where, std::string(field) + " is empty");
    if (!valid_utf8(std::string_view(value, length))) invalid(where, std::string(field) + " is not valid UTF-8");
    return std::string(value, length);
}

void check_name(const std::string& name, const std::regex& pattern, const char* rule, const std::string& where,
                const char* field) {
    if (!std::regex_match(name, pattern)) invalid(where, std::string(field) + " '" + name + "' must match " + rule);
}

template <class T> void check_array(const T* items, uint32_t count, const std::string& where, const char* field) {
    if (count > max_items) invalid(where, std::string(field) + " count " + std::to_string(count) + " is too large");
    if (count > 0 && items == nullptr) invalid(where, std::string(field) + " is NULL but its count is " + std::to_string(count));
}

void check_reserved(void* const* reserved, size_t count, const std::string& where) {
    for (size_t i = 0; i < count; ++i)
        if (reserved[i] != nullptr) invalid(where, "reserved field " + std::to_string(i) + " is not NULL");
}

const std::regex identifier("[a-z_][a-z0-9_]*");
const std::regex stage_name_pattern("[a-z0-9_]+(\\.[a-z0-9_]+)*");
const std::regex plugin_name_pattern("[a-z0-9][a-z0-9_.-]*");

std::vector<PortManifest> read_ports(const trellis_port* ports, uint32_t count, const std::string& where,
                                     const char* direction, bool allow_optional) {
    check_array(ports, count, where, direction);
    std::vector<PortManifest> out;
    std::set<std::string> seen;
    for (uint32_t i = 0; i < count; ++i) {
        const std::string port_where = where + ": " + direction + " #" + std::to_string(i + 1);
        PortManifest port;
        port.name = text(ports[i].name, port_where, "name", true);
        check_name(port.name, identifier, "[a-z_][a-z0-9_]*", port_where, "name");
        const std::string named = where + ": " + direction + " '" + port.name + "'";
        if (!seen.insert(port.name).second) invalid(named, "declared twice");
        const auto type = artifact_type_name(ports[i].artifact_type);
        if (!type) invalid(named, "unknown artifact type " + std::to_string(ports[i].artifact_type));
        port.artifact_type = *type;
        if (ports[i].flags & ~TRELLIS_PORT_OPTIONAL) invalid(named, "unknown flags " + std::to_string(ports[i].flags));
        port.optional = (ports[i].flags & TRELLIS_PORT_OPTIONAL) != 0;
        if (port.optional && !allow_optional) invalid(named, "an output cannot be optional");
        port.doc = text(ports[i].doc, named, "doc", false);
        check_reserved(ports[i].reserved, std::size(ports[i].reserved), named);
        out.push_back(std::move(port));
    }
    return out;
}

std::vector<ConfigKeyManifest> read_config(const trellis_config_key* keys, uint32_t count, const std::string& where) {
    check_array(keys, count, where, "config");
    std::vector<ConfigKeyManifest> out;
    std::set<std::string> seen;
    for (uint32_t i = 0; i < count; ++i) {
        const std::string key_where = where + ": config key #" + std::to_string(i + 1);
        ConfigKeyManifest key;
        key.key = text(keys[i].key, key_where, "key", true);
        check_name(key.key, identifier, "[a-z_][a-z0-9_]*", key_where, "key");
        const std::string named = where + ": config key '" + key.key + "'";
        if (!seen.insert(key.key).second) invalid(named, "declared twice");
        const auto type = value_type_name(keys[i].type);
        if (!type) invalid(named, "unknown value type " + std::to_string(keys[i].type));
        key.type = *type;
        key.required = keys[i].required != 0;
        key.doc = text(keys[i].doc, named, "doc", false);
        check_reserved(keys[i].reserved, std::size(keys[i].reserved), named);
        if (keys[i].default_json != nullptr) {
            const std::string json_text = text(keys[i].default_json, named, "default", false);
            auto parsed = nlohmann::json::parse(json_text, nullptr, false);
            if (parsed.is_discarded()) invalid(named, "default '" + json_text + "' is not valid JSON");
            if (!value_matches_type(parsed, key.type))
                invalid(named, "default " + json_text + " is not of type " + key.type);
            if (key.required) invalid(named, "a required key cannot have a default");
            key.default_value = std::move(parsed);
        }
        out.push_back(std::move(key));
    }
    return out;
}

StageManifest read_stage(const trellis_stage_descriptor& stage, uint32_t index, ApiVersion plugin_api) {
    // Numbered from 1 until it has a name; named from then on, even a name that breaks the rules.
    std::string where = "stage #" + std::to_string(index + 1);
    StageManifest out;
    out.name = text(stage.name, where, "name", true);
    where = "stage '" + out.name + "'";
    if (!std::regex_match(out.name, stage_name_pattern))
        invalid(where, "a stage name must be lower-case [a-z0-9_] parts joined by dots, like 'acme.train'");
    const auto kind = stage_kind_name(stage.kind);
    if (!kind) invalid(where, "unknown stage kind " + std::to_string(stage.kind));
    out.kind = *kind;
    out.description = text(stage.description, where, "description", false);
    out.inputs = read_ports(stage.inputs, stage.input_count, where, "input", true);
    out.outputs = read_ports(stage.outputs, stage.output_count, where, "output", false);
    out.config = read_config(stage.config, stage.config_count, where);
    if (stage.run == nullptr) invalid(where, "run entry point is NULL");
    // Before 1.3 the fingerprint slot was reserved: a plugin built for 1.2 must leave it NULL.
    if (plugin_api.minor < 3 && stage.fingerprint != nullptr)
        invalid(where, "reserved field 0 is not NULL (a fingerprint entry point needs API 1.3)");
    out.has_fingerprint = stage.fingerprint != nullptr;
    check_reserved(stage.reserved, std::size(stage.reserved), where);
    return out;
}

FlavorManifest read_flavor(const trellis_flavor_descriptor& flavor, uint32_t index) {
    std::string where = "flavor #" + std::to_string(index + 1);
    FlavorManifest out;
    out.name = text(flavor.name, where, "name", true);
    where = "flavor '" + out.name + "'";
    check_name(out.name, identifier, "[a-z_][a-z0-9_]*", where, "name");
    out.description = text(flavor.description, where, "description", false);
    if (!flavor.load || !flavor.predict || !flavor.destroy) invalid(where, "load, predict and destroy are required");
    check_reserved(flavor.reserved, std::size(flavor.reserved), where);
    return out;
}

} // namespace

PluginManifest read_descriptor(const trellis_plugin_descriptor* descriptor, ApiVersion plugin_api) {
    if (descriptor == nullptr) throw DescriptorError("invalid descriptor: " TRELLIS_DESCRIPTOR_SYMBOL " returned NULL");
    if (descriptor->struct_size < sizeof(trellis_plugin_descriptor))
        invalid("", "struct_size " + std::to_string(descriptor->struct_size) + " is smaller than " +
                        std::to_string(sizeof(trellis_plugin_descriptor)));
    PluginManifest out;
    out.api_major = plugin_api.major;
    out.api_minor = plugin_api.minor;
    out.name = text(descriptor->name, "", "plugin name", true);
    check_name(out.name, plugin_name_pattern, "[a-z0-9][a-z0-9_.-]*", "", "plugin name");
    const std::string where = "plugin '" + out.name + "'";
    out.version = text(descriptor->version, where, "version", true);
    out.vendor = text(descriptor->vendor, where, "vendor", false);
    out.license = text(descriptor->license, where, "license", false);
    out.description = text(descriptor->description, where, "description", false);
    check_array(descriptor->stages, descriptor->stage_count, where, "stages");
    check_array(descriptor->flavors, descriptor->flavor_count, where, "flavors");
    if (descriptor->stage_count == 0 && descriptor->flavor_count == 0) invalid(where, "provides no stage and no flavor");
    check_reserved(descriptor->reserved, std::size(descriptor->reserved), where);

    std::set<std::string> stage_names;
    for (uint32_t i = 0; i < descriptor->stage_count; ++i) {
        StageManifest stage = read_stage(descriptor->stages[i], i, plugin_api);
        if (!stage_names.insert(stage.name).second) invalid("stage '" + stage.name + "'", "declared twice");
        out.stages.push_back(std::move(stage));
    }
    std::set<std::string> flavor_names;
    for (uint32_t i = 0; i < descriptor->flavor_count; ++i) {
        FlavorManifest flavor = read_flavor(descriptor->flavors[i], i);
        if (!flavor_names.insert(flavor.name).second) invalid("flavor '" + flavor.name + "'", "declared twice");
        out.flavors.push_back(std::move(flavor));
    }
    return out;
}

} // namespace trellis::core
