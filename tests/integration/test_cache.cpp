// Stage caching through the real binary: which stages a re-run reuses and which it runs again,
// after changing nothing, a config value, a data file, a plugin file, and with cache = false,
// cache_ttl and --no-cache; and that `trellis plan` predicts the same.
#include "store_helpers.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace trellis::testing;

namespace {

// Each execution of a stage with `record` appends a line to its file. A config value naming an
// existing file is hashed into the stage's cache key (it may be data the stage reads), so the
// tests count and remove the record files before each run: the keys stay what they were, and a
// file that appears says the stage was executed.
struct Records {
    const Sandbox& sandbox;
    std::string path(const std::string& stage) const { return (sandbox.dir() / ("rec_" + stage + ".txt")).string(); }
    size_t take(const std::string& stage) const {
        const size_t lines = count_lines(path(stage));
        std::filesystem::remove(path(stage));
        return lines;
    }
};

Result run_pipeline(const Sandbox& sandbox, const std::string& options = "") {
    return sandbox.run(exec_plugins + "-q run pipeline.lua " + options);
}

Result plan_pipeline(const Sandbox& sandbox, const std::string& options = "") {
    return sandbox.run(exec_plugins + "-q plan pipeline.lua " + options);
}

// The status of every stage in the summary, as "id=status" words, for one readable comparison.
std::string statuses(const Result& result, const std::vector<std::string>& stages) {
    std::string out;
    for (const auto& stage : stages) out += (out.empty() ? "" : " ") + stage + "=" + stage_status(result, stage);
    return out;
}

// What `trellis plan` predicted, in the same form ("cached" or "runs" for each stage).
std::string verdicts(const Result& plan, const std::vector<std::string>& stages) {
    std::string out;
    for (const auto& stage : stages) out += (out.empty() ? "" : " ") + stage + "=" + plan_verdict(plan, stage);
    return out;
}

// The run's statuses in plan's words: "cached" stays, anything else ran.
std::string as_verdicts(const Result& result, const std::vector<std::string>& stages) {
    std::string out;
    for (const auto& stage : stages)
        out += (out.empty() ? "" : " ") + stage + "=" + (stage_status(result, stage) == "cached" ? "cached" : "runs");
    return out;
}

} // namespace

TEST_CASE("cache: an unchanged re-run reuses every stage and executes none") {
    Sandbox sandbox;
    Records records{sandbox};
    sandbox.write("pipeline.lua", R"(
        local t = stage "test.table" { id = "t", rows = 5000, record = ")" + records.path("t") + R"(" }
        local k = stage "test.track" { id = "k", table = t.table, steps = 20 }
        local s = stage "test.sleep" { id = "s", seconds = 0.05, ["in"] = k.metrics, record = ")" + records.path("s") + R"(" }
        local other = stage "test.sleep" { id = "other", seconds = 0.05, record = ")" + records.path("other") + R"(" }
        stage "test.noop" { id = "join", ["in"] = s.out, after = other }
    )");
    const std::vector<std::string> stages = {"t", "k", "s", "other", "join"};
    const auto first = run_pipeline(sandbox);
    INFO(first.err);
    REQUIRE(first.exit_code == 0);
    CHECK(statuses(first, stages) == "t=succeeded k=succeeded s=succeeded other=succeeded join=succeeded");
    CHECK(records.take("t") == 1);
    CHECK(records.take("s") == 1);
    CHECK(records.take("other") == 1);

    const auto second = run_pipeline(sandbox);
    INFO(second.out << second.err);
    REQUIRE(second.exit_code == 0);
    CHECK(statuses(second, stages) == "t=cached k=cached s=cached other=cached join=cached");
    CHECK_THAT(second.out, Catch::Contains("(5 stages: 5 cached)"));
    CHECK(records.take("t") == 0);
    CHECK(records.take("s") == 0);
    CHECK(records.take("other") == 0);

    // The store agrees: the second run's executions are all cached, each pointing at the first's.
    SqliteDb db(sandbox.dir() / ".trellis" / "metadata.db");
    const auto runs = db.column("SELECT id FROM runs ORDER BY started_at");
    REQUIRE(runs.size() == 2);
    CHECK(db.column("SELECT DISTINCT status FROM executions WHERE run_id = ?1", {runs[1]}) ==
          std::vector<std::string>{"cached"});
    CHECK(db.scalar("SELECT count(*) FROM executions c JOIN executions s ON s.id = c.cached_from "
                    "WHERE c.run_id = ?1 AND s.run_id = ?2 AND s.stage_id = c.stage_id",
                    {runs[1], runs[0]}) == "5");
    // runs show names the run the outputs came from.
    const auto show = sandbox.run("runs show latest --json");
    REQUIRE(show.exit_code == 0);
    const auto show_json = show.json(); // held: a temporary would end before the loop
    for (const auto& stage : show_json.at("stages")) CHECK(stage.at("cached_from_run") == runs[0]);
}

TEST_CASE("cache: a changed config value runs that stage and its dependents, and nothing else") {
    Sandbox sandbox;
    Records records{sandbox};
    sandbox.write("pipeline.lua", R"(
        local P = params { rate = 0.1 }
        local src = stage "test.table" { id = "src", rows = 2000, record = ")" + records.path("src") + R"(" }
        local mid = stage "test.track" { id = "mid", table = src.table, steps = 5, rate = P.rate }
        local down = stage "test.sleep" { id = "down", seconds = 0.01, ["in"] = mid.metrics, record = ")" + records.path("down") + R"(" }
        stage "test.noop" { id = "last", ["in"] = down.out }
        stage "test.sleep" { id = "other", seconds = 0.01, record = ")" + records.path("other") + R"(" }
    )");
    const std::vector<std::string> stages = {"src", "mid", "down", "last", "other"};
    REQUIRE(run_pipeline(sandbox).exit_code == 0);
    for (const auto& stage : {"src", "down", "other"}) CHECK(records.take(stage) == 1);

    const auto changed = run_pipeline(sandbox, "--set rate=0.2");
    INFO(changed.out << changed.err);
    REQUIRE(changed.exit_code == 0);
    // mid's output carries its rate, so down runs; down's output does not depend on its input
    // (it is the same bytes as before), so last, which reads it, is reused.
    CHECK(statuses(changed, stages) == "src=cached mid=succeeded down=succeeded last=cached other=cached");
    CHECK(records.take("src") == 0);
    CHECK(records.take("down") == 1);
    CHECK(records.take("other") == 0);

    // Back to the first value: every stage has an execution with that key again.
    const auto back = run_pipeline(sandbox, "--set rate=0.1");
    CHECK(back.exit_code == 0);
    CHECK(statuses(back, stages) == "src=cached mid=cached down=cached last=cached other=cached");
    for (const auto& stage : {"src", "down", "other"}) CHECK(records.take(stage) == 0);
}

TEST_CASE("cache: a data file's content, not its name or time, decides whether its stage and the ones after it run") {
    Sandbox sandbox;
    Records records{sandbox};
    const auto data = sandbox.dir() / "data.csv";
    auto write_data = [&](const std::string& text) { std::ofstream(data, std::ios::trunc) << text; };
    write_data("x,y\n1.5,a\n2.5,b\n3.5,c\n");
    sandbox.write("pipeline.lua", R"(
        local load = stage "data.csv" { id = "load", path = ")" + data.string() + R"(" }
        local sum = stage "test.track" { id = "sum", table = load.table, steps = 3 }
        stage "test.sleep" { id = "after", seconds = 0.01, ["in"] = sum.metrics, record = ")" + records.path("after") + R"(" }
        stage "test.sleep" { id = "other", seconds = 0.01, record = ")" + records.path("other") + R"(" }
    )");
    const std::vector<std::string> stages = {"load", "sum", "after", "other"};
    auto first = run_pipeline(sandbox);
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    CHECK_THAT(stage_line(first, "sum"), Catch::Contains("sum=7.5"));
    records.take("after");
    records.take("other");

    SECTION("new values: the data stage and everything downstream run") {
        write_data("x,y\n1.5,a\n2.5,b\n4.5,c\n");
        const auto changed = run_pipeline(sandbox);
        INFO(changed.out << changed.err);
        CHECK(changed.exit_code == 0);
        CHECK(statuses(changed, stages) == "load=succeeded sum=succeeded after=succeeded other=cached");
        CHECK_THAT(stage_line(changed, "sum"), Catch::Contains("sum=8.5"));
        CHECK(records.take("after") == 1);
        CHECK(records.take("other") == 0);
    }
    SECTION("a change the sum does not see: the table changes, the stage after the sum stays cached") {
        write_data("x,y\n1.5,A\n2.5,b\n3.5,c\n");
        const auto changed = run_pipeline(sandbox);
        INFO(changed.out << changed.err);
        CHECK(changed.exit_code == 0);
        CHECK(statuses(changed, stages) == "load=succeeded sum=succeeded after=cached other=cached");
        CHECK(records.take("after") == 0);
    }
    SECTION("the same bytes written again (a new mtime): nothing runs") {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        write_data("x,y\n1.5,a\n2.5,b\n3.5,c\n");
        std::filesystem::last_write_time(data, std::filesystem::file_time_type::clock::now());
        const auto same = run_pipeline(sandbox);
        INFO(same.out << same.err);
        CHECK(same.exit_code == 0);
        CHECK(statuses(same, stages) == "load=cached sum=cached after=cached other=cached");
        CHECK(records.take("after") == 0);
    }
    SECTION("the file replaced by a copy (a new inode) with the same bytes: nothing runs") {
        const auto copy = sandbox.dir() / "copy.csv";
        std::filesystem::copy_file(data, copy);
        std::filesystem::rename(copy, data);
        const auto same = run_pipeline(sandbox);
        INFO(same.out << same.err);
        CHECK(same.exit_code == 0);
        CHECK(statuses(same, stages) == "load=cached sum=cached after=cached other=cached");
    }
}

TEST_CASE("cache: a plugin file with another digest runs its stages again, other plugins' stages stay cached") {
    Sandbox sandbox;
    Records records{sandbox};
    const auto plugins = sandbox.dir() / "plugins";
    std::filesystem::create_directories(plugins);
    const auto copy = plugins / "fixture_exec.so";
    std::filesystem::copy_file(std::string(FIXTURE_EXEC_DIR) + "/fixture_exec.so", copy);
    const auto data = sandbox.dir() / "data.csv";
    std::ofstream(data) << "x\n1.5\n2.5\n";
    sandbox.write("pipeline.lua", R"(
        local load = stage "data.csv" { id = "load", path = ")" + data.string() + R"(" }
        local sum = stage "test.track" { id = "sum", table = load.table, steps = 3 }
        stage "test.sleep" { id = "nap", seconds = 0.01, record = ")" + records.path("nap") + R"(" }
    )");
    const std::vector<std::string> stages = {"load", "sum", "nap"};
    const std::string with_copy = "-q --plugin-path " + plugins.string() + " ";
    auto run = [&] { return sandbox.run(with_copy + "run pipeline.lua"); };

    const auto first = run();
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    CHECK(records.take("nap") == 1);
    const auto second = run();
    CHECK(statuses(second, stages) == "load=cached sum=cached nap=cached");
    CHECK(records.take("nap") == 0);

    // Bytes appended after the end of the ELF file: the loader ignores them, the digest changes.
    const auto digest_before = sha256_file(copy);
    std::ofstream(copy, std::ios::binary | std::ios::app) << std::string("rebuilt: trailing bytes\n") + std::string(40, '\0');
    REQUIRE(sha256_file(copy) != digest_before);
    const auto listed = sandbox.run(with_copy + "plugins list --json");
    INFO(listed.out << listed.err);
    REQUIRE(listed.exit_code == 0);
    bool loaded = false;
    const auto listed_json = listed.json(); // held: a temporary would end before the loop
    for (const auto& plugin : listed_json.at("plugins")) loaded = loaded || plugin.at("name") == "fixture-exec";
    CHECK(loaded);
    CHECK(listed.json().at("broken").empty());

    const auto plan = sandbox.run(with_copy + "plan pipeline.lua");
    CHECK(verdicts(plan, stages) == "load=cached sum=runs nap=runs");
    const auto rebuilt = run();
    INFO(rebuilt.out << rebuilt.err);
    CHECK(rebuilt.exit_code == 0);
    CHECK(statuses(rebuilt, stages) == "load=cached sum=succeeded nap=succeeded");
    CHECK(records.take("nap") == 1);

    // The executions name the plugin file they ran with.
    SqliteDb db(sandbox.dir() / ".trellis" / "metadata.db");
    const auto digests = db.column("SELECT DISTINCT plugin_digest FROM executions WHERE stage_id = 'sum' AND "
                                   "status = 'succeeded' ORDER BY ended_at");
    CHECK(digests == std::vector<std::string>{digest_before, sha256_file(copy)});

    const auto again = run();
    CHECK(statuses(again, stages) == "load=cached sum=cached nap=cached");
    CHECK(records.take("nap") == 0);
}

TEST_CASE("cache: cache = false always runs, cache_ttl expires, --no-cache runs everything, and plan predicts each") {
    Sandbox sandbox;
    Records records{sandbox};
    sandbox.write("pipeline.lua", R"(
        local P = params { rate = 0.1 }
        local t = stage "test.table" { id = "t", rows = 1000, record = ")" + records.path("t") + R"(" }
        local k = stage "test.track" { id = "k", table = t.table, steps = 3, rate = P.rate }
        stage "test.sleep" { id = "never", seconds = 0.01, cache = false, record = ")" + records.path("never") + R"(" }
        stage "test.sleep" { id = "brief", seconds = 0.01, cache_ttl = 1, record = ")" + records.path("brief") + R"(" }
        stage "test.sleep" { id = "hour", seconds = 0.01, cache_ttl = "1h", record = ")" + records.path("hour") + R"(" }
    )");
    const std::vector<std::string> stages = {"t", "k", "never", "brief", "hour"};
    auto take_all = [&] {
        std::string out;
        for (const auto& stage : {"t", "never", "brief", "hour"})
            out += (out.empty() ? "" : " ") + std::string(stage) + "=" + std::to_string(records.take(stage));
        return out;
    };

    // Before any run there is no store: plan predicts nothing, and creates nothing.
    auto plan = plan_pipeline(sandbox);
    INFO(plan.out << plan.err);
    REQUIRE(plan.exit_code == 0);
    CHECK_THAT(plan.out, !Catch::Contains("=>") && !Catch::Contains("would be reused"));
    CHECK_THAT(plan_line(plan, "never"), Catch::Contains("[cache=false]"));
    CHECK_THAT(plan_line(plan, "brief"), Catch::Contains("[cache_ttl="));
    CHECK_THAT(plan_line(plan, "hour"), Catch::Contains("[cache_ttl="));
    CHECK_FALSE(std::filesystem::exists(sandbox.dir() / ".trellis"));

    const auto first = run_pipeline(sandbox);
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    CHECK(take_all() == "t=1 never=1 brief=1 hour=1");
    const auto first_id = SqliteDb(sandbox.dir() / ".trellis" / "metadata.db").scalar("SELECT id FROM runs");

    plan = plan_pipeline(sandbox);
    INFO(plan.out);
    CHECK(plan.exit_code == 0);
    CHECK(plan_verdict(plan, "never") == "runs");
    CHECK_THAT(plan_line(plan, "never"), Catch::EndsWith("=> runs, cache = false"));
    CHECK_THAT(plan_line(plan, "t"), Catch::EndsWith("=> cached, reuses run " + first_id));
    CHECK(plan_verdict(plan, "k") == "cached");
    CHECK(plan_verdict(plan, "hour") == "cached");

    // Once brief's second has passed, only it and `never` run.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    plan = plan_pipeline(sandbox);
    CHECK(verdicts(plan, stages) == "t=cached k=cached never=runs brief=runs hour=cached");
    CHECK_THAT(plan_line(plan, "brief"), Catch::EndsWith("=> runs, no execution matches within its cache_ttl"));
    CHECK_THAT(plan.out, Catch::Contains("3 of 5 stages would be reused from the cache"));
    const auto later = run_pipeline(sandbox);
    INFO(later.out << later.err);
    CHECK(later.exit_code == 0);
    CHECK(statuses(later, stages) == "t=cached k=cached never=succeeded brief=succeeded hour=cached");
    CHECK(as_verdicts(later, stages) == verdicts(plan, stages));
    CHECK(take_all() == "t=0 never=1 brief=1 hour=0");

    // A changed param: plan says k runs because of its config, nothing downstream of it here.
    plan = plan_pipeline(sandbox, "--set rate=0.5");
    CHECK(plan_verdict(plan, "k") == "runs");
    CHECK_THAT(plan_line(plan, "k"), Catch::EndsWith("=> runs, no earlier execution matches"));
    const auto changed = run_pipeline(sandbox, "--set rate=0.5");
    CHECK(changed.exit_code == 0);
    // (brief is left out: whether its last execution is still within its second depends on timing)
    const std::vector<std::string> timeless = {"t", "k", "never", "hour"};
    CHECK(as_verdicts(changed, timeless) == verdicts(plan, timeless));
    CHECK(verdicts(plan, timeless) == "t=cached k=runs never=runs hour=cached");
    take_all();

    // --no-cache: plan and run agree that everything runs; the results are still recorded, so the
    // next run reuses them.
    plan = plan_pipeline(sandbox, "--no-cache");
    CHECK(verdicts(plan, stages) == "t=runs k=runs never=runs brief=runs hour=runs");
    CHECK_THAT(plan_line(plan, "t"), Catch::EndsWith("=> runs, --no-cache"));
    CHECK_THAT(plan.out, Catch::Contains("0 of 5 stages would be reused from the cache"));
    const auto forced = run_pipeline(sandbox, "--no-cache");
    INFO(forced.out << forced.err);
    CHECK(forced.exit_code == 0);
    CHECK(statuses(forced, stages) == "t=succeeded k=succeeded never=succeeded brief=succeeded hour=succeeded");
    CHECK(take_all() == "t=1 never=1 brief=1 hour=1");
    const auto forced_id = SqliteDb(sandbox.dir() / ".trellis" / "metadata.db")
                               .scalar("SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1");
    plan = plan_pipeline(sandbox);
    CHECK_THAT(plan_line(plan, "t"), Catch::EndsWith("=> cached, reuses run " + forced_id));
    CHECK_THAT(plan_line(plan, "hour"), Catch::EndsWith("=> cached, reuses run " + forced_id));
    CHECK(plan_verdict(plan, "never") == "runs");
}

TEST_CASE("cache: plan predicts exactly what a run reuses when a middle stage changes") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", R"(
        local P = params { rows = 1000 }
        local a = stage "test.table" { id = "a", rows = 500 }
        local b = stage "test.table" { id = "b", rows = P.rows }
        local kb = stage "test.track" { id = "kb", table = b.table, steps = 2 }
        local ka = stage "test.track" { id = "ka", table = a.table, steps = 2 }
        stage "test.noop" { id = "end_b", ["in"] = kb.metrics }
        stage "test.noop" { id = "end_a", ["in"] = ka.metrics }
    )");
    const std::vector<std::string> stages = {"a", "b", "kb", "ka", "end_b", "end_a"};
    REQUIRE(run_pipeline(sandbox).exit_code == 0);
    const auto plan = plan_pipeline(sandbox, "--set rows=2000");
    INFO(plan.out << plan.err);
    CHECK(verdicts(plan, stages) == "a=cached b=runs kb=runs ka=cached end_b=runs end_a=cached");
    CHECK_THAT(plan_line(plan, "kb"), Catch::EndsWith("=> runs, after 'b', which runs"));
    CHECK_THAT(plan.out, Catch::Contains("3 of 6 stages would be reused from the cache"));
    const auto run = run_pipeline(sandbox, "--set rows=2000");
    INFO(run.out << run.err);
    CHECK(run.exit_code == 0);
    CHECK(as_verdicts(run, stages) == verdicts(plan, stages));
}

TEST_CASE("cache: a stage's fingerprint decides reuse: same value cached, new value runs, 'always' runs every time") {
    Sandbox sandbox;
    Records records{sandbox};
    sandbox.write("pipeline.lua", R"(
        local f = stage "test.fingerprinted" { id = "f", record = ")" + records.path("f") + R"(" }
        stage "test.track" { id = "after", steps = 2, after = f }
    )");
    auto run_with = [&](const std::string& value) {
        return sandbox.run(exec_plugins + "-q run pipeline.lua", "FIXTURE_FINGERPRINT=" + value);
    };
    auto plan_with = [&](const std::string& value) {
        return sandbox.run(exec_plugins + "-q plan pipeline.lua", "FIXTURE_FINGERPRINT=" + value);
    };

    auto run = run_with("rows=10,max_id=10");
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(records.take("f") == 1);

    run = run_with("rows=10,max_id=10");
    CHECK(stage_status(run, "f") == "cached");
    CHECK(records.take("f") == 0);
    CHECK(plan_verdict(plan_with("rows=10,max_id=10"), "f") == "cached");

    // The source changed: the fingerprint differs, so the stage runs.
    CHECK(plan_verdict(plan_with("rows=11,max_id=11"), "f") == "runs");
    run = run_with("rows=11,max_id=11");
    CHECK(stage_status(run, "f") == "succeeded");
    CHECK(records.take("f") == 1);

    // "always" runs every time, and plan says why.
    for (int i = 0; i < 2; ++i) {
        run = run_with("always");
        CHECK(stage_status(run, "f") == "succeeded");
        CHECK(records.take("f") == 1);
    }
    const auto plan = plan_with("always");
    CHECK_THAT(plan_line(plan, "f"), Catch::EndsWith("=> runs, its fingerprint asks to run every time"));

    // A fingerprint that fails is not a crash: the stage is not reused, it runs (and here succeeds).
    run = run_with("fail");
    INFO(run.out << run.err);
    CHECK(run.exit_code == 0);
    CHECK(stage_status(run, "f") == "succeeded");
    CHECK_THAT(run.err, Catch::Contains("the source is unreachable"));
    CHECK(records.take("f") == 1);
}
