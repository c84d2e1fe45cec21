// Cache keys of stages: what must be equal for an earlier execution's outputs to stand in for
// running a stage again. For a plugin stage: the plugin's identity (name, version, SHA-256 of its
// .so file), the canonical config, the content of every data file the config names, and the
// digests of the input artifacts, and what the stage's fingerprint entry point (API 1.3) says about
// data it reads from elsewhere. For an inline Lua stage: the text of the script and its modules,
// the pipeline's params, the stage's own values, and the input digests.
#pragma once

#include "pipeline/pipeline.hpp"
#include "plugin/host_api.hpp"
#include "plugin/plugin_registry.hpp"
#include "store/metadata_store.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace trellis::core {

class CacheKeys {
public:
    // `lua_sources`: PipelineScript::sources(). `metadata` keeps data-file fingerprints, so a file
    // is hashed again only when its size, mtime or inode changed.
    CacheKeys(const Pipeline& pipeline, std::string lua_sources, PluginRegistry& registry, store::MetadataStore& metadata);

    // The key of `stage` given its inputs' digests (port -> digest). Throws when a plugin file or
    // a data file cannot be read, or the stage's fingerprint entry point fails.
    std::string key(size_t stage, const std::map<std::string, std::string>& input_digests);
    // Whether the stage's fingerprint asked to run every time (known once key() was computed):
    // such a stage is never answered from the cache, only from its own run when resuming.
    bool always_runs(size_t stage) const;

    // SHA-256 of the .so file providing plugin `name` (computed once per process).
    std::string plugin_digest(const std::string& plugin_name);
    // Version of plugin `name` as its manifest states it.
    std::string plugin_version(const std::string& plugin_name) const;
    // Hashes every plugin the pipeline uses (and every flavor provider) now, before the executor
    // loads them, so a .so rebuilt during the run cannot lend its digest to results of the old code.
    void hash_plugins();

private:
    std::string file_digest(const std::string& path);
    const std::string& flavor_plugins_digest();
    void add_files(const nlohmann::json& value, std::map<std::string, std::string>& files);
    const FingerprintOutcome& fingerprint(size_t stage);

    const Pipeline& pipeline_;
    std::string lua_sources_digest_;
    PluginRegistry& registry_;
    store::MetadataStore& metadata_;
    std::map<std::string, std::string> plugin_digests_;
    std::optional<std::string> flavor_plugins_digest_;
    std::map<size_t, FingerprintOutcome> fingerprints_; // asked once per stage and run
};

} // namespace trellis::core
