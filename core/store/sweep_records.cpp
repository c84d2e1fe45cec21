#include "store/sweep_records.hpp"

#include "store/metadata_store.hpp"

#include <algorithm>

namespace trellis::store {

namespace {

nlohmann::json json_or(const std::string& text, nlohmann::json fallback) {
    auto value = nlohmann::json::parse(text, nullptr, false);
    return value.is_discarded() ? fallback : value;
}

} // namespace

std::optional<double> TrialRecord::seconds() const {
    if (started_at && ended_at) return std::max(0.0, *ended_at - *started_at);
    return std::nullopt;
}

void record_sweep(Database& db, int64_t execution_id, const SweepRecord& sweep) {
    Transaction transaction(db);
    // Trials first: they refer to the sweep's row, which REPLACE would otherwise delete under them.
    auto clear = db.prepare("DELETE FROM sweep_trials WHERE run_id = ? AND sweep_id = ?");
    clear.bind(1, sweep.run_id).bind(2, sweep.sweep_id);
    clear.run();
    auto insert = db.prepare("INSERT OR REPLACE INTO sweeps (run_id, sweep_id, execution_id, method, space, seed, "
                             "metric, direction, score_port, winner, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, sweep.run_id)
        .bind(2, sweep.sweep_id)
        .bind(3, execution_id)
        .bind(4, sweep.method)
        .bind(5, canonical_json(sweep.space))
        .bind(6, sweep.seed)
        .bind(7, sweep.metric)
        .bind(8, sweep.direction)
        .bind(9, sweep.score_port)
        .bind(10, sweep.winner)
        .bind(11, sweep.message);
    insert.run();
    auto trial = db.prepare("INSERT INTO sweep_trials (run_id, sweep_id, trial, params, status, value, metrics, error) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    for (const auto& row : sweep.trials) {
        trial.bind(1, sweep.run_id)
            .bind(2, sweep.sweep_id)
            .bind(3, row.trial)
            .bind(4, canonical_json(row.params))
            .bind(5, row.status)
            .bind(6, row.value)
            .bind(7, canonical_json(row.metrics))
            .bind(8, row.error);
        trial.run();
        trial.reset();
    }
    transaction.commit();
}

std::vector<SweepRecord> load_sweeps(Database& db, const std::string& run_id) {
    std::vector<SweepRecord> out;
    // A store made before schema v3 has no sweeps table until a trellis that knows it opens it.
    auto exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sweeps'");
    if (!exists.step()) return out;
    auto sweeps = db.prepare("SELECT sweep_id, execution_id, method, space, seed, metric, direction, score_port, "
                             "winner, message FROM sweeps WHERE run_id = ?1 ORDER BY execution_id, sweep_id");
    sweeps.bind(1, run_id);
    while (sweeps.step()) {
        SweepRecord sweep;
        sweep.run_id = run_id;
        sweep.sweep_id = sweeps.text(0);
        sweep.execution_id = sweeps.optional_int64(1);
        sweep.method = sweeps.text(2);
        sweep.space = json_or(sweeps.text(3), nlohmann::json::object());
        sweep.seed = sweeps.optional_int64(4);
        sweep.metric = sweeps.text(5);
        sweep.direction = sweeps.text(6);
        sweep.score_port = sweeps.text(7);
        sweep.winner = sweeps.optional_int64(8);
        sweep.message = sweeps.optional_text(9);
        out.push_back(std::move(sweep));
    }
    auto trials = db.prepare("SELECT trial, params, status, value, metrics, error FROM sweep_trials "
                             "WHERE run_id = ?1 AND sweep_id = ?2 ORDER BY trial");
    // A trial's time: from the first start to the last end of its stages' latest executions.
    auto times = db.prepare("SELECT min(e.started_at), max(e.ended_at) FROM executions e "
                            "JOIN (SELECT MAX(id) AS latest FROM executions WHERE run_id = ?1 "
                            "      AND substr(stage_id, 1, length(?2)) = ?2 GROUP BY stage_id) s ON e.id = s.latest");
    for (auto& sweep : out) {
        trials.reset();
        trials.bind(1, run_id).bind(2, sweep.sweep_id);
        while (trials.step()) {
            TrialRecord trial;
            trial.trial = trials.int64(0);
            trial.params = json_or(trials.text(1), nlohmann::json::object());
            trial.status = trials.text(2);
            trial.value = trials.optional_real(3);
            trial.metrics = json_or(trials.text(4), nlohmann::json::object());
            trial.error = trials.optional_text(5);
            sweep.trials.push_back(std::move(trial));
        }
        for (auto& trial : sweep.trials) {
            times.reset();
            times.bind(1, run_id).bind(2, sweep.sweep_id + "." + std::to_string(trial.trial) + ".");
            if (times.step()) {
                trial.started_at = times.optional_real(0);
                trial.ended_at = times.optional_real(1);
            }
        }
    }
    return out;
}

} // namespace trellis::store
