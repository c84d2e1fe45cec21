// Evaluates a pipeline script in the sandbox into a Pipeline, and keeps the script's Lua state for
// the small callbacks that run while the pipeline runs (conditions, on_success/on_failure, inline
// Lua stages). Everything here runs on one thread: the scheduler's.
#pragma once

#include "pipeline/lua_sandbox.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/host_api.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace trellis::core {

struct ScriptOptions {
    LuaLimits limits;
    std::map<std::string, std::string> overrides; // --set key=value
};

// What a callback sees of a finished stage.
struct StageOutcomeView {
    std::string id;
    std::string stage_name;
    std::string status; // "succeeded", "failed"
    std::string error;  // empty on success
    double seconds = 0;
    int attempts = 0;
    const std::map<std::string, ArtifactBytes>* outputs = nullptr;
};

class PipelineScript {
public:
    // Runs `file` and collects what it declared. Throws ScriptError ("file:line: message") for
    // script errors and limits, and for --set overrides that name no param or do not parse.
    static std::unique_ptr<PipelineScript> load(const std::filesystem::path& file, const ScriptOptions& options);
    ~PipelineScript();

    Pipeline& pipeline() { return pipeline_; }
    // Lets Ctrl-C stop a callback or Lua stage that is running (see LuaSandbox::set_interrupt).
    void set_interrupt(const std::atomic<int>* interrupts) { sandbox_->set_interrupt(interrupts); }
    // The text of the script and every module it required (for the cache keys of Lua parts).
    const std::string& sources() const { return sandbox_->sources(); }
    // The --set overrides it was loaded with, as given.
    const std::map<std::string, std::string>& overrides() const { return overrides_; }
    const Pipeline& pipeline() const { return pipeline_; }

    // A stage's `when` condition: true lets its downstream stages run. Throws ScriptError.
    bool condition(const StageNode& node, const StageOutcomeView& outcome);
    // Runs an on_success / on_failure callback. Throws ScriptError.
    void notify(const LuaCallback& callback, const StageOutcomeView& outcome);
    // Runs an inline Lua stage on its inputs; returns its outputs serialised. Throws ScriptError
    // for script errors and for outputs that do not fit their declared type.
    std::map<std::string, ArtifactBytes> run_lua_stage(const StageNode& node,
                                                       const std::map<std::string, ArtifactBytes>& inputs);

    // State the script's Lua bindings (params, path) read and update while it runs.
    std::map<std::string, std::string> overrides_;
    std::map<std::string, bool> used_overrides_;
    std::filesystem::path script_dir_;
    bool params_declared_ = false;
    bool declaring_ = true; // false once the script has run: callbacks may not add to the pipeline
    bool in_sweep_trial_ = false; // a sweep's trial function is running (sweeps do not nest)

private:
    PipelineScript(const std::filesystem::path& file, const ScriptOptions& options);
    void push_outcome(const StageOutcomeView& outcome);
    void push_artifact(const ArtifactBytes& artifact);

    std::unique_ptr<LuaSandbox> sandbox_;
    Pipeline pipeline_;
};

// Lua value at `index` as JSON (tables: a sequence becomes an array, string keys an object).
// Throws std::invalid_argument naming `what` for values JSON cannot hold (functions, NaN, ...).
// At most 1,000,000 values and 64 MiB of text.
nlohmann::json lua_to_json(lua_State* L, int index, const std::string& what);
// Pushes a JSON value as a Lua value.
void push_json(lua_State* L, const nlohmann::json& value);

} // namespace trellis::core
