#include "monitor/monitor_history.hpp"

namespace trellis::monitor {

using nlohmann::json;

int64_t record_window(store::Database& db, const WindowRecord& record) {
    json metrics = json::object();
    for (const auto& [name, value] : record.metrics) metrics[name] = value;
    auto insert = db.prepare(
        "INSERT INTO monitor_windows (monitor, endpoint, run_id, status, message, since, until, rows, labelled, first_at, "
        "last_at, metrics, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    insert.bind(1, record.monitor).bind(2, record.endpoint).bind(3, record.run_id).bind(4, record.status).bind(5, record.message);
    insert.bind(6, record.since).bind(7, record.until).bind(8, record.rows).bind(9, record.labelled);
    insert.bind(10, record.first_at).bind(11, record.last_at).bind(12, metrics.dump()).bind(13, record.at);
    insert.run();
    return db.last_insert_id();
}

std::vector<WindowRecord> recent_windows(store::Database& db, const std::string& monitor, size_t limit) {
    auto select = db.prepare(
        "SELECT id, monitor, endpoint, run_id, status, message, since, until, rows, labelled, first_at, last_at, metrics, at "
        "FROM monitor_windows WHERE monitor = ?1 ORDER BY id DESC LIMIT ?2");
    select.bind(1, monitor).bind(2, static_cast<int64_t>(limit));
    std::vector<WindowRecord> out;
    while (select.step()) {
        WindowRecord record;
        record.id = select.int64(0);
        record.monitor = select.text(1);
        record.endpoint = select.text(2);
        record.run_id = select.optional_text(3);
        record.status = select.text(4);
        record.message = select.optional_text(5);
        record.since = select.optional_real(6);
        record.until = select.optional_real(7);
        record.rows = select.int64(8);
        record.labelled = select.optional_int64(9);
        record.first_at = select.optional_real(10);
        record.last_at = select.optional_real(11);
        const json metrics = json::parse(select.text(12));
        for (const auto& [name, value] : metrics.items())
            if (value.is_number()) record.metrics[name] = value.get<double>();
        record.at = select.real(13);
        out.push_back(std::move(record));
    }
    return out;
}

std::map<std::string, std::string> known_monitors(store::Database& db) {
    auto select = db.prepare("SELECT monitor, endpoint FROM monitor_windows WHERE id IN "
                             "(SELECT MAX(id) FROM monitor_windows GROUP BY monitor) ORDER BY monitor");
    std::map<std::string, std::string> out;
    while (select.step()) out[select.text(0)] = select.text(1);
    return out;
}

std::map<std::string, AlertState> load_alerts(store::Database& db, const std::string& monitor) {
    auto select = db.prepare("SELECT alert, firing, streak, value, since, updated_at FROM monitor_alerts WHERE monitor = ?1");
    select.bind(1, monitor);
    std::map<std::string, AlertState> out;
    while (select.step()) {
        AlertState state;
        state.alert = select.text(0);
        state.firing = select.int64(1) != 0;
        state.streak = static_cast<int>(select.int64(2));
        state.value = select.optional_real(3);
        state.since = select.real(4);
        state.updated_at = select.real(5);
        out[state.alert] = state;
    }
    return out;
}

void save_alert(store::Database& db, const std::string& monitor, const AlertState& state) {
    auto upsert = db.prepare(
        "INSERT INTO monitor_alerts (monitor, alert, firing, streak, value, since, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT (monitor, alert) DO UPDATE SET firing = excluded.firing, streak = excluded.streak, value = excluded.value, "
        "since = excluded.since, updated_at = excluded.updated_at");
    upsert.bind(1, monitor).bind(2, state.alert).bind(3, int64_t{state.firing ? 1 : 0}).bind(4, int64_t{state.streak});
    upsert.bind(5, state.value).bind(6, state.since).bind(7, state.updated_at);
    upsert.run();
}

AlertState step_alert(const AlertRule& rule, AlertState state, std::optional<double> value, double now) {
    state.alert = rule.name;
    if (state.since == 0) state.since = now;
    if (!value) return state; // no evidence either way: the streak waits
    state.value = value;
    state.updated_at = now;
    const bool toward_other = state.firing ? (rule.clear ? rule.clear->holds(*value) : !rule.when.holds(*value))
                                           : rule.when.holds(*value);
    state.streak = toward_other ? state.streak + 1 : 0;
    if (state.streak >= (state.firing ? rule.clear_windows : rule.for_windows)) {
        state.firing = !state.firing;
        state.streak = 0;
        state.since = now;
    }
    return state;
}

json window_json(const WindowRecord& record) {
    const auto optional = [](const auto& value) { return value ? json(*value) : json(); };
    return {{"id", record.id},
            {"monitor", record.monitor},
            {"endpoint", record.endpoint},
            {"run_id", optional(record.run_id)},
            {"status", record.status},
            {"message", optional(record.message)},
            {"since", optional(record.since)},
            {"until", optional(record.until)},
            {"rows", record.rows},
            {"labelled", optional(record.labelled)},
            {"first_at", optional(record.first_at)},
            {"last_at", optional(record.last_at)},
            {"metrics", record.metrics},
            {"at", record.at}};
}

json alert_json(const AlertState& state) {
    return {{"alert", state.alert},
            {"state", state.firing ? "firing" : "ok"},
            {"streak", state.streak},
            {"value", state.value ? json(*state.value) : json()},
            {"since", state.since},
            {"updated_at", state.updated_at}};
}

} // namespace trellis::monitor
