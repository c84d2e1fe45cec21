// The read side of the metadata store for `trellis runs ...`: runs with their params, tags and
// metrics, the executions of a run, a metric's history, and finding a run from what a user typed.
// Every function is a query on the schema of schema.hpp and returns plain structs; nothing writes.
#pragma once

#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace trellis::store {

// A name from the user that matches nothing, or more than one thing. The message says which and
// lists the candidates or the nearest names; the CLI shows it as a usage error (exit 2).
class LookupError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The statuses a run can have, in the order they are listed to users.
const std::vector<std::string>& run_statuses();

// The last value of one metric in a run: the point with the highest step, then the latest
// logged_at (then the last one written).
struct MetricSummary {
    std::optional<double> value; // nothing for NaN
    int64_t step = 0;
    int64_t points = 1;          // how many points the run logged under this name
    double logged_at = 0;
    bool stepped() const { return points > 1 || step != 0; }
};

struct RunSummary {
    std::string id;
    std::string pipeline;
    std::string script;
    std::string status;
    std::optional<std::string> message;
    double started_at = 0;
    std::optional<double> ended_at;
    std::string host;
    int64_t pid = 0;
    std::string user;
    std::string trellis_version;
    // The pipeline's resolved params (runs.params, with params rows of execution 0 over them),
    // then params logged by a stage, under "<stage id>.<key>". Values are JSON.
    std::map<std::string, nlohmann::json> params;
    std::map<std::string, nlohmann::json> overrides; // the --set overrides the run was started with
    std::map<std::string, std::string> tags;
    std::map<std::string, MetricSummary> metrics;

    // ended_at - started_at; for a running run, `now` - started_at; nothing when unknown.
    std::optional<double> seconds(double now) const;
};

struct RunFilter {
    std::optional<std::string> pipeline;
    std::optional<std::string> status;
    // Each must hold: a tag `key` with `value`, or (no value) a tag `key` with any value.
    std::vector<std::pair<std::string, std::optional<std::string>>> tags;
    // Order by this metric's last value instead of newest first; runs without it come last.
    std::optional<std::string> sort_metric;
    bool ascending = false;
    size_t limit = 0; // 0: all
};

struct RunList {
    std::vector<RunSummary> runs;
    size_t total = 0; // runs that matched before the limit
};

// The runs matching `filter`, newest first (by started_at, then id) unless sorted by a metric.
RunList list_runs(Database& db, const RunFilter& filter);

// One run with its params, tags and metrics; nothing when there is no run `id`.
std::optional<RunSummary> load_run(Database& db, const std::string& id);

// Finds the run a user means: an exact id, a prefix of exactly one id, or "latest" (the newest
// run). Throws LookupError when nothing matches (naming the nearest ids) or when a prefix matches
// several (naming them), and when `text` cannot be a run id at all (empty, '/', '..', control
// characters): ids name folders under <store>/runs/, so nothing path-like is looked up.
std::string resolve_run_id(Database& db, const std::string& text);

// `trellis runs compare`: one row per param key or metric name of any of the runs, sorted, with a
// value per run (in the order given): nothing where a run lacks the key; for metrics, a number, or
// null for NaN. `differs` when the values are not all the same (a missing value counts).
struct ComparisonRow {
    std::string key;
    std::vector<std::optional<nlohmann::json>> values;
    bool differs = false;
};

struct RunComparison {
    std::vector<ComparisonRow> params;
    std::vector<ComparisonRow> metrics;
};

RunComparison compare_runs(const std::vector<RunSummary>& runs);

struct ExecutionSummary {
    int64_t id = 0;
    std::string run_id;
    std::string stage_id;
    std::string stage_name;
    std::optional<std::string> plugin_name, plugin_version, plugin_digest;
    nlohmann::json config = nlohmann::json::object();
    std::string status;
    std::optional<int64_t> cached_from;
    std::optional<std::string> cached_from_run; // the run of the execution it reused
    int64_t attempts = 0;
    std::optional<double> started_at, ended_at;
    std::optional<std::string> error;
    std::map<std::string, std::string> inputs;  // port -> artifact digest
    std::map<std::string, std::string> outputs; // port -> artifact digest

    std::optional<double> seconds() const;
    // "name@version"; "lua" for an inline Lua stage, "-" for a sweep's selector.
    std::string plugin_label() const;
};

// The executions of a run, the latest (highest id) per stage id, in the order the stages first
// started (a resumed run's stages keep their places).
std::vector<ExecutionSummary> run_executions(Database& db, const std::string& run_id);

// One execution by id, with its events; nothing when there is none.
std::optional<ExecutionSummary> load_execution(Database& db, int64_t id);

struct MetricPoint {
    int64_t execution_id = 0;
    std::string stage_id;
    int64_t step = 0;
    std::optional<double> value;
    double logged_at = 0;
};

// Every point of metric `name` in a run, by step, then logged_at.
std::vector<MetricPoint> metric_history(Database& db, const std::string& run_id, const std::string& name);

// Names of every metric a run logged, sorted.
std::vector<std::string> metric_names(Database& db, const std::string& run_id);

} // namespace trellis::store
