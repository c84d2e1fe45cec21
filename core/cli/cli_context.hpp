// What every subcommand needs after the global options are parsed: settings and, on demand, the
// plugin registry (discovered once per process).
#pragma once

#include "config/settings.hpp"
#include "plugin/plugin_registry.hpp"
#include "util/nearest_names.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace trellis::cli {

// Thrown for bad input from the user; main() prints it as one line and exits with exit_usage.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct GlobalOptions {
    std::optional<std::string> config_file;
    std::vector<std::string> plugin_path;
    std::optional<std::string> log_level;
    std::optional<std::string> store;
    bool quiet = false;
    bool rescan = false;
};

class CliContext {
public:
    CliContext(core::Settings settings, std::filesystem::path executable, bool rescan)
        : settings_(std::move(settings)), executable_(std::move(executable)), rescan_(rescan) {}

    const core::Settings& settings() const { return settings_; }
    const std::filesystem::path& executable() const { return executable_; }
    core::PluginRegistry& registry();

private:
    core::Settings settings_;
    std::filesystem::path executable_;
    bool rescan_ = false;
    std::unique_ptr<core::PluginRegistry> registry_;
};

// The public keys (hex) trusted in the store at `root`; none when there is no store yet.
std::set<std::string> trusted_public_keys(const std::filesystem::path& root);
// TRELLIS_TOKEN, when set: the API token the CLI acts with instead of the OS user.
std::optional<std::string> token_from_environment();

// The install's default plugin folder, found relative to the running executable.
std::filesystem::path install_plugin_dir(const std::filesystem::path& executable);

using core::nearest_names;

} // namespace trellis::cli
