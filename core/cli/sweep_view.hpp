// How `trellis runs show` and `trellis runs compare` present a run's sweeps: the "sweep ID"
// section (a row per trial: params, the chosen metric and the others, status, the winner marked),
// its JSON, and the trials of a sweep as columns to compare (RUN:SWEEP). See docs/cli.md.
#pragma once

#include "store/run_queries.hpp"
#include "store/sweep_records.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace trellis::cli {

// `runs show --json`'s "sweeps": [{"id", "method", "space", "seed", "metric", "direction", "score",
// "winner", "message", "trials": [{"trial", "sweep", "winner", "params", "status", "value",
// "metrics", "error", "started_at", "ended_at", "seconds"}]}].
nlohmann::json sweeps_json(const std::vector<store::SweepRecord>& sweeps);

// The "sweep ID" sections of `runs show RUN`; nothing for a run without sweeps.
void print_sweeps(std::ostream& out, const std::vector<store::SweepRecord>& sweeps, const std::string& run_id);

// What `runs compare` sets side by side: whole runs, or trials of sweeps, one column each.
struct CompareColumns {
    std::vector<store::RunSummary> columns; // a trial as a run: its params, its scored metrics, its status
    struct Trial {
        std::string run_id;
        std::string sweep_id;
        int64_t number = 0;
        bool winner = false;
    };
    std::vector<std::optional<Trial>> trials; // per column: the trial it is, or nothing for a run
};

// Reads `runs compare`'s arguments: each a run (an id, a unique beginning, `latest`) or RUN:SWEEP,
// which stands for every trial of that sweep. A single run that has exactly one sweep compares
// that sweep's trials. Throws UsageError (or store::LookupError) naming what does not match.
CompareColumns compare_columns(store::Database& db, const std::vector<std::string>& args);

// `runs compare --json`'s extra keys of a trial column: {"run", "sweep", "trial", "winner"}.
nlohmann::json trial_column_json(const CompareColumns::Trial& trial);

} // namespace trellis::cli
