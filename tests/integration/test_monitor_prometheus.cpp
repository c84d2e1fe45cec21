// A running `trellis monitor run --port` scraped by a real Prometheus: after a drifted window the
// monitor's gauges (the drift share, per-group labelled counts) and its firing alert are in
// Prometheus's query API with the right labels, and an alerting rule on them, the kind
// docs/monitoring.md suggests, is evaluated by Prometheus itself. Skipped, saying why, where
// Prometheus is not installed or cannot start.
#include "prometheus_server.hpp"

#include <catch2/catch.hpp>

using namespace trellis::testing;
using nlohmann::json;

namespace {

// The port `trellis monitor run --port 0` printed.
int monitor_port(const Started& process) {
    for (int i = 0; i < 600; ++i) {
        const auto out = read_file(process.out);
        if (const auto at = out.find("metrics on http://127.0.0.1:"); at != std::string::npos) return std::atoi(out.c_str() + at + 28);
        if (::kill(process.pid, 0) != 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
}

} // namespace

TEST_CASE("monitor prometheus: a real Prometheus scrapes the monitor's metrics and alert, and evaluates a rule on them",
          "[monitor][prometheus]") {
    if (::access(prometheus_binary.c_str(), X_OK) != 0) {
        WARN("skipped: " << prometheus_binary << " is not installed (Debian package prometheus)");
        return;
    }
    Sandbox sandbox;
    register_version(sandbox, 42);
    REQUIRE(sandbox.run("models alias cancer@champion 1").exit_code == 0);
    sandbox.write("deploy.yaml", "endpoints:\n  cancer:\n    model: cancer@champion\n");
    const Server server = start_server(sandbox, "deploy.yaml");
    ServerGuard guard(server);
    // Forty rows, scaled up: far from the training data.
    for (int i = 0; i < 4; ++i) {
        json request = json::parse(matrix_request(10, "r" + std::to_string(i), 10 * static_cast<size_t>(i) * 7));
        for (auto& row : request["inputs"][0]["data"])
            for (auto& value : row) value = value.get<double>() * 1.6;
        REQUIRE(curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), request.dump()).status == 200);
    }
    sandbox.write("watch.lua", R"(pipeline { name = "cancer-watch" }
monitor {
  endpoint = "cancer",
  window = "1h",
  every = "1s",
  alerts = { rows_seen = { when = "performance.rows >= 40", severity = "critical" } },
}
local window = stage "monitor.window" {}
local reference = stage "monitor.reference" {}
stage "monitor.drift" { id = "drift", reference = reference.table, current = window.table }
stage "monitor.performance" { id = "performance", data = window.table, group_by = { "version", "variant" } }
)");
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // the log is written every 50 ms
    Started monitor = start_trellis(sandbox, {"monitor", "run", "watch.lua", "--port", "0"}, "monitor");
    const int port = monitor_port(monitor);
    INFO("monitor: " << read_file(monitor.out) << read_file(monitor.err).substr(0, 3000));
    REQUIRE(port > 0);

    Prometheus prometheus(sandbox, port);
    sandbox.write("rules.yml", R"(groups:
  - name: trellis-monitor
    interval: 1s
    rules:
      - alert: TrellisMonitorAlert
        expr: trellis_monitor_alert_firing == 1
        labels: { page: "yes" }
      - alert: TrellisFeatureDrift
        expr: trellis_monitor_metric{stage="drift",metric="drift_share"} >= 0.5
)");
    prometheus.add_rule_file("rules.yml");
    if (const std::string why = prometheus.start(); !why.empty()) {
        ::kill(monitor.pid, SIGTERM);
        monitor.wait();
        WARN("skipped: " << why);
        return;
    }
    INFO("prometheus log:\n" << prometheus.log().substr(0, 4000));

    const std::string rows = "trellis_monitor_metric{job=\"trellis\",monitor=\"cancer-watch\",endpoint=\"cancer\",stage=\"performance\","
                             "metric=\"rows\",version=\"1\",variant=\"primary\"}";
    CHECK(wait_for_value([&] { return prometheus.value(rows); }, 40) == 40);
    const std::string share = "trellis_monitor_metric{job=\"trellis\",stage=\"drift\",metric=\"drift_share\"}";
    CHECK(wait_for_value([&] { return prometheus.value(share) >= 0.5 ? 1.0 : 0.0; }, 1) == 1);
    const std::string firing = "trellis_monitor_alert_firing{job=\"trellis\",monitor=\"cancer-watch\",alert=\"rows_seen\",severity=\"critical\"}";
    CHECK(wait_for_value([&] { return prometheus.value(firing); }, 1) == 1);
    CHECK(wait_for_value([&] { return prometheus.value("trellis_monitor_windows_total{status=\"checked\"}"); }, 1) == 1);
    // Prometheus's own rule evaluation sees both.
    CHECK(wait_for_value([&] { return prometheus.value("count(ALERTS{alertname=~\"TrellisMonitorAlert|TrellisFeatureDrift\",alertstate=\"firing\"})"); }, 2) == 2);

    ::kill(monitor.pid, SIGTERM);
    CHECK(monitor.wait().exit_code == 0);
    CHECK_THAT(read_file(monitor.out), Catch::Contains("monitor cancer-watch: stopped"));
}
