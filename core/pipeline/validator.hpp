// Checks a whole pipeline against the installed plugins before any stage runs, and prepares it to
// run: gives stages without an id one, checks every key, value type and wire against the stages'
// schemas, applies defaults, links upstream and downstream, and finds an execution order.
#pragma once

#include "pipeline/pipeline.hpp"
#include "plugin/plugin_registry.hpp"

#include <string>
#include <vector>

namespace trellis::core {

// Every problem found, each one line "file:line: stage 'id' (name): message", in script order.
// An empty list means the pipeline is ready to run.
std::vector<std::string> validate_pipeline(Pipeline& pipeline, const PluginRegistry& registry);

} // namespace trellis::core
