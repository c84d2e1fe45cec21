// Sweeps in the metadata store (schema v3: tables sweeps and sweep_trials): the write the run
// recorder makes when a sweep's selector ends, and the read behind `trellis runs show` and
// `trellis runs compare RUN:SWEEP`.
#pragma once

#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trellis::store {

struct TrialRecord {
    int64_t trial = 0;
    nlohmann::json params = nlohmann::json::object();
    std::string status;                                // succeeded | failed | skipped | cancelled
    std::optional<double> value;                       // the sweep's metric (nothing: missing or NaN)
    nlohmann::json metrics = nlohmann::json::object(); // name -> number (null for NaN)
    std::optional<std::string> error;
    // Read side only: when its stages' executions started and ended, in this run.
    std::optional<double> started_at, ended_at;

    std::optional<double> seconds() const;
};

struct SweepRecord {
    std::string run_id;
    std::string sweep_id;
    std::optional<int64_t> execution_id; // the selector's (filled in by record_sweep's caller)
    std::string method;
    nlohmann::json space = nlohmann::json::object();
    std::optional<int64_t> seed;
    std::string metric;
    std::string direction;
    std::string score_port;
    std::optional<int64_t> winner;
    std::optional<std::string> message;
    std::vector<TrialRecord> trials;
};

// Records `sweep` (replacing an earlier record of the same run and sweep, as a resumed run makes),
// its selector being execution `execution_id`. Runs in the caller's transaction when one is open.
void record_sweep(Database& db, int64_t execution_id, const SweepRecord& sweep);

// The sweeps of a run with their trials, in the order their selectors were recorded. Empty for a
// store without sweeps.
std::vector<SweepRecord> load_sweeps(Database& db, const std::string& run_id);

} // namespace trellis::store
