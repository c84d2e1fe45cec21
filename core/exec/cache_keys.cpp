#include "exec/cache_keys.hpp"

#include "store/digest.hpp"

#include <chrono>
#include <sys/stat.h>

namespace trellis::core {

namespace {
// Bumped whenever what goes into a key changes, so old keys never match new ones by accident.
constexpr std::string_view key_format = "trellis-cache-key-1";
} // namespace

CacheKeys::CacheKeys(const Pipeline& pipeline, std::string lua_sources, PluginRegistry& registry,
                     store::MetadataStore& metadata)
    : pipeline_(pipeline), registry_(registry), metadata_(metadata) {
    store::FastHash hash;
    hash.update(lua_sources);
    lua_sources_digest_ = hash.hex();
}

std::string CacheKeys::plugin_digest(const std::string& plugin_name) {
    if (auto it = plugin_digests_.find(plugin_name); it != plugin_digests_.end()) return it->second;
    const PluginFile* file = registry_.find_plugin(plugin_name);
    if (!file) throw std::runtime_error("plugin '" + plugin_name + "' is not installed");
    return plugin_digests_[plugin_name] = store::sha256_file(file->scan.path);
}

// A stage that takes a model may predict through the host, which runs the flavor's code from
// whichever plugin provides it: those plugins' builds are part of what such a stage computes.
const std::string& CacheKeys::flavor_plugins_digest() {
    if (flavor_plugins_digest_) return *flavor_plugins_digest_;
    std::map<std::string, std::string> providers; // plugin name -> digest, sorted
    for (const auto& file : registry_.files())
        if (file.active() && !file.scan.manifest->flavors.empty())
            providers[file.scan.manifest->name] = plugin_digest(file.scan.manifest->name);
    store::FastHash hash;
    for (const auto& [name, digest] : providers) {
        hash.field(name);
        hash.field(digest);
    }
    return *(flavor_plugins_digest_ = hash.hex());
}

void CacheKeys::hash_plugins() {
    for (const auto& node : pipeline_.stages)
        if (node.is_plugin()) plugin_digest(node.plugin_name);
    flavor_plugins_digest();
}

std::string CacheKeys::plugin_version(const std::string& plugin_name) const {
    const PluginFile* file = registry_.find_plugin(plugin_name);
    return file && file->scan.manifest ? file->scan.manifest->version : "";
}

std::string CacheKeys::file_digest(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) throw std::runtime_error("cannot read " + path);
    const int64_t mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
    if (auto known = metadata_.file_fingerprint(path, info.st_size, mtime_ns, static_cast<int64_t>(info.st_ino)))
        return *known;
    const std::string digest = store::fast_hash_file(path);
    // A file modified in the last seconds may be modified again within the same timestamp tick
    // with the same size; such a fingerprint is not trusted (as git treats "racy" index entries).
    const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    if (now_ns - mtime_ns > 2'000'000'000)
        metadata_.save_file_fingerprint(path, info.st_size, mtime_ns, static_cast<int64_t>(info.st_ino), digest);
    return digest;
}

// A config value that names an existing regular file is data the stage reads: its content, not
// just its name, is part of the key, so editing the file makes the stage (and what follows) run.
void CacheKeys::add_files(const nlohmann::json& value, std::map<std::string, std::string>& files) {
    if (value.is_string()) {
        const std::string& text = value.get_ref<const std::string&>();
        if (text.empty() || text.size() > 4096 || text.find('\0') != std::string::npos) return;
        std::error_code ec;
        const auto absolute = std::filesystem::absolute(text, ec);
        if (ec || !std::filesystem::is_regular_file(absolute, ec)) return;
        files[absolute.lexically_normal().string()] = "";
    } else if (value.is_array() || value.is_object()) {
        for (const auto& item : value) add_files(item, files);
    }
}

// Asked in this process even for a stage that runs isolated: a fingerprint is a cheap look at
// the source (a count, a version), not the stage's work.
const FingerprintOutcome& CacheKeys::fingerprint(size_t stage) {
    if (auto it = fingerprints_.find(stage); it != fingerprints_.end()) return it->second;
    const StageNode& node = pipeline_.stages.at(stage);
    auto library = registry_.load(node.plugin_name);
    const trellis_stage_descriptor* entry = library->find_stage(node.stage_name);
    FingerprintOutcome outcome;
    if (!entry || !entry->fingerprint) {
        outcome.status = TRELLIS_ERR_NOT_FOUND;
        outcome.message = "plugin '" + node.plugin_name + "' no longer provides a fingerprint for '" + node.stage_name + "'";
    } else {
        StageContext context;
        context.stage = node.manifest;
        context.config = node.config;
        context.explicitly_set.insert(node.explicitly_set.begin(), node.explicitly_set.end());
        context.logger_name = node.id;
        outcome = invoke_fingerprint(entry->fingerprint, context);
    }
    return fingerprints_[stage] = std::move(outcome);
}

bool CacheKeys::always_runs(size_t stage) const {
    auto it = fingerprints_.find(stage);
    return it != fingerprints_.end() && it->second.ok() && !it->second.cacheable;
}

std::string CacheKeys::key(size_t stage, const std::map<std::string, std::string>& input_digests) {
    const StageNode& node = pipeline_.stages.at(stage);
    store::FastHash hash;
    hash.field(key_format);
    hash.field(node.stage_name);
    if (node.is_lua()) {
        // The function is the script's: its text, the params it may close over, and its values.
        hash.field(lua_sources_digest_);
        hash.field(node.id);
        nlohmann::json params = nlohmann::json::object();
        for (const auto& [name, value] : pipeline_.params) params[name] = value;
        hash.field(store::canonical_json(params));
        nlohmann::json fields = nlohmann::json::object();
        for (const auto& [name, field] : node.fields)
            if (!field.ref) fields[name] = field.value;
        hash.field(store::canonical_json(fields));
    } else if (node.is_sweep()) {
        // A sweep's selector: its rule (metric, direction, scored output) and the trials' outputs,
        // the inputs below, decide its answer.
        hash.field(store::canonical_json(node.config));
    } else if (node.is_core()) {
        hash.field(TRELLIS_VERSION);
        hash.field(store::canonical_json(node.config));
    } else {
        hash.field(node.plugin_name);
        hash.field(plugin_version(node.plugin_name));
        hash.field(plugin_digest(node.plugin_name));
        hash.field(store::canonical_json(node.config));
        for (const auto& input : node.inputs)
            if (input.type == "model") {
                hash.field("flavors");
                hash.field(flavor_plugins_digest());
                break;
            }
        if (node.manifest && node.manifest->has_fingerprint) {
            const FingerprintOutcome& fingerprinted = fingerprint(stage);
            if (!fingerprinted.ok())
                throw std::runtime_error("its fingerprint failed (" + status_name(fingerprinted.status) +
                                         "): " + fingerprinted.message);
            hash.field("fingerprint");
            hash.field(fingerprinted.cacheable ? fingerprinted.text : "always-run");
        }
        std::map<std::string, std::string> files;
        add_files(node.config, files);
        for (auto& [path, digest] : files) {
            hash.field("file");
            hash.field(path);
            hash.field(file_digest(path));
        }
    }
    for (const auto& [port, digest] : input_digests) {
        hash.field("input");
        hash.field(port);
        hash.field(digest);
    }
    return hash.hex();
}

} // namespace trellis::core
