// Sweeps through the real binary: a grid over train.linear's l2 on the breast cancer data whose
// winner (checked against every trial's metric in `runs show --json`) is wired downstream by
// digest, reuse of every trial and of the selector on a re-run, `runs show` and `runs compare` of
// the trials, random sweeps reproducible from their seed, trials in parallel under -j 2, failed
// trials and trials without the metric, and script errors with file:line.
#include "store_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

using namespace trellis::testing;
using nlohmann::json;

namespace {

std::string breast_cancer_csv() {
    return (std::filesystem::path(EXAMPLES_DIR) / ".." / ".." / "tests" / "data" / "breast_cancer.csv")
        .lexically_normal()
        .string();
}

// data.csv -> data.split (train/test) -> data.split of train (a hold-out for tuning) ->
// sweep { train.linear -> train.evaluate } -> the winner evaluated on test, and gated.
std::string grid_script() {
    return R"(pipeline "tuned"
local data  = stage "data.csv" { id = "load", path = ")" + breast_cancer_csv() + R"(" }
local split = stage "data.split" { table = data.table, seed = 7, stratify = "malignant" }
local holdout = stage "data.split" { id = "holdout", table = split.train, seed = 8, stratify = "malignant" }
local tuned = sweep {
  id = "tune",
  method = "grid",
  space = { l2 = { 0.001, 0.1, 10, 1000 } },
  metric = "log_loss",
  direction = "minimize",
  trial = function(p)
    local model = stage "train.linear" { id = "train", train = holdout.train, target = "malignant",
                                         objective = "logistic", l2 = p.l2 }
    local score = stage "train.evaluate" { model = model.model, data = holdout.test, target = "malignant" }
    return { model = model.model, metrics = score.metrics }
  end,
}
stage "train.evaluate" { id = "final", model = tuned.model, data = split.test, target = "malignant" }
stage "govern.gate" { id = "gate", metrics = tuned.metrics, rules = { "accuracy >= 0.8" } }
)";
}

const json& stage_named(const json& show, const std::string& id) {
    for (const auto& stage : show.at("stages"))
        if (stage.at("stage_id") == id) return stage;
    throw std::runtime_error("no stage '" + id + "' in runs show --json");
}

// The winner by the documented rule: the best value among succeeded trials, ties to the lowest number.
int expected_winner(const json& sweep) {
    const bool maximize = sweep.at("direction") == "maximize";
    int best = 0;
    double best_value = 0;
    for (const auto& trial : sweep.at("trials")) {
        if (trial.at("status") != "succeeded" || !trial.at("value").is_number()) continue;
        const double value = trial.at("value").get<double>();
        if (best == 0 || (maximize ? value > best_value : value < best_value)) {
            best = trial.at("trial").get<int>();
            best_value = value;
        }
    }
    return best;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(line);
    return out;
}

bool has_line_starting(const std::string& text, const std::string& start) {
    for (const auto& line : lines_of(text))
        if (line.rfind(start, 0) == 0) return true;
    return false;
}

// `trellis runs show latest --json` of the sandbox's store.
json show_latest(const Sandbox& sandbox) {
    const auto show = sandbox.run("runs show latest --json");
    INFO(show.err);
    REQUIRE(show.exit_code == 0);
    return show.json();
}

// A random sweep over test.metrics (which outputs the metrics it is given): the trial's params are
// its metrics, so the winner is known from the draws.
std::string random_script(int seed) {
    return R"(
local tuned = sweep {
  id = "rs", method = "random", trials = 5, seed = )" +
           std::to_string(seed) + R"(,
  space = { x = range { 0, 1 }, k = range { 1, 9, int = true }, opt = { "adam", "sgd" } },
  metric = "score", direction = "maximize",
  trial = function(p)
    return { metrics = stage "test.metrics" { values = { "score=" .. p.x, "k=" .. p.k } }.metrics }
  end,
}
stage "test.noop" { id = "after", ["in"] = tuned.metrics }
)";
}

std::vector<json> trial_params(const json& show) {
    std::vector<json> out;
    for (const auto& trial : show.at("sweeps").at(0).at("trials")) out.push_back(trial.at("params"));
    return out;
}

} // namespace

TEST_CASE("sweep: a grid over train.linear's l2 picks the best trial and wires its model downstream") {
    Sandbox sandbox;
    sandbox.write("tuned.lua", grid_script());
    const auto run = sandbox.run("run tuned.lua -j 2");
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(stage_status(run, "tune.1.train") == "succeeded");
    CHECK(stage_status(run, "tune.4.evaluate") == "succeeded");
    CHECK(stage_status(run, "tune") == "succeeded");
    CHECK(stage_status(run, "final") == "succeeded");
    CHECK(stage_status(run, "gate") == "succeeded");

    const json show = show_latest(sandbox);
    REQUIRE(show.at("sweeps").size() == 1);
    const json& sweep = show.at("sweeps").at(0);
    CHECK(sweep.at("id") == "tune");
    CHECK(sweep.at("method") == "grid");
    CHECK(sweep.at("metric") == "log_loss");
    CHECK(sweep.at("space") == json{{"l2", {0.001, 0.1, 10, 1000}}});
    REQUIRE(sweep.at("trials").size() == 4);
    const std::vector<double> l2s = {0.001, 0.1, 10, 1000};
    for (size_t t = 0; t < 4; ++t) {
        const json& trial = sweep.at("trials").at(t);
        CHECK(trial.at("trial") == t + 1);
        CHECK(trial.at("params").at("l2").get<double>() == l2s[t]);
        CHECK(trial.at("status") == "succeeded");
        REQUIRE(trial.at("value").is_number());
        CHECK(trial.at("metrics").at("log_loss") == trial.at("value"));
        CHECK(trial.at("metrics").contains("accuracy"));
        CHECK(trial.at("sweep") == "tune");
    }
    // The l2 values are far apart, so the metric tells them apart and the choice means something.
    std::set<double> values;
    for (const auto& trial : sweep.at("trials")) values.insert(trial.at("value").get<double>());
    CHECK(values.size() == 4);

    const int winner = expected_winner(sweep);
    REQUIRE(winner > 0);
    CHECK(sweep.at("winner") == winner);
    for (const auto& trial : sweep.at("trials")) CHECK(trial.at("winner") == (trial.at("trial") == winner));

    // Downstream got the winner's artifacts themselves: the same digests, not copies.
    const std::string prefix = "tune." + std::to_string(winner) + ".";
    const std::string model = stage_named(show, prefix + "train").at("outputs").at("model");
    const std::string metrics = stage_named(show, prefix + "evaluate").at("outputs").at("metrics");
    CHECK(stage_named(show, "tune").at("outputs").at("model") == model);
    CHECK(stage_named(show, "tune").at("outputs").at("metrics") == metrics);
    CHECK(stage_named(show, "final").at("inputs").at("model") == model);
    CHECK(stage_named(show, "gate").at("inputs").at("metrics") == metrics);
    CHECK(stage_named(show, "tune").at("stage") == "sweep");
    CHECK(stage_named(show, "tune").at("plugin").is_null());
    // The selector records the winner's params as its own, and its trial number.
    CHECK(show.at("params").at("tune.l2").get<double>() == l2s[static_cast<size_t>(winner - 1)]);
    CHECK(show.at("params").at("tune.trial") == winner);
    // The log says what won.
    CHECK_THAT(run.err, Catch::Contains("sweep 'tune': trial " + std::to_string(winner) + " of 4 wins with log_loss = "));

    SECTION("a re-run reuses every trial and the selector's result") {
        const auto again = sandbox.run("-q run tuned.lua -j 2");
        INFO(again.out << again.err);
        REQUIRE(again.exit_code == 0);
        CHECK_THAT(again.out, Catch::Contains("(14 stages: 14 cached)"));
        CHECK(stage_status(again, "tune") == "cached");
        const json second = show_latest(sandbox);
        CHECK(second.at("id") != show.at("id"));
        CHECK(second.at("sweeps").at(0).at("winner") == winner);
        CHECK(trial_params(second) == trial_params(show));
        CHECK(stage_named(second, "final").at("inputs").at("model") == model);
        for (size_t t = 0; t < 4; ++t)
            CHECK(second.at("sweeps").at(0).at("trials").at(t).at("value") == sweep.at("trials").at(t).at("value"));
    }

    SECTION("runs show prints a row per trial with the winner marked") {
        const auto text = sandbox.run("runs show latest");
        INFO(text.out << text.err);
        REQUIRE(text.exit_code == 0);
        CHECK_THAT(text.out, Catch::Contains("sweep tune: grid over l2, 4 trials, minimize log_loss of output "
                                             "'metrics'; winner: trial " + std::to_string(winner)));
        CHECK(has_line_starting(text.out, "  *  " + std::to_string(winner) + " "));
        for (int t = 1; t <= 4; ++t)
            if (t != winner) CHECK(has_line_starting(text.out, "     " + std::to_string(t) + " "));
        CHECK_THAT(text.out, Catch::Contains("TRIAL  STATUS     TIME"));
        CHECK_THAT(text.out, Catch::Contains("'trellis runs compare " + show.at("id").get<std::string>() + ":tune'"));
    }

    SECTION("runs compare sets the trials side by side") {
        const auto text = sandbox.run("runs compare latest");
        INFO(text.out << text.err);
        REQUIRE(text.exit_code == 0);
        const auto rows = lines_of(text.out);
        REQUIRE(!rows.empty());
        for (int t = 1; t <= 4; ++t) CHECK_THAT(rows[0], Catch::Contains("tune." + std::to_string(t)));
        CHECK_THAT(text.out, Catch::Contains("succeeded (winner)"));
        CHECK(has_line_starting(text.out, "*    l2 "));
        CHECK(has_line_starting(text.out, "*    log_loss "));

        const auto as_json = sandbox.run("runs compare " + show.at("id").get<std::string>() + ":tune --json");
        REQUIRE(as_json.exit_code == 0);
        const json compared = as_json.json();
        REQUIRE(compared.at("runs").size() == 4);
        for (size_t t = 0; t < 4; ++t) {
            CHECK(compared.at("runs").at(t).at("sweep") == "tune");
            CHECK(compared.at("runs").at(t).at("trial") == t + 1);
            CHECK(compared.at("runs").at(t).at("winner") == (static_cast<int>(t) + 1 == winner));
        }
        bool l2_row = false;
        for (const auto& row : compared.at("params"))
            if (row.at("key") == "l2") {
                l2_row = true;
                CHECK(row.at("differs") == true);
                CHECK(row.at("values") == json{0.001, 0.1, 10, 1000});
            }
        CHECK(l2_row);

        const auto unknown = sandbox.run("runs compare latest:tuen");
        CHECK(unknown.exit_code == 2);
        CHECK_THAT(unknown.err, Catch::Contains("has no sweep 'tuen' (did you mean tune?); its sweeps: tune"));
    }
}

TEST_CASE("sweep: a random sweep draws the same trials from the same seed, other trials from another") {
    Sandbox first, second, other;
    first.write("rs.lua", random_script(3));
    second.write("rs.lua", random_script(3));
    other.write("rs.lua", random_script(4));
    for (const Sandbox* sandbox : {&first, &second, &other}) {
        const auto run = sandbox->run(exec_plugins + "-q run rs.lua");
        INFO(run.out << run.err);
        REQUIRE(run.exit_code == 0);
    }
    const json a = show_latest(first), b = show_latest(second), c = show_latest(other);
    REQUIRE(trial_params(a).size() == 5);
    CHECK(trial_params(a) == trial_params(b));
    CHECK(trial_params(a) != trial_params(c));
    CHECK(a.at("sweeps").at(0).at("seed") == 3);
    for (const auto& params : trial_params(a)) {
        CHECK(params.at("k").is_number_integer());
        CHECK((params.at("k") >= 1 && params.at("k") <= 9));
        CHECK((params.at("x") >= 0.0 && params.at("x") < 1.0));
        CHECK((params.at("opt") == "adam" || params.at("opt") == "sgd"));
    }
    // Each trial's score is its x: the winner is the trial that drew the largest.
    int largest = 0;
    double best = -1;
    for (const auto& trial : a.at("sweeps").at(0).at("trials"))
        if (trial.at("params").at("x").get<double>() > best) {
            best = trial.at("params").at("x").get<double>();
            largest = trial.at("trial").get<int>();
        }
    CHECK(a.at("sweeps").at(0).at("winner") == largest);
    CHECK(a.at("sweeps").at(0).at("winner") == expected_winner(a.at("sweeps").at(0)));
}

TEST_CASE("sweep: trials run in parallel up to -j") {
    Sandbox sandbox;
    const auto record = (sandbox.dir() / "intervals.txt").string();
    sandbox.write("par.lua", R"(
sweep {
  id = "par", space = { seconds = { 0.5, 0.6 } }, metric = "slept", direction = "minimize", score = "out",
  trial = function(p, n)
    return { out = stage "test.sleep" { seconds = p.seconds, record = ")" + record + R"(", label = "t" .. n }.out }
  end,
}
)");
    auto intervals = [&] {
        std::map<std::string, std::pair<double, double>> out;
        std::ifstream in(record);
        std::string label;
        double start = 0, end = 0;
        while (in >> label >> start >> end) out[label] = {start, end};
        std::filesystem::remove(record);
        return out;
    };
    const auto parallel = sandbox.run(exec_plugins + "-q run par.lua -j 2 --no-cache");
    INFO(parallel.out << parallel.err);
    REQUIRE(parallel.exit_code == 0);
    auto both = intervals();
    REQUIRE(both.size() == 2);
    // Overlap: each started before the other ended.
    CHECK(both["t1"].first < both["t2"].second);
    CHECK(both["t2"].first < both["t1"].second);

    const auto serial = sandbox.run(exec_plugins + "-q run par.lua -j 1 --no-cache");
    INFO(serial.out << serial.err);
    REQUIRE(serial.exit_code == 0);
    both = intervals();
    REQUIRE(both.size() == 2);
    const bool apart = both["t1"].second <= both["t2"].first || both["t2"].second <= both["t1"].first;
    CHECK(apart);
}

TEST_CASE("sweep: a failed trial is left out, the run fails, and the rest still choose a winner") {
    Sandbox sandbox;
    sandbox.write("fails.lua", R"(
local tuned = sweep {
  id = "tune", space = { mode = { "ok", "fail", "also_ok" } }, metric = "score", direction = "maximize",
  trial = function(p)
    if p.mode == "fail" then return { metrics = stage "test.fail" { id = "work", message = "diverged" }.out } end
    return { metrics = stage "test.metrics" { id = "work", values = { "score=1" } }.metrics }
  end,
}
stage "test.noop" { id = "downstream", ["in"] = tuned.metrics }
)");
    const auto run = sandbox.run(exec_plugins + "-q run fails.lua");
    INFO(run.out << run.err);
    CHECK(run.exit_code == 1); // a stage failed
    CHECK(stage_status(run, "tune.2.work") == "failed");
    CHECK(stage_status(run, "tune") == "succeeded");
    CHECK(stage_status(run, "downstream") == "succeeded");
    const json show = show_latest(sandbox);
    const json& sweep = show.at("sweeps").at(0);
    CHECK(sweep.at("winner") == 1); // a tie of 1 and 3: the lower number
    CHECK(sweep.at("trials").at(1).at("status") == "failed");
    CHECK_THAT(sweep.at("trials").at(1).at("error").get<std::string>(), Catch::Contains("stage 'tune.2.work'"));
    CHECK_THAT(sweep.at("trials").at(1).at("error").get<std::string>(), Catch::Contains("diverged"));
    CHECK_THAT(sweep.at("message").get<std::string>(), Catch::Contains("left out: trial 2 failed"));

    const auto text = sandbox.run("runs show latest");
    CHECK_THAT(text.out, Catch::Contains("  trial 2: stage 'tune.2.work': diverged"));
}

TEST_CASE("sweep: when every trial fails the selector fails and downstream is skipped") {
    Sandbox sandbox;
    sandbox.write("all.lua", R"(
local tuned = sweep {
  id = "tune", space = { n = { 1, 2 } }, metric = "score", direction = "maximize", score = "out",
  trial = function(p) return { out = stage "test.fail" { message = "no " .. p.n }.out } end,
}
stage "test.noop" { id = "downstream", ["in"] = tuned.out }
)");
    const auto run = sandbox.run(exec_plugins + "-q run all.lua");
    INFO(run.out << run.err);
    CHECK(run.exit_code == 1);
    CHECK(stage_status(run, "tune") == "failed");
    CHECK(stage_status(run, "downstream") == "skipped");
    CHECK_THAT(run.err, Catch::Contains("every trial failed or was skipped: trial 1 failed (stage 'tune.1.fail': no 1)"));
    const json show = show_latest(sandbox);
    CHECK(show.at("sweeps").at(0).at("winner").is_null());
    CHECK(show.at("sweeps").at(0).at("trials").size() == 2);
}

TEST_CASE("sweep: a trial without the metric fails the selector, naming the trial and its metrics") {
    Sandbox sandbox;
    sandbox.write("nometric.lua", R"(
sweep {
  id = "tune", space = { n = { 1, 2 } }, metric = "acuracy", direction = "maximize",
  trial = function(p) return { metrics = stage "test.metrics" { values = { "accuracy=0.5", "f1=0.4" } }.metrics } end,
}
)");
    const auto run = sandbox.run(exec_plugins + "-q run nometric.lua");
    INFO(run.out << run.err);
    CHECK(run.exit_code == 1);
    CHECK(stage_status(run, "tune") == "failed");
    CHECK_THAT(run.err, Catch::Contains("trial 1 (tune.1) has no metric 'acuracy' in its output 'metrics' (it has: "
                                        "accuracy, f1)"));
}

TEST_CASE("sweep: script errors are reported with the file and line of the sweep call") {
    Sandbox sandbox;
    auto check = [&](const std::string& body, const std::string& expected) {
        sandbox.write("bad.lua", "local x = 1\nlocal t = sweep {\n" + body + "\n}\n");
        const auto result = sandbox.run(exec_plugins + "validate bad.lua");
        INFO(body << "\n" << result.err);
        CHECK(result.exit_code == 2);
        CHECK_THAT(result.err, Catch::Contains(expected));
    };
    const std::string trial = R"(trial = function(p) return { metrics = stage "test.metrics" {}.metrics } end)";
    check("id = 'tune', space = {}, metric = 'm', direction = 'maximize', " + trial,
          "bad.lua:2: sweep 'tune': space is empty");
    check("id = 'tune', method = 'random', space = { a = range { 0, 1 } }, metric = 'm', direction = 'maximize', " + trial,
          "bad.lua:2: sweep 'tune': method = \"random\" needs trials = n");
    check("id = 'tune', space = { a = range { 0, 1 } }, metric = 'm', direction = 'maximize', " + trial,
          "bad.lua:2: sweep 'tune': space.a: a grid needs a list of values, or a range with steps = n");
    check("id = 'tune', method = 'optuna', space = { a = { 1 } }, metric = 'm', direction = 'maximize', " + trial,
          "bad.lua:2: sweep 'tune': method must be \"grid\" or \"random\", not 'optuna'");
    check("id = 'tune', space = { a = { 1 } }, metric = 'm', direction = 'best', " + trial,
          "bad.lua:2: sweep 'tune': direction must be \"maximize\" or \"minimize\", not 'best'");
    check("id = 'tune', space = { a = { 1 } }, metric = 'm', direction = 'maximize', trial = function(p) end",
          "bad.lua:2: sweep 'tune': the trial function (trial 1, a=1) returned nil; it must return a table of its outputs");
    check("id = 'tune', space = { a = { 1 } }, metric = 'm', direction = 'maximize', trial = function(p) return { "
          "other = stage 'test.metrics' {}.metrics } end",
          "bad.lua:2: sweep 'tune': the trial function (trial 1, a=1) returned no 'metrics' output");
    // Found by validation, against the plugins' schemas: the scored output is not metrics.
    check("id = 'tune', space = { a = { 1 } }, metric = 'm', direction = 'maximize', trial = function(p) return { "
          "metrics = stage 'test.table' {}.table } end",
          "bad.lua:2: stage 'tune' (sweep): the scored output 'metrics' is a table; metric 'm' is read from a metrics "
          "output");
}
