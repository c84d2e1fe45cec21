// The local executor: runs a validated pipeline's stages on a thread pool, in dependency order,
// independent branches in parallel. The calling thread is the scheduler: it alone touches the
// graph's state and the script's Lua state (conditions, callbacks, inline Lua stages); workers only
// run plugin stages and hand results back.
#pragma once

#include "pipeline/pipeline.hpp"
#include "pipeline/pipeline_script.hpp"
#include "plugin/host_api.hpp"
#include "plugin/plugin_registry.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace trellis::core {

enum class StageState { Waiting, Running, Succeeded, Failed, Skipped, Cancelled };

// "waiting", "running", "succeeded", "failed", "skipped", "cancelled".
const char* to_string(StageState state);

struct StageRecord {
    StageState state = StageState::Waiting;
    std::string message; // why it failed, was skipped or cancelled
    int attempts = 0;
    double seconds = 0;  // of the last attempt
    bool isolated = false;
    std::map<std::string, ArtifactBytes> outputs;
    std::vector<MetricPoint> metrics;
};

struct ExecutorOptions {
    unsigned jobs = 2;
    bool fail_fast = false;
    // Incremented by the SIGINT handler: 1 cancels cooperatively, 2 stops waiting for stages.
    const std::atomic<int>* interrupts = nullptr;
    std::filesystem::path work_dir; // per-attempt scratch and isolation folders go below it
    std::filesystem::path executable; // the trellis binary, for isolated stages
    std::set<std::string> isolated_plugins; // run every stage of these plugins isolated ("*": all)
    std::string log_level = "info";
    std::filesystem::path log_file; // the run's log, for isolated stages' own lines
    // How long a stage that timed out or was cancelled may take to stop before it is abandoned.
    std::chrono::milliseconds stop_grace{5000};
};

// Told about progress, on the scheduler thread.
class ExecutionObserver {
public:
    virtual ~ExecutionObserver() = default;
    virtual void stage_started(size_t /*stage*/, int /*attempt*/) {}
    virtual void stage_finished(size_t /*stage*/, const StageRecord& /*record*/) {}
    // Called about ten times a second while stages run.
    virtual void tick() {}
};

struct RunOutcome {
    std::vector<StageRecord> stages;
    bool interrupted = false;
    size_t abandoned = 0; // stages whose thread never returned; the process must not wait for them
    double seconds = 0;
    bool succeeded() const;
};

// Runs `pipeline` (validated). `script` runs the Lua parts; it may be null for a pipeline without
// any. Stage failures are recorded in the outcome; throws only for failures of the executor itself.
RunOutcome execute_pipeline(const Pipeline& pipeline, PipelineScript* script, PluginRegistry& registry,
                            const ExecutorOptions& options, ExecutionObserver& observer);

} // namespace trellis::core
