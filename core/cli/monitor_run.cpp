#include "cli/monitor_run.hpp"

#include "cli/exit_codes.hpp"
#include "cli/governance_view.hpp"
#include "cli/recorded_run.hpp"
#include "govern/access.hpp"
#include "http/http_server.hpp"
#include "monitor/labels.hpp"
#include "monitor/monitor_history.hpp"
#include "monitor/monitor_metrics.hpp"
#include "monitor/monitor_policy.hpp"
#include "monitor/monitor_stages.hpp"
#include "registry/model_registry.hpp"
#include "store/metadata_store.hpp"
#include "util/json_text.hpp"
#include "util/utc_time.hpp"

#include <trellis/artifacts.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <iostream>
#include <thread>

namespace trellis::cli {
namespace {

using nlohmann::json;

struct RunArgs {
    std::string file;
    std::vector<std::string> sets;
    bool once = false;
    std::optional<unsigned short> port;
    std::string address = "127.0.0.1";
    unsigned jobs = 0;
};

struct StatusArgs {
    std::optional<std::string> monitor;
    size_t windows = 5;
    bool json = false;
};

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void on_stop(int) { stop_requested = 1; }

std::string clock_text(double seconds) { return core::utc_time_text(seconds, "%Y-%m-%dT%H:%M:%SZ"); }

// "90s", "10m", "2h", "1d": a policy's durations as they are usually written.
std::string span_text(double seconds) {
    for (const auto& [unit, size] : {std::pair{"d", 86400.0}, {"h", 3600.0}, {"m", 60.0}})
        if (seconds >= size && std::fmod(seconds, size) == 0) return std::to_string(static_cast<int64_t>(seconds / size)) + unit;
    return registry::metric_text(seconds) + "s";
}

// The metrics of a run by "STAGE.METRIC": each stage's last value of each metric it logged, and
// the values of its metrics outputs (a vendor's stage may only output them).
std::map<std::string, double> run_metrics(const core::Pipeline& pipeline, const core::RunOutcome& outcome) {
    std::map<std::string, double> out;
    for (size_t i = 0; i < outcome.stages.size(); ++i) {
        const std::string prefix = pipeline.stages[i].id + ".";
        for (const auto& [port, artifact] : outcome.stages[i].outputs) {
            if (artifact.type != TRELLIS_ARTIFACT_METRICS || !artifact.loaded()) continue;
            try {
                for (const auto& [name, value] : deserialize_metrics(artifact.bytes()).values) out[prefix + name] = value;
            } catch (const std::exception& e) {
                spdlog::warn("stage '{}': output '{}' is not readable metrics: {}", pipeline.stages[i].id, port, e.what());
            }
        }
        for (const auto& point : outcome.stages[i].metrics) out[prefix + point.name] = point.value;
    }
    return out;
}

std::string first_failure(const core::Pipeline& pipeline, const core::RunOutcome& outcome) {
    for (size_t i = 0; i < outcome.stages.size(); ++i)
        if (outcome.stages[i].state == core::StageState::Failed)
            return "stage '" + pipeline.stages[i].id + "' failed: " + outcome.stages[i].message;
    return outcome.interrupted ? "interrupted" : "the run did not succeed";
}

// What the monitor has already looked at: windows with nothing new are skipped.
struct Seen {
    std::optional<double> last_row_at;      // the newest row of the last checked window
    std::optional<double> checked_at;       // when it was checked
    std::optional<std::string> last_skip;   // why the last window was skipped, if it was
};

// Which rows the window at `now` holds, and the one before it.
monitor::WindowBounds bounds_at(const monitor::MonitorPolicy& policy, double now) {
    monitor::WindowBounds bounds;
    bounds.endpoint = policy.endpoint;
    if (policy.window_rows) {
        bounds.current.last_rows = *policy.window_rows;
        bounds.previous.last_rows = *policy.window_rows;
        bounds.previous.skip_newest = *policy.window_rows;
    } else {
        const double width = *policy.window_seconds;
        bounds.current.since = now - width;
        bounds.current.until = now;
        bounds.previous.since = now - 2 * width;
        bounds.previous.until = now - width;
    }
    return bounds;
}

// One window: read, skipped or checked by a recorded run of the policy, alerts stepped, all
// recorded. Returns the window's record.
monitor::WindowRecord check_window(CliContext& context, const RunArgs& args, Seen& seen, monitor::MonitorMetrics* metrics) {
    const auto root = context.settings().store_path();
    LoadedScript loaded = load_and_validate(context, args.file, args.sets); // again: an edit takes effect
    if (!loaded.script) throw UsageError(args.file + ": the policy did not load (above)");
    const core::Pipeline& pipeline = loaded.script->pipeline();
    monitor::MonitorPolicy policy;
    try {
        policy = monitor::read_monitor_policy(pipeline);
    } catch (const monitor::PolicyError& e) {
        throw UsageError(e.what());
    }
    const double now = core::unix_now();
    const monitor::WindowBounds bounds = bounds_at(policy, now);
    monitor::WindowRecord record;
    record.monitor = policy.name;
    record.endpoint = policy.endpoint;
    record.since = bounds.current.since;
    record.until = bounds.current.until;
    record.at = now;

    monitor::PredictionWindow window;
    try {
        window = monitor::read_prediction_window(root / "predictions", policy.endpoint, bounds.current);
    } catch (const std::runtime_error& e) {
        record.status = "skipped";
        record.message = e.what();
    }
    record.rows = static_cast<int64_t>(window.request_ids.size());
    if (!window.times.empty()) {
        record.first_at = window.times.front();
        record.last_at = window.times.back();
    }
    if (record.status != "skipped" && record.rows < static_cast<int64_t>(policy.min_rows)) {
        record.status = "skipped";
        record.message = std::to_string(record.rows) + " rows, fewer than min_rows (" + std::to_string(policy.min_rows) + ")";
    } else if (record.status != "skipped" && seen.last_row_at && record.last_at && *record.last_at <= *seen.last_row_at) {
        // Nothing new to look at, unless labels arrived since: then performance may have moved.
        std::optional<double> labels_at;
        {
            store::MetadataStore metadata(root);
            labels_at = monitor::latest_label_time(metadata.db(), policy.endpoint);
        }
        if (!labels_at || !seen.checked_at || *labels_at <= *seen.checked_at) {
            record.status = "skipped";
            record.message = "no new predictions or labels since the last window";
        }
    }

    std::map<std::string, monitor::AlertState> alerts;
    std::vector<std::pair<const monitor::AlertRule*, monitor::AlertState>> changed;
    if (record.status != "skipped") {
        monitor::WindowSummary summary;
        RunRequest request;
        request.file = args.file;
        request.tags = {{"monitor", policy.name}, {"monitor.endpoint", policy.endpoint}};
        request.jobs = args.jobs;
        request.print_summary = false;
        request.core_stages = [&](core::CoreStageRunner& registry_stages, core::RunRecorder& recorder) {
            return std::make_unique<monitor::MonitorStages>(registry_stages, recorder, root, bounds, std::move(window), summary);
        };
        const RunResult result = execute_recorded_run(context, loaded, request);
        leave_if_abandoned(result, result.exit_code);
        record.run_id = result.run_id;
        record.metrics = run_metrics(pipeline, result.outcome);
        if (summary.labelled) record.labelled = static_cast<int64_t>(*summary.labelled);
        if (result.outcome.interrupted) stop_requested = 1;
        if (!result.outcome.succeeded()) {
            record.status = "failed";
            record.message = first_failure(pipeline, result.outcome);
        }
        seen.last_row_at = record.last_at;
        seen.checked_at = now;
    }

    // The record, the alerts' states and their audited changes commit together. A skip like the
    // one before is not recorded again: an idle endpoint would fill the history with them.
    const bool repeated_skip = record.status == "skipped" && seen.last_skip == record.message;
    seen.last_skip = record.status == "skipped" ? record.message : std::nullopt;
    if (repeated_skip) {
        if (metrics) metrics->window_done(record, nullptr);
        spdlog::debug("monitor {}: skipped again ({})", policy.name, record.message.value_or(""));
        return record;
    }
    auto store = open_governed(context, true);
    store::Transaction transaction(store.db());
    record.id = monitor::record_window(store.db(), record);
    alerts = monitor::load_alerts(store.db(), policy.name);
    for (const auto& rule : policy.alerts) {
        const monitor::AlertState before = alerts[rule.name];
        std::optional<double> value;
        if (record.status == "checked")
            if (const auto found = record.metrics.find(rule.when.stage + "." + rule.when.metric); found != record.metrics.end())
                value = found->second;
        monitor::AlertState after = monitor::step_alert(rule, before, value, now);
        if (after.firing != before.firing) {
            store.gov().audit(after.firing ? "monitor.alert.fire" : "monitor.alert.resolve",
                              "alert " + policy.name + "/" + rule.name, monitor::alert_json(before),
                              {{"state", after.firing ? "firing" : "ok"},
                               {"condition", after.firing ? rule.when.text : rule.clear ? rule.clear->text : "not " + rule.when.text},
                               {"value", value ? json(*value) : json()},
                               {"windows", after.firing ? rule.for_windows : rule.clear_windows},
                               {"severity", rule.severity},
                               {"run_id", record.run_id ? json(*record.run_id) : json()},
                               {"window", record.id}});
            changed.emplace_back(&rule, after);
        }
        monitor::save_alert(store.db(), policy.name, after);
        alerts[rule.name] = after;
    }
    transaction.commit();
    if (metrics) metrics->window_done(record, &alerts);

    // One line per window, and one per alert that changed.
    std::string line = "monitor " + policy.name + ": window of " + std::to_string(record.rows) + " rows";
    if (record.first_at) line += " (" + clock_text(*record.first_at) + " to " + clock_text(*record.last_at) + ")";
    if (record.labelled) line += ", " + std::to_string(*record.labelled) + " labelled";
    line += ": " + record.status;
    if (record.message) line += " (" + *record.message + ")";
    if (record.status == "checked") {
        size_t shown = 0;
        for (const auto& rule : policy.alerts)
            if (const auto found = record.metrics.find(rule.when.stage + "." + rule.when.metric); found != record.metrics.end())
                line += (shown++ ? ", " : "; ") + found->first + " " + registry::metric_text(found->second);
    }
    if (record.run_id) line += " [run " + *record.run_id + "]";
    std::cout << line << "\n";
    for (const auto& [rule, state] : changed)
        std::cout << "monitor " << policy.name << ": alert " << rule->name << " "
                  << (state.firing ? "FIRING (" + rule->when.text + ")" : "resolved") << "\n";
    std::cout.flush();
    return record;
}

int run_monitor(CliContext& context, const RunArgs& args) {
    // The policy is checked before anything starts, and its name and window printed.
    LoadedScript loaded = load_and_validate(context, args.file, args.sets);
    if (!loaded.script) return exit_usage;
    monitor::MonitorPolicy policy;
    try {
        policy = monitor::read_monitor_policy(loaded.script->pipeline());
    } catch (const monitor::PolicyError& e) {
        throw UsageError(e.what());
    }
    loaded.script.reset();

    // Where the last checked window ended, so a restarted monitor does not count it twice.
    Seen seen;
    {
        auto store = open_governed(context, true);
        store.gov().require(govern::Role::Developer, "run monitor " + policy.name);
        const auto recent = monitor::recent_windows(store.db(), policy.name, 50);
        if (!recent.empty() && recent.front().status == "skipped") seen.last_skip = recent.front().message;
        for (const auto& record : recent)
            if (record.status != "skipped" && record.last_at) {
                seen.last_row_at = record.last_at;
                seen.checked_at = record.at;
                break;
            }
    }

    stop_requested = 0;
    struct sigaction action {};
    action.sa_handler = on_stop;
    sigemptyset(&action.sa_mask);
    struct sigaction previous_term {}, previous_int {};
    sigaction(SIGTERM, &action, &previous_term);
    sigaction(SIGINT, &action, &previous_int);

    monitor::MonitorMetrics metrics(policy);
    std::unique_ptr<http::HttpServer> server;
    if (args.port) {
        http::ServerOptions options;
        options.address = args.address;
        options.port = *args.port;
        options.threads = 1;
        server = std::make_unique<http::HttpServer>(
            options,
            [&metrics](const http::Request& request) {
                const std::string target(request.target());
                if (target == "/metrics")
                    return http::make_response(request, http::beast_http::status::ok, metrics.render(),
                                               "text/plain; version=0.0.4; charset=utf-8");
                if (target == "/v2/health/live" || target == "/health")
                    return http::make_response(request, http::beast_http::status::ok, "{\"live\":true}");
                return http::make_response(request, http::beast_http::status::not_found,
                                           "{\"error\":\"no such path; the monitor serves /metrics\"}");
            },
            [](const std::string&) { return true; });
        server->start();
        std::cout << "monitor " << policy.name << ": metrics on http://" << args.address << ":" << server->port() << "/metrics"
                  << std::endl;
    }
    std::cout << "monitor " << policy.name << ": watching endpoint " << policy.endpoint << ", "
              << (policy.window_rows ? "the newest " + std::to_string(*policy.window_rows) + " rows"
                                     : "windows of " + span_text(*policy.window_seconds))
              << (args.once ? "" : ", every " + span_text(policy.every)) << std::endl;

    int code = exit_ok;
    while (!stop_requested) {
        const auto started = std::chrono::steady_clock::now();
        if (args.once) {
            const monitor::WindowRecord record = check_window(context, args, seen, nullptr);
            code = record.status == "failed" ? exit_run_failed : exit_ok;
            break;
        }
        try {
            check_window(context, args, seen, server ? &metrics : nullptr);
        } catch (const UsageError&) {
            throw; // the policy no longer loads: stop with its error
        } catch (const govern::AccessDenied&) {
            throw;
        } catch (const std::exception& e) {
            // A store that is busy or a disk that is full now may not be later: a long-running
            // monitor says so and tries again rather than dying.
            spdlog::error("monitor {}: {}; trying again at the next window", policy.name, e.what());
        }
        // Sleeps till the next window, waking for SIGTERM or Ctrl-C.
        const auto next = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        std::chrono::duration<double>(policy.every));
        while (!stop_requested && std::chrono::steady_clock::now() < next)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (stop_requested) std::cout << "monitor " << policy.name << ": stopped" << std::endl;
    sigaction(SIGTERM, &previous_term, nullptr);
    sigaction(SIGINT, &previous_int, nullptr);
    if (server) {
        server->stop_accepting();
        server->wait_idle(std::chrono::seconds(2));
        server->stop();
    }
    return code;
}

int show_status(CliContext& context, const StatusArgs& args) {
    return with_governance_errors([&] {
        auto store = open_governed(context, false);
        store.gov().require(govern::Role::Viewer, "see monitors");
        const auto monitors = monitor::known_monitors(store.db());
        if (args.monitor && !monitors.count(*args.monitor)) {
            std::vector<std::string> names;
            for (const auto& [name, endpoint] : monitors) names.push_back(name);
            const auto near = nearest_names(*args.monitor, names);
            throw UsageError("no monitor '" + *args.monitor + "' has checked a window in this store" +
                             (near.empty() ? "" : " (did you mean " + near.front() + "?)"));
        }
        json out = json::array();
        for (const auto& [name, endpoint] : monitors) {
            if (args.monitor && name != *args.monitor) continue;
            json entry{{"monitor", name}, {"endpoint", endpoint}, {"windows", json::array()}, {"alerts", json::array()}};
            for (const auto& record : monitor::recent_windows(store.db(), name, args.windows))
                entry["windows"].push_back(monitor::window_json(record));
            for (const auto& [alert, state] : monitor::load_alerts(store.db(), name)) entry["alerts"].push_back(monitor::alert_json(state));
            out.push_back(entry);
        }
        if (args.json) {
            std::cout << core::dump_json(out, 2) << "\n";
            return exit_ok;
        }
        if (out.empty()) std::cout << "no monitor has checked a window in this store yet (trellis monitor run POLICY)\n";
        for (const auto& entry : out) {
            std::cout << "monitor " << entry["monitor"].get<std::string>() << " (endpoint " << entry["endpoint"].get<std::string>()
                      << ")\n  alerts:";
            if (entry["alerts"].empty()) std::cout << " none";
            for (const auto& alert : entry["alerts"]) {
                std::cout << " " << alert["alert"].get<std::string>() << " " << alert["state"].get<std::string>();
                if (!alert["value"].is_null()) std::cout << " (" << registry::metric_text(alert["value"].get<double>()) << ")";
                std::cout << " since " << clock_text(alert["since"].get<double>()) << ";";
            }
            std::cout << "\n  windows, newest first:\n";
            for (const auto& window : entry["windows"]) {
                std::cout << "    " << clock_text(window["at"].get<double>()) << "  " << window["status"].get<std::string>() << "  "
                          << window["rows"].get<int64_t>() << " rows";
                if (!window["labelled"].is_null()) std::cout << ", " << window["labelled"].get<int64_t>() << " labelled";
                if (!window["message"].is_null()) std::cout << "  (" << window["message"].get<std::string>() << ")";
                if (!window["run_id"].is_null()) std::cout << "  run " << window["run_id"].get<std::string>();
                std::cout << "\n";
            }
        }
        return exit_ok;
    });
}

} // namespace

void add_monitor_run_commands(CLI::App* monitor, std::function<CliContext&()> context, std::function<int()>& action) {
    auto run_args = std::make_shared<RunArgs>();
    auto* run = monitor->add_subcommand("run", "Check windows of an endpoint's prediction log with a monitoring policy "
                                               "(a pipeline script with monitor { ... }), continuously or --once");
    run->add_option("POLICY", run_args->file, "Monitoring policy (.lua)")->required();
    run->add_option("--set", run_args->sets, "Override a param: KEY=VALUE (repeatable)")->allow_extra_args(false);
    run->add_flag("--once", run_args->once, "Check one window and exit (for cron and CI): 0 checked or skipped, 1 failed");
    run->add_option("--port", run_args->port, "Serve Prometheus metrics at /metrics on this port (0: any free port)");
    run->add_option("--address", run_args->address, "Address for --port (default 127.0.0.1)");
    run->add_option("-j,--jobs", run_args->jobs, "Stages to run at once (default: run.jobs)")->check(CLI::Range(1u, 1024u));
    run->callback([context, run_args, &action] { action = [context, run_args] { return run_monitor(context(), *run_args); }; });

    auto status_args = std::make_shared<StatusArgs>();
    auto* status = monitor->add_subcommand("status", "Show each monitor's alerts and latest windows, from the store");
    status->add_option("MONITOR", status_args->monitor, "Only this monitor (the policy's pipeline name)");
    status->add_option("--windows", status_args->windows, "Windows to show per monitor (default 5)")->check(CLI::PositiveNumber);
    status->add_flag("--json", status_args->json, "Print as JSON");
    status->callback([context, status_args, &action] {
        action = [context, status_args] { return show_status(context(), *status_args); };
    });
}

} // namespace trellis::cli
