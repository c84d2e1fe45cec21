// A pipeline as a script declared it: stages with their config, wiring and run options. The
// script loader fills it in; validation resolves ids, checks it against the plugins' schemas and
// orders it; the executor runs it.
#pragma once

#include "pipeline/sweep.hpp"
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
inline constexpr size_t no_sweep = std::numeric_limits<size_t>::max();

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
    // Stages of a sweep's trial: the sweep (index into Pipeline::sweeps) and the trial's number
    // (1, 2, ...). A sweep's selector has the sweep and trial 0.
    size_t sweep = no_sweep;
    int trial = 0;

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
    // A sweep's selector: a node the executor runs itself, which picks the best trial and
    // forwards that trial's outputs as its own. Its inputs are named "<trial>.<port>".
    bool is_sweep() const { return stage_name == sweep_stage_name; }
    // A stage the core provides itself (govern.promote, registry.model): it reads and changes the
    // model registry, so the executor runs it against the store, never from a cache.
    bool is_core() const { return is_core_stage_name(stage_name); }
    // A stage of a plugin (not inline Lua, a selector or a core stage): has a plugin file.
    bool is_plugin() const { return !is_lua() && !is_sweep() && !is_core(); }
    static constexpr const char* sweep_stage_name = "sweep";
    static constexpr const char* promote_stage_name = "govern.promote";
    static constexpr const char* registered_model_stage_name = "registry.model";
    static constexpr const char* monitor_window_stage_name = "monitor.window";
    static constexpr const char* monitor_reference_stage_name = "monitor.reference";
    static bool is_core_stage_name(const std::string& name) {
        return name == promote_stage_name || name == registered_model_stage_name || name == monitor_window_stage_name ||
               name == monitor_reference_stage_name;
    }
};

// One trial of a sweep: its params and the stages its trial function declared.
struct SweepTrial {
    int number = 0;                                // 1, 2, ... in the order of the space
    nlohmann::json params = nlohmann::json::object();
    std::vector<size_t> stages;                    // declared by the trial function
    std::map<std::string, OutputRef> outputs;      // what the trial function returned
};

// A first-class hyperparameter sweep: trials expanded at script time into ordinary stages (ids
// "<id>.<n>.<stage>"), and a selector node (id "<id>") that waits for all of them, picks the best
// by `metric` in each trial's `score_port` output, and forwards the winner's outputs.
struct Sweep {
    std::string id;
    SourceLocation where; // the script's `sweep {` call
    SweepMethod method = SweepMethod::Grid;
    SweepSpace space;
    size_t requested_trials = 0; // random: `trials`
    uint64_t seed = 0;           // random: `seed`
    std::string metric;
    SweepDirection direction = SweepDirection::Maximize;
    std::string score_port = "metrics";
    std::vector<SweepTrial> trials;
    size_t selector = no_stage;
};

struct Pipeline {
    std::string name;
    std::string description;
    nlohmann::json model_card = nlohmann::json::object(); // pipeline { model_card = {...} }
    // monitor { endpoint = ..., ... }: the script is a monitoring policy (monitor/monitor_policy.hpp
    // reads it); null for a plain pipeline.
    nlohmann::json monitor;
    SourceLocation monitor_where;
    std::string file; // the script as the user named it
    std::map<std::string, nlohmann::json> params; // final values, overrides applied
    std::vector<StageNode> stages;
    std::vector<Sweep> sweeps;
    std::vector<size_t> order; // execution order (topological), filled in by validation
};

} // namespace trellis::core
