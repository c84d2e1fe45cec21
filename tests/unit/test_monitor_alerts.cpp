// Alert hysteresis: a value wobbling around a threshold fires once and does not flap; a window
// without the metric changes nothing; clear conditions and window counts are honoured.
#include "monitor/monitor_history.hpp"

#include <catch2/catch.hpp>

using namespace trellis::monitor;

namespace {

AlertRule rule(double fire_at, std::optional<double> clear_below, int windows) {
    AlertRule out;
    out.name = "drift";
    out.when = {"drift", "drift_share", ">=", fire_at, "drift.drift_share >= x"};
    if (clear_below) out.clear = MetricCondition{"drift", "drift_share", "<", *clear_below, "drift.drift_share < y"};
    out.for_windows = windows;
    out.clear_windows = windows;
    return out;
}

// The states after each value, "F" firing or "." ok.
std::string run(const AlertRule& r, const std::vector<std::optional<double>>& values) {
    AlertState state;
    std::string out;
    double now = 1;
    for (const auto& value : values) {
        state = step_alert(r, state, value, now++);
        out += state.firing ? "F" : ".";
    }
    return out;
}

} // namespace

TEST_CASE("Alerts: without hysteresis a wobbling value flaps, with it the alert fires once", "[monitor]") {
    const std::vector<std::optional<double>> wobble{0.4, 0.52, 0.48, 0.51, 0.49, 0.55, 0.47, 0.2, 0.1, 0.1};
    CHECK(run(rule(0.5, std::nullopt, 1), wobble) == ".F.F.F....");
    CHECK(run(rule(0.5, 0.3, 1), wobble) == ".FFFFFF...");
    // Two windows in a row: the lone spikes never fire; a sustained rise does, and it stays until
    // two windows are clear.
    CHECK(run(rule(0.5, 0.3, 2), wobble) == "..........");
    CHECK(run(rule(0.5, 0.3, 2), {0.6, 0.7, 0.45, 0.6, 0.2, 0.5, 0.2, 0.1}) == ".FFFFFF.");
}

TEST_CASE("Alerts: a window without the metric moves neither way", "[monitor]") {
    CHECK(run(rule(0.5, 0.3, 2), {0.9, std::nullopt, 0.9, 0.1, std::nullopt, 0.1}) == "..FFF.");
    AlertState state;
    state = step_alert(rule(0.5, 0.3, 2), state, 0.9, 10);
    CHECK(state.streak == 1);
    state = step_alert(rule(0.5, 0.3, 2), state, std::nullopt, 20);
    CHECK(state.streak == 1);
    CHECK(state.value == 0.9);
    CHECK(state.updated_at == 10);
    state = step_alert(rule(0.5, 0.3, 2), state, 0.95, 30);
    CHECK(state.firing);
    CHECK(state.since == 30);
    CHECK(state.streak == 0);
}

TEST_CASE("Alerts: conditions compare as written", "[monitor]") {
    MetricCondition below{"performance", "accuracy", "<", 0.9, ""};
    CHECK(below.holds(0.89));
    CHECK_FALSE(below.holds(0.9));
    MetricCondition at_most{"performance", "accuracy", "<=", 0.9, ""};
    CHECK(at_most.holds(0.9));
    MetricCondition above{"drift", "drift_share", ">", 0.5, ""};
    CHECK_FALSE(above.holds(0.5));
}
