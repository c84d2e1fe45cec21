// Crash safety of the store: trellis killed with SIGKILL at random moments (while it writes
// artifacts, records executions and metric batches, or has finished) must leave metadata.db
// intact, no partial or damaged object, and no record of an artifact that is not stored. The next
// run reuses what the killed one finished, the killed run is reported interrupted, and
// `run --resume` finishes it, redoing only what had not finished.
#include "store_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <csignal>
#include <cstdio>
#include <random>
#include <sstream>
#include <thread>

using namespace trellis::testing;

namespace {

using Seconds = std::chrono::duration<double>;

double seconds_since(std::chrono::steady_clock::time_point start) {
    return Seconds(std::chrono::steady_clock::now() - start).count();
}

// Record files: each execution of a stage with `record` appends a line to its own file. A config
// value that names an existing file counts as data the stage reads (its content goes into the
// cache key), so a record file left in place would make its stage miss the cache on the next
// run. take() therefore counts and removes the files before every run: a stage's key is then the
// same from run to run, and a file that appears again says the stage was executed again.
class Records {
public:
    Records(const Sandbox& sandbox, std::vector<std::string> stages) : sandbox_(sandbox), stages_(std::move(stages)) {}

    std::string path(const std::string& stage) const { return (sandbox_.dir() / ("rec_" + stage + ".txt")).string(); }

    // Lines each stage's file gained since the last take(), removing the files.
    std::map<std::string, size_t> take() {
        std::map<std::string, size_t> out;
        for (const auto& stage : stages_) {
            out[stage] = count_lines(path(stage));
            totals_[stage] += out[stage];
            std::filesystem::remove(path(stage));
        }
        return out;
    }
    size_t total(const std::string& stage) const { return totals_.count(stage) ? totals_.at(stage) : 0; }

private:
    const Sandbox& sandbox_;
    std::vector<std::string> stages_;
    std::map<std::string, size_t> totals_;
};

// Nine stages in two branches and a join: tables of 2.1M rows (16.8 MB, above the artifact
// store's 16 MiB threshold, so it is hashed while written), 300k and 200k rows, sleeps, and
// tracking stages logging 2000 and 500 metric points. `scale` changes the tables of a and b, and
// through them ka, kb, s2 and join; big, s1 and kbig do not depend on it.
std::string crash_script(const Records& records) {
    return R"(pipeline { name = "crash" }
local P = params { scale = 1.0 }
local big = stage "test.table" { id = "big", rows = 2100000 }
local a = stage "test.table" { id = "a", rows = 300000, scale = P.scale, record = ")" + records.path("a") + R"(" }
local s1 = stage "test.sleep" { id = "s1", seconds = 0.1, record = ")" + records.path("s1") + R"(" }
local b = stage "test.table" { id = "b", rows = 200000, scale = P.scale * 2, ["in"] = s1.out, record = ")" +
           records.path("b") + R"(" }
local ka = stage "test.track" { id = "ka", table = a.table, steps = 2000, rate = P.scale }
local kb = stage "test.track" { id = "kb", table = b.table, steps = 2000, optimizer = "adam" }
local kbig = stage "test.track" { id = "kbig", table = big.table, steps = 500 }
local s2 = stage "test.sleep" { id = "s2", seconds = 0.05, ["in"] = ka.metrics, record = ")" + records.path("s2") + R"(" }
stage "test.noop" { id = "join", ["in"] = kb.metrics, after = { s2, kbig } }
)";
}

const std::vector<std::string> all_stages = {"big", "a", "s1", "b", "ka", "kb", "kbig", "s2", "join"};
// Stages whose cache key depends on `scale`: with a new scale they must run unless the killed run
// finished them.
const std::vector<std::string> scaled_stages = {"a", "b", "ka", "kb", "s2", "join"};

bool contains(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// Checks of the metadata a kill must not break beyond check_store's: every finished execution
// recorded whole (its one output, and all the metric points a tracking stage logged), and no
// execution left "running" by a process that is gone.
std::vector<std::string> check_executions(const std::filesystem::path& store) {
    std::vector<std::string> problems;
    if (!std::filesystem::exists(store / "metadata.db")) return problems;
    SqliteDb db(store / "metadata.db");
    if (db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'executions'") != "1") return problems;
    for (const auto& row : db.query("SELECT e.id, e.stage_id, e.status, (SELECT count(*) FROM events ev WHERE "
                                    "ev.execution_id = e.id AND ev.kind = 'output') FROM executions e "
                                    "WHERE e.status IN ('succeeded', 'cached')"))
        if (*row[3] != "1")
            problems.push_back("execution " + *row[0] + " (" + *row[1] + ", " + *row[2] + ") has " + *row[3] +
                               " outputs recorded, not 1");
    for (const auto& row : db.query("SELECT e.id, e.stage_id, json_extract(e.config, '$.steps'), (SELECT count(*) "
                                    "FROM metrics m WHERE m.execution_id = e.id AND m.name = 'loss') FROM executions e "
                                    "WHERE e.stage_name = 'test.track' AND e.status = 'succeeded'"))
        if (row[2] != row[3])
            problems.push_back("execution " + *row[0] + " (" + *row[1] + ") logged " + row[2].value_or("?") +
                               " loss points, " + row[3].value_or("?") + " are recorded");
    return problems;
}

struct Timing {
    double recorded = 0; // seconds until the run appeared in the store
    double total = 0;    // seconds until the process ended
};

// Runs trellis to its end, noting when its run was recorded (polling metadata.db for its pid).
Timing timed_run(const Sandbox& sandbox, const std::vector<std::string>& args, Result& result) {
    const auto database = sandbox.dir() / ".trellis" / "metadata.db";
    const auto start = std::chrono::steady_clock::now();
    const auto started = start_trellis(sandbox, args, "timed");
    Timing timing;
    for (;;) {
        siginfo_t info{};
        info.si_pid = 0;
        if (::waitid(P_PID, static_cast<id_t>(started.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0)
            break; // ended (reaped by wait() below)
        if (timing.recorded == 0 && std::filesystem::exists(database)) {
            try {
                SqliteDb db(database);
                if (db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'runs'") == "1" &&
                    db.scalar("SELECT count(*) FROM runs WHERE pid = ?1", {std::to_string(started.pid)}) == "1")
                    timing.recorded = seconds_since(start);
            } catch (const std::exception&) {
                // Being created: look again.
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    result = started.wait();
    timing.total = seconds_since(start);
    if (timing.recorded == 0) timing.recorded = timing.total / 2;
    return timing;
}

// Sleeps until `delay` has passed or the process has ended, whichever is first, without reaping it.
// Returns how long the process ran when it ended first.
std::optional<double> ended_within(pid_t pid, double delay) {
    const auto start = std::chrono::steady_clock::now();
    while (seconds_since(start) < delay) {
        siginfo_t info{};
        info.si_pid = 0;
        if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0)
            return seconds_since(start);
        std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp(static_cast<int>((delay - seconds_since(start)) * 1000), 0, 5)));
    }
    return std::nullopt;
}

struct KilledRun {
    std::string id;
    std::string scale;
    std::vector<std::string> finished; // stages with a succeeded or cached execution recorded
};

std::optional<KilledRun> run_of_pid(const std::filesystem::path& store, pid_t pid, const std::string& scale,
                                    std::string& status) {
    status.clear();
    if (!std::filesystem::exists(store / "metadata.db")) return std::nullopt;
    SqliteDb db(store / "metadata.db");
    if (db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'runs'") != "1") return std::nullopt;
    const auto rows = db.query("SELECT id, status FROM runs WHERE pid = ?1 ORDER BY started_at DESC LIMIT 1",
                               {std::to_string(pid)});
    if (rows.empty()) return std::nullopt;
    status = *rows[0][1];
    KilledRun run{*rows[0][0], scale, {}};
    run.finished = db.column("SELECT DISTINCT stage_id FROM executions WHERE run_id = ?1 AND status IN "
                             "('succeeded', 'cached') ORDER BY stage_id",
                             {run.id});
    return run;
}

std::string status_in_list(const Result& list, const std::string& id) {
    const auto list_json = list.json(); // held: a temporary would end before the loop
    for (const auto& run : list_json.at("runs"))
        if (run.at("id") == id) return run.at("status");
    return "(not listed)";
}

} // namespace

TEST_CASE("crash: SIGKILL at random moments leaves the store whole, and the next run or --resume finishes the work",
          "[crash][slow]") {
    Sandbox sandbox;
    const auto store = sandbox.dir() / ".trellis";
    Records records(sandbox, {"a", "b", "s1", "s2"});
    sandbox.write("crash.lua", crash_script(records));

    uint64_t seed = std::random_device{}();
    if (const char* text = std::getenv("TRELLIS_CRASH_SEED")) seed = std::stoull(text);
    int iterations = 50;
    if (const char* text = std::getenv("TRELLIS_CRASH_ITERATIONS")) iterations = std::stoi(text);
    INFO("seed " << seed << " (TRELLIS_CRASH_SEED=" << seed << " repeats this test's kill times)");
    std::mt19937_64 random(seed);

    // Two runs to completion: the first runs every stage (and scans the plugins), the second, with
    // another scale, only the scaled stages. How long they take, and when their run is recorded
    // (after the script is evaluated and the plugins are loaded), set the range of kill times.
    const std::string run_args = exec_plugins + "-q run crash.lua -j 2";
    Result warm;
    const auto full = timed_run(sandbox, words(run_args), warm);
    INFO(warm.err);
    REQUIRE(warm.exit_code == 0);
    records.take();
    const auto partial = timed_run(sandbox, words(run_args + " --set scale=0.999"), warm);
    REQUIRE(warm.exit_code == 0);
    CHECK(stage_status(warm, "big") == "cached");
    CHECK(stage_status(warm, "a") == "succeeded");
    records.take();
    INFO("a full run took " << full.total << " s, a run of the scaled stages " << partial.total
                            << " s, recorded after " << partial.recorded << " s");

    VerifiedObjects verified;
    int kills = 0, killed_running = 0, completed_before_kill = 0, checkpoints = 0, resumed = 0;
    std::optional<KilledRun> pending; // the last killed run, left "running" in the store
    std::vector<std::string> interrupted_ids;

    // Runs the pipeline to completion after a kill: the killed run must be listed as interrupted,
    // the completing run (a fresh one, or --resume of the killed one) must reuse every stage the
    // killed run finished and execute the others; then an unchanged run reuses everything.
    auto complete = [&](const std::string& last_scale, bool use_resume) {
        ++checkpoints;
        const std::string scale = pending ? pending->scale : last_scale;
        records.take();
        Result result;
        std::vector<std::string> finished;
        if (pending) {
            const auto list = sandbox.run("runs list --json --limit 0");
            REQUIRE(list.exit_code == 0);
            CHECK(status_in_list(list, pending->id) == "interrupted");
            finished = pending->finished;
        }
        INFO("completing " << (pending ? "killed run " + pending->id : std::string("after a run that was not killed"))
                           << " with " << (use_resume && pending ? "--resume" : "a new run") << "; finished stages: "
                           << [&] {
                                  std::string text;
                                  for (const auto& stage : finished) text += stage + " ";
                                  return text;
                              }());
        if (use_resume && pending) {
            result = sandbox.run(exec_plugins + "-q run --resume " + pending->id + " -j 2");
            ++resumed;
        } else {
            result = sandbox.run(run_args + " --set scale=" + scale);
        }
        INFO(result.out << result.err);
        CHECK(result.exit_code == 0);
        const auto executed = records.take();
        for (const auto& stage : all_stages) {
            INFO("stage " << stage);
            if (contains(finished, stage)) {
                CHECK(stage_status(result, stage) == "cached");
                if (executed.count(stage)) CHECK(executed.at(stage) == 0);
            } else if (pending && contains(scaled_stages, stage)) {
                CHECK(stage_status(result, stage) == "succeeded");
                if (executed.count(stage)) CHECK(executed.at(stage) == 1);
            }
        }
        CHECK(executed.at("s1") == 0); // its key never changes: cached ever since the first run
        if (use_resume && pending) {
            const auto show = sandbox.run("runs show " + pending->id + " --json");
            REQUIRE(show.exit_code == 0);
            CHECK(show.json().at("status") == "succeeded");
        }
        if (pending) interrupted_ids.push_back(pending->id);
        pending.reset();

        const auto again = sandbox.run(run_args + " --set scale=" + scale);
        INFO(again.out << again.err);
        CHECK(again.exit_code == 0);
        CHECK_THAT(again.out, Catch::Contains("(9 stages: 9 cached)"));
        for (const auto& [stage, lines] : records.take()) {
            INFO("stage " << stage);
            CHECK(lines == 0);
        }
        const auto problems = check_store(store, &verified);
        INFO(join_lines(problems));
        CHECK(problems.empty());
    };

    const auto loop_start = std::chrono::steady_clock::now();
    double scaled_length = partial.total, no_cache_length = partial.recorded + full.total - full.recorded;
    std::string scale;
    for (int i = 0; i < iterations; ++i) {
        // Every scale is new, so the scaled stages run (and write new objects) unless a kill comes
        // first; every tenth run, --no-cache runs the big table and its tracker as well.
        const bool no_cache = i % 10 == 4;
        char text[32];
        std::snprintf(text, sizeof text, "%.4f", 1.0 + (i + 1) / 1000.0);
        scale = text;
        // Kill times from 0 to past the end of the run: 15% while trellis starts (before its run is
        // recorded), 75% while it runs, 10% after it should have finished.
        // A run measured once on a loaded machine may take longer than the runs after it, so each
        // run that ends before its kill shortens the expected length of its kind to what it took.
        const double startup = partial.recorded;
        double& measured = no_cache ? no_cache_length : scaled_length;
        const double length = std::max(startup + 0.05, measured);
        const double pick = std::uniform_real_distribution<double>(0, 1)(random);
        const double delay = pick < 0.15   ? std::uniform_real_distribution<double>(0, startup)(random)
                             : pick < 0.90 ? std::uniform_real_distribution<double>(startup, length)(random)
                                           : std::uniform_real_distribution<double>(length, length * 1.25)(random);
        INFO("iteration " << i << ": scale " << scale << (no_cache ? " --no-cache" : "") << ", killed after " << delay
                          << " s (the run takes about " << length << " s)");

        records.take();
        const auto started = start_trellis(sandbox, words(run_args + " --set scale=" + scale + (no_cache ? " --no-cache" : "")),
                                           "killed");
        if (const auto ran = ended_within(started.pid, delay)) measured = std::min(measured, *ran);
        ::kill(started.pid, SIGKILL);
        const auto result = started.wait();
        const bool killed = result.exit_code == 128 + SIGKILL;
        if (killed) {
            ++kills;
        } else {
            ++completed_before_kill;
            INFO(result.out << result.err);
            CHECK(result.exit_code == 0);
        }

        auto problems = check_store(store, &verified);
        const auto execution_problems = check_executions(store);
        problems.insert(problems.end(), execution_problems.begin(), execution_problems.end());
        INFO(join_lines(problems));
        CHECK(problems.empty());

        std::string status;
        auto run = run_of_pid(store, started.pid, scale, status);
        if (killed && run) {
            // Killed before it recorded its end, or after: never anything else.
            CHECK((status == "running" || status == "succeeded"));
            if (status == "running") {
                ++killed_running;
                if (pending) {
                    // The previous killed run is reaped by whichever command looks next.
                    interrupted_ids.push_back(pending->id);
                }
                pending = run;
            }
        } else if (run) {
            CHECK(status == "succeeded");
        }

        if (i % 10 == 9 || i + 1 == iterations) complete(scale, checkpoints % 2 == 1);
    }
    const double loop_seconds = seconds_since(loop_start);

    // Every killed run is interrupted (or succeeded, when --resume finished it); none is left running.
    const auto list = sandbox.run("runs list --json --limit 0");
    REQUIRE(list.exit_code == 0);
    const auto list_json = list.json(); // held: a temporary would end before the loop
    for (const auto& run : list_json.at("runs")) CHECK(run.at("status") != "running");
    for (const auto& id : interrupted_ids) {
        INFO("run " << id);
        const auto status = status_in_list(list, id);
        CHECK((status == "interrupted" || status == "succeeded"));
    }
    const auto problems = check_store(store, &verified);
    INFO(join_lines(problems));
    CHECK(problems.empty());
    const auto check = sandbox.run("check"); // trellis's own verdict agrees
    INFO(check.out << check.err);
    CHECK(check.exit_code == 0);
    // The kill times must have hit running processes most of the time, or this tests little.
    size_t temporaries = 0; // files killed writers left in tmp/ (gc removes them after an hour)
    for (const auto& entry : std::filesystem::directory_iterator(store / "tmp")) temporaries += entry.is_regular_file();
    std::ostringstream summary;
    summary << "seed " << seed << ": " << kills << " kills (" << killed_running << " of them mid-run, with the run "
            << "recorded), " << completed_before_kill << " runs finished before their kill, " << resumed
            << " resumed, " << temporaries << " partial objects left in tmp/, " << loop_seconds << " s";
    INFO(summary.str());
    if (std::getenv("TRELLIS_CRASH_VERBOSE")) WARN(summary.str());
    CHECK(kills >= iterations / 2);
    CHECK(resumed >= 1);
}

TEST_CASE("crash: --resume after SIGKILL runs only the stages that had not finished", "[crash]") {
    Sandbox sandbox;
    const auto store = sandbox.dir() / ".trellis";
    Records records(sandbox, {"a", "t", "slow"});
    sandbox.write("pipeline.lua", R"(pipeline { name = "resumable" }
local a = stage "test.sleep" { id = "a", seconds = 0.1, record = ")" + records.path("a") + R"(" }
local t = stage "test.table" { id = "t", rows = 100000, ["in"] = a.out, record = ")" + records.path("t") + R"(" }
local k = stage "test.track" { id = "k", table = t.table, steps = 100 }
local slow = stage "test.sleep" { id = "slow", seconds = 1.5, ["in"] = k.metrics, record = ")" + records.path("slow") + R"(" }
stage "test.noop" { id = "last", ["in"] = slow.out }
)");
    const auto started = start_trellis(sandbox, words(exec_plugins + "-q run pipeline.lua"), "killed");

    // Wait until k's execution is committed, so a, t and k have finished and slow is running.
    std::string run_id;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (run_id.empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        try {
            if (!std::filesystem::exists(store / "metadata.db")) continue;
            SqliteDb db(store / "metadata.db");
            run_id = db.scalar("SELECT run_id FROM executions WHERE stage_id = 'k' AND status = 'succeeded'");
        } catch (const std::exception&) {
            // The database is being created: look again.
        }
    }
    REQUIRE_FALSE(run_id.empty());

    // A run that is still running cannot be resumed.
    const auto busy = sandbox.run(exec_plugins + "run --resume " + run_id);
    CHECK(busy.exit_code == 2);
    CHECK_THAT(busy.err, Catch::Contains("--resume " + run_id + ": the run is still running (pid " +
                                         std::to_string(started.pid)));

    ::kill(started.pid, SIGKILL);
    CHECK(started.wait().exit_code == 128 + SIGKILL);
    const auto before = records.take();
    CHECK(before.at("a") == 1);
    CHECK(before.at("t") == 1);
    CHECK(before.at("slow") == 0);

    auto show = sandbox.run("runs show " + run_id + " --json");
    REQUIRE(show.exit_code == 0);
    CHECK(show.json().at("status") == "interrupted");
    CHECK_THAT(show.json().at("message").get<std::string>(), Catch::Contains("killed"));
    const auto listed = sandbox.run("runs list --status interrupted --json");
    REQUIRE(listed.exit_code == 0);
    CHECK(status_in_list(listed, run_id) == "interrupted");

    const auto resumed = sandbox.run(exec_plugins + "run --resume " + run_id);
    INFO(resumed.out << resumed.err);
    CHECK(resumed.exit_code == 0);
    CHECK(stage_status(resumed, "a") == "cached");
    CHECK(stage_status(resumed, "t") == "cached");
    CHECK(stage_status(resumed, "k") == "cached");
    CHECK(stage_status(resumed, "slow") == "succeeded");
    CHECK(stage_status(resumed, "last") == "succeeded");
    CHECK_THAT(resumed.out, Catch::Contains("(5 stages: 2 succeeded, 3 cached)"));
    CHECK_THAT(resumed.err, Catch::Contains("resuming run " + run_id));
    const auto after = records.take();
    CHECK(after.at("a") == 0); // not executed again
    CHECK(after.at("t") == 0);
    CHECK(after.at("slow") == 1);

    show = sandbox.run("runs show " + run_id + " --json");
    REQUIRE(show.exit_code == 0);
    CHECK(show.json().at("status") == "succeeded");
    const auto show_json = show.json(); // held: a temporary would end before the loop
    for (const auto& stage : show_json.at("stages")) {
        INFO(stage.dump());
        const auto id = stage.at("stage_id").get<std::string>();
        CHECK(stage.at("status") == (id == "slow" || id == "last" ? "succeeded" : "cached"));
    }
    // One run, not two: resuming finishes the same run.
    CHECK(SqliteDb(store / "metadata.db").scalar("SELECT count(*) FROM runs") == "1");

    // Resuming a run that succeeded reuses all of it.
    const auto again = sandbox.run(exec_plugins + "run --resume " + run_id);
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.err, Catch::Contains("run " + run_id + " already succeeded; resuming reuses all of it"));
    CHECK_THAT(again.out, Catch::Contains("(5 stages: 5 cached)"));
    for (const auto& [stage, lines] : records.take()) CHECK(lines == 0);

    // An id that is not a run is refused.
    const auto unknown = sandbox.run(exec_plugins + "run --resume 20200101-000000-beef");
    CHECK(unknown.exit_code == 2);
    CHECK_THAT(unknown.err, Catch::StartsWith("trellis: error: --resume") && Catch::Contains("20200101-000000-beef") &&
                                (Catch::Contains("no run") || Catch::Contains("no such run")));
    const auto problems = check_store(store);
    INFO(join_lines(problems));
    CHECK(problems.empty());
}

TEST_CASE("crash: SIGKILL while a new store is being created leaves one the next run can use", "[crash]") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", R"(
        local t = stage "test.table" { id = "t", rows = 20000 }
        stage "test.track" { id = "k", table = t.table, steps = 200 }
    )");
    uint64_t seed = std::random_device{}();
    if (const char* text = std::getenv("TRELLIS_CRASH_SEED")) seed = std::stoull(text);
    INFO("seed " << seed);
    std::mt19937_64 random(seed);

    // When does a first run create its store? (It evaluates the script and loads the plugins first.)
    Result first;
    const auto timing = timed_run(sandbox, words(exec_plugins + "-q --store timing run pipeline.lua"), first);
    REQUIRE(first.exit_code == 0);
    for (int i = 0; i < 6; ++i) {
        const std::string store = "store" + std::to_string(i);
        const double delay = std::uniform_real_distribution<double>(timing.recorded * 0.6, timing.recorded * 1.4)(random);
        INFO("store " << store << ": killed after " << delay << " s (a run is recorded after about " << timing.recorded
                      << " s)");
        const auto started = start_trellis(sandbox, words(exec_plugins + "-q --store " + store + " run pipeline.lua"), "killed");
        std::this_thread::sleep_for(Seconds(delay));
        ::kill(started.pid, SIGKILL);
        started.wait();
        auto problems = check_store(sandbox.dir() / store);
        INFO(join_lines(problems));
        CHECK(problems.empty());

        const auto next = sandbox.run(exec_plugins + "-q --store " + store + " run pipeline.lua");
        INFO(next.out << next.err);
        CHECK(next.exit_code == 0);
        problems = check_store(sandbox.dir() / store);
        CHECK(problems.empty());
        const auto list = sandbox.run("--store " + store + " runs list --json");
        REQUIRE(list.exit_code == 0);
        const auto list_json = list.json();
        for (const auto& run : list_json.at("runs")) CHECK((run.at("status") == "succeeded" || run.at("status") == "interrupted"));
    }
}
