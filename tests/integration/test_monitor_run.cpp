// `trellis monitor run` through the real binary and a real server: windows of the prediction log
// checked by a policy's stages against the model's training data (found through lineage) and its
// delayed labels; skipped when nothing is new; an alert that fires only after two drifted windows
// in a row and resolves only after two clean ones, each change audited; `trellis monitor status`;
// and bad policies named by file and line.
#include "run_trellis.hpp"
#include "serve_helpers.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using namespace trellis::testing;
using nlohmann::json;

namespace {

// The data's rows (features, then the 0/1 target) as numbers.
const std::vector<std::vector<double>>& data_rows() {
    static const std::vector<std::vector<double>> rows = [] {
        std::vector<std::vector<double>> out;
        std::ifstream in(breast_cancer_csv());
        std::string line;
        std::getline(in, line);
        while (std::getline(in, line)) {
            std::vector<double> row;
            std::istringstream fields(line);
            std::string value;
            while (std::getline(fields, value, ',')) row.push_back(std::stod(value));
            out.push_back(row);
        }
        return out;
    }();
    return rows;
}

// Sends rows first..first+count-1 of a fixed shuffle of the data (its file is sorted by class, so
// its first rows are not like the training data), each feature times `scale`, one request each
// with id PREFIX<row>; returns the labels file text for them.
std::string send(const Sandbox& sandbox, const Server& server, size_t first, size_t count, double scale, const std::string& prefix) {
    std::string labels = "request_id,label\n";
    for (size_t r = first; r < first + count; ++r) {
        const auto& row = data_rows().at((r * 37) % data_rows().size()); // 37: coprime with 569 rows
        json features = json::array();
        for (size_t c = 0; c < 30; ++c) features.push_back(row[c] * scale);
        const json body{{"id", prefix + std::to_string(r)},
                        {"inputs", {{{"name", "input-0"}, {"shape", {1, 30}}, {"datatype", "FP32"}, {"data", {features}}}}}};
        REQUIRE(curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), body.dump()).status == 200);
        labels += prefix + std::to_string(r) + "," + std::to_string(static_cast<int>(row[30])) + "\n";
    }
    return labels;
}

// Waits until the log holds `rows` rows (the server writes it every 50 ms).
void wait_for_log(const Sandbox& sandbox, size_t rows) {
    for (int i = 0; i < 200; ++i) {
        const auto window = sandbox.run("monitor window cancer --json");
        if (window.exit_code == 0 && window.json().at("rows") == rows) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("the prediction log never held " << rows << " rows");
}

const char* policy = R"(pipeline { name = "cancer-watch" }
monitor {
  endpoint = "cancer",
  window = 30,
  alerts = {
    data_drift = { when = "drift.drift_share >= 0.5", clear = "drift.drift_share < 0.3", for_windows = 2, severity = "critical" },
    accuracy_low = "performance.accuracy < 0.8",
  },
}
local window = stage "monitor.window" {}
local reference = stage "monitor.reference" {}
stage "monitor.drift" { id = "drift", reference = reference.table, current = window.table }
stage "monitor.performance" { id = "performance", data = window.table, group_by = { "version", "variant" }, min_labels = 10 }
stage "data.validate" { id = "schema", table = window.table, reference = reference.table, fail_on = "never",
                        severity = { new_column = "off", missing_column = "off" } }
)";

json status(const Sandbox& sandbox) {
    const auto shown = sandbox.run("monitor status cancer-watch --json --windows 1");
    INFO(shown.out << shown.err);
    REQUIRE(shown.exit_code == 0);
    return shown.json().at(0);
}

std::string alert_state(const json& entry, const std::string& alert) {
    for (const auto& item : entry.at("alerts"))
        if (item.at("alert") == alert) return item.at("state");
    return "none";
}

} // namespace

TEST_CASE("monitor run: windows checked against the training data and labels, alerts with hysteresis, audited",
          "[monitor]") {
    Sandbox sandbox;
    register_version(sandbox, 42);
    REQUIRE(sandbox.run("models alias cancer@champion 1").exit_code == 0);
    sandbox.write("deploy.yaml", "endpoints:\n  cancer:\n    model: cancer@champion\n");
    sandbox.write("watch.lua", policy);
    const Server server = start_server(sandbox, "deploy.yaml");
    ServerGuard guard(server);

    // No log yet: skipped, not failed.
    const auto empty = sandbox.run("monitor run watch.lua --once");
    INFO(empty.out << empty.err);
    CHECK(empty.exit_code == 0);
    CHECK_THAT(empty.out, Catch::Contains("skipped (no prediction log for endpoint 'cancer'"));

    // A window like the training data, with its labels.
    sandbox.write("labels.csv", send(sandbox, server, 0, 30, 1.0, "a"));
    REQUIRE(sandbox.run("monitor labels cancer labels.csv").exit_code == 0);
    wait_for_log(sandbox, 30);
    const auto first = sandbox.run("monitor run watch.lua --once");
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    CHECK_THAT(first.out, Catch::Contains("window of 30 rows") && Catch::Contains("30 labelled: checked"));
    json entry = status(sandbox);
    const json& window = entry.at("windows").at(0);
    CHECK(window.at("status") == "checked");
    CHECK(window.at("rows") == 30);
    CHECK(window.at("labelled") == 30);
    CHECK(window.at("metrics").at("performance.accuracy").get<double>() > 0.8);
    CHECK(window.at("metrics").at("performance.labelled{version=1,variant=primary}") == 30);
    CHECK(window.at("metrics").at("drift.drift_share").get<double>() < 0.5);
    CHECK(window.at("metrics").at("schema.rows") == 30);
    CHECK(alert_state(entry, "data_drift") == "ok");
    CHECK(alert_state(entry, "accuracy_low") == "ok");

    // The run is an ordinary recorded run: its reference is the training split, through lineage.
    const std::string run_id = window.at("run_id");
    const auto run = sandbox.run("runs show " + run_id + " --json");
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.out, Catch::Contains("monitor.reference") && Catch::Contains("cancer:1"));

    // Nothing new: skipped, and a second such skip is not recorded again.
    CHECK_THAT(sandbox.run("monitor run watch.lua --once").out, Catch::Contains("skipped (no new predictions or labels"));

    // Two drifted windows in a row fire the alert; the first alone does not.
    send(sandbox, server, 30, 30, 1.6, "b");
    wait_for_log(sandbox, 60);
    const auto drifted = sandbox.run("monitor run watch.lua --once");
    INFO(drifted.out << drifted.err);
    CHECK(drifted.exit_code == 0);
    CHECK_THAT(drifted.out, !Catch::Contains("FIRING"));
    entry = status(sandbox);
    CHECK(entry.at("windows").at(0).at("metrics").at("drift.drift_share").get<double>() >= 0.5);
    // Values scaled by 1.6 leave the training data's ranges: the schema check counts them.
    CHECK(entry.at("windows").at(0).at("metrics").at("schema.anomalies").get<double>() > 0);
    CHECK(alert_state(entry, "data_drift") == "ok");
    send(sandbox, server, 60, 30, 1.6, "c");
    wait_for_log(sandbox, 90);
    const auto fired = sandbox.run("monitor run watch.lua --once");
    INFO(fired.out << fired.err);
    CHECK_THAT(fired.out, Catch::Contains("alert data_drift FIRING (drift.drift_share >= 0.5)"));
    entry = status(sandbox);
    CHECK(alert_state(entry, "data_drift") == "firing");
    // Unlabelled windows have no accuracy: that alert stays as it was.
    CHECK(entry.at("windows").at(0).at("metrics").count("performance.accuracy") == 0);
    CHECK(alert_state(entry, "accuracy_low") == "ok");
    const auto text = sandbox.run("monitor status");
    CHECK_THAT(text.out, Catch::Contains("data_drift firing"));

    // One clean window does not resolve it; two do.
    send(sandbox, server, 90, 30, 1.0, "d");
    wait_for_log(sandbox, 120);
    CHECK_THAT(sandbox.run("monitor run watch.lua --once").out, !Catch::Contains("resolved"));
    CHECK(alert_state(status(sandbox), "data_drift") == "firing");
    send(sandbox, server, 120, 30, 1.0, "e");
    wait_for_log(sandbox, 150);
    CHECK_THAT(sandbox.run("monitor run watch.lua --once").out, Catch::Contains("alert data_drift resolved"));
    CHECK(alert_state(status(sandbox), "data_drift") == "ok");

    // Both changes are in the audit log, with the numbers they were made on.
    const auto audit = sandbox.run("audit log --action 'monitor.*' --json");
    INFO(audit.out << audit.err);
    REQUIRE(audit.exit_code == 0);
    json entries = json::array(); // one entry per line
    std::istringstream lines(audit.out);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty()) entries.push_back(json::parse(line));
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].at("action") == "monitor.alert.fire");
    CHECK(entries[0].at("object") == "alert cancer-watch/data_drift");
    CHECK(entries[0].at("after").at("value").get<double>() >= 0.5);
    CHECK(entries[0].at("after").at("severity") == "critical");
    CHECK(entries[1].at("action") == "monitor.alert.resolve");
    CHECK(entries[1].at("after").at("value").get<double>() < 0.3);
    CHECK(sandbox.run("audit verify").exit_code == 0);
}

TEST_CASE("monitor run: bad policies are named by file and line, and monitor stages run only under the monitor",
          "[monitor]") {
    Sandbox sandbox;
    const auto refused = [&](const std::string& text) {
        sandbox.write("bad.lua", text);
        const auto result = sandbox.run("monitor run bad.lua --once");
        CHECK(result.exit_code == 2);
        CHECK(std::count(result.err.begin(), result.err.end(), '\n') <= 2);
        return result.err;
    };
    const std::string stages = "local w = stage \"monitor.window\" {}\n"
                               "stage \"monitor.drift\" { id = \"drift\", reference = w.table, current = w.table }\n";
    CHECK_THAT(refused("pipeline { name = \"p\" }\n" + stages), Catch::Contains("bad.lua: declares no monitor"));
    CHECK_THAT(refused("pipeline { name = \"p\" }\nmonitor { endpoint = \"cancer\", windw = 10 }\n" + stages),
               Catch::Contains("bad.lua:2: monitor: unknown key 'windw' (did you mean window?)"));
    CHECK_THAT(refused("pipeline { name = \"p\" }\nmonitor { window = 10 }\n" + stages),
               Catch::Contains("bad.lua:2: monitor: endpoint: required"));
    CHECK_THAT(refused("pipeline { name = \"p\" }\nmonitor { endpoint = \"cancer\", every = \"soon\" }\n" + stages),
               Catch::Contains("bad.lua:2: monitor: every: a duration"));
    CHECK_THAT(refused("pipeline { name = \"p\" }\nmonitor { endpoint = \"cancer\", alerts = { a = \"drfit.drift_share > 1\" } }\n" + stages),
               Catch::Contains("bad.lua:2: monitor: alerts.a.when: 'drfit.drift_share > 1' names no stage of the script: 'drfit' (did you mean drift?)"));
    CHECK_THAT(refused("pipeline { name = \"p\" }\nmonitor { endpoint = \"cancer\", alerts = { a = \"drift.drift_share is high\" } }\n" + stages),
               Catch::Contains("is not STAGE.METRIC OP NUMBER"));
    CHECK_THAT(refused("pipeline { name = \"p\" }\nmonitor { endpoint = \"cancer\" }\nmonitor { endpoint = \"cancer\" }\n" + stages),
               Catch::Contains("bad.lua:3: monitor: declared twice"));

    // Under trellis run, a monitor stage fails with a message saying where it belongs.
    sandbox.write("plain.lua", "pipeline { name = \"p\" }\nmonitor { endpoint = \"cancer\" }\n" + stages);
    const auto run = sandbox.run("run plain.lua");
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.out + run.err, Catch::Contains("runs only under trellis monitor"));
    CHECK_THAT(sandbox.run("monitor status nope").err, Catch::Contains("no monitor 'nope' has checked a window"));
}
