#include "config/settings.hpp"

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <sstream>
#include <thread>

namespace trellis::core {
namespace {

namespace pt = boost::property_tree;

struct KeySpec {
    const char* key;
    const char* env;
    bool is_path;
    std::function<std::optional<std::string>(const std::string&)> check; // error text or nothing
};

std::optional<std::string> positive_integer(const std::string& value) {
    unsigned number = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || number == 0 || number > 1024)
        return "'" + value + "' is not a whole number from 1 to 1024";
    return std::nullopt;
}

std::optional<std::string> positive_number(const std::string& value) {
    double number = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || !(number >= 0.1) || number > 86400)
        return "'" + value + "' is not a number of seconds from 0.1 to 86400";
    return std::nullopt;
}

std::optional<std::string> log_level(const std::string& value) {
    static const char* levels[] = {"trace", "debug", "info", "warn", "warning", "error", "critical", "off"};
    if (std::find_if(std::begin(levels), std::end(levels), [&](const char* l) { return value == l; }) == std::end(levels))
        return "'" + value + "' is not a log level (trace, debug, info, warn, error, critical, off)";
    return std::nullopt;
}

std::optional<std::string> any_text(const std::string&) { return std::nullopt; }

std::optional<std::string> boolean(const std::string& value) {
    if (value == "true" || value == "false") return std::nullopt;
    return "'" + value + "' is not true or false";
}

std::string default_key_dir() {
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::string(xdg) + "/trellis/keys";
    if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.config/trellis/keys";
    return ".trellis/my-keys";
}

std::optional<std::string> whole_number_in(const std::string& value, uint64_t low, uint64_t high) {
    uint64_t number = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || number < low || number > high)
        return "'" + value + "' is not a whole number from " + std::to_string(low) + " to " + std::to_string(high);
    return std::nullopt;
}

std::optional<std::string> memory_mib(const std::string& value) { return whole_number_in(value, 1, 1u << 20); }
std::optional<std::string> instruction_count(const std::string& value) {
    return whole_number_in(value, 1000, uint64_t{1} << 50);
}

const std::vector<KeySpec>& key_specs() {
    static const std::vector<KeySpec> specs = {
        {"plugins.path", "TRELLIS_PLUGIN_PATH", true, any_text},
        {"plugins.scan_timeout", "TRELLIS_SCAN_TIMEOUT", false, positive_number},
        {"cache.dir", "TRELLIS_CACHE_DIR", true, any_text},
        {"store.path", "TRELLIS_STORE", true, any_text},
        {"log.level", "TRELLIS_LOG_LEVEL", false, log_level},
        {"run.jobs", "TRELLIS_JOBS", false, positive_integer},
        {"run.isolate", "TRELLIS_ISOLATE", false, any_text},
        {"lua.memory_limit", "TRELLIS_LUA_MEMORY_LIMIT", false, memory_mib},
        {"lua.instruction_limit", "TRELLIS_LUA_INSTRUCTION_LIMIT", false, instruction_count},
        {"lua.time_limit", "TRELLIS_LUA_TIME_LIMIT", false, positive_number},
        {"keys.dir", "TRELLIS_KEYS_DIR", true, any_text},
        {"trust.require_signed_plugins", "TRELLIS_REQUIRE_SIGNED_PLUGINS", false, boolean},
        {"trust.require_signed_models", "TRELLIS_REQUIRE_SIGNED_MODELS", false, boolean},
    };
    return specs;
}

const KeySpec* find_spec(const std::string& key) {
    for (const auto& spec : key_specs())
        if (key == spec.key) return &spec;
    return nullptr;
}

std::vector<std::filesystem::path> split_path_list(const std::string& list, const std::filesystem::path& relative_to) {
    std::vector<std::filesystem::path> out;
    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ':')) {
        if (item.empty()) continue;
        std::filesystem::path dir(item);
        out.push_back(dir.is_relative() && !relative_to.empty() ? relative_to / dir : dir);
    }
    return out;
}

std::string default_cache_dir() {
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/trellis";
    if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/trellis";
    return ".trellis/cache";
}

// Flattens a property tree into "section.key" -> value. JSON arrays (children with empty keys)
// become colon-joined lists, which only plugins.path accepts.
void flatten(const pt::ptree& tree, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
    for (const auto& [name, child] : tree) {
        const std::string key = prefix.empty() ? name : prefix + "." + name;
        if (name == "<xmlcomment>") continue;
        if (child.empty()) {
            out.emplace_back(key, child.data());
        } else if (child.front().first.empty()) {
            std::string joined;
            for (const auto& [item_name, item] : child) {
                if (!joined.empty()) joined += ':';
                joined += item.data();
            }
            out.emplace_back(key, joined);
        } else {
            flatten(child, key, out);
        }
    }
}

} // namespace

Settings::Settings(std::filesystem::path install_plugin_dir) : install_plugin_dir_(std::move(install_plugin_dir)) {
    values_["plugins.scan_timeout"] = {"10", "default"};
    values_["cache.dir"] = {default_cache_dir(), "default"};
    values_["store.path"] = {".trellis", "default"};
    values_["log.level"] = {"info", "default"};
    values_["run.jobs"] = {std::to_string(std::max(1u, std::thread::hardware_concurrency())), "default"};
    values_["run.isolate"] = {"", "default"};
    values_["lua.memory_limit"] = {"256", "default"};
    values_["lua.instruction_limit"] = {"200000000", "default"};
    values_["lua.time_limit"] = {"10", "default"};
    values_["keys.dir"] = {default_key_dir(), "default"};
    values_["trust.require_signed_plugins"] = {"false", "default"};
    values_["trust.require_signed_models"] = {"false", "default"};
}

const std::vector<std::string>& Settings::known_keys() {
    static const std::vector<std::string> keys = [] {
        std::vector<std::string> out;
        for (const auto& spec : key_specs()) out.emplace_back(spec.key);
        return out;
    }();
    return keys;
}

void Settings::set(const std::string& key, const std::string& value, const std::string& source, Origin origin,
                   const std::filesystem::path& relative_to) {
    const KeySpec* spec = find_spec(key);
    if (!spec) {
        std::string known;
        for (const auto& k : known_keys()) {
            if (!known.empty()) known += ", ";
            known += k;
        }
        throw ConfigError(source + ": unknown key '" + key + "' (known keys: " + known + ")");
    }
    if (auto problem = spec->check(value)) throw ConfigError(source + ": key '" + key + "': " + *problem);
    if (key == "plugins.path") {
        auto dirs = split_path_list(value, relative_to);
        auto& target = origin == Origin::Environment ? env_plugin_dirs_
                       : origin == Origin::Flag      ? flag_plugin_dirs_
                                                     : file_plugin_dirs_;
        target.insert(target.end(), dirs.begin(), dirs.end());
        return;
    }
    std::string stored = value;
    if (spec->is_path && !relative_to.empty() && std::filesystem::path(value).is_relative())
        stored = (relative_to / value).lexically_normal().string();
    values_[key] = {stored, source};
}

void Settings::load_file(const std::filesystem::path& file) {
    const std::string name = file.string();
    pt::ptree tree;
    const std::string extension = file.extension().string();
    try {
        if (extension == ".ini") pt::read_ini(name, tree);
        else if (extension == ".json") pt::read_json(name, tree);
        else if (extension == ".xml") {
            pt::ptree document;
            pt::read_xml(name, document, pt::xml_parser::trim_whitespace);
            // Comments may stand beside the root element; Boost keeps them as <xmlcomment> nodes.
            const pt::ptree* root = nullptr;
            for (const auto& [element, child] : document) {
                if (element == "<xmlcomment>") continue;
                if (element != "trellis" || root) throw ConfigError(name + ": the root element must be <trellis>");
                root = &child;
            }
            if (!root) throw ConfigError(name + ": the root element must be <trellis>");
            tree = *root;
        } else {
            throw ConfigError(name + ": unknown config format '" + extension + "' (use .ini, .json or .xml)");
        }
    } catch (const pt::file_parser_error& e) {
        throw ConfigError(name + (e.line() ? ":" + std::to_string(e.line()) : "") + ": " + e.message());
    }
    std::vector<std::pair<std::string, std::string>> entries;
    flatten(tree, "", entries);
    const auto folder = std::filesystem::absolute(file).parent_path();
    for (const auto& [key, value] : entries) set(key, value, name, Origin::File, folder);
}

void Settings::load_environment(const std::function<const char*(const char*)>& getenv) {
    for (const auto& spec : key_specs())
        if (const char* value = getenv(spec.env); value && *value) set(spec.key, value, spec.env, Origin::Environment);
}

void Settings::set_from_flag(const std::string& key, const std::string& value, const std::string& flag) {
    set(key, value, flag, Origin::Flag);
}

void Settings::add_flag_plugin_dirs(const std::vector<std::string>& dirs) {
    for (const auto& list : dirs) {
        auto split = split_path_list(list, {});
        flag_plugin_dirs_.insert(flag_plugin_dirs_.end(), split.begin(), split.end());
    }
}

std::vector<std::filesystem::path> Settings::plugin_search_path() const {
    std::vector<std::filesystem::path> out = explicit_plugin_dirs();
    out.push_back(install_plugin_dir_);
    return out;
}

std::vector<std::filesystem::path> Settings::explicit_plugin_dirs() const {
    std::vector<std::filesystem::path> out = flag_plugin_dirs_;
    out.insert(out.end(), env_plugin_dirs_.begin(), env_plugin_dirs_.end());
    out.insert(out.end(), file_plugin_dirs_.begin(), file_plugin_dirs_.end());
    return out;
}

std::filesystem::path Settings::store_path() const { return values_.at("store.path").value; }
std::filesystem::path Settings::cache_dir() const { return values_.at("cache.dir").value; }
std::string Settings::log_level() const { return values_.at("log.level").value; }
unsigned Settings::jobs() const { return static_cast<unsigned>(std::stoul(values_.at("run.jobs").value)); }
double Settings::scan_timeout_seconds() const { return std::stod(values_.at("plugins.scan_timeout").value); }

std::vector<std::string> Settings::isolated_plugins() const {
    std::vector<std::string> out;
    // Commas or colons: a JSON or XML list in a config file arrives colon-joined.
    std::string list = values_.at("run.isolate").value;
    std::replace(list.begin(), list.end(), ':', ',');
    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ',')) {
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

size_t Settings::lua_memory_limit_bytes() const {
    return static_cast<size_t>(std::stoull(values_.at("lua.memory_limit").value)) << 20;
}
uint64_t Settings::lua_instruction_limit() const { return std::stoull(values_.at("lua.instruction_limit").value); }
double Settings::lua_time_limit_seconds() const { return std::stod(values_.at("lua.time_limit").value); }
std::filesystem::path Settings::key_dir() const { return values_.at("keys.dir").value; }
bool Settings::require_signed_plugins() const { return values_.at("trust.require_signed_plugins").value == "true"; }
bool Settings::require_signed_models() const { return values_.at("trust.require_signed_models").value == "true"; }

std::vector<std::pair<std::string, SettingValue>> Settings::describe() const {
    std::vector<std::pair<std::string, SettingValue>> out;
    std::string path_list, path_sources;
    auto add_dirs = [&](const std::vector<std::filesystem::path>& dirs, const std::string& source) {
        for (const auto& dir : dirs) {
            if (!path_list.empty()) path_list += ':';
            path_list += dir.string();
        }
        if (!dirs.empty()) {
            if (!path_sources.empty()) path_sources += " + ";
            path_sources += source;
        }
    };
    add_dirs(flag_plugin_dirs_, "--plugin-path");
    add_dirs(env_plugin_dirs_, "TRELLIS_PLUGIN_PATH");
    add_dirs(file_plugin_dirs_, "config file");
    add_dirs({install_plugin_dir_}, "default");
    out.push_back({"plugins.path", {path_list, path_sources}});
    for (const auto& [key, value] : values_) out.emplace_back(key, value);
    return out;
}

std::optional<std::filesystem::path> find_config_file(const std::optional<std::filesystem::path>& explicit_file,
                                                      const char* env_value, const std::filesystem::path& directory) {
    if (explicit_file) {
        if (!std::filesystem::exists(*explicit_file))
            throw ConfigError(explicit_file->string() + ": config file does not exist");
        return explicit_file;
    }
    if (env_value && *env_value) {
        if (!std::filesystem::exists(env_value))
            throw ConfigError(std::string("TRELLIS_CONFIG: config file '") + env_value + "' does not exist");
        return std::filesystem::path(env_value);
    }
    for (const char* name : {"trellis.ini", "trellis.json", "trellis.xml"})
        if (std::filesystem::exists(directory / name)) return directory / name;
    return std::nullopt;
}

} // namespace trellis::core
