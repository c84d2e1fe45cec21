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

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}
} // namespace

std::vector<std::string> nearest_names(const std::string& wanted, const std::vector<std::string>& candidates) {
    std::vector<std::pair<size_t, std::string>> scored;
    for (const auto& candidate : candidates) {
        const size_t distance = edit_distance(wanted, candidate);
        if (distance <= std::max<size_t>(2, wanted.size() / 3)) scored.emplace_back(distance, candidate);
    }
    std::sort(scored.begin(), scored.end());
    std::vector<std::string> out;
    for (size_t i = 0; i < scored.size() && i < 3; ++i) out.push_back(scored[i].second);
    return out;
}

} // namespace trellis::cli
