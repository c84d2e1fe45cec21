// What every subcommand needs after the global options are parsed: settings and, on demand, the
// plugin registry (discovered once per process).
#pragma once

#include "config/settings.hpp"
#include "plugin/plugin_registry.hpp"

#include <filesystem>
#include <memory>
#include <optional>
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
    core::PluginRegistry& registry();

private:
    core::Settings settings_;
    std::filesystem::path executable_;
    bool rescan_ = false;
    std::unique_ptr<core::PluginRegistry> registry_;
};

// The install's default plugin folder, found relative to the running executable.
std::filesystem::path install_plugin_dir(const std::filesystem::path& executable);

// Nearest names to `wanted` among `candidates` (for "did you mean" hints).
std::vector<std::string> nearest_names(const std::string& wanted, const std::vector<std::string>& candidates);

} // namespace trellis::cli
