#include "store/run_queries.hpp"

#include "store/store_paths.hpp"
#include "util/join.hpp"
#include "util/nearest_names.hpp"

#include <algorithm>

namespace trellis::store {

namespace {

// A JSON column; text that does not parse (written by something else) is kept as a JSON string.
nlohmann::json json_column(const std::string& text) {
    if (text.empty()) return nlohmann::json();
    auto value = nlohmann::json::parse(text, nullptr, false);
    return value.is_discarded() ? nlohmann::json(text) : value;
}

std::map<std::string, nlohmann::json> json_object_column(const std::string& text) {
    std::map<std::string, nlohmann::json> out;
    const auto value = json_column(text);
    if (value.is_object())
        for (const auto& [key, item] : value.items()) out[key] = item;
    return out;
}

constexpr const char* run_columns =
    "id, pipeline, script, overrides, params, status, message, started_at, ended_at, host, pid, user, trellis_version";

RunSummary read_run(const Statement& row) {
    RunSummary run;
    run.id = row.text(0);
    run.pipeline = row.text(1);
    run.script = row.text(2);
    run.overrides = json_object_column(row.text(3));
    run.params = json_object_column(row.text(4));
    run.status = row.text(5);
    run.message = row.optional_text(6);
    run.started_at = row.real(7);
    run.ended_at = row.optional_real(8);
    run.host = row.text(9);
    run.pid = row.int64(10);
    run.user = row.text(11);
    run.trellis_version = row.text(12);
    return run;
}

void load_details(Database& db, RunSummary& run) {
    auto params = db.prepare("SELECT p.execution_id, e.stage_id, p.key, p.value FROM params p "
                             "LEFT JOIN executions e ON e.id = p.execution_id WHERE p.run_id = ?1 "
                             "ORDER BY p.execution_id, p.key");
    params.bind(1, run.id);
    while (params.step()) {
        const int64_t execution = params.int64(0);
        std::string key = params.text(2);
        if (execution != 0) {
            const auto stage = params.optional_text(1);
            key = (stage ? *stage : "#" + std::to_string(execution)) + "." + key;
        }
        run.params[key] = json_column(params.text(3));
    }

    auto tags = db.prepare("SELECT key, value FROM tags WHERE run_id = ?1 ORDER BY key");
    tags.bind(1, run.id);
    while (tags.step()) run.tags[tags.text(0)] = tags.text(1);

    auto metrics = db.prepare(
        "SELECT name, value, step, logged_at, points FROM ("
        "  SELECT name, value, step, logged_at, COUNT(*) OVER (PARTITION BY name) AS points,"
        "         ROW_NUMBER() OVER (PARTITION BY name ORDER BY step DESC, logged_at DESC, rowid DESC) AS rn"
        "  FROM metrics WHERE run_id = ?1) WHERE rn = 1");
    metrics.bind(1, run.id);
    while (metrics.step()) {
        MetricSummary metric;
        metric.value = metrics.optional_real(1);
        metric.step = metrics.int64(2);
        metric.logged_at = metrics.real(3);
        metric.points = metrics.int64(4);
        run.metrics[metrics.text(0)] = metric;
    }
}

// Whether `text` could be a run id: run ids name folders under <store>/runs/.
void check_run_text(const std::string& text) {
    if (text.empty()) throw LookupError("a run id is empty; 'trellis runs list' shows the runs");
    const bool control = std::any_of(text.begin(), text.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (text.find('/') != std::string::npos || text.find('\\') != std::string::npos ||
        text.find("..") != std::string::npos || control || text.size() > 200)
        throw LookupError("'" + printable(text, 100) +
                          "' is not a run id: an id has no '/', '\\', '..' or control characters "
                          "('trellis runs list' shows the runs)");
}

constexpr const char* execution_columns =
    "e.id, e.run_id, e.stage_id, e.stage_name, e.plugin_name, e.plugin_version, e.plugin_digest, e.config, "
    "e.status, e.cached_from, src.run_id, e.attempts, e.started_at, e.ended_at, e.error";

ExecutionSummary read_execution(const Statement& row) {
    ExecutionSummary out;
    out.id = row.int64(0);
    out.run_id = row.text(1);
    out.stage_id = row.text(2);
    out.stage_name = row.text(3);
    out.plugin_name = row.optional_text(4);
    out.plugin_version = row.optional_text(5);
    out.plugin_digest = row.optional_text(6);
    out.config = json_column(row.text(7));
    if (out.config.is_null()) out.config = nlohmann::json::object();
    out.status = row.text(8);
    out.cached_from = row.optional_int64(9);
    out.cached_from_run = row.optional_text(10);
    out.attempts = row.int64(11);
    out.started_at = row.optional_real(12);
    out.ended_at = row.optional_real(13);
    out.error = row.optional_text(14);
    return out;
}

void load_events(Statement& events, ExecutionSummary& execution) {
    events.reset();
    events.bind(1, execution.id);
    while (events.step())
        (events.text(0) == "input" ? execution.inputs : execution.outputs)[events.text(1)] = events.text(2);
}

constexpr const char* events_query = "SELECT kind, port, artifact_digest FROM events WHERE execution_id = ?1";

} // namespace

const std::vector<std::string>& run_statuses() {
    static const std::vector<std::string> statuses = {"running", "succeeded", "failed", "cancelled", "interrupted"};
    return statuses;
}

std::optional<double> RunSummary::seconds(double now) const {
    if (ended_at) return std::max(0.0, *ended_at - started_at);
    if (status == "running") return std::max(0.0, now - started_at);
    return std::nullopt;
}

std::optional<double> ExecutionSummary::seconds() const {
    if (started_at && ended_at) return std::max(0.0, *ended_at - *started_at);
    return std::nullopt;
}

std::string ExecutionSummary::plugin_label() const {
    // No plugin: an inline Lua stage, or a sweep's selector, which trellis runs itself.
    if (!plugin_name) return stage_name == "sweep" ? "-" : "lua";
    return *plugin_name + (plugin_version ? "@" + *plugin_version : "");
}

RunList list_runs(Database& db, const RunFilter& filter) {
    std::string sql = "SELECT id FROM runs r WHERE (?1 IS NULL OR pipeline = ?1) AND (?2 IS NULL OR status = ?2)";
    int next = 3;
    for (const auto& tag : filter.tags) {
        sql += " AND EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.key = ?" + std::to_string(next++);
        if (tag.second) sql += " AND t.value = ?" + std::to_string(next++);
        sql += ")";
    }
    sql += " ORDER BY started_at DESC, id DESC";
    auto query = db.prepare(sql);
    query.bind(1, filter.pipeline);
    query.bind(2, filter.status);
    next = 3;
    for (const auto& tag : filter.tags) {
        query.bind(next++, tag.first);
        if (tag.second) query.bind(next++, *tag.second);
    }
    std::vector<std::string> ids;
    while (query.step()) ids.push_back(query.text(0));

    if (filter.sort_metric) {
        std::map<std::string, std::optional<double>> last;
        auto values = db.prepare(
            "SELECT run_id, value FROM ("
            "  SELECT run_id, value,"
            "         ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY step DESC, logged_at DESC, rowid DESC) AS rn"
            "  FROM metrics WHERE name = ?1) WHERE rn = 1");
        values.bind(1, *filter.sort_metric);
        while (values.step()) last[values.text(0)] = values.optional_real(1);
        // Runs with a value first, best first; runs without one (or NaN) after, newest first.
        auto value_of = [&](const std::string& id) -> std::optional<double> {
            const auto it = last.find(id);
            return it == last.end() ? std::nullopt : it->second;
        };
        std::stable_sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
            const auto va = value_of(a), vb = value_of(b);
            if (!va || !vb) return va.has_value() && !vb.has_value();
            return filter.ascending ? *va < *vb : *va > *vb;
        });
    }

    RunList out;
    out.total = ids.size();
    if (filter.limit && ids.size() > filter.limit) ids.resize(filter.limit);
    for (const auto& id : ids)
        if (auto run = load_run(db, id)) out.runs.push_back(std::move(*run));
    return out;
}

std::optional<RunSummary> load_run(Database& db, const std::string& id) {
    auto query = db.prepare(std::string("SELECT ") + run_columns + " FROM runs WHERE id = ?1");
    query.bind(1, id);
    if (!query.step()) return std::nullopt;
    RunSummary run = read_run(query);
    load_details(db, run);
    return run;
}

std::string resolve_run_id(Database& db, const std::string& text) {
    check_run_text(text);
    if (text == "latest") {
        auto newest = db.prepare("SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1");
        if (!newest.step()) throw LookupError("there are no runs in the store yet, so no 'latest' run");
        return newest.text(0);
    }
    auto exact = db.prepare("SELECT id FROM runs WHERE id = ?1");
    exact.bind(1, text);
    if (exact.step()) return text;

    auto prefixed = db.prepare("SELECT id FROM runs WHERE substr(id, 1, ?2) = ?1 ORDER BY id");
    prefixed.bind(1, text);
    prefixed.bind(2, static_cast<int64_t>(text.size()));
    std::vector<std::string> matches;
    while (prefixed.step()) matches.push_back(prefixed.text(0));
    if (matches.size() == 1) return matches.front();
    if (matches.size() > 1) {
        const size_t shown = std::min<size_t>(matches.size(), 8);
        std::vector<std::string> names(matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(shown));
        throw LookupError("run '" + text + "' is ambiguous: it begins " + std::to_string(matches.size()) +
                          " run ids: " + core::join(names, ", ") +
                          (matches.size() > shown ? ", ... (" + std::to_string(matches.size() - shown) + " more)" : "") +
                          "; give more of the id");
    }

    std::vector<std::string> ids;
    auto all = db.prepare("SELECT id FROM runs ORDER BY id");
    while (all.step()) ids.push_back(all.text(0));
    if (ids.empty()) throw LookupError("no run '" + text + "': there are no runs in the store yet");
    auto hints = core::nearest_names(text, ids);
    if (hints.empty()) {
        // A mistyped prefix: compare with the ids cut to its length, and name the whole ids.
        std::map<std::string, std::vector<std::string>> by_prefix;
        for (const auto& id : ids) by_prefix[id.substr(0, text.size())].push_back(id);
        std::vector<std::string> prefixes;
        for (const auto& entry : by_prefix) prefixes.push_back(entry.first);
        for (const auto& near : core::nearest_names(text, prefixes))
            for (const auto& id : by_prefix[near])
                if (hints.size() < 3) hints.push_back(id);
    }
    throw LookupError("no run '" + printable(text, 100) + "'" + (hints.empty() ? "" : "; did you mean " + core::join(hints, ", ") + "?") +
                      " ('trellis runs list' shows the runs)");
}

RunComparison compare_runs(const std::vector<RunSummary>& runs) {
    std::map<std::string, ComparisonRow> params, metrics;
    for (size_t i = 0; i < runs.size(); ++i) {
        for (const auto& [key, value] : runs[i].params) {
            auto& row = params[key];
            row.values.resize(runs.size());
            row.values[i] = value;
        }
        for (const auto& [name, metric] : runs[i].metrics) {
            auto& row = metrics[name];
            row.values.resize(runs.size());
            row.values[i] = metric.value ? nlohmann::json(*metric.value) : nlohmann::json();
        }
    }
    RunComparison out;
    for (auto* side : {&params, &metrics})
        for (auto& [key, row] : *side) {
            row.key = key;
            row.differs = std::any_of(row.values.begin(), row.values.end(),
                                      [&](const auto& value) { return value != row.values.front(); });
            (side == &params ? out.params : out.metrics).push_back(std::move(row));
        }
    return out;
}

std::vector<ExecutionSummary> run_executions(Database& db, const std::string& run_id) {
    auto query = db.prepare(std::string("SELECT ") + execution_columns +
                            " FROM executions e"
                            " JOIN (SELECT stage_id, MAX(id) AS latest, MIN(id) AS first FROM executions"
                            "       WHERE run_id = ?1 GROUP BY stage_id) s ON e.id = s.latest"
                            " LEFT JOIN executions src ON src.id = e.cached_from"
                            " ORDER BY s.first");
    query.bind(1, run_id);
    std::vector<ExecutionSummary> out;
    while (query.step()) out.push_back(read_execution(query));
    auto events = db.prepare(events_query);
    for (auto& execution : out) load_events(events, execution);
    return out;
}

std::optional<ExecutionSummary> load_execution(Database& db, int64_t id) {
    auto query = db.prepare(std::string("SELECT ") + execution_columns +
                            " FROM executions e LEFT JOIN executions src ON src.id = e.cached_from WHERE e.id = ?1");
    query.bind(1, id);
    if (!query.step()) return std::nullopt;
    auto execution = read_execution(query);
    auto events = db.prepare(events_query);
    load_events(events, execution);
    return execution;
}

std::vector<MetricPoint> metric_history(Database& db, const std::string& run_id, const std::string& name) {
    auto query = db.prepare("SELECT m.execution_id, e.stage_id, m.step, m.value, m.logged_at FROM metrics m "
                            "LEFT JOIN executions e ON e.id = m.execution_id "
                            "WHERE m.run_id = ?1 AND m.name = ?2 ORDER BY m.step, m.logged_at, m.rowid");
    query.bind(1, run_id);
    query.bind(2, name);
    std::vector<MetricPoint> out;
    while (query.step()) {
        MetricPoint point;
        point.execution_id = query.int64(0);
        point.stage_id = query.text(1);
        point.step = query.int64(2);
        point.value = query.optional_real(3);
        point.logged_at = query.real(4);
        out.push_back(std::move(point));
    }
    return out;
}

std::vector<std::string> metric_names(Database& db, const std::string& run_id) {
    auto query = db.prepare("SELECT DISTINCT name FROM metrics WHERE run_id = ?1 ORDER BY name");
    query.bind(1, run_id);
    std::vector<std::string> out;
    while (query.step()) out.push_back(query.text(0));
    return out;
}

} // namespace trellis::store
