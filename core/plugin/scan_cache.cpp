#include "plugin/scan_cache.hpp"

#include "plugin/api_version.hpp"
#include "util/json_text.hpp"

#include <fstream>
#include <unistd.h>

namespace trellis::core {
namespace {
constexpr int cache_format = 1;
}

ScanCache::ScanCache(std::filesystem::path file) : file_(std::move(file)) {
    std::ifstream in(file_);
    if (!in) return;
    auto document = nlohmann::json::parse(in, nullptr, false);
    try {
        if (document.is_discarded() || document.value("format", 0) != cache_format ||
            document.value("host_api", "") != to_string(host_api_version()) ||
            document.value("trellis", "") != TRELLIS_VERSION)
            return;
        for (const auto& entry : document.at("entries")) {
            ScanResult result = scan_result_from_json(entry);
            entries_[result.path.string()] = std::move(result);
        }
    } catch (const std::exception&) {
        entries_.clear(); // a damaged cache is just a cold start
    }
}

std::optional<ScanResult> ScanCache::find(const std::filesystem::path& path, const FileStamp& stamp) const {
    auto it = entries_.find(path.string());
    if (it == entries_.end() || !(it->second.stamp == stamp)) return std::nullopt;
    return it->second;
}

void ScanCache::put(const ScanResult& result) {
    // A missing library depends on the machine, not on the file: installing it must be enough.
    if (!result.ok() && result.reason.rfind("missing dependency library", 0) == 0) {
        dirty_ = entries_.erase(result.path.string()) > 0 || dirty_;
        return;
    }
    entries_[result.path.string()] = result;
    dirty_ = true;
}

void ScanCache::prune() {
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (!std::filesystem::exists(it->second.path)) {
            it = entries_.erase(it);
            dirty_ = true;
        } else {
            ++it;
        }
    }
}

std::optional<std::string> ScanCache::save() {
    if (!dirty_) return std::nullopt;
    nlohmann::json document = {{"format", cache_format}, {"host_api", to_string(host_api_version())},
                               {"trellis", TRELLIS_VERSION},
                               {"entries", nlohmann::json::array()}};
    for (const auto& [path, result] : entries_) document["entries"].push_back(to_json(result));
    std::error_code ec;
    std::filesystem::create_directories(file_.parent_path(), ec);
    const auto temp = file_.string() + ".tmp." + std::to_string(getpid());
    {
        std::ofstream out(temp, std::ios::trunc);
        out << dump_json(document);
        if (!out.flush()) {
            std::filesystem::remove(temp, ec);
            return "cannot write plugin cache " + temp;
        }
    }
    std::filesystem::rename(temp, file_, ec);
    if (ec) {
        std::filesystem::remove(temp, ec);
        return "cannot write plugin cache " + file_.string() + ": " + ec.message();
    }
    dirty_ = false;
    return std::nullopt;
}

} // namespace trellis::core
