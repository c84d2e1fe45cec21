// The built-in govern.gate plugin, loaded from the build's plugin folder and run through the host API.
#include "stage_run.hpp"
#include "temp_dir.hpp"

#include <trellis/artifacts.hpp>

#include <cmath>
#include <limits>

using trellis::test::StageRun;

namespace {

// Opened once: loading a plugin per test would only slow the tests down.
std::shared_ptr<trellis::core::PluginLibrary> gate_plugin() {
    static const auto plugin =
        trellis::core::PluginLibrary::open(std::filesystem::path(BUILTIN_PLUGIN_DIR) / "govern_gate.so");
    return plugin;
}

// What a test looks at after one run.
struct GateRun {
    trellis::core::StageOutcome outcome;
    nlohmann::json report;
};

// Runs the gate on `metrics` with `rules`; the report is parsed when the gate passed.
GateRun gate(const std::map<std::string, double>& metrics, const std::vector<std::string>& rules) {
    StageRun run(gate_plugin(), "govern.gate", {{"rules", rules}});
    run.set_input("metrics", trellis::ArtifactType::Metrics, trellis::serialize(trellis::Metrics{metrics}));
    GateRun result{run.invoke(), {}};
    if (result.outcome.ok()) {
        const auto report = trellis::deserialize_report(run.output("report"));
        result.report = nlohmann::json::parse(report.json);
    }
    return result;
}

} // namespace

TEST_CASE("govern.gate passes when every rule holds and reports each rule") {
    const auto run = gate({{"auc", 0.97}, {"log_loss", 0.12}}, {"auc >= 0.95", "log_loss<0.2"});
    REQUIRE(run.outcome.message == "");
    REQUIRE(run.outcome.ok());
    CHECK(run.report["passed"] == true);
    REQUIRE(run.report["rules"].size() == 2);
    CHECK(run.report["rules"][0]["rule"] == "auc >= 0.95");
    CHECK(run.report["rules"][0]["metric"] == "auc");
    CHECK(run.report["rules"][0]["value"].get<double>() == 0.97);
    CHECK(run.report["rules"][0]["passed"] == true);
    CHECK(run.report["rules"][1]["rule"] == "log_loss<0.2");
    CHECK(run.report["rules"][1]["metric"] == "log_loss");
    CHECK(run.report["rules"][1]["op"] == "<");
    CHECK(run.report["rules"][1]["threshold"].get<double>() == 0.2);
    CHECK(run.report["rules"][1]["value"].get<double>() == 0.12);
}

TEST_CASE("govern.gate fails listing every broken rule with its actual value") {
    const auto run = gate({{"auc", 0.9312}, {"log_loss", 0.31}, {"accuracy", 0.99}},
                          {"auc >= 0.95", "accuracy > 0.9", "log_loss < 0.2"});
    CHECK(run.outcome.status == TRELLIS_ERR_FAILED);
    CHECK(run.outcome.message ==
          "gate failed: rule 'auc >= 0.95' broken (auc = 0.9312); rule 'log_loss < 0.2' broken (log_loss = 0.31)");
}

TEST_CASE("govern.gate: every operator, on both sides of its threshold") {
    struct Case {
        std::string rule;
        bool passes;
    };
    const std::vector<Case> cases = {
        {"m >= 1", true},  {"m >= 1.5", false}, {"m > 0.5", true},  {"m > 1", false},
        {"m <= 1", true},  {"m <= 0.5", false}, {"m < 2", true},    {"m < 1", false},
        {"m == 1", true},  {"m == 1.0001", false}, {"m != 2", true}, {"m != 1", false},
        {"m>=1", true},    {"  m   ==   1e0  ", true}, {"m > -3", true}, {"m < +2", true},
    };
    for (const auto& c : cases) {
        INFO(c.rule);
        const auto run = gate({{"m", 1.0}}, {c.rule});
        CHECK(run.outcome.ok() == c.passes);
        if (!c.passes) CHECK(run.outcome.message.find("broken (m = 1)") != std::string::npos);
    }
}

TEST_CASE("govern.gate: metric names may hold letters, digits, _ . - /") {
    const auto run = gate({{"eval/test.auc-v2_x", 0.5}}, {"eval/test.auc-v2_x >= 0.5"});
    REQUIRE(run.outcome.ok());
    CHECK(run.report["rules"][0]["metric"] == "eval/test.auc-v2_x");
}

TEST_CASE("govern.gate refuses rules it cannot parse, quoting the rule") {
    for (const std::string rule : {"auc", "auc >= ", ">= 0.9", "auc => 0.9", "auc = 0.9", "auc >= high", "auc >= 0.9x",
                                   "auc >= nan", "a uc >= 1", "auc >= 0.9 0.8", ""}) {
        INFO(rule);
        const auto run = gate({{"auc", 0.97}}, {"auc > 0", rule});
        CHECK(run.outcome.status == TRELLIS_ERR_INVALID);
        CHECK(run.outcome.message.find("rules: cannot parse rule '" + rule + "'") == 0);
    }
}

TEST_CASE("govern.gate refuses an empty rule list") {
    const auto run = gate({{"auc", 0.97}}, {});
    CHECK(run.outcome.status == TRELLIS_ERR_INVALID);
    CHECK(run.outcome.message.find("rules") != std::string::npos);
}

TEST_CASE("govern.gate names an unknown metric and lists the available ones") {
    const auto run = gate({{"auc", 0.97}, {"log_loss", 0.1}}, {"auc > 0.9", "accuracy >= 0.9"});
    CHECK(run.outcome.status == TRELLIS_ERR_INVALID);
    CHECK(run.outcome.message ==
          "rules: rule 'accuracy >= 0.9' names metric 'accuracy', which is not in the input (available: auc, log_loss)");

    const auto empty = gate({}, {"auc > 0.9"});
    CHECK(empty.outcome.status == TRELLIS_ERR_INVALID);
    CHECK(empty.outcome.message.find("the input has no metrics") != std::string::npos);
}

TEST_CASE("govern.gate: a NaN metric breaks every rule, even !=") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const auto run = gate({{"auc", nan}}, {"auc >= 0", "auc != 5"});
    CHECK(run.outcome.status == TRELLIS_ERR_FAILED);
    CHECK(run.outcome.message ==
          "gate failed: rule 'auc >= 0' broken (auc = nan); rule 'auc != 5' broken (auc = nan)");
}

TEST_CASE("govern.gate writes an infinite metric as null in its JSON report") {
    const auto run = gate({{"loss", -std::numeric_limits<double>::infinity()}}, {"loss < 1"});
    REQUIRE(run.outcome.ok());
    CHECK(run.report["rules"][0]["value"].is_null());
}
