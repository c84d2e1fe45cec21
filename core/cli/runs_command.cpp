// `trellis runs list|show|compare`: the runs recorded in the metadata store.
#include "cli/store_commands.hpp"

#include "cli/data_reports.hpp"
#include "cli/exit_codes.hpp"
#include "cli/store_view.hpp"
#include "cli/sweep_view.hpp"
#include "store/run_queries.hpp"
#include "util/join.hpp"
#include "util/json_text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <cstdio>
#include <memory>
#include <set>

namespace trellis::cli {
namespace {

using core::join;
using nlohmann::json;

// ---- JSON shapes (documented in docs/cli.md)

json metrics_json(const std::map<std::string, store::MetricSummary>& metrics) {
    json out = json::object();
    for (const auto& [name, metric] : metrics)
        out[name] = {{"value", json_number(metric.value)}, {"step", metric.step}, {"points", metric.points},
                     {"logged_at", metric.logged_at}};
    return out;
}

json run_json(const store::RunSummary& run, double now) {
    return {{"id", run.id},
            {"pipeline", run.pipeline},
            {"script", run.script},
            {"status", run.status},
            {"message", run.message ? json(*run.message) : json()},
            {"started_at", run.started_at},
            {"ended_at", json_number(run.ended_at)},
            {"seconds", json_number(run.seconds(now))},
            {"host", run.host},
            {"pid", run.pid},
            {"user", run.user},
            {"trellis_version", run.trellis_version},
            {"overrides", run.overrides},
            {"params", run.params},
            {"tags", run.tags},
            {"metrics", metrics_json(run.metrics)}};
}

json execution_json(const store::ExecutionSummary& execution) {
    auto optional_text = [](const std::optional<std::string>& text) { return text ? json(*text) : json(); };
    return {{"id", execution.id},
            {"run_id", execution.run_id},
            {"stage_id", execution.stage_id},
            {"stage", execution.stage_name},
            {"plugin", optional_text(execution.plugin_name)},
            {"plugin_version", optional_text(execution.plugin_version)},
            {"plugin_digest", optional_text(execution.plugin_digest)},
            {"status", execution.status},
            {"attempts", execution.attempts},
            {"started_at", json_number(execution.started_at)},
            {"ended_at", json_number(execution.ended_at)},
            {"seconds", json_number(execution.seconds())},
            {"cached_from", execution.cached_from ? json(*execution.cached_from) : json()},
            {"cached_from_run", optional_text(execution.cached_from_run)},
            {"error", optional_text(execution.error)},
            {"config", execution.config},
            {"inputs", execution.inputs},
            {"outputs", execution.outputs}};
}

// ---- runs list

struct ListArgs {
    std::optional<std::string> pipeline;
    std::optional<std::string> status;
    std::vector<std::string> tags;
    std::optional<std::string> sort;
    size_t limit = 50;
    bool json = false;
};

store::RunFilter make_filter(const ListArgs& args) {
    store::RunFilter filter;
    filter.pipeline = args.pipeline;
    if (args.status) {
        const auto& valid = store::run_statuses();
        if (std::find(valid.begin(), valid.end(), *args.status) == valid.end()) {
            const auto near = nearest_names(*args.status, valid);
            throw UsageError("--status: unknown status '" + *args.status + "'" +
                             (near.empty() ? "" : " (did you mean " + near.front() + "?)") +
                             "; choose one of: " + join(valid, ", "));
        }
        filter.status = args.status;
    }
    for (const auto& tag : args.tags) {
        const auto equals = tag.find('=');
        if (tag.empty() || equals == 0)
            throw UsageError("--tag: '" + tag + "' has no key; use KEY=VALUE, or KEY for any value");
        if (equals == std::string::npos) filter.tags.emplace_back(tag, std::nullopt);
        else filter.tags.emplace_back(tag.substr(0, equals), tag.substr(equals + 1));
    }
    if (args.sort) {
        std::string metric = *args.sort;
        const auto colon = metric.rfind(':');
        if (colon != std::string::npos) {
            const std::string order = metric.substr(colon + 1);
            if (order != "asc" && order != "desc")
                throw UsageError("--sort: '" + *args.sort + "' ends in ':" + order +
                                 "'; use METRIC, METRIC:asc or METRIC:desc");
            filter.ascending = order == "asc";
            metric.erase(colon);
        }
        if (metric.empty()) throw UsageError("--sort: no metric name; use METRIC, METRIC:asc or METRIC:desc");
        filter.sort_metric = metric;
    }
    filter.limit = args.limit;
    return filter;
}

std::vector<std::string> distinct(store::Database& db, const std::string& sql) {
    std::vector<std::string> out;
    auto query = db.prepare(sql);
    while (query.step()) out.push_back(query.text(0));
    return out;
}

int list_runs(CliContext& context, const ListArgs& args) {
    const auto filter = make_filter(args);
    auto metadata = open_metadata(context);
    if (!metadata) {
        if (args.json) std::cout << core::dump_json({{"runs", json::array()}, {"total", 0}}, 2) << "\n";
        else std::cout << "No runs yet: " << context.settings().store_path().string() << " has no metadata store.\n";
        return exit_ok;
    }
    auto& db = metadata->db();
    const auto result = store::list_runs(db, filter);
    const double now = unix_now();
    if (args.json) {
        json out = {{"runs", json::array()}, {"total", result.total}};
        for (const auto& run : result.runs) out["runs"].push_back(run_json(run, now));
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }

    if (result.runs.empty()) {
        std::cout << "No runs match.\n";
        if (filter.pipeline) {
            const auto pipelines = distinct(db, "SELECT DISTINCT pipeline FROM runs ORDER BY pipeline");
            if (std::find(pipelines.begin(), pipelines.end(), *filter.pipeline) == pipelines.end() && !pipelines.empty()) {
                const auto near = nearest_names(*filter.pipeline, pipelines);
                std::cout << "No run is of pipeline '" << *filter.pipeline << "'"
                          << (near.empty() ? "" : "; did you mean " + join(near, ", ") + "?") << " (pipelines: "
                          << join(pipelines, ", ") << ")\n";
            }
        }
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {{"ID", "PIPELINE", "STATUS", "STARTED", "DURATION"}};
    if (filter.sort_metric) rows[0].push_back(*filter.sort_metric);
    bool any_metric = false;
    for (const auto& run : result.runs) {
        rows.push_back({run.id, run.pipeline, run.status, local_time(run.started_at), format_seconds(run.seconds(now))});
        if (filter.sort_metric) {
            const auto metric = run.metrics.find(*filter.sort_metric);
            any_metric = any_metric || metric != run.metrics.end();
            rows.back().push_back(metric == run.metrics.end() ? "-" : format_value(metric->second.value));
        }
    }
    print_columns(std::cout, rows);
    if (result.total > result.runs.size())
        std::cout << "(" << result.runs.size() << " of " << result.total << " runs; --limit 0 shows all)\n";
    if (filter.sort_metric && !any_metric) {
        const auto names = distinct(db, "SELECT DISTINCT name FROM metrics ORDER BY name");
        const auto near = nearest_names(*filter.sort_metric, names);
        std::cout << "No listed run logged a metric '" << *filter.sort_metric << "'"
                  << (near.empty() ? "" : "; did you mean " + join(near, ", ") + "?") << "\n";
    }
    return exit_ok;
}

// ---- runs show

std::string json_text(const json& value) { return core::dump_json(value); }

std::string stage_status(const store::ExecutionSummary& execution) {
    std::string text = execution.status;
    if (execution.attempts > 1) text += " x" + std::to_string(execution.attempts);
    return text;
}

std::string outputs_text(const store::ExecutionSummary& execution) {
    std::vector<std::string> parts;
    for (const auto& [port, digest] : execution.outputs) parts.push_back(port + "=" + digest.substr(0, 12));
    std::string text = join(parts, " ");
    if (execution.status == "cached" && execution.cached_from_run)
        text += (text.empty() ? "" : " ") + std::string("(reused from run ") + *execution.cached_from_run + ")";
    return text.empty() ? "-" : text;
}

struct ShowArgs {
    std::string run;
    std::optional<std::string> metric;
    bool json = false;
};

int show_metric(store::Database& db, const std::string& run_id, const std::string& name, bool as_json) {
    const auto points = store::metric_history(db, run_id, name);
    if (points.empty()) {
        const auto names = store::metric_names(db, run_id);
        const auto near = nearest_names(name, names);
        throw UsageError("run " + run_id + " has no metric '" + name + "'" +
                         (near.empty() ? "" : "; did you mean " + join(near, ", ") + "?") +
                         (names.empty()          ? " (it logged none)"
                          : names.size() > 12 || !near.empty() ? " ('trellis runs show " + run_id + "' lists its metrics)"
                                                                : " (it has: " + join(names, ", ") + ")"));
    }
    if (as_json) {
        json out = {{"run", run_id}, {"metric", name}, {"points", json::array()}};
        for (const auto& point : points)
            out["points"].push_back({{"step", point.step}, {"value", json_number(point.value)},
                                     {"logged_at", point.logged_at}, {"stage_id", point.stage_id},
                                     {"execution_id", point.execution_id}});
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }
    std::cout << "metric " << name << " of run " << run_id << ": " << points.size() << " point"
              << (points.size() == 1 ? "" : "s") << "\n";
    std::vector<std::vector<std::string>> rows = {{"STEP", "VALUE", "STAGE", "LOGGED"}};
    for (const auto& point : points)
        rows.push_back({std::to_string(point.step), format_value(point.value), point.stage_id.empty() ? "-" : point.stage_id,
                        local_time(point.logged_at, true)});
    print_columns(std::cout, rows, "  ");
    return exit_ok;
}

int show_run(CliContext& context, const ShowArgs& args) {
    auto metadata = open_metadata(context);
    if (!metadata) throw UsageError(no_store_message(context));
    auto& db = metadata->db();
    const auto id = store::resolve_run_id(db, args.run);
    if (args.metric) return show_metric(db, id, *args.metric, args.json);
    const auto run = store::load_run(db, id);
    if (!run) throw UsageError("run " + id + " is gone from the store"); // deleted in between
    const auto executions = store::run_executions(db, id);
    const auto data_reports = find_data_reports(db, context.settings().store_path(), executions);
    const auto sweeps = store::load_sweeps(db, id);
    const double now = unix_now();
    if (args.json) {
        json out = run_json(*run, now);
        out["stages"] = json::array();
        for (const auto& execution : executions) out["stages"].push_back(execution_json(execution));
        out["data_reports"] = data_reports_json(data_reports);
        out["sweeps"] = sweeps_json(sweeps);
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }

    std::cout << "run " << run->id << "\n";
    std::vector<std::vector<std::string>> header = {
        {"pipeline:", run->pipeline},
        {"script:", run->script},
        {"status:", run->status + (run->message ? ": " + *run->message : "")},
        {"host:", run->host + " (pid " + std::to_string(run->pid) + (run->user.empty() ? "" : ", user " + run->user) + ")"},
        {"started:", local_time(run->started_at, true)}};
    if (run->ended_at) header.push_back({"ended:", local_time(*run->ended_at, true)});
    header.push_back({"duration:", format_seconds(run->seconds(now)) + (run->status == "running" ? " so far" : "")});
    header.push_back({"trellis:", run->trellis_version});
    if (!run->overrides.empty()) {
        std::vector<std::string> sets;
        for (const auto& [key, value] : run->overrides)
            sets.push_back(key + "=" + (value.is_string() ? value.get<std::string>() : json_text(value)));
        header.push_back({"--set:", join(sets, " ")});
    }
    if (!run->tags.empty()) {
        std::vector<std::string> tags;
        for (const auto& [key, value] : run->tags) tags.push_back(key + "=" + value);
        header.push_back({"tags:", join(tags, " ")});
    }
    print_columns(std::cout, header, "  ");

    if (!run->params.empty()) {
        std::cout << "\nparams:\n";
        std::vector<std::vector<std::string>> rows;
        for (const auto& [key, value] : run->params) rows.push_back({key, json_text(value)});
        print_columns(std::cout, rows, "  ");
    }
    if (!run->metrics.empty()) {
        std::cout << "\nmetrics:\n";
        std::vector<std::vector<std::string>> rows;
        for (const auto& [name, metric] : run->metrics)
            rows.push_back({name, format_value(metric.value),
                            metric.stepped() ? "(" + std::to_string(metric.points) + " points, last step " +
                                                   std::to_string(metric.step) + ")"
                                             : ""});
        print_columns(std::cout, rows, "  ");
    }
    std::cout << "\nstages:\n";
    if (executions.empty()) std::cout << "  none recorded\n";
    else {
        std::vector<std::vector<std::string>> rows = {{"STAGE", "KIND", "PLUGIN", "STATUS", "TIME", "OUTPUTS"}};
        for (const auto& execution : executions)
            rows.push_back({execution.stage_id, execution.stage_name, execution.plugin_label(), stage_status(execution),
                            execution.status == "cached" ? "-" : format_seconds(execution.seconds()),
                            outputs_text(execution)});
        print_columns(std::cout, rows, "  ");
        for (const auto& execution : executions)
            if (execution.error && !execution.error->empty())
                std::cout << "  " << execution.stage_id << ": " << *execution.error << "\n";
    }
    print_data_reports(std::cout, data_reports);
    print_sweeps(std::cout, sweeps, run->id);
    const auto folder = context.settings().store_path() / "runs" / run->id;
    std::error_code ec;
    if (std::filesystem::is_directory(folder, ec)) std::cout << "\nrun folder: " << folder.string() << "\n";
    return exit_ok;
}

// ---- runs compare

std::vector<std::string> param_cells(const store::ComparisonRow& row) {
    std::vector<std::string> cells;
    for (const auto& value : row.values) cells.push_back(value ? core::dump_json(*value) : "-");
    return cells;
}

// Metric values with 6 significant digits, or as many more as it takes to tell apart values
// that differ.
std::vector<std::string> metric_cells(const store::ComparisonRow& row) {
    std::vector<std::string> cells;
    for (const int digits : {6, 10, 17}) {
        cells.clear();
        std::set<std::string> distinct;
        for (const auto& value : row.values) {
            std::string text = "-";
            if (value && value->is_number()) {
                char buffer[40];
                std::snprintf(buffer, sizeof buffer, "%.*g", digits, value->get<double>());
                text = buffer;
            } else if (value) {
                text = "nan";
            }
            cells.push_back(text);
            distinct.insert(text);
        }
        if (!row.differs || distinct.size() > 1) break;
    }
    return cells;
}

struct CompareArgs {
    std::vector<std::string> runs;
    bool json = false;
};

int compare_runs(CliContext& context, const CompareArgs& args) {
    auto metadata = open_metadata(context);
    if (!metadata) throw UsageError(no_store_message(context));
    auto& db = metadata->db();
    // Runs, or the trials of sweeps (RUN:SWEEP, or one run with one sweep), a column each.
    const CompareColumns columns = compare_columns(db, args.runs);
    const std::vector<store::RunSummary>& runs = columns.columns;

    const auto comparison = store::compare_runs(runs);
    if (args.json) {
        json out = {{"runs", json::array()}, {"params", json::array()}, {"metrics", json::array()}};
        for (size_t i = 0; i < runs.size(); ++i) {
            const auto& run = runs[i];
            json column = {{"id", run.id}, {"pipeline", run.pipeline}, {"status", run.status},
                           {"started_at", run.started_at}, {"seconds", json_number(run.seconds(unix_now()))}};
            if (columns.trials[i]) column.update(trial_column_json(*columns.trials[i]));
            out["runs"].push_back(std::move(column));
        }
        auto rows = [](const std::vector<store::ComparisonRow>& from, const char* key_name, json& into) {
            for (const auto& row : from) {
                json item = {{key_name, row.key}, {"values", json::array()}, {"differs", row.differs}};
                for (const auto& value : row.values) item["values"].push_back(value ? *value : json());
                into.push_back(std::move(item));
            }
        };
        rows(comparison.params, "key", out["params"]);
        rows(comparison.metrics, "name", out["metrics"]);
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }

    const double now = unix_now();
    std::vector<std::vector<std::string>> table;
    auto add = [&](const std::string& mark, const std::string& key, std::vector<std::string> cells) {
        std::vector<std::string> row = {mark, key};
        row.insert(row.end(), cells.begin(), cells.end());
        table.push_back(std::move(row));
    };
    auto column = [&](auto cell) {
        std::vector<std::string> cells;
        for (const auto& run : runs) cells.push_back(cell(run));
        return cells;
    };
    add(" ", "", column([](const store::RunSummary& run) { return run.id; }));
    add(" ", "pipeline", column([](const store::RunSummary& run) { return run.pipeline; }));
    add(" ", "status", column([](const store::RunSummary& run) { return run.status; }));
    add(" ", "started", column([](const store::RunSummary& run) { return local_time(run.started_at); }));
    add(" ", "duration", column([&](const store::RunSummary& run) { return format_seconds(run.seconds(now)); }));
    auto section = [&](const std::string& title, const std::vector<store::ComparisonRow>& rows, bool metrics) {
        if (rows.empty()) return;
        add(" ", title + ":", {});
        for (const auto& row : rows) {
            add(row.differs ? "*" : " ", "  " + row.key, metrics ? metric_cells(row) : param_cells(row));
        }
    };
    section("params", comparison.params, false);
    section("metrics", comparison.metrics, true);
    print_columns(std::cout, table);
    std::cout << "(* marks values that differ; - a value the run does not have)\n";
    return exit_ok;
}

} // namespace

void add_runs_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto* runs = app.add_subcommand("runs", "List, show and compare recorded runs");
    runs->require_subcommand(1);

    auto list_args = std::make_shared<ListArgs>();
    auto* list = runs->add_subcommand("list", "List runs, newest first");
    list->add_option("--pipeline", list_args->pipeline, "Only runs of this pipeline");
    list->add_option("--status", list_args->status,
                     "Only runs with this status: " + join(store::run_statuses(), ", "));
    list->add_option("--tag", list_args->tags, "Only runs with this tag: KEY=VALUE, or KEY for any value (repeatable)");
    list->add_option("--sort", list_args->sort,
                     "Order by a metric's last value, METRIC[:asc|desc] (default desc); runs without it come last");
    list->add_option("--limit", list_args->limit, "Show at most N runs; 0 shows all (default 50)");
    list->add_flag("--json", list_args->json, "Print JSON");
    list->callback([=, &action] {
        action = [=] { return with_lookup_errors([&] { return list_runs(context(), *list_args); }); };
    });

    auto show_args = std::make_shared<ShowArgs>();
    auto* show = runs->add_subcommand("show", "Show a run: params, metrics and stages");
    show->add_option("RUN", show_args->run, "A run id, a unique prefix of one, or 'latest'")->required();
    show->add_option("--metric", show_args->metric, "Print every point of this metric instead");
    show->add_flag("--json", show_args->json, "Print JSON");
    show->callback([=, &action] {
        action = [=] { return with_lookup_errors([&] { return show_run(context(), *show_args); }); };
    });

    auto compare_args = std::make_shared<CompareArgs>();
    auto* compare = runs->add_subcommand("compare", "Params and metrics of runs, or of a sweep's trials, side by side");
    compare->add_option("RUN", compare_args->runs,
                        "Two or more runs (ids, unique prefixes or 'latest'); RUN:SWEEP for a sweep's trials; one run "
                        "with one sweep compares its trials")
        ->required();
    compare->add_flag("--json", compare_args->json, "Print JSON");
    compare->callback([=, &action] {
        action = [=] { return with_lookup_errors([&] { return compare_runs(context(), *compare_args); }); };
    });
}

} // namespace trellis::cli
