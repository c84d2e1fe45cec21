// The pipeline language's sweeps: `range { low, high, ... }` and `sweep { ... }`, which calls the
// trial function once per trial at script time, names the stages it declares "<id>.<n>.<stage>",
// and adds the selector node that picks the winner (see Sweep in pipeline.hpp and
// docs/lua-reference.md#sweeps).
#pragma once

#include <lua.hpp>

namespace trellis::core {

// Adds the globals `sweep` and `range` to a pipeline script's state.
void register_sweep_functions(lua_State* L);

} // namespace trellis::core
