// A sweep's selector: judges the trials once they have all ended and picks the winner, the best
// value of the sweep's metric in each trial's scored Metrics output (ties: the lowest trial
// number). The executor runs it itself (no plugin) and forwards the winner's outputs; the run
// recorder keeps the judgement (every trial's params, status and metrics) in the metadata store.
#pragma once

#include "pipeline/pipeline.hpp"
#include "store/sweep_records.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trellis::core {

// How one trial ended, as the executor saw its stages.
struct TrialOutcome {
    int number = 0;
    std::string status = "succeeded"; // succeeded | failed | skipped | cancelled
    std::string error;                // why it did not succeed: "stage 'tune.3.train': ..."
    // The values of its scored Metrics output (succeeded trials only).
    std::optional<std::map<std::string, double>> metrics;
};

struct TrialJudgement {
    int number = 0;
    nlohmann::json params = nlohmann::json::object();
    std::string status;
    std::string error;
    std::map<std::string, double> metrics; // of the scored output; empty when it has none
    std::optional<double> value;           // the sweep's metric; nothing when missing or NaN
};

struct SweepJudgement {
    std::vector<TrialJudgement> trials; // in trial order
    std::optional<int> winner;          // the winning trial's number
    // Why there is no winner: every trial failed or was skipped, a trial lacks the metric. Empty
    // when there is a winner, or when the selector never judged (cancelled).
    std::string problem;
    bool all_skipped = false; // no trial failed, none ran to the end: the selector is skipped too
    // For the log: the trials left out (failed, skipped, NaN), or empty.
    std::string notes;
};

// Judges `outcomes` (one per trial, in trial order). A succeeded trial without the metric makes the
// whole judgement fail (problem names the trial, the metric and the metrics it has); a NaN value
// leaves the trial out; failed and skipped trials are left out.
SweepJudgement judge_sweep(const Sweep& sweep, const std::vector<TrialOutcome>& outcomes);

// The same trials, unjudged: for a selector that ended without running (cancelled, or skipped).
SweepJudgement unjudged(const Sweep& sweep, const std::vector<TrialOutcome>& outcomes);

// One line for the log: "sweep 'tune': trial 2 of 3 wins with roc_auc = 0.9956 (maximize); ...".
std::string judgement_text(const Sweep& sweep, const SweepJudgement& judgement);

// What the metadata store keeps of a judged sweep.
store::SweepRecord sweep_record(const Sweep& sweep, const SweepJudgement& judgement);

} // namespace trellis::core
