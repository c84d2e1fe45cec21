// The local executor through the real binary: parallel branches, failure propagation, retries,
// timeouts, cancellation, isolated stages that crash, Lua conditions and callbacks, and the
// quickstart pipeline end to end.
#include "run_trellis.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <set>
#include <csignal>
#include <fcntl.h>
#include <spawn.h>
#include <sstream>
#include <thread>

using trellis::testing::Result;
using trellis::testing::Sandbox;

namespace {

const std::string plugins = std::string("--plugin-path ") + FIXTURE_EXEC_DIR + " ";

Result run_script(const Sandbox& sandbox, const std::string& script, const std::string& options = "",
                  const std::string& env = "") {
    sandbox.write("pipeline.lua", script);
    return sandbox.run(plugins + "run pipeline.lua " + options, env);
}

// The summary line of stage `id`, e.g. "  a  test.sleep  succeeded  ...".
std::string summary_line(const Result& result, const std::string& id) {
    std::istringstream lines(result.out);
    std::string line;
    while (std::getline(lines, line))
        if (line.rfind("  " + id + " ", 0) == 0) return line;
    return "";
}

struct Interval {
    double start = 0, end = 0;
};

std::map<std::string, Interval> read_intervals(const std::filesystem::path& file) {
    std::map<std::string, Interval> out;
    std::ifstream in(file);
    std::string label;
    Interval interval;
    while (in >> label >> interval.start >> interval.end) out[label] = interval;
    return out;
}

} // namespace

TEST_CASE("executor: independent branches run at the same time") {
    Sandbox sandbox;
    const auto record = (sandbox.dir() / "intervals.txt").string();
    const auto result = run_script(sandbox, R"(
        local a = stage "test.sleep" { id = "a", seconds = 0.6, record = ")" + record + R"(", label = "a" }
        local b = stage "test.sleep" { id = "b", seconds = 0.6, record = ")" + record + R"(", label = "b" }
        stage "test.noop" { id = "join", ["in"] = a.out, after = b }
    )", "--jobs 2");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const auto intervals = read_intervals(record);
    REQUIRE(intervals.size() == 2);
    const auto a = intervals.at("a"), b = intervals.at("b");
    CHECK(a.start < b.end);
    CHECK(b.start < a.end);
    CHECK_THAT(summary_line(result, "join"), Catch::Contains("succeeded"));
}

TEST_CASE("executor: with one job, branches run one after the other") {
    Sandbox sandbox;
    const auto record = (sandbox.dir() / "intervals.txt").string();
    const auto result = run_script(sandbox, R"(
        stage "test.sleep" { id = "a", seconds = 0.3, record = ")" + record + R"(", label = "a" }
        stage "test.sleep" { id = "b", seconds = 0.3, record = ")" + record + R"(", label = "b" }
    )", "--jobs 1");
    REQUIRE(result.exit_code == 0);
    const auto intervals = read_intervals(record);
    REQUIRE(intervals.size() == 2);
    CHECK((intervals.at("a").end <= intervals.at("b").start || intervals.at("b").end <= intervals.at("a").start));
}

TEST_CASE("executor: a failed stage skips its dependents and independent branches finish") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, R"(
        local bad = stage "test.fail" { id = "bad", message = "disk on fire" }
        local after_bad = stage "test.noop" { id = "after_bad", ["in"] = bad.out }
        stage "test.noop" { id = "further", ["in"] = after_bad.out }
        stage "test.sleep" { id = "other", seconds = 0.3 }
    )");
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "bad"), Catch::Contains("failed") && Catch::Contains("disk on fire"));
    CHECK_THAT(summary_line(result, "after_bad"), Catch::Contains("skipped") && Catch::Contains("upstream stage 'bad' failed"));
    CHECK_THAT(summary_line(result, "further"), Catch::Contains("skipped"));
    CHECK_THAT(summary_line(result, "other"), Catch::Contains("succeeded"));
    CHECK_THAT(result.out, Catch::Contains("pipeline pipeline: failed"));
}

TEST_CASE("executor: --fail-fast cancels the running and waiting stages") {
    Sandbox sandbox;
    const auto start = std::chrono::steady_clock::now();
    const auto result = run_script(sandbox, R"(
        local slow = stage "test.sleep" { id = "slow", seconds = 20 }
        stage "test.noop" { id = "later", ["in"] = slow.out }
        local wait = stage "test.sleep" { id = "wait", seconds = 0.2 }
        stage "test.fail" { id = "bad", ["in"] = wait.out }
    )", "--fail-fast --jobs 2");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(15));
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "bad"), Catch::Contains("failed"));
    CHECK_THAT(summary_line(result, "slow"), Catch::Contains("cancelled") && Catch::Contains("--fail-fast after stage 'bad' failed"));
    CHECK_THAT(summary_line(result, "later"), Catch::Contains("cancelled"));
}

TEST_CASE("executor: retries rerun a failed stage until it succeeds") {
    Sandbox sandbox;
    const auto counter = (sandbox.dir() / "attempts").string();
    const auto result = run_script(sandbox, R"(
        stage "test.flaky" { id = "flaky", counter = ")" + counter + R"(", failures = 2, retries = 2 }
    )");
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(summary_line(result, "flaky"), Catch::Contains("succeeded x3") && Catch::Contains("attempt=3"));
    CHECK_THAT(result.err, Catch::Contains("stage 'flaky' failed (attempt 1 of 3): flaky failure 1; retrying"));
}

TEST_CASE("executor: a stage that keeps failing fails after its last retry") {
    Sandbox sandbox;
    const auto counter = (sandbox.dir() / "attempts").string();
    const auto result = run_script(sandbox, R"(
        stage "test.flaky" { id = "flaky", counter = ")" + counter + R"(", failures = 5, retries = 1 }
    )");
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "flaky"), Catch::Contains("failed x2") && Catch::Contains("flaky failure 2"));
}

TEST_CASE("executor: a stage that runs past its timeout is cancelled and fails") {
    Sandbox sandbox;
    const auto start = std::chrono::steady_clock::now();
    const auto result = run_script(sandbox, R"(
        local slow = stage "test.sleep" { id = "slow", seconds = 30, timeout = 0.5 }
        stage "test.noop" { id = "next", ["in"] = slow.out }
    )");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "slow"), Catch::Contains("failed") && Catch::Contains("timed out after 0.5 s"));
    CHECK_THAT(summary_line(result, "next"), Catch::Contains("skipped"));
}

TEST_CASE("executor: an isolated stage that ignores cancellation is killed at its timeout") {
    Sandbox sandbox;
    const auto start = std::chrono::steady_clock::now();
    const auto result = run_script(sandbox, R"(
        stage "test.hang" { id = "stuck", isolate = true, timeout = 0.5 }
    )");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "stuck"), Catch::Contains("failed") && Catch::Contains("timed out after 0.5 s"));
}

TEST_CASE("executor: an isolated stage that segfaults fails only its stage, with the signal named") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, R"(
        local crash = stage "test.crash" { id = "crash", isolate = true }
        stage "test.noop" { id = "after_crash", after = crash }
        local a = stage "test.sleep" { id = "fine", seconds = 0.1, isolate = true }
        stage "test.noop" { id = "after_fine", ["in"] = a.out }
    )");
    INFO(result.err);
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "crash"),
               Catch::Contains("failed") && Catch::Contains("isolated stage process crashed (SIGSEGV: Segmentation fault)"));
    CHECK_THAT(summary_line(result, "after_crash"), Catch::Contains("skipped"));
    CHECK_THAT(summary_line(result, "fine"), Catch::Contains("succeeded") && Catch::Contains("slept=0.1"));
    CHECK_THAT(summary_line(result, "after_fine"), Catch::Contains("succeeded"));
}

TEST_CASE("executor: run.isolate isolates every stage of a plugin, and an abort is named") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, R"(
        stage "test.crash" { id = "crash", how = "abort" }
    )", "", "TRELLIS_ISOLATE=fixture-exec");
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "crash"), Catch::Contains("crashed (SIGABRT: Aborted)"));
}

TEST_CASE("executor: a 'when' condition that is false skips the downstream stages") {
    Sandbox sandbox;
    const std::string script = R"(
        local P = params { min_auc = 0.9 }
        local m = stage "test.metrics" { id = "m", values = { "auc=0.8" },
                                          when = function(r) return r.metrics.auc > P.min_auc end }
        stage "test.noop" { id = "deploy", after = m }
    )";
    auto result = run_script(sandbox, script);
    CHECK(result.exit_code == 0);
    CHECK_THAT(summary_line(result, "deploy"), Catch::Contains("skipped") && Catch::Contains("the 'when' condition of 'm' was false"));
    result = run_script(sandbox, script, "--set min_auc=0.5");
    CHECK(result.exit_code == 0);
    CHECK_THAT(summary_line(result, "deploy"), Catch::Contains("succeeded"));
}

TEST_CASE("executor: a 'when' that returns no boolean fails its stage with the script's line") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, "stage \"test.metrics\" { id = \"m\",\n  when = function(r) end }\n");
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "m"), Catch::Contains("pipeline.lua:1: the 'when' of stage 'm' returned nothing"));
}

TEST_CASE("executor: on_success and on_failure callbacks see the stage's result") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, R"(
        stage "test.metrics" { id = "m", values = { "auc=0.75" },
            on_success = function(r) print("done " .. r.id .. " auc=" .. r.metrics.auc .. " " .. r.status) end }
        stage "test.fail" { id = "bad", message = "boom",
            on_failure = function(r) print("failed " .. r.id .. ": " .. r.error) end }
    )");
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.err, Catch::Contains("done m auc=0.75 succeeded"));
    CHECK_THAT(result.err, Catch::Contains("failed bad: boom"));
}

TEST_CASE("executor: a callback cannot add stages to a running pipeline") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, R"(
        stage "test.metrics" { id = "m",
            on_success = function(r) for i = 1, 50 do stage "test.noop" { id = "late" .. i } end end }
    )");
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "m"),
               Catch::Contains("failed") && Catch::Contains("pipeline.lua:3: stage() declares the pipeline and cannot be "
                                                            "called while it runs"));
}

TEST_CASE("executor: an inline Lua stage turns metrics into new metrics and a report") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, R"(
        local a = stage "test.metrics" { id = "a", values = { "auc=0.8" } }
        local b = stage "test.metrics" { id = "b", values = { "auc=0.9" } }
        local best = lua_stage { id = "best", first = a.metrics, second = b.metrics,
            outputs = { metrics = "metrics", report = "report" },
            run = function(inputs)
                local top = math.max(inputs.first.auc, inputs.second.auc)
                return { metrics = { best_auc = top }, report = { winner = top == inputs.second.auc and "b" or "a" } }
            end }
        stage "govern.gate" { id = "gate", metrics = best.metrics, rules = { "best_auc >= 0.85" } }
    )");
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(summary_line(result, "best"), Catch::Contains("best_auc=0.9"));
    const auto run_dirs = std::filesystem::directory_iterator(sandbox.dir() / ".trellis" / "runs");
    const auto run_dir = run_dirs->path();
    CHECK(trellis::testing::read_file(run_dir / "best" / "report.json") == "{\n  \"winner\": \"b\"\n}\n");
}

TEST_CASE("executor: a runaway callback fails its stage and the run carries on") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, R"(
        stage "test.metrics" { id = "m", on_success = function(r) local x = "x" while true do x = x .. x end end }
        stage "test.metrics" { id = "spin", when = function(r) while true do end end }
        stage "test.noop" { id = "other" }
    )", "", "TRELLIS_LUA_MEMORY_LIMIT=32 TRELLIS_LUA_INSTRUCTION_LIMIT=2000000");
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "m"), Catch::Contains("failed") && Catch::Contains("script exceeded its memory limit (32 MiB"));
    CHECK_THAT(summary_line(result, "spin"), Catch::Contains("failed") && Catch::Contains("pipeline.lua:3:") &&
                                                 Catch::Contains("instruction limit"));
    CHECK_THAT(summary_line(result, "other"), Catch::Contains("succeeded"));
}

TEST_CASE("executor: a Lua stage that returns the wrong outputs fails with the script's line") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, R"(
        local a = stage "test.metrics" { id = "a", values = { "auc=0.8" } }
        lua_stage { id = "missing", input = a.metrics, outputs = { summary = "metrics" }, run = function(i) return {} end }
        lua_stage { id = "extra", input = a.metrics, outputs = { summary = "metrics" },
                    run = function(i) return { summary = { auc = 1 }, other = 2 } end }
        lua_stage { id = "typed", input = a.metrics, outputs = { summary = "metrics" },
                    run = function(i) return { summary = { auc = "high" } } end }
    )");
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "missing"), Catch::Contains("pipeline.lua:3: lua stage 'missing' did not return its output 'summary'"));
    CHECK_THAT(summary_line(result, "extra"), Catch::Contains("pipeline.lua:4: lua stage 'extra' returned 'other', which is not one of its declared outputs"));
    CHECK_THAT(summary_line(result, "typed"), Catch::Contains("lua stage 'typed' output 'summary': metric 'auc' is not a number"));
}

// A `trellis run pipeline.lua` started in the background, as a terminal would, to be signalled.
class BackgroundRun {
public:
    BackgroundRun(const Sandbox& sandbox, const std::string& env = "") : out_(sandbox.dir() / "out.txt"), err_(sandbox.dir() / "err.txt") {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const std::string command = "cd " + trellis::testing::quote(sandbox.dir().string()) + " && TRELLIS_CACHE_DIR=" +
                                    trellis::testing::quote(sandbox.cache().string()) + " " + env + " exec " +
                                    trellis::testing::quote(TRELLIS_BINARY) + " " + plugins + "run pipeline.lua";
        const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
        REQUIRE(posix_spawn(&pid_, "/bin/sh", &actions, nullptr, const_cast<char* const*>(argv), environ) == 0);
        posix_spawn_file_actions_destroy(&actions);
    }
    // Waits (up to 30 s) until the log says `text`.
    bool wait_for_log(const std::string& text) const {
        const auto start = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - start < std::chrono::seconds(30)) {
            if (trellis::testing::read_file(err_).find(text) != std::string::npos) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }
    void interrupt() const { kill(pid_, SIGINT); }
    // The exit code, or -1 if it did not exit by itself.
    int wait() {
        int status = 0;
        waitpid(pid_, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::string out() const { return trellis::testing::read_file(out_); }
    std::string err() const { return trellis::testing::read_file(err_); }

private:
    std::filesystem::path out_, err_;
    pid_t pid_ = 0;
};

// Whether an isolated stage process (`trellis exec-stage`) is running in folder `dir`.
bool stage_process_running_in(const std::filesystem::path& dir) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::ifstream in(entry.path() / "cmdline");
        const std::string cmdline((std::istreambuf_iterator<char>(in)), {});
        if (cmdline.find("exec-stage") == std::string::npos) continue;
        std::error_code ec;
        if (std::filesystem::read_symlink(entry.path() / "cwd", ec) == dir) return true;
    }
    return false;
}

TEST_CASE("executor: Ctrl-C cancels running stages and exits with 130 and a summary") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", R"(
        local slow = stage "test.sleep" { id = "slow", seconds = 60 }
        stage "test.noop" { id = "later", ["in"] = slow.out }
    )");
    const auto start = std::chrono::steady_clock::now();
    BackgroundRun run(sandbox);
    REQUIRE(run.wait_for_log("stage 'slow' (test.sleep) started"));
    run.interrupt();
    CHECK(run.wait() == 130);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
    const std::string summary = run.out();
    CHECK_THAT(summary, Catch::Contains("pipeline pipeline: cancelled"));
    CHECK_THAT(summary, Catch::Contains("slow") && Catch::Contains("cancelled") && Catch::Contains("interrupted"));
}

TEST_CASE("executor: a second Ctrl-C stops at once and leaves no isolated stage process behind") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", R"(stage "test.hang" { id = "stuck", isolate = true })");
    BackgroundRun run(sandbox);
    REQUIRE(run.wait_for_log("stage 'stuck' (test.hang) started"));
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // let the child start
    REQUIRE(stage_process_running_in(sandbox.dir()));
    run.interrupt();
    REQUIRE(run.wait_for_log("press Ctrl-C again"));
    run.interrupt();
    CHECK(run.wait() == 130);
    CHECK_THAT(run.out(), Catch::Contains("interrupted twice, not waited for"));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK_FALSE(stage_process_running_in(sandbox.dir()));
}

TEST_CASE("executor: Ctrl-C stops a Lua callback that would run for a day") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", R"(
        stage "test.metrics" { id = "m", when = function(r) print("spinning") while true do end end }
    )");
    BackgroundRun run(sandbox, "TRELLIS_LUA_TIME_LIMIT=86400 TRELLIS_LUA_INSTRUCTION_LIMIT=1000000000000000");
    REQUIRE(run.wait_for_log("spinning"));
    const auto start = std::chrono::steady_clock::now();
    run.interrupt();
    CHECK(run.wait() == 130);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
    CHECK_THAT(run.out(), Catch::Contains("script interrupted"));
}

TEST_CASE("executor: a stage that ignores its timeout but finishes later still fails") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, R"(stage "test.hang" { id = "late", seconds = 1, timeout = 0.3 })");
    CHECK(result.exit_code == 1);
    CHECK_THAT(summary_line(result, "late"), Catch::Contains("failed") && Catch::Contains("timed out after 0.3 s"));
}

TEST_CASE("executor: a failure at the head of a long chain skips all of it") {
    Sandbox sandbox;
    const auto result = run_script(sandbox, R"(
        local prev = stage "test.fail" { id = "head" }
        for i = 1, 100000 do prev = stage "test.noop" { id = "s" .. i, ["in"] = prev.out } end
    )");
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.out, Catch::Contains("100001 stages: 1 failed, 100000 skipped"));
}

TEST_CASE("executor: out-of-range options and runaway config values are refused before running") {
    Sandbox sandbox;
    auto result = run_script(sandbox, "stage \"test.sleep\" { id = \"a\", timeout = 1e10 }\n");
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("pipeline.lua:1: timeout must be a number of seconds from 0 to 31536000"));
    result = run_script(sandbox, "local t = { 1 }\nfor i = 1, 24 do t = { a = t, b = t } end\nstage \"test.sleep\" { label = t }\n");
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("pipeline.lua:3: 'label'") && Catch::Contains("is too large to be a config value"));
    result = run_script(sandbox, "local P = params { opts = { 1, nil, 3, x = 5 } }\n");
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("pipeline.lua:1: param 'opts' mixes a list with named keys"));
    result = run_script(sandbox, R"(lua_stage { id = "x", outputs = { ["../../evil"] = "report" }, run = function() return {} end })");
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("lua_stage: output name '../../evil' must be lower-case letters"));
    result = run_script(sandbox, "pipeline { name = \"x\", descr = \"y\" }\nstage \"test.noop\" {}\n");
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("pipeline.lua:1: pipeline: 'descr' is not one of its keys"));
    CHECK_FALSE(std::filesystem::exists(sandbox.dir() / ".trellis"));
}

TEST_CASE("executor: the quickstart pipeline runs end to end and exports a model") {
    Sandbox sandbox;
    const auto result = sandbox.run(std::string("run ") + EXAMPLES_DIR + "/quickstart.lua");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("pipeline quickstart: succeeded") && Catch::Contains("10 succeeded"));
    const auto version = sandbox.dir() / ".trellis" / "registry" / "breast_cancer" / "1";
    REQUIRE(std::filesystem::exists(version / "model.trls"));
    const auto card = nlohmann::json::parse(trellis::testing::read_file(version / "model.json"));
    CHECK(card.at("flavor") == "linear");
    CHECK(card.at("metrics").at("roc_auc").get<double>() >= 0.95);
    CHECK_THAT(summary_line(result, "export"), Catch::Contains(version.string()));
    const auto run_dir = std::filesystem::directory_iterator(sandbox.dir() / ".trellis" / "runs")->path();
    const auto record = nlohmann::json::parse(trellis::testing::read_file(run_dir / "run.json"));
    CHECK(record.at("status") == "succeeded");
    const auto drift = nlohmann::json::parse(trellis::testing::read_file(run_dir / "drift" / "report.json"));
    CHECK(drift.at("compared_columns") == 31); // the 30 features and the target
    CHECK(drift.at("columns").at(0).at("method") == "ks");   // 427 training rows: a test, not a distance

    // A second run with another gate re-checks the gate, but the same model with the same metrics
    // is exported already: the export is reused, and no version 2 appears.
    const auto again = sandbox.run(std::string("run ") + EXAMPLES_DIR + "/quickstart.lua --set min_auc=0.9");
    CHECK(again.exit_code == 0);
    CHECK_THAT(summary_line(again, "gate"), Catch::Contains("succeeded"));
    CHECK_THAT(summary_line(again, "export"), Catch::Contains("cached"));
    CHECK_FALSE(std::filesystem::exists(sandbox.dir() / ".trellis" / "registry" / "breast_cancer" / "2"));
    // --no-cache runs every stage: the export writes the next version.
    const auto forced = sandbox.run(std::string("run --no-cache ") + EXAMPLES_DIR + "/quickstart.lua --set min_auc=0.9");
    CHECK(forced.exit_code == 0);
    CHECK_THAT(summary_line(forced, "export"), Catch::Contains("succeeded"));
    CHECK(std::filesystem::exists(sandbox.dir() / ".trellis" / "registry" / "breast_cancer" / "2" / "model.json"));

    // A gate the model cannot pass stops the export.
    const auto gated = sandbox.run(std::string("run ") + EXAMPLES_DIR + "/quickstart.lua --set min_auc=1.01");
    CHECK(gated.exit_code == 1);
    CHECK_THAT(summary_line(gated, "gate"), Catch::Contains("failed") && Catch::Contains("roc_auc >= 1.01"));
    CHECK_THAT(summary_line(gated, "export"), Catch::Contains("skipped"));
    CHECK_FALSE(std::filesystem::exists(sandbox.dir() / ".trellis" / "registry" / "breast_cancer" / "3"));
}

TEST_CASE("executor: the wine example validates, sweeps XGBoost, evaluates the winner and gates it") {
    Sandbox sandbox;
    const auto result = sandbox.run(std::string("run -j 2 ") + EXAMPLES_DIR + "/wine.lua");
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("pipeline wine: succeeded") && Catch::Contains("15 succeeded"));
    CHECK_THAT(summary_line(result, "gate"), Catch::Contains("succeeded"));

    const auto show = sandbox.run("runs show latest --json");
    REQUIRE(show.exit_code == 0);
    const auto run = show.json();
    // Four trials, one winner, and the final evaluation is of the winner's model on 45 test rows.
    const auto& sweep = run.at("sweeps").at(0);
    CHECK(sweep.at("id") == "tune");
    REQUIRE(sweep.at("trials").size() == 4);
    int winners = 0;
    double best = 1e9;
    for (const auto& trial : sweep.at("trials")) {
        winners += trial.at("winner").get<bool>();
        best = std::min(best, trial.at("metrics").at("log_loss").get<double>());
    }
    CHECK(winners == 1);
    for (const auto& trial : sweep.at("trials"))
        if (trial.at("winner").get<bool>()) CHECK(trial.at("metrics").at("log_loss").get<double>() == best);
    CHECK_THAT(summary_line(result, "evaluate"), Catch::Contains("count=45"));
    // The validation's statistics and (warning) anomalies are stored with the run.
    std::set<std::string> kinds;
    for (const auto& report : run.at("data_reports")) kinds.insert(report.at("kind").get<std::string>());
    CHECK(kinds.count("trellis.data_statistics") == 1);
    CHECK(kinds.count("trellis.anomalies") == 1);
}
