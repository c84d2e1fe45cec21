#include "cli/sweep_view.hpp"

#include "cli/cli_context.hpp"
#include "cli/store_view.hpp"
#include "util/join.hpp"
#include "util/json_text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace trellis::cli {

namespace {

using nlohmann::json;

// At most this many metrics besides the chosen one in `runs show`'s table; `runs compare` shows all.
constexpr size_t shown_metrics = 4;

std::string param_cell(const json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number_float()) {
        char text[32];
        std::snprintf(text, sizeof text, "%.6g", value.get<double>());
        return text;
    }
    return core::dump_json(value);
}

std::optional<double> metric_value(const json& value) {
    if (value.is_number()) return value.get<double>();
    return std::nullopt;
}

std::vector<std::string> axis_names(const store::SweepRecord& sweep) {
    std::vector<std::string> names;
    if (sweep.space.is_object())
        for (const auto& [name, axis] : sweep.space.items()) names.push_back(name);
    return names;
}

bool is_winner(const store::SweepRecord& sweep, const store::TrialRecord& trial) {
    return sweep.winner && *sweep.winner == trial.trial;
}

} // namespace

json sweeps_json(const std::vector<store::SweepRecord>& sweeps) {
    json out = json::array();
    for (const auto& sweep : sweeps) {
        json item = {{"id", sweep.sweep_id},
                     {"method", sweep.method},
                     {"space", sweep.space},
                     {"seed", sweep.seed ? json(*sweep.seed) : json()},
                     {"metric", sweep.metric},
                     {"direction", sweep.direction},
                     {"score", sweep.score_port},
                     {"winner", sweep.winner ? json(*sweep.winner) : json()},
                     {"message", sweep.message ? json(*sweep.message) : json()},
                     {"trials", json::array()}};
        for (const auto& trial : sweep.trials)
            item["trials"].push_back({{"trial", trial.trial},
                                      {"sweep", sweep.sweep_id},
                                      {"winner", is_winner(sweep, trial)},
                                      {"params", trial.params},
                                      {"status", trial.status},
                                      {"value", json_number(trial.value)},
                                      {"metrics", trial.metrics},
                                      {"error", trial.error ? json(*trial.error) : json()},
                                      {"started_at", json_number(trial.started_at)},
                                      {"ended_at", json_number(trial.ended_at)},
                                      {"seconds", json_number(trial.seconds())}});
        out.push_back(std::move(item));
    }
    return out;
}

void print_sweeps(std::ostream& out, const std::vector<store::SweepRecord>& sweeps, const std::string& run_id) {
    for (const auto& sweep : sweeps) {
        const auto axes = axis_names(sweep);
        out << "\nsweep " << sweep.sweep_id << ": " << sweep.method << " over " << core::join(axes, ", ")
            << (sweep.seed ? " (seed " + std::to_string(*sweep.seed) + ")" : "") << ", " << sweep.trials.size()
            << " trial" << (sweep.trials.size() == 1 ? "" : "s") << ", " << sweep.direction << " " << sweep.metric
            << " of output '" << sweep.score_port << "'; "
            << (sweep.winner ? "winner: trial " + std::to_string(*sweep.winner) : std::string("no winner")) << "\n";

        std::set<std::string> others;
        for (const auto& trial : sweep.trials)
            for (const auto& [name, value] : trial.metrics.items())
                if (name != sweep.metric) others.insert(name);
        std::vector<std::string> other_metrics(others.begin(), others.end());
        const size_t hidden = other_metrics.size() > shown_metrics ? other_metrics.size() - shown_metrics : 0;
        other_metrics.resize(std::min(other_metrics.size(), shown_metrics));

        std::vector<std::vector<std::string>> rows;
        std::vector<std::string> header = {" ", "TRIAL", "STATUS", "TIME"};
        header.insert(header.end(), axes.begin(), axes.end());
        header.push_back(sweep.metric);
        header.insert(header.end(), other_metrics.begin(), other_metrics.end());
        rows.push_back(std::move(header));
        for (const auto& trial : sweep.trials) {
            std::vector<std::string> row = {is_winner(sweep, trial) ? "*" : " ", std::to_string(trial.trial), trial.status,
                                            format_seconds(trial.seconds())};
            for (const auto& axis : axes)
                row.push_back(trial.params.contains(axis) ? param_cell(trial.params.at(axis)) : "-");
            row.push_back(trial.status == "succeeded" || trial.value ? format_value(trial.value) : "-");
            for (const auto& name : other_metrics)
                row.push_back(trial.metrics.contains(name) ? format_value(metric_value(trial.metrics.at(name))) : "-");
            rows.push_back(std::move(row));
        }
        print_columns(out, rows, "  ");
        for (const auto& trial : sweep.trials)
            if (trial.error) out << "  trial " << trial.trial << ": " << *trial.error << "\n";
        if (sweep.message && !sweep.winner) out << "  " << *sweep.message << "\n";
        out << "  (* the winner" << (hidden ? "; " + std::to_string(hidden) + " more metrics" : std::string())
            << "; 'trellis runs compare " << run_id << ":" << sweep.sweep_id << "' sets the trials side by side)\n";
    }
}

namespace {

store::RunSummary trial_column(const store::RunSummary& run, const store::SweepRecord& sweep,
                               const store::TrialRecord& trial, const std::string& label) {
    store::RunSummary column;
    column.id = label;
    column.pipeline = run.pipeline;
    column.script = run.script;
    column.status = trial.status + (is_winner(sweep, trial) ? " (winner)" : "");
    column.started_at = trial.started_at.value_or(run.started_at);
    column.ended_at = trial.ended_at;
    column.host = run.host;
    if (trial.params.is_object())
        for (const auto& [key, value] : trial.params.items()) column.params[key] = value;
    if (trial.metrics.is_object())
        for (const auto& [name, value] : trial.metrics.items()) {
            store::MetricSummary metric;
            metric.value = metric_value(value);
            column.metrics[name] = metric;
        }
    return column;
}

const store::SweepRecord& find_sweep(const std::vector<store::SweepRecord>& sweeps, const std::string& run_id,
                                     const std::string& sweep_id) {
    std::vector<std::string> ids;
    for (const auto& sweep : sweeps) {
        if (sweep.sweep_id == sweep_id) return sweep;
        ids.push_back(sweep.sweep_id);
    }
    const auto near = core::nearest_names(sweep_id, ids);
    throw UsageError("run " + run_id + " has no sweep '" + sweep_id + "'" +
                     (near.empty() ? "" : " (did you mean " + near.front() + "?)") +
                     (ids.empty() ? "; it has no sweeps" : "; its sweeps: " + core::join(ids, ", ")));
}

} // namespace

CompareColumns compare_columns(store::Database& db, const std::vector<std::string>& args) {
    struct Wanted {
        std::string run_id;
        std::optional<std::string> sweep;
    };
    std::vector<Wanted> wanted;
    for (const auto& text : args) {
        // RUN:SWEEP; run ids have no ':' (they are checked names), sweep ids neither.
        const auto colon = text.find(':');
        Wanted item;
        item.run_id = store::resolve_run_id(db, colon == std::string::npos ? text : text.substr(0, colon));
        if (colon != std::string::npos) {
            item.sweep = text.substr(colon + 1);
            if (item.sweep->empty()) throw UsageError("'" + text + "': name the sweep after the ':', as RUN:SWEEP");
        }
        wanted.push_back(std::move(item));
    }
    if (wanted.size() == 1 && !wanted.front().sweep) {
        // One run: compare the trials of its sweep, if it has exactly one.
        const auto sweeps = store::load_sweeps(db, wanted.front().run_id);
        if (sweeps.size() != 1) {
            std::vector<std::string> names;
            for (const auto& sweep : sweeps) names.push_back(wanted.front().run_id + ":" + sweep.sweep_id);
            throw UsageError(sweeps.empty()
                                 ? "runs compare needs at least two runs, or a run with a sweep (run " +
                                       wanted.front().run_id + " has none)"
                                 : "run " + wanted.front().run_id + " has " + std::to_string(sweeps.size()) +
                                       " sweeps; name one: " + core::join(names, ", "));
        }
        wanted.front().sweep = sweeps.front().sweep_id;
    }
    const bool one_run = std::all_of(wanted.begin(), wanted.end(),
                                     [&](const Wanted& item) { return item.run_id == wanted.front().run_id; });

    CompareColumns out;
    for (const auto& item : wanted) {
        auto run = store::load_run(db, item.run_id);
        if (!run) throw UsageError("run " + item.run_id + " is gone from the store");
        if (!item.sweep) {
            out.columns.push_back(std::move(*run));
            out.trials.emplace_back();
            continue;
        }
        const auto sweeps = store::load_sweeps(db, item.run_id);
        const auto& sweep = find_sweep(sweeps, item.run_id, *item.sweep);
        for (const auto& trial : sweep.trials) {
            const std::string label = (one_run ? "" : item.run_id + ":") + sweep.sweep_id + "." + std::to_string(trial.trial);
            out.columns.push_back(trial_column(*run, sweep, trial, label));
            out.trials.push_back(CompareColumns::Trial{item.run_id, sweep.sweep_id, trial.trial, is_winner(sweep, trial)});
        }
    }
    if (out.columns.size() < 2)
        throw UsageError("runs compare needs at least two columns: two runs, or a sweep with two trials or more");
    return out;
}

json trial_column_json(const CompareColumns::Trial& trial) {
    return {{"run", trial.run_id}, {"sweep", trial.sweep_id}, {"trial", trial.number}, {"winner", trial.winner}};
}

} // namespace trellis::cli
