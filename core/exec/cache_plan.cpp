#include "exec/cache_plan.hpp"

#include "exec/cache_keys.hpp"
#include "exec/run_recorder.hpp"
#include "store/artifact_store.hpp"
#include "store/metadata_store.hpp"

namespace trellis::core {

std::vector<PlannedStage> plan_cache(const Pipeline& pipeline, const PipelineScript& script, PluginRegistry& registry,
                                     const std::filesystem::path& root, bool no_cache) {
    if (!std::filesystem::exists(store::MetadataStore::database_path(root))) return {};
    std::vector<PlannedStage> planned(pipeline.stages.size());
    store::MetadataStore metadata(root);
    store::ArtifactStore artifacts(root);
    CacheKeys keys(pipeline, script.sources(), registry, metadata);
    std::vector<std::map<std::string, std::string>> outputs(pipeline.stages.size()); // digests of hits
    for (size_t i : pipeline.order) {
        const StageNode& node = pipeline.stages[i];
        PlannedStage& stage = planned[i];
        std::map<std::string, std::string> inputs;
        std::string unknown;
        for (const auto& input : node.inputs) {
            auto& from = outputs[input.from];
            auto it = from.find(input.from_port);
            if (it == from.end()) unknown = pipeline.stages[input.from].id;
            else inputs[input.port] = it->second;
        }
        if (!unknown.empty()) {
            stage.detail = "after '" + unknown + "', which runs";
            continue;
        }
        if (no_cache) {
            stage.detail = "--no-cache";
            continue;
        }
        if (node.is_core()) {
            stage.detail = "reads the model registry: runs every time";
            continue;
        }
        if (!node.cache) {
            stage.detail = "cache = false";
            continue;
        }
        std::string key;
        try {
            key = keys.key(i, inputs);
        } catch (const std::exception& e) {
            stage.detail = std::string("cannot compute its cache key: ") + e.what();
            continue;
        }
        if (keys.always_runs(i)) {
            stage.detail = "its fingerprint asks to run every time";
            continue;
        }
        auto found = metadata.find_reusable(key, node.cache_ttl > 0 ? unix_now() - node.cache_ttl : 0);
        if (!found) {
            stage.detail = node.cache_ttl > 0 ? "no execution matches within its cache_ttl" : "no earlier execution matches";
            continue;
        }
        bool stored = true;
        for (const auto& [port, artifact] : found->outputs) stored = stored && artifacts.contains(artifact.digest);
        if (!stored) {
            stage.detail = "the outputs of the matching execution (run " + found->run_id + ") are missing from the store";
            continue;
        }
        stage.hit = true;
        stage.detail = "reuses run " + found->run_id;
        for (const auto& [port, artifact] : found->outputs) outputs[i][port] = artifact.digest;
    }
    return planned;
}

} // namespace trellis::core
