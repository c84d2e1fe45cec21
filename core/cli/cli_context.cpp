#include "cli/cli_context.hpp"

#include "store/metadata_store.hpp"

#include <algorithm>
#include <cstdlib>

namespace trellis::cli {

std::filesystem::path install_plugin_dir(const std::filesystem::path& executable) {
    // TRELLIS_BIN_TO_PLUGINS is the relative path from the install's bin folder to its plugin
    // folder; the build tree uses the same layout, so this works before installing too.
    return (executable.parent_path() / TRELLIS_BIN_TO_PLUGINS).lexically_normal();
}

std::set<std::string> trusted_public_keys(const std::filesystem::path& root) {
    std::set<std::string> keys;
    std::error_code error;
    if (!std::filesystem::exists(store::MetadataStore::database_path(root), error)) return keys;
    store::MetadataStore metadata(root);
    auto query = metadata.db().prepare("SELECT public_key FROM trusted_keys");
    while (query.step()) keys.insert(query.text(0));
    return keys;
}

std::optional<std::string> token_from_environment() {
    const char* token = std::getenv("TRELLIS_TOKEN");
    if (!token || !*token) return std::nullopt;
    return std::string(token);
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
        if (settings_.require_signed_plugins()) options.trusted_keys = trusted_public_keys(settings_.store_path());
        registry_ = std::make_unique<core::PluginRegistry>(core::PluginRegistry::discover(options));
    }
    return *registry_;
}

} // namespace trellis::cli
