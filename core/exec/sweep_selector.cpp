#include "exec/sweep_selector.hpp"

#include "util/join.hpp"

#include <cmath>
#include <cstdio>

namespace trellis::core {

namespace {

std::string number_text(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", value);
    return text;
}

std::vector<TrialJudgement> copy_trials(const Sweep& sweep, const std::vector<TrialOutcome>& outcomes) {
    std::vector<TrialJudgement> trials;
    for (size_t t = 0; t < outcomes.size(); ++t) {
        const TrialOutcome& outcome = outcomes[t];
        TrialJudgement trial;
        trial.number = outcome.number;
        if (t < sweep.trials.size()) trial.params = sweep.trials[t].params;
        trial.status = outcome.status;
        trial.error = outcome.error;
        if (outcome.metrics) {
            trial.metrics = *outcome.metrics;
            if (auto it = outcome.metrics->find(sweep.metric); it != outcome.metrics->end() && !std::isnan(it->second))
                trial.value = it->second;
        }
        trials.push_back(std::move(trial));
    }
    return trials;
}

} // namespace

SweepJudgement unjudged(const Sweep& sweep, const std::vector<TrialOutcome>& outcomes) {
    SweepJudgement judgement;
    judgement.trials = copy_trials(sweep, outcomes);
    return judgement;
}

SweepJudgement judge_sweep(const Sweep& sweep, const std::vector<TrialOutcome>& outcomes) {
    SweepJudgement judgement;
    judgement.trials = copy_trials(sweep, outcomes);
    const bool maximize = sweep.direction == SweepDirection::Maximize;
    std::vector<std::string> left_out;
    bool any_failed = false, any_succeeded = false;
    const TrialJudgement* best = nullptr;
    for (const TrialJudgement& trial : judgement.trials) {
        const std::string name = "trial " + std::to_string(trial.number);
        if (trial.status != "succeeded") {
            any_failed = any_failed || trial.status == "failed";
            left_out.push_back(name + " " + trial.status + (trial.error.empty() ? "" : " (" + trial.error + ")"));
            continue;
        }
        any_succeeded = true;
        if (!trial.metrics.count(sweep.metric)) {
            std::vector<std::string> names;
            for (const auto& [metric, value] : trial.metrics) names.push_back(metric);
            judgement.problem = name + " (" + sweep.id + "." + std::to_string(trial.number) + ") has no metric '" +
                                sweep.metric + "' in its output '" + sweep.score_port + "'" +
                                (names.empty() ? " (it has no metrics)" : " (it has: " + join(names, ", ") + ")");
            judgement.notes.clear();
            return judgement;
        }
        if (!trial.value) {
            left_out.push_back(name + " has NaN for " + sweep.metric);
            continue;
        }
        // Strictly better only: a tie goes to the lower trial number, which came first.
        if (!best || (maximize ? *trial.value > *best->value : *trial.value < *best->value)) best = &trial;
    }
    judgement.notes = join(left_out, "; ");
    if (best) {
        judgement.winner = best->number;
        return judgement;
    }
    judgement.all_skipped = !any_failed && !any_succeeded;
    judgement.problem = any_succeeded ? "no trial has a number for metric '" + sweep.metric + "' (" + judgement.notes + ")"
                        : judgement.all_skipped ? "no trial ran to the end (" + judgement.notes + ")"
                                                : "every trial failed or was skipped: " + judgement.notes;
    return judgement;
}

std::string judgement_text(const Sweep& sweep, const SweepJudgement& judgement) {
    const std::string head = "sweep '" + sweep.id + "'";
    if (!judgement.winner) return head + ": no winner: " + judgement.problem;
    const TrialJudgement& winner = judgement.trials.at(static_cast<size_t>(*judgement.winner - 1));
    std::vector<std::string> params;
    for (const auto& [name, value] : winner.params.items()) params.push_back(name + "=" + value.dump());
    return head + ": trial " + std::to_string(winner.number) + " of " + std::to_string(judgement.trials.size()) +
           " wins with " + sweep.metric + " = " + number_text(*winner.value) + " (" + to_string(sweep.direction) +
           "; " + join(params, " ") + ")" + (judgement.notes.empty() ? "" : "; left out: " + judgement.notes);
}

store::SweepRecord sweep_record(const Sweep& sweep, const SweepJudgement& judgement) {
    store::SweepRecord record;
    record.sweep_id = sweep.id;
    record.method = to_string(sweep.method);
    record.space = space_json(sweep.space);
    if (sweep.method == SweepMethod::Random) record.seed = static_cast<int64_t>(sweep.seed);
    record.metric = sweep.metric;
    record.direction = to_string(sweep.direction);
    record.score_port = sweep.score_port;
    if (judgement.winner) record.winner = *judgement.winner;
    if (!judgement.problem.empty()) record.message = judgement.problem;
    else if (!judgement.notes.empty()) record.message = "left out: " + judgement.notes;
    for (const auto& trial : judgement.trials) {
        store::TrialRecord row;
        row.trial = trial.number;
        row.params = trial.params;
        row.status = trial.status;
        row.value = trial.value;
        for (const auto& [name, value] : trial.metrics)
            row.metrics[name] = std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
        if (!trial.error.empty()) row.error = trial.error;
        record.trials.push_back(std::move(row));
    }
    return record;
}

} // namespace trellis::core
