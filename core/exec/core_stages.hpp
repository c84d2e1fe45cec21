// The stages the core provides itself rather than a plugin: govern.promote, which moves a model
// alias through its promotion policy, and registry.model, which brings a registered model (the
// current champion, say) into a pipeline. They are declared and validated like plugin stages,
// from the manifests here, but run on the scheduler thread against the store, never from a cache:
// what they read and change is the registry's current state. (Under --resume a core stage that
// finished in the run being resumed is reused like any other, so the run stays consistent with
// the evaluations it already made.)
#pragma once

#include "exec/stage_invocation.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/plugin_manifest.hpp"

#include <map>

#include <string>
#include <vector>

namespace trellis::core {

// The manifest of core stage `name`, or nullptr when it is not one.
const StageManifest* core_stage_manifest(const std::string& name);
// Every core stage's manifest, for listings and docs.
const std::vector<StageManifest>& core_stage_manifests();

// Runs core stages for the executor, on the scheduler thread, with the stage's inputs (known by
// digest, as stored). Implemented over the registry (exec/registry_stages.hpp); the executor
// fails a core stage when it has none (a run without a store).
class CoreStageRunner {
public:
    virtual ~CoreStageRunner() = default;
    virtual AttemptResult run(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs) = 0;
};

} // namespace trellis::core
