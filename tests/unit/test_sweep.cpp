// Sweeps without plugins: the seeded generator and random draws (against values computed by an
// independent Python implementation of splitmix64 + xoshiro256**), grid expansion and its order,
// ranges, the selection of the winner, the Lua binding's expansion into stages and its errors, and
// the sweep tables of the metadata store.
#include "exec/sweep_selector.hpp"
#include "pipeline/pipeline_script.hpp"
#include "pipeline/sweep.hpp"
#include "store/sweep_records.hpp"

#include "store_rows.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <set>

using namespace trellis::core;
using nlohmann::json;
using trellis::test::StoreRows;
using trellis::test::TempDir;

namespace {

SweepAxis list_axis(const std::string& name, std::vector<json> values) {
    SweepAxis axis;
    axis.name = name;
    axis.choices = std::move(values);
    return axis;
}

SweepAxis range_axis(const std::string& name, double low, double high, bool log = false, bool integer = false,
                     int steps = 0) {
    SweepAxis axis;
    axis.name = name;
    axis.range = SweepRange{low, high, log, integer, steps};
    return axis;
}

std::string error_of(const std::function<void()>& body) {
    try {
        body();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no error)";
}

Sweep two_trial_sweep(SweepDirection direction) {
    Sweep sweep;
    sweep.id = "tune";
    sweep.metric = "auc";
    sweep.direction = direction;
    for (int n = 1; n <= 4; ++n) {
        SweepTrial trial;
        trial.number = n;
        trial.params = {{"l2", n * 10}};
        sweep.trials.push_back(trial);
    }
    return sweep;
}

TrialOutcome succeeded(int number, std::map<std::string, double> metrics) {
    return {number, "succeeded", "", std::move(metrics)};
}

// Loads a pipeline script written to a temporary folder; throws ScriptError as `trellis` shows it.
std::unique_ptr<PipelineScript> load_script(const TempDir& dir, const std::string& text) {
    const auto file = dir.write("p.lua", text);
    return PipelineScript::load(file, ScriptOptions{});
}

} // namespace

TEST_CASE("SweepRandom is xoshiro256** seeded by splitmix64, the same on every platform", "[sweep]") {
    SweepRandom zero(0);
    CHECK(zero.next() == 0x99ec5f36cb75f2b4ULL);
    CHECK(zero.next() == 0xbf6e1f784956452aULL);
    CHECK(zero.next() == 0x1a5f849d4933e6e0ULL);
    SweepRandom answer(42);
    CHECK(answer.next() == 1546998764402558742ULL);
    CHECK(answer.next() == 6990951692964543102ULL);
    CHECK(answer.next() == 12544586762248559009ULL);
    SweepRandom seven(7);
    CHECK(seven.uniform() == 0.7005764821796896);
}

TEST_CASE("random_trials draws per trial, one value per axis in name order, reproducibly", "[sweep]") {
    SweepSpace space;
    // In name order, as the binding sorts them.
    space.axes = {range_axis("depth", 2, 8, false, true), range_axis("lr", 1e-3, 1, true),
                  list_axis("opt", {"adam", "sgd", "rmsprop"}), range_axis("x", 0.05, 0.3)};
    const auto trials = random_trials(space, 3, 5);
    REQUIRE(trials.size() == 3);
    // From an independent Python implementation (the same generator, order of draws and rejection
    // sampling), run with /usr/bin/python3:
    //   r = X(5)  # xoshiro256** seeded by four splitmix64 outputs of 5
    //   for t in range(3):
    //       depth = 2 + r.below(7); lr = exp(log(1e-3) + r.uniform() * (log(1) - log(1e-3)))
    //       opt = ["adam", "sgd", "rmsprop"][r.below(3)]; x = 0.05 + r.uniform() * (0.3 - 0.05)
    // with uniform() = (next() >> 11) * 2**-53 and below(b) rejecting next() >= 2**64-1 - (2**64-1) % b.
    const std::vector<std::tuple<int, double, std::string, double>> expected = {
        {2, 0.06400987799197494, "adam", 0.2553875644266043},
        {7, 0.22572094284199148, "rmsprop", 0.2521653987694445},
        {5, 0.013894053733860429, "sgd", 0.11264738163844747}};
    for (size_t t = 0; t < 3; ++t) {
        INFO("trial " << t + 1 << ": " << trials[t].dump());
        CHECK(trials[t].at("depth").is_number_integer());
        CHECK(trials[t].at("depth").get<int>() == std::get<0>(expected[t]));
        // log-uniform goes through exp/log, exact to the last bit only where libm is correctly rounded.
        CHECK(trials[t].at("lr").get<double>() == Approx(std::get<1>(expected[t])).epsilon(1e-12));
        CHECK(trials[t].at("opt") == std::get<2>(expected[t]));
        CHECK(trials[t].at("x").get<double>() == std::get<3>(expected[t]));
    }
    CHECK(random_trials(space, 3, 5) == trials);
    CHECK(random_trials(space, 3, 6) != trials);
}

TEST_CASE("random whole-number ranges include both ends, continuous ranges stay below high", "[sweep]") {
    SweepSpace space;
    space.axes = {range_axis("k", 2, 8, false, true), range_axis("u", 0, 1), range_axis("w", 1, 100, true, true)};
    std::set<int> seen;
    for (const auto& trial : random_trials(space, 2000, 1)) {
        seen.insert(trial.at("k").get<int>());
        const double u = trial.at("u").get<double>();
        CHECK((u >= 0 && u < 1));
        const int w = trial.at("w").get<int>();
        CHECK((w >= 1 && w <= 100));
    }
    CHECK(seen == std::set<int>{2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("grid_trials is the cartesian product, the last axis by name varying fastest", "[sweep]") {
    SweepSpace space;
    space.axes = {list_axis("a", {1, 2}), list_axis("b", {"x", "y", "z"})};
    const auto trials = grid_trials(space);
    const std::vector<json> expected = {{{"a", 1}, {"b", "x"}}, {{"a", 1}, {"b", "y"}}, {{"a", 1}, {"b", "z"}},
                                        {{"a", 2}, {"b", "x"}}, {{"a", 2}, {"b", "y"}}, {{"a", 2}, {"b", "z"}}};
    CHECK(trials == expected);

    space.axes.push_back(range_axis("c", 0, 1, false, false, 3));
    const auto with_range = grid_trials(space);
    REQUIRE(with_range.size() == 18);
    CHECK(with_range[0] == json{{"a", 1}, {"b", "x"}, {"c", 0.0}});
    CHECK(with_range[1] == json{{"a", 1}, {"b", "x"}, {"c", 0.5}});
    CHECK(with_range[2] == json{{"a", 1}, {"b", "x"}, {"c", 1.0}});
    CHECK(with_range[17] == json{{"a", 2}, {"b", "z"}, {"c", 1.0}});
}

TEST_CASE("range_values: linear, log and whole-number steps with both ends exact", "[sweep]") {
    const auto linear = range_values(SweepRange{0, 1, false, false, 5});
    CHECK(linear == std::vector<json>{0.0, 0.25, 0.5, 0.75, 1.0});
    const auto log = range_values(SweepRange{0.01, 1, true, false, 3});
    REQUIRE(log.size() == 3);
    CHECK(log[0].get<double>() == 0.01);
    CHECK(log[1].get<double>() == Approx(0.1).epsilon(1e-12));
    CHECK(log[2].get<double>() == 1.0);
    // 1, 1.67, 2.33, 3 rounds to 1, 2, 2, 3: repeats are dropped.
    CHECK(range_values(SweepRange{1, 3, false, true, 4}) == std::vector<json>{1, 2, 3});
    CHECK(range_values(SweepRange{1, 3, false, true, 4})[0].is_number_integer());
}

TEST_CASE("bad ranges and grids are refused with a message naming the axis", "[sweep]") {
    CHECK(error_of([] { check_range(SweepRange{1, 1}, "space.l2"); }) ==
          "space.l2: a range needs two finite numbers, low < high (got 1, 1)");
    CHECK(error_of([] { check_range(SweepRange{0, 1, true}, "space.lr"); }) ==
          "space.lr: a range with log = true needs low > 0 (got 0)");
    CHECK(error_of([] { check_range(SweepRange{1.5, 4, false, true}, "space.k"); }) ==
          "space.k: a range with int = true needs whole numbers as low and high");
    CHECK(error_of([] { check_range(SweepRange{std::nan(""), 4}, "space.k"); }).find("finite") != std::string::npos);

    SweepSpace space;
    space.axes = {range_axis("lr", 0.05, 0.3)};
    CHECK(error_of([&] { grid_trials(space); }) ==
          "space.lr: a grid needs a list of values, or a range with steps = n (e.g. range { 0.05, 0.3, steps = 5 })");
    SweepSpace huge;
    for (const char* name : {"a", "b", "c", "d", "e"})
        huge.axes.push_back(range_axis(name, 0, 1, false, false, 10));
    CHECK(error_of([&] { grid_trials(huge); }).find("more than 10000 combinations") != std::string::npos);
}

TEST_CASE("judge_sweep picks the best by direction, ties going to the lowest trial number", "[sweep]") {
    const std::vector<TrialOutcome> outcomes = {succeeded(1, {{"auc", 0.90}}), succeeded(2, {{"auc", 0.95}}),
                                                succeeded(3, {{"auc", 0.95}}), succeeded(4, {{"auc", 0.80}})};
    const auto best = judge_sweep(two_trial_sweep(SweepDirection::Maximize), outcomes);
    REQUIRE(best.winner);
    CHECK(*best.winner == 2);
    CHECK(best.problem.empty());
    CHECK(best.trials.at(1).params == json{{"l2", 20}});
    CHECK(best.trials.at(1).value == 0.95);

    const auto lowest = judge_sweep(two_trial_sweep(SweepDirection::Minimize), outcomes);
    REQUIRE(lowest.winner);
    CHECK(*lowest.winner == 4);
    CHECK(judgement_text(two_trial_sweep(SweepDirection::Minimize), lowest) ==
          "sweep 'tune': trial 4 of 4 wins with auc = 0.8 (minimize; l2=40)");
}

TEST_CASE("judge_sweep leaves out failed, skipped and NaN trials and fails without a winner", "[sweep]") {
    const Sweep sweep = two_trial_sweep(SweepDirection::Maximize);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::vector<TrialOutcome> mixed = {
        {1, "failed", "stage 'tune.1.train': boom", std::nullopt}, succeeded(2, {{"auc", 0.7}}),
        {3, "skipped", "its output 'metrics' was not made", std::nullopt}, succeeded(4, {{"auc", nan}})};
    const auto judged = judge_sweep(sweep, mixed);
    REQUIRE(judged.winner);
    CHECK(*judged.winner == 2);
    CHECK(judged.notes == "trial 1 failed (stage 'tune.1.train': boom); trial 3 skipped (its output 'metrics' was not "
                          "made); trial 4 has NaN for auc");
    CHECK_FALSE(judged.trials.at(3).value);

    const std::vector<TrialOutcome> failing = {{1, "failed", "stage 'tune.1.train': boom", std::nullopt},
                                               {2, "skipped", "x", std::nullopt}};
    const auto none = judge_sweep(sweep, failing);
    CHECK_FALSE(none.winner);
    CHECK_FALSE(none.all_skipped);
    CHECK(none.problem == "every trial failed or was skipped: trial 1 failed (stage 'tune.1.train': boom); trial 2 "
                          "skipped (x)");

    const auto skipped = judge_sweep(sweep, {{1, "skipped", "x", std::nullopt}, {2, "skipped", "y", std::nullopt}});
    CHECK(skipped.all_skipped);
    CHECK_FALSE(skipped.winner);
}

TEST_CASE("judge_sweep fails when a succeeded trial lacks the metric, naming it and what it has", "[sweep]") {
    const auto judged = judge_sweep(two_trial_sweep(SweepDirection::Maximize),
                                    {succeeded(1, {{"auc", 0.9}}), succeeded(2, {{"accuracy", 0.9}, {"f1", 0.8}})});
    CHECK_FALSE(judged.winner);
    CHECK(judged.problem == "trial 2 (tune.2) has no metric 'auc' in its output 'metrics' (it has: accuracy, f1)");
}

TEST_CASE("sweep_record keeps the definition, the trials and the winner for the store", "[sweep]") {
    Sweep sweep = two_trial_sweep(SweepDirection::Minimize);
    sweep.method = SweepMethod::Random;
    sweep.seed = 9;
    sweep.space.axes = {list_axis("l2", {10, 20, 30, 40})};
    const auto judged = judge_sweep(sweep, {succeeded(1, {{"auc", 0.5}, {"loss", 1}}), succeeded(2, {{"auc", 0.4}})});
    const auto record = sweep_record(sweep, judged);
    CHECK(record.method == "random");
    CHECK(record.seed == 9);
    CHECK(record.direction == "minimize");
    CHECK(record.winner == 2);
    CHECK(record.space == json{{"l2", {10, 20, 30, 40}}});
    REQUIRE(record.trials.size() == 2);
    CHECK(record.trials[0].metrics == json{{"auc", 0.5}, {"loss", 1.0}});
    CHECK(record.trials[1].value == 0.4);
}

TEST_CASE("sweep {} expands into prefixed trial stages and a selector wired to every trial", "[sweep][lua]") {
    TempDir dir;
    auto script = load_script(dir, R"(
local data = stage "data.csv" { path = "x.csv" }
local tuned = sweep {
  id = "tune",
  method = "grid",
  space = { l2 = { 0.1, 10 }, fit = { true } },
  metric = "auc", direction = "maximize",
  trial = function(p, n)
    local model = stage "train.linear" { id = "train", train = data.table, l2 = p.l2 }
    local score = stage "train.evaluate" { model = model.model, data = data.table }
    return { model = model.model, metrics = score.metrics }
  end,
}
stage "govern.gate" { metrics = tuned.metrics }
)");
    const Pipeline& pipeline = script->pipeline();
    REQUIRE(pipeline.sweeps.size() == 1);
    const Sweep& sweep = pipeline.sweeps[0];
    CHECK(sweep.where.line == 3);
    REQUIRE(sweep.trials.size() == 2);
    CHECK(sweep.trials[0].params == json{{"fit", true}, {"l2", 0.1}});
    CHECK(sweep.trials[1].params == json{{"fit", true}, {"l2", 10.0}});
    std::vector<std::string> ids;
    for (const auto& node : pipeline.stages) ids.push_back(node.id.empty() ? "(" + node.stage_name + ")" : node.id);
    CHECK(ids == std::vector<std::string>{"(data.csv)", "tune.1.train", "tune.1.evaluate", "tune.2.train",
                                          "tune.2.evaluate", "tune", "(govern.gate)"});
    const StageNode& selector = pipeline.stages.at(sweep.selector);
    CHECK(selector.is_sweep());
    CHECK_FALSE(selector.is_plugin());
    std::vector<std::string> fields;
    for (const auto& [key, field] : selector.fields) fields.push_back(key);
    CHECK(fields == std::vector<std::string>{"1.metrics", "1.model", "2.metrics", "2.model"});
    CHECK(selector.after.size() == 4);
    CHECK(pipeline.stages[3].trial == 2);
    CHECK(pipeline.stages[3].sweep == 0);
    CHECK(pipeline.stages[3].fields.at("l2").value == 10.0);
    // Downstream wiring goes to the selector's outputs.
    CHECK(pipeline.stages.back().fields.at("metrics").ref->stage == sweep.selector);
}

TEST_CASE("sweep {} errors name the script's line of the sweep call", "[sweep][lua]") {
    TempDir dir;
    auto error = [&](const std::string& spec, const std::string& trial_body = "return { metrics = s.out }") {
        return error_of([&] {
            load_script(dir, "local x = 1\nlocal t = sweep {\n  id = \"tune\", " + spec +
                                 ",\n  trial = function(p) local s = stage \"test.sleep\" {} " + trial_body + " end,\n}\n");
        });
    };
    const std::string base = "metric = \"slept\", direction = \"maximize\"";
    const std::string file = (dir / "p.lua").string();
    CHECK(error("space = {}, " + base) ==
          file + ":2: sweep 'tune': space is empty; name at least one param, e.g. space = { l2 = { 0.1, 1, 10 } }");
    CHECK(error("space = { lr = range { 0.1, 1 } }, " + base) ==
          file + ":2: sweep 'tune': space.lr: a grid needs a list of values, or a range with steps = n (e.g. range { "
                 "0.1, 1, steps = 5 })");
    CHECK(error("method = \"random\", space = { a = { 1 } }, " + base) ==
          file + ":2: sweep 'tune': method = \"random\" needs trials = n, the number of draws");
    CHECK(error("method = \"bayes\", space = { a = { 1 } }, " + base) ==
          file + ":2: sweep 'tune': method must be \"grid\" or \"random\", not 'bayes'");
    CHECK(error("space = { a = { 1 } }, metric = \"slept\", direction = \"up\"") ==
          file + ":2: sweep 'tune': direction must be \"maximize\" or \"minimize\", not 'up'");
    CHECK(error("space = { a = { 1 } }, " + base, "return s.out") ==
          file + ":2: sweep 'tune': the trial function (trial 1, a=1) returned a userdata; it must return a table of "
                 "its outputs, e.g. { model = train.model, metrics = evaluate.metrics }");
    CHECK(error("space = { a = { 1 } }, " + base, "return { out = s.out }") ==
          file + ":2: sweep 'tune': the trial function (trial 1, a=1) returned no 'metrics' output, which metric "
                 "'slept' is read from (it returned: out); return it, or name the scored output with score = \"port\"");
    CHECK(error("space = { a = { 1, 2 } }, " + base, "if p.a == 1 then return { metrics = s.out } end return { "
                                                    "metrics = s.out, more = s.out }") ==
          file + ":2: sweep 'tune': the trial function (trial 2, a=2) returned metrics, more, but trial 1 returned "
                 "metrics; every trial must return the same outputs");
    CHECK(error("space = { a = 3 }, " + base) ==
          file + ":2: sweep 'tune': space.a must be a list of values ({ 1, 2, 3 }) or a range { low, high }, not a "
                 "number (3)");
    CHECK(error("space = { a = { 1 } }, " + base + ", colour = 1") ==
          file + ":2: sweep: 'colour' is not one of its keys (id, method, space, trials, seed, metric, direction, "
                 "score, trial)");
    CHECK(error("space = { a = { 1 } }, " + base,
                "sweep { id = \"inner\", space = { b = { 1 } }, metric = \"m\", direction = \"maximize\", trial = "
                "function() end } return { metrics = s.out }")
              .find("a sweep cannot be declared inside another sweep's trial function") != std::string::npos);
    CHECK(error_of([&] { load_script(dir, "local r = range { 1, 0 }\n"); }) ==
          file + ":1: range: a range needs two finite numbers, low < high (got 1, 0)");
}

TEST_CASE("random sweeps in a script draw the same trials for the same seed", "[sweep][lua]") {
    TempDir dir;
    const std::string text = R"(
sweep {
  id = "rs", method = "random", trials = 4, seed = SEED,
  space = { lr = range { 0.001, 1, log = true }, depth = range { 2, 8, int = true }, opt = { "adam", "sgd" } },
  metric = "slept", direction = "minimize",
  trial = function(p) return { metrics = stage "test.sleep" { seconds = p.lr }.out } end,
}
)";
    auto params_of = [&](const std::string& seed) {
        std::string script = text;
        script.replace(script.find("SEED"), 4, seed);
        auto loaded = load_script(dir, script);
        std::vector<json> params;
        for (const auto& trial : loaded->pipeline().sweeps.at(0).trials) params.push_back(trial.params);
        return params;
    };
    const auto first = params_of("11");
    REQUIRE(first.size() == 4);
    CHECK(first == params_of("11"));
    CHECK(first != params_of("12"));
    SweepSpace space;
    space.axes = {range_axis("depth", 2, 8, false, true), range_axis("lr", 0.001, 1, true), list_axis("opt", {"adam", "sgd"})};
    CHECK(first == random_trials(space, 4, 11));
    CHECK(first[0].at("depth").is_number_integer());
}

TEST_CASE("record_sweep and load_sweeps keep a run's sweeps, replacing a re-recorded one", "[sweep][metadata_store]") {
    StoreRows rows;
    rows.run("r1", "p", "succeeded", 100, 200);
    const auto train1 = rows.execution("r1", "tune.1.train", "succeeded", std::nullopt, {{"k", 1}}, 110, 120);
    rows.execution("r1", "tune.1.evaluate", "succeeded", std::nullopt, {{"k", 1}}, 121, 125);
    rows.execution("r1", "tune.2.train", "failed", std::nullopt, {{"k", 1}}, 111, 112);
    const auto selector = rows.execution("r1", "tune", "succeeded", std::nullopt, {{"k", 1}}, 126, 126);
    (void)train1;

    trellis::store::SweepRecord sweep;
    sweep.run_id = "r1";
    sweep.sweep_id = "tune";
    sweep.method = "grid";
    sweep.space = {{"l2", {1, 2}}};
    sweep.metric = "auc";
    sweep.direction = "maximize";
    sweep.score_port = "metrics";
    sweep.winner = 1;
    trellis::store::TrialRecord one;
    one.trial = 1;
    one.params = {{"l2", 1}};
    one.status = "succeeded";
    one.value = 0.9;
    one.metrics = {{"auc", 0.9}, {"f1", 0.8}};
    trellis::store::TrialRecord two;
    two.trial = 2;
    two.params = {{"l2", 2}};
    two.status = "failed";
    two.error = "stage 'tune.2.train': boom";
    sweep.trials = {one, two};
    trellis::store::record_sweep(rows.db(), selector, sweep);
    // Recorded again (a resumed run): replaced, not doubled.
    trellis::store::record_sweep(rows.db(), selector, sweep);

    const auto loaded = trellis::store::load_sweeps(rows.db(), "r1");
    REQUIRE(loaded.size() == 1);
    CHECK(loaded[0].sweep_id == "tune");
    CHECK(loaded[0].execution_id == selector);
    CHECK(loaded[0].winner == 1);
    CHECK(loaded[0].space == sweep.space);
    REQUIRE(loaded[0].trials.size() == 2);
    CHECK(loaded[0].trials[0].metrics == one.metrics);
    CHECK(loaded[0].trials[0].value == 0.9);
    CHECK(loaded[0].trials[0].started_at == 110);
    CHECK(loaded[0].trials[0].ended_at == 125);
    CHECK(loaded[0].trials[1].status == "failed");
    CHECK(loaded[0].trials[1].error == two.error);
    CHECK_FALSE(loaded[0].trials[1].value);
    CHECK(trellis::store::load_sweeps(rows.db(), "other").empty());
    CHECK(rows.meta().integrity_problems().empty());
}
