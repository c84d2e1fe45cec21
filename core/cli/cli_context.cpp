#include "cli/cli_context.hpp"

#include <algorithm>

namespace trellis::cli {

std::filesystem::path install_plugin_dir(const std::filesystem::path& executable) {
    // TRELLIS_BIN_TO_PLUGINS is the relative path from the install's bin folder to its plugin
    // folder; the build tree uses the same layout, so this works before installing too.
    return (executable.parent_path() / TRELLIS_BIN_TO_PLUGINS).lexically_normal();
}

core::PluginRegistry& CliContext::registry() {
    if (!registry_) {
        core::DiscoveryOptions options;
        options.search_path = settings_.plugin_search_path();
        options.explicit_dirs = settings_.explicit_plugin_dirs();
        options.cache_file = settings_.cache_dir() / "plugin-registry.json";
        options.rescan = rescan_;
        options.scan.helper_executable = executable_;
        options.scan.timeout = std::chrono::milliseconds(static_cast<long>(settings_.scan_timeout_seconds() * 1000));
        options.scan.parallelism = settings_.jobs();
        registry_ = std::make_unique<core::PluginRegistry>(core::PluginRegistry::discover(options));
    }
    return *registry_;
}

} // namespace trellis::cli
