// The parts of the pipeline language's Lua binding (pipeline_script.cpp) that other bindings of
// the same language (sweep_script.cpp) build on: the script behind a Lua state, stage handles and
// references to their outputs, and the name rules.
#pragma once

#include "pipeline/pipeline.hpp"
#include "pipeline/pipeline_script.hpp"

#include <lua.hpp>

#include <optional>
#include <string>

namespace trellis::core::script_binding {

// The PipelineScript that owns `L`.
PipelineScript& script(lua_State* L);
// The same, while it is being declared; throws std::invalid_argument naming `function` when called
// from a callback or a Lua stage while the pipeline runs.
PipelineScript& declaring(lua_State* L, const char* function);
// Pushes a stage handle for stage `index` (what `stage` returns); returns 1.
int push_stage_handle(lua_State* L, size_t index);
// The output reference at `index` (`handle.port`), or nothing when the value is not one.
std::optional<OutputRef> output_ref(lua_State* L, int index);
// Whether the value at `index` is a stage handle.
bool is_stage_handle(lua_State* L, int index);
// Stage ids: letters, digits, _ and -, starting with a letter or _.
bool is_identifier(const std::string& text);
// Port names as plugins declare them: [a-z_][a-z0-9_]*, at most 64 characters.
bool is_port_name(const std::string& text);

} // namespace trellis::core::script_binding
