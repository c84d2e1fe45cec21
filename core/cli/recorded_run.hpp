// Running a validated pipeline script as a recorded run: the store and run locks, the run's log,
// the recorder, the executor with its core stages, Ctrl-C, and the run's outputs and summary.
// `trellis run` runs one; `trellis monitor` runs one per window of the prediction log.
#pragma once

#include "cli/cli_context.hpp"
#include "exec/core_stages.hpp"
#include "exec/executor.hpp"
#include "exec/run_recorder.hpp"
#include "pipeline/pipeline_script.hpp"
#include "store/metadata_store.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace trellis::cli {

// Parses --set KEY=VALUE items; throws UsageError for one without '='.
std::map<std::string, std::string> parse_sets(const std::vector<std::string>& sets);

struct LoadedScript {
    std::unique_ptr<core::PipelineScript> script; // null when the script did not load or validate
    double evaluate_seconds = 0;
    double validate_seconds = 0;
};

// Evaluates and validates `file`; prints every problem (one "trellis: error:" line each) and
// returns a null script on failure.
LoadedScript load_and_validate(CliContext& context, const std::string& file, const std::vector<std::string>& sets);

// Makes the core stage runner of a run from the registry's (which it may wrap) and the recorder.
using CoreStagesFactory =
    std::function<std::unique_ptr<core::CoreStageRunner>(core::CoreStageRunner& registry_stages, core::RunRecorder& recorder)>;

struct RunRequest {
    std::string file;                        // the script as the user named it
    std::optional<store::RunRow> resumed;    // the run to finish (--resume)
    std::map<std::string, std::string> tags;
    unsigned jobs = 0;                       // 0: run.jobs
    bool fail_fast = false;
    bool no_cache = false;
    bool print_summary = true;               // the per-stage summary on stdout
    CoreStagesFactory core_stages;           // unset: the registry's core stages
};

struct RunResult {
    std::string run_id;
    core::RunOutcome outcome;
    bool recorded = true;
    int exit_code = 0;
    double execute_seconds = 0;
    double save_seconds = 0;
};

// Runs the loaded script as a new (or resumed) run. Needs the developer role. Ctrl-C cancels it
// (a second one stops waiting). When a stage's thread never returned, the process leaves here
// with std::_Exit once the run is recorded: its objects must not be destroyed under that thread.
RunResult execute_recorded_run(CliContext& context, LoadedScript& loaded, const RunRequest& request);

// Leaves the process at once with `code` when stages were abandoned: threads still inside a plugin
// cannot be joined.
void leave_if_abandoned(const RunResult& result, int code);

// The Ctrl-C count of the run in progress (for callers that watch it between runs).
std::atomic<int>& run_interrupts();

} // namespace trellis::cli
