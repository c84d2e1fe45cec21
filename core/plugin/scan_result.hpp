// What scanning one plugin file found: its manifest, or why it is broken.
#pragma once

#include "plugin/plugin_manifest.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace trellis::core {

// Identity of a file version: a scan result stays valid while these do not change.
struct FileStamp {
    uintmax_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
};

// Stamp of `path`, or nothing if it cannot be read.
std::optional<FileStamp> stamp_of(const std::filesystem::path& path);

struct ScanResult {
    std::filesystem::path path;
    FileStamp stamp;
    std::optional<PluginManifest> manifest; // set when the file is a good plugin
    std::string reason;                     // why not, otherwise
    int64_t hang_timeout_ms = 0;            // for a file that hung: the timeout it was given
    bool ok() const { return manifest.has_value(); }
};

nlohmann::json to_json(const ScanResult& result);
ScanResult scan_result_from_json(const nlohmann::json& in);

} // namespace trellis::core
