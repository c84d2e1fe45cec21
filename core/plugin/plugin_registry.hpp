// The plugins this process can use: discovered in the search path, scanned (through the cache
// and child processes), de-duplicated by name, and loaded in-process on first use.
#pragma once

#include "plugin/plugin_library.hpp"
#include "plugin/plugin_scanner.hpp"
#include "plugin/scan_result.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace trellis::core {

struct DiscoveryOptions {
    std::vector<std::filesystem::path> search_path;   // in precedence order
    std::vector<std::filesystem::path> explicit_dirs; // warn if one of these is missing
    std::filesystem::path cache_file;                 // empty: no cache
    bool rescan = false;                              // ignore the cache
    ScanOptions scan;
    // trust.require_signed_plugins: set to the trusted public keys (hex), and a file that is not
    // signed by one of them, or changed since, is refused before it is scanned or loaded.
    std::optional<std::set<std::string>> trusted_keys;
};

// One file found on the search path.
struct PluginFile {
    ScanResult scan;
    std::string shadowed_by; // set when another file earlier on the path has the same plugin name
    bool active() const { return scan.ok() && shadowed_by.empty(); }
};

class PluginRegistry {
public:
    // Finds *.so files in every folder of the search path and scans them. Problems with single
    // files are recorded, logged as one warning each, and do not stop discovery.
    static PluginRegistry discover(const DiscoveryOptions& options);

    // Every file found, in search order.
    const std::vector<PluginFile>& files() const { return files_; }
    // The plugin called `name`, if a good file provides it.
    const PluginFile* find_plugin(const std::string& name) const;
    // The plugin providing stage `stage_name`, if any.
    const PluginFile* find_stage_provider(const std::string& stage_name) const;
    // All stage names good plugins provide.
    std::vector<std::string> stage_names() const;
    // The plugin providing model flavor `flavor_name`, if any.
    const PluginFile* find_flavor_provider(const std::string& flavor_name) const;

    // Loads plugin `name` into this process (once); throws PluginLoadError.
    std::shared_ptr<PluginLibrary> load(const std::string& name);
    // Under trust.require_signed_plugins, the SHA-256 `file` was signed with, after checking its
    // signature again (PluginLoadError when it no longer passes): what an isolated stage's child
    // process checks the file against before it opens it. Nothing when signatures are not required.
    std::optional<std::string> verified_sha256(const std::filesystem::path& file) const;

private:
    std::vector<PluginFile> files_;
    std::map<std::string, size_t> by_name_;
    std::map<std::string, size_t> by_stage_;
    std::map<std::string, size_t> by_flavor_;
    std::optional<std::set<std::string>> trusted_keys_;
    std::unique_ptr<std::mutex> loaded_mutex_ = std::make_unique<std::mutex>();
    std::map<std::string, std::shared_ptr<PluginLibrary>> loaded_; // kept for the life of the process
};

// Sorted *.so files directly in `dir` (no recursion).
std::vector<std::filesystem::path> list_plugin_files(const std::filesystem::path& dir);

} // namespace trellis::core
