#include "plugin/plugin_registry.hpp"

#include "govern/file_signature.hpp"
#include "plugin/scan_cache.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace trellis::core {

std::vector<std::filesystem::path> list_plugin_files(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.path().extension() != ".so") continue;
        std::error_code type_ec;
        if (entry.is_directory(type_ec)) continue;
        out.push_back(entry.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

PluginRegistry PluginRegistry::discover(const DiscoveryOptions& options) {
    PluginRegistry registry;
    std::vector<std::filesystem::path> paths;
    std::set<std::filesystem::path> seen_dirs, seen_files;
    for (const auto& dir : options.search_path) {
        std::error_code ec;
        const auto canonical = std::filesystem::weakly_canonical(dir, ec);
        if (!std::filesystem::is_directory(canonical, ec)) {
            if (std::find(options.explicit_dirs.begin(), options.explicit_dirs.end(), dir) != options.explicit_dirs.end())
                spdlog::warn("plugin folder {} does not exist", dir.string());
            continue;
        }
        if (!seen_dirs.insert(canonical).second) continue;
        for (const auto& file : list_plugin_files(canonical))
            if (seen_files.insert(std::filesystem::weakly_canonical(file, ec)).second) paths.push_back(file);
    }

    ScanCache cache(options.cache_file); // no file configured: an empty cache, never saved
    std::vector<ScanResult> results(paths.size());
    std::vector<size_t> to_scan;
    std::vector<bool> fresh(paths.size(), false);
    std::vector<FileStamp> stamps(paths.size());
    registry.trusted_keys_ = options.trusted_keys;
    for (size_t i = 0; i < paths.size(); ++i) {
        if (options.trusted_keys) {
            // Before anything runs the file's code, even in a scan child.
            if (auto problem = govern::file_signature_problem(paths[i], *options.trusted_keys); !problem.empty()) {
                results[i].path = paths[i];
                results[i].reason = "refused (trust.require_signed_plugins): " + problem;
                fresh[i] = true;
                continue;
            }
        }
        const auto stamp = stamp_of(paths[i]);
        if (!stamp) {
            results[i].path = paths[i];
            results[i].reason = "cannot read file";
            continue;
        }
        stamps[i] = *stamp;
        auto cached = options.rescan ? std::nullopt : cache.find(paths[i], *stamp);
        // A file that hung is given another chance when the user allows it more time.
        if (cached && cached->hang_timeout_ms && options.scan.timeout.count() > cached->hang_timeout_ms) cached.reset();
        if (cached) results[i] = std::move(*cached);
        else to_scan.push_back(i);
    }
    if (!to_scan.empty()) {
        std::vector<std::filesystem::path> scan_paths;
        for (size_t i : to_scan) scan_paths.push_back(paths[i]);
        spdlog::debug("scanning {} plugin file(s)", scan_paths.size());
        auto scanned = scan_in_children(scan_paths, options.scan);
        for (size_t k = 0; k < to_scan.size(); ++k) {
            const size_t i = to_scan[k];
            results[i] = std::move(scanned[k]);
            results[i].path = paths[i];
            results[i].stamp = stamps[i];
            fresh[i] = true;
            cache.put(results[i]);
        }
    }
    if (!options.cache_file.empty()) {
        cache.prune();
        if (auto problem = cache.save()) spdlog::debug("{}", *problem);
    }

    for (size_t i = 0; i < results.size(); ++i) {
        PluginFile file{std::move(results[i]), {}};
        if (!file.scan.ok()) {
            // Said loudly once, when the file is found broken; the cache remembers it after that
            // and `trellis plugins list` shows it, so every later command need not repeat it.
            spdlog::log(fresh[i] ? spdlog::level::warn : spdlog::level::debug, "plugin {}: {}",
                        file.scan.path.string(), file.scan.reason);
        } else if (auto it = registry.by_name_.find(file.scan.manifest->name); it != registry.by_name_.end()) {
            file.shadowed_by = registry.files_[it->second].scan.path.string();
            spdlog::warn("plugin {}: duplicate plugin name '{}', already provided by {}; ignoring this one",
                         file.scan.path.string(), file.scan.manifest->name, file.shadowed_by);
        } else {
            const size_t index = registry.files_.size();
            registry.by_name_[file.scan.manifest->name] = index;
            for (const auto& stage : file.scan.manifest->stages) {
                if (auto other = registry.by_stage_.find(stage.name); other != registry.by_stage_.end()) {
                    spdlog::warn("plugin {}: stage '{}' is already provided by plugin '{}' ({}); using that one",
                                 file.scan.path.string(), stage.name,
                                 registry.files_[other->second].scan.manifest->name,
                                 registry.files_[other->second].scan.path.string());
                    continue;
                }
                registry.by_stage_[stage.name] = index;
            }
            for (const auto& flavor : file.scan.manifest->flavors) {
                if (auto other = registry.by_flavor_.find(flavor.name); other != registry.by_flavor_.end()) {
                    spdlog::warn("plugin {}: flavor '{}' is already provided by plugin '{}'; using that one",
                                 file.scan.path.string(), flavor.name,
                                 registry.files_[other->second].scan.manifest->name);
                    continue;
                }
                registry.by_flavor_[flavor.name] = index;
            }
        }
        registry.files_.push_back(std::move(file));
    }
    return registry;
}

const PluginFile* PluginRegistry::find_plugin(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &files_[it->second];
}

const PluginFile* PluginRegistry::find_stage_provider(const std::string& stage_name) const {
    auto it = by_stage_.find(stage_name);
    return it == by_stage_.end() ? nullptr : &files_[it->second];
}

const PluginFile* PluginRegistry::find_flavor_provider(const std::string& flavor_name) const {
    auto it = by_flavor_.find(flavor_name);
    return it == by_flavor_.end() ? nullptr : &files_[it->second];
}

std::vector<std::string> PluginRegistry::stage_names() const {
    std::vector<std::string> out;
    for (const auto& [name, index] : by_stage_) out.push_back(name);
    return out;
}

std::shared_ptr<PluginLibrary> PluginRegistry::load(const std::string& name) {
    const PluginFile* file = find_plugin(name);
    if (!file) throw PluginLoadError("no plugin named '" + name + "'");
    std::lock_guard lock(*loaded_mutex_);
    auto& slot = loaded_[name];
    if (!slot) {
        // Only a file that passed the out-of-process scan is loaded in-process.
        if (stamp_of(file->scan.path) != file->scan.stamp)
            throw PluginLoadError(file->scan.path.string() + " changed since it was scanned; run the command again");
        if (trusted_keys_)
            if (auto problem = govern::file_signature_problem(file->scan.path, *trusted_keys_); !problem.empty())
                throw PluginLoadError(file->scan.path.string() + ": refused (trust.require_signed_plugins): " + problem);
        slot = PluginLibrary::open(file->scan.path);
    }
    return slot;
}

std::optional<std::string> PluginRegistry::verified_sha256(const std::filesystem::path& file) const {
    if (!trusted_keys_) return std::nullopt;
    if (auto problem = govern::file_signature_problem(file, *trusted_keys_); !problem.empty())
        throw PluginLoadError(file.string() + ": refused (trust.require_signed_plugins): " + problem);
    return govern::read_file_signature(file).sha256;
}

} // namespace trellis::core
