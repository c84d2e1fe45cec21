// A pipeline as a script declared it: stages with their config, wiring and run options. The
// script loader fills it in; validation resolves ids, checks it against the plugins' schemas and
// orders it; the executor runs it.
#pragma once

#include "plugin/plugin_manifest.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trellis::core {

struct SourceLocation {
    std::string file;
    int line = 0;
    std::string str() const { return file + ":" + std::to_string(line); }
};

inline constexpr size_t no_stage = std::numeric_limits<size_t>::max();

// Where a value comes from when a key is wired to another stage's output.
struct OutputRef {
    size_t stage = no_stage; // index of the producing stage, when the script passed a handle
    std::string stage_id;    // when the script named it as "id.port" (resolved by validation)
    std::string port;
};

// One key a script set on a stage: a plain value, or a reference to another stage's output.
struct SpecField {
    nlohmann::json value;
    std::optional<OutputRef> ref;
};

// A Lua function kept in the script's state (a registry reference), or none.
struct LuaCallback {
    int ref = -2; // LUA_NOREF
    bool set() const { return ref >= 0; }
};

struct StageNode {
    // As the script declared it.
    std::string id;           // explicit, or filled in by validation from the stage name
    bool explicit_id = false;
    std::string stage_name;   // the plugin stage, e.g. "data.csv"; "lua" for an inline Lua stage
    SourceLocation where;
    std::map<std::string, SpecField> fields; // config keys and inputs, as set
    std::vector<OutputRef> after;            // ordering-only dependencies
    int retries = 0;
    double retry_delay = 0;
    double timeout = 0; // seconds, 0 = none
    bool isolate = false;
    bool cache = true;    // reuse an earlier execution with the same cache key
    double cache_ttl = 0; // seconds an earlier execution stays reusable, 0 = for ever
    LuaCallback when, on_success, on_failure;
    LuaCallback lua_run;                          // inline Lua stages: the function
    std::map<std::string, std::string> lua_outputs; // inline Lua stages: port -> "metrics" | "report"

    // Filled in by validation.
    const StageManifest* manifest = nullptr; // nullptr for inline Lua stages
    std::string plugin_name;
    std::string plugin_file;
    nlohmann::json config = nlohmann::json::object(); // defaults applied
    std::vector<std::string> explicitly_set;
    struct Input {
        std::string port;
        size_t from = no_stage;
        std::string from_port;
        std::string type; // artifact type name
    };
    std::vector<Input> inputs;
    std::vector<size_t> upstream;   // every stage this one waits for (inputs and `after`), unique
    std::vector<size_t> downstream; // the reverse
    bool is_lua() const { return stage_name == "lua"; }
};

struct Pipeline {
    std::string name;
    std::string description;
    std::string file; // the script as the user named it
    std::map<std::string, nlohmann::json> params; // final values, overrides applied
    std::vector<StageNode> stages;
    std::vector<size_t> order; // execution order (topological), filled in by validation
};

} // namespace trellis::core
