// What a run leaves for people: the Metrics and Report outputs saved as JSON in the run folder,
// the run's own record (run.json), and the summary table printed at the end.
#pragma once

#include "exec/executor.hpp"

#include <filesystem>
#include <map>
#include <ostream>
#include <string>

namespace trellis::cli {

// Writes run.json (every stage with its status and its Metrics outputs inline), Report outputs as
// <stage>/<port>.json, and logged metric points as <stage>/logged_metrics.json under `run_dir`.
// Returns, per stage and port, the file each saved output went to.
std::map<std::pair<size_t, std::string>, std::filesystem::path>
save_run_outputs(const core::Pipeline& pipeline, const core::RunOutcome& outcome, const std::filesystem::path& run_dir,
                 const std::string& run_id);

// The table of stages with status, duration and outputs, and the overall verdict.
void print_run_summary(std::ostream& out, const core::Pipeline& pipeline, const core::RunOutcome& outcome,
                       const std::map<std::pair<size_t, std::string>, std::filesystem::path>& saved,
                       const std::filesystem::path& run_dir);

} // namespace trellis::cli
