// Project settings and where each came from. Precedence: built-in defaults < config file
// (trellis.ini / .json / .xml) < TRELLIS_* environment variables < command-line flags. The plugin
// path is the exception: directories from every source are searched, flags first.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace trellis::core {

// Bad configuration: what() names the file or variable and the key.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct SettingValue {
    std::string value;
    std::string source; // "default", a config file's path, "TRELLIS_JOBS", "--log-level"
};

class Settings {
public:
    // Built-in defaults; `install_plugin_dir` is the installation's own plugin folder.
    explicit Settings(std::filesystem::path install_plugin_dir);

    // Reads a config file (format from its extension). Unknown keys and bad values throw ConfigError
    // naming the file and key. Relative paths are taken relative to the file's folder.
    void load_file(const std::filesystem::path& file);
    // Reads TRELLIS_* variables through `getenv` (injectable for tests).
    void load_environment(const std::function<const char*(const char*)>& getenv);
    // Sets `key` from command-line flag `flag`.
    void set_from_flag(const std::string& key, const std::string& value, const std::string& flag);
    // Adds plugin directories given on the command line (searched before all others).
    void add_flag_plugin_dirs(const std::vector<std::string>& dirs);

    // Plugin folders in search order: flags, TRELLIS_PLUGIN_PATH, config file, installation.
    std::vector<std::filesystem::path> plugin_search_path() const;
    // Plugin folders that a user named explicitly (missing ones deserve a warning).
    std::vector<std::filesystem::path> explicit_plugin_dirs() const;

    std::filesystem::path store_path() const;
    std::filesystem::path cache_dir() const;
    std::string log_level() const;
    unsigned jobs() const;
    double scan_timeout_seconds() const;
    // Plugins whose stages always run in a child process: names from run.isolate ("*": all).
    std::vector<std::string> isolated_plugins() const;
    size_t lua_memory_limit_bytes() const;
    uint64_t lua_instruction_limit() const;
    double lua_time_limit_seconds() const;
    // Where `trellis keys generate` writes private keys and `sign --key NAME` finds them.
    std::filesystem::path key_dir() const;
    // trust.require_signed_plugins / trust.require_signed_models (docs/governance.md).
    bool require_signed_plugins() const;
    bool require_signed_models() const;

    // Every setting with its value and source, for `trellis config show`.
    std::vector<std::pair<std::string, SettingValue>> describe() const;

    // The keys a config file may hold.
    static const std::vector<std::string>& known_keys();

private:
    enum class Origin { File, Environment, Flag };
    void set(const std::string& key, const std::string& value, const std::string& source, Origin origin,
             const std::filesystem::path& relative_to = {});

    std::map<std::string, SettingValue> values_;
    std::vector<std::filesystem::path> flag_plugin_dirs_;
    std::vector<std::filesystem::path> env_plugin_dirs_;
    std::vector<std::filesystem::path> file_plugin_dirs_;
    std::filesystem::path install_plugin_dir_;
};

// The config file to read: `explicit_file` if given, else TRELLIS_CONFIG, else the first of
// trellis.ini, trellis.json, trellis.xml in `directory`; nothing if none exists.
std::optional<std::filesystem::path> find_config_file(const std::optional<std::filesystem::path>& explicit_file,
                                                      const char* env_value, const std::filesystem::path& directory);

} // namespace trellis::core
