#include "plugin/scan_result.hpp"

#include <sys/stat.h>

namespace trellis::core {

std::optional<FileStamp> stamp_of(const std::filesystem::path& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return std::nullopt;
    return FileStamp{static_cast<uintmax_t>(info.st_size),
                     static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
}

nlohmann::json to_json(const ScanResult& result) {
    nlohmann::json out = {{"path", result.path.string()}, {"size", result.stamp.size}, {"mtime_ns", result.stamp.mtime_ns}};
    if (result.manifest) out["manifest"] = *result.manifest;
    else out["reason"] = result.reason;
    if (result.hang_timeout_ms) out["hang_timeout_ms"] = result.hang_timeout_ms;
    return out;
}

ScanResult scan_result_from_json(const nlohmann::json& in) {
    ScanResult result;
    result.path = in.at("path").get<std::string>();
    result.stamp = {in.at("size").get<uintmax_t>(), in.at("mtime_ns").get<int64_t>()};
    if (in.contains("manifest")) result.manifest = in.at("manifest").get<PluginManifest>();
    else result.reason = in.at("reason").get<std::string>();
    result.hang_timeout_ms = in.value("hang_timeout_ms", int64_t{0});
    return result;
}

} // namespace trellis::core
