// Remembers scan results keyed by path + size + mtime, as GStreamer's registry does: a warm start
// stats the files instead of loading them, and a file that crashed or hung the scanner is not
// tried again until it changes.
#pragma once

#include "plugin/scan_result.hpp"

#include <filesystem>
#include <map>
#include <optional>

namespace trellis::core {

class ScanCache {
public:
    // Reads `file` if it exists and was written by this host version; a missing, corrupt or
    // foreign cache is treated as empty (it is only a cache).
    explicit ScanCache(std::filesystem::path file);

    // The cached result for `path` if its stamp still matches.
    std::optional<ScanResult> find(const std::filesystem::path& path, const FileStamp& stamp) const;
    void put(const ScanResult& result);
    // Drops entries whose files are gone.
    void prune();
    // Writes the cache atomically (temp file + rename) if anything changed; failures are ignored
    // with a returned message, because a read-only cache must not stop the host.
    std::optional<std::string> save();

private:
    std::filesystem::path file_;
    std::map<std::string, ScanResult> entries_;
    bool dirty_ = false;
};

} // namespace trellis::core
