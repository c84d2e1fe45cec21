// What `trellis plan` says about each stage before running anything: reused from an earlier
// execution (a cache hit), or run, and why.
#pragma once

#include "pipeline/pipeline.hpp"
#include "pipeline/pipeline_script.hpp"
#include "plugin/plugin_registry.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace trellis::core {

struct PlannedStage {
    bool hit = false;
    std::string detail; // hit: the run it reuses; miss: why it runs
};

// One entry per stage (indexed like pipeline.stages), or none when the store has no metadata yet
// (everything runs). A stage whose inputs come from a stage that runs cannot be known ahead: it is
// reported as running, "after '<upstream>'".
std::vector<PlannedStage> plan_cache(const Pipeline& pipeline, const PipelineScript& script, PluginRegistry& registry,
                                     const std::filesystem::path& root, bool no_cache);

} // namespace trellis::core
