// The local executor: runs a validated pipeline's stages on a thread pool, in dependency order,
// independent branches in parallel. The calling thread is the scheduler: it alone touches the
// graph's state and the script's Lua state (conditions, callbacks, inline Lua stages); workers only
// run plugin stages and hand results back.
#pragma once

#include "exec/sweep_selector.hpp"
#include "pipeline/pipeline.hpp"
#include "pipeline/pipeline_script.hpp"
#include "plugin/host_api.hpp"
#include "plugin/plugin_registry.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace trellis::core {

class CoreStageRunner;

enum class StageState { Waiting, Running, Succeeded, Failed, Skipped, Cancelled };

// "waiting", "running", "succeeded", "failed", "skipped", "cancelled".
const char* to_string(StageState state);

struct StageRecord {
    StageState state = StageState::Waiting;
    std::string message; // why it failed, was skipped or cancelled
    int attempts = 0;
    double seconds = 0;  // of the last attempt
    bool isolated = false;
    bool reused = false; // succeeded by reusing an earlier execution's outputs (a cache hit)
    std::map<std::string, ArtifactBytes> outputs;
    std::vector<MetricPoint> metrics;
    std::map<std::string, nlohmann::json> params;  // logged by the stage
    std::vector<ModelRegistration> registrations; // made by the stage
    std::shared_ptr<const SweepJudgement> sweep;  // a sweep's selector: how it judged the trials
};

// What the executor asks of the stores: reuse, persistence and recording of stage executions
// (RunRecorder implements it over the artifact and metadata stores). Without one, nothing is
// reused or recorded and artifacts stay in memory.
class StageStore {
public:
    virtual ~StageStore() = default;
    // Scheduler thread, before a stage's first attempt, with its inputs (stored, so with digests):
    // outputs of an earlier execution to use instead of running it, or nothing.
    virtual std::optional<std::map<std::string, ArtifactBytes>> reuse(size_t stage,
                                                                      const std::map<std::string, ArtifactBytes>& inputs) = 0;
    // Scheduler thread: an attempt of `stage` starts.
    virtual void attempt_started(size_t stage, int attempt) = 0;
    // Worker thread (scheduler thread for Lua stages), after a successful attempt: stores the
    // outputs and fills in their digests. Throws to fail the attempt.
    virtual void persist(std::map<std::string, ArtifactBytes>& outputs) = 0;
    // Any thread: `artifact` (known by digest) with its bytes. Throws when it is missing or damaged.
    virtual ArtifactBytes load(const ArtifactBytes& artifact) = 0;
    // Scheduler thread: `stage` reached its final state, having seen `inputs`.
    virtual void stage_ended(size_t stage, const StageRecord& record, const std::map<std::string, ArtifactBytes>& inputs) = 0;
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
    StageStore* store = nullptr; // reuse, persist and record stages through it, if set
    CoreStageRunner* core_stages = nullptr; // runs govern.promote and registry.model (exec/core_stages.hpp)
};

// Told about progress, on the scheduler thread.
class ExecutionObserver {
public:
    virtual ~ExecutionObserver() = default;
    virtual void stage_started(size_t /*stage*/, int /*attempt*/) {}
    virtual void stage_finished(size_t /*stage*/, const StageRecord& /*record*/) {}
    // What a running stage last reported with progress_report: `done` of `total` units.
    virtual void stage_progress(size_t /*stage*/, double /*done*/, double /*total*/) {}
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
