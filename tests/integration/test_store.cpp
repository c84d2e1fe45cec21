// The store through the real binary: names and symlinks that would lead outside it, a damaged
// metadata.db or object, two runs at once, run tracking (params, metrics, tags, compare, sort),
// lineage of a registered model, and gc.
#include "store_helpers.hpp"

#include <catch2/catch.hpp>

using namespace trellis::testing;
namespace fs = std::filesystem;

namespace {

Result run_pipeline(const Sandbox& sandbox, const std::string& options = "") {
    return sandbox.run(exec_plugins + "-q run pipeline.lua " + options);
}

// The lines of `text` that are not empty.
std::vector<std::string> nonempty_lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line))
        if (!line.empty()) out.push_back(line);
    return out;
}

// Every file under `dir` with its size and SHA-256 (symlinks not followed), to tell whether
// anything in it was written.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        const auto name = fs::relative(entry.path(), dir).string();
        if (entry.is_symlink()) out[name] = "symlink";
        else if (entry.is_regular_file()) out[name] = std::to_string(entry.file_size()) + " " + sha256_file(entry.path());
        else out[name] = "dir";
    }
    return out;
}

// What changed from snapshot `before` to `after`, one line per file ("" when nothing did).
std::string changes(const std::map<std::string, std::string>& before, const std::map<std::string, std::string>& after) {
    std::string out;
    for (const auto& [name, what] : after) {
        const auto it = before.find(name);
        if (it == before.end()) out += "created " + name + "\n";
        else if (it->second != what) out += "changed " + name + " (" + it->second + " -> " + what + ")\n";
    }
    for (const auto& [name, what] : before)
        if (!after.count(name)) out += "deleted " + name + "\n";
    return out;
}

std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

const std::string small_pipeline = R"(
    pipeline { name = "small" }
    local P = params { rate = 0.1, scale = 1.0 }
    local t = stage "test.table" { id = "t", rows = 1000, scale = P.scale }
    stage "test.track" { id = "k", table = t.table, steps = 5, rate = P.rate }
)";

// Digest of output `port` of stage `stage` in the newest run that executed it.
std::string output_digest(const Sandbox& sandbox, const std::string& stage, const std::string& port,
                          const std::string& store = ".trellis") {
    SqliteDb db(sandbox.dir() / store / "metadata.db");
    return db.scalar("SELECT ev.artifact_digest FROM events ev JOIN executions e ON e.id = ev.execution_id "
                     "WHERE e.stage_id = ?1 AND ev.kind = 'output' AND ev.port = ?2 AND e.status = 'succeeded' "
                     "ORDER BY e.ended_at DESC LIMIT 1",
                     {stage, port});
}

fs::path object_path(const fs::path& store, const std::string& digest) {
    return store / "objects" / "sha256" / digest.substr(0, 2) / digest.substr(2);
}

std::vector<std::string> run_ids(const Result& list) {
    std::vector<std::string> out;
    const auto list_json = list.json(); // held: a temporary would end before the loop
    for (const auto& run : list_json.at("runs")) out.push_back(run.at("id"));
    return out;
}

} // namespace

TEST_CASE("store: run ids and names that would leave the store are refused in one line, creating nothing") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", small_pipeline);
    const std::string store = "--store deep/store ";
    REQUIRE(sandbox.run(store + exec_plugins + "-q run pipeline.lua").exit_code == 0);
    const auto top_before = entries(sandbox.dir());
    const auto deep_before = entries(sandbox.dir() / "deep");
    const auto store_before = entries(sandbox.dir() / "deep" / "store");

    // Each is refused naming what was given; the wording may say "not a run id" or "not allowed".
    struct Case {
        std::string args, name;
        bool lookup; // a name lineage looks up (it names no folder): "no artifact or model"
    };
    const std::vector<Case> cases = {
        {"runs show ../../etc", "'../../etc'", false},
        {"runs show ..", "'..'", false},
        {"runs show runs/../../x", "'runs/../../x'", false},
        {"runs compare latest ../../../escape", "'../../../escape'", false},
        {"runs show ../../etc --metric loss", "'../../etc'", false},
        {exec_plugins + "run --resume ../x", "'../x'", false},
        {exec_plugins + "run --resume ../../../escape pipeline.lua", "'../../../escape'", false},
        {exec_plugins + "run --resume /tmp/escape", "'/tmp/escape'", false},
        {"lineage ../../x", "no artifact or model '../../x'", true},
        {"lineage ../../x --dot", "no artifact or model '../../x'", true},
    };
    for (const auto& item : cases) {
        INFO("trellis " << item.args);
        const auto result = sandbox.run(store + item.args);
        INFO(result.out << result.err);
        CHECK(result.exit_code == 2);
        const auto lines = nonempty_lines(result.err);
        REQUIRE(lines.size() == 1);
        CHECK_THAT(lines[0], Catch::StartsWith("trellis: error: ") && Catch::Contains(item.name));
        if (!item.lookup) CHECK_THAT(lines[0], Catch::Contains("is not a run id") || Catch::Contains("is not allowed"));
        CHECK(result.out.empty());
    }
    CHECK(entries(sandbox.dir()) == top_before);
    CHECK(entries(sandbox.dir() / "deep") == deep_before);
    CHECK(entries(sandbox.dir() / "deep" / "store") == store_before);
    CHECK_FALSE(fs::exists("/tmp/escape"));
}

TEST_CASE("store: an object folder planted as a symlink to outside the store is refused and never read") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", small_pipeline);
    REQUIRE(run_pipeline(sandbox).exit_code == 0);
    const auto store = sandbox.dir() / ".trellis";
    const auto digest = output_digest(sandbox, "t", "table");
    REQUIRE(digest.size() == 64);

    // The fan-out folder moves outside (with the genuine object in it, so following the link would
    // even "work") and a symlink takes its place.
    const auto outside = sandbox.dir() / "outside";
    fs::create_directories(outside);
    const auto fan = store / "objects" / "sha256" / digest.substr(0, 2);
    fs::rename(fan, outside / digest.substr(0, 2));
    fs::create_directory_symlink(outside / digest.substr(0, 2), fan);
    const auto before = snapshot(outside);

    const auto result = run_pipeline(sandbox);
    INFO(result.out << result.err);
    // t cannot reuse its output (it would be read through the link) nor store it again (it would be
    // written through the link): it fails, saying why, and k is skipped.
    CHECK(result.exit_code == 1);
    CHECK(stage_status(result, "t") == "failed");
    CHECK_THAT(stage_line(result, "t"), Catch::Contains("leads outside the store"));
    CHECK_THAT(result.err, Catch::Contains("stage 't': not reusing an earlier execution: 'objects/sha256/" +
                                           digest.substr(0, 2) + "/" + digest.substr(2) + "' leads outside the store"));
    CHECK(stage_status(result, "k") == "skipped");
    CHECK(changes(before, snapshot(outside)) == "");

    const auto plan = sandbox.run(exec_plugins + "-q plan pipeline.lua");
    CHECK(plan.exit_code == 2);
    CHECK_THAT(plan.err, Catch::Contains("leads outside the store"));
    CHECK(changes(before, snapshot(outside)) == "");
}

TEST_CASE("store: symlinks planted in the store that lead outside are neither written nor read through") {
    // docs/store.md: "Every file trellis opens inside the store is opened beneath the store folder:
    // a symlink inside it that leads outside ... is refused."
    Sandbox sandbox;
    sandbox.write("pipeline.lua", small_pipeline);
    REQUIRE(run_pipeline(sandbox).exit_code == 0);
    const auto store = sandbox.dir() / ".trellis";
    const auto id = entries(store / "runs").at(0);
    const auto outside = sandbox.dir() / "outside";
    fs::create_directories(outside);
    // Whatever trellis does, it must not change anything outside, and a refusal must say why.
    auto check_outcome = [&](const Result& result, const std::map<std::string, std::string>& before) {
        INFO(result.out << result.err);
        CHECK(result.exit_code < 128);
        if (result.exit_code != 0) CHECK_THAT(result.err, Catch::Contains("outside"));
        CHECK(changes(before, snapshot(outside)) == "");
    };

    SECTION("a run's folder") {
        fs::rename(store / "runs" / id, outside / id);
        fs::create_directory_symlink(outside / id, store / "runs" / id);
        const auto before = snapshot(outside);

        // runs show reads the database, not the folder.
        const auto show = sandbox.run("runs show " + id);
        INFO(show.out << show.err);
        CHECK(show.exit_code == 0);
        CHECK_THAT(show.out, Catch::Contains("run " + id) && Catch::Contains("status:    succeeded"));
        CHECK(changes(before, snapshot(outside)) == "");

        // Resuming the run writes its lock, run.log and run.json in the run's folder.
        check_outcome(sandbox.run(exec_plugins + "-q run --resume " + id), before);
    }
    SECTION("the runs folder") {
        fs::rename(store / "runs", outside / "runs");
        fs::create_directory_symlink(outside / "runs", store / "runs");
        const auto before = snapshot(outside);
        check_outcome(run_pipeline(sandbox, "--set rate=0.5"), before);
    }
    SECTION("metadata.db") {
        fs::rename(store / "metadata.db", outside / "metadata.db");
        fs::create_symlink(outside / "metadata.db", store / "metadata.db");
        const auto before = snapshot(outside);
        check_outcome(run_pipeline(sandbox, "--set rate=0.5"), before);
    }
}

TEST_CASE("store: a damaged metadata.db is one clear error naming it, exit code 2, and nothing runs") {
    Sandbox sandbox;
    const auto record = (sandbox.dir() / "ran.txt").string();
    sandbox.write("pipeline.lua", std::string(small_pipeline) + "stage \"test.sleep\" { id = \"s\", seconds = 0.01, record = \"" +
                                      record + "\" }\n");
    const auto first = run_pipeline(sandbox);
    INFO(first.err);
    REQUIRE(first.exit_code == 0);
    REQUIRE(run_pipeline(sandbox, "--set rate=0.7").exit_code == 0);
    fs::remove(record);
    const auto database = sandbox.dir() / ".trellis" / "metadata.db";
    REQUIRE_FALSE(fs::exists(database.string() + "-wal")); // checkpointed when the last run closed it

    SECTION("pages in the middle overwritten") {
        const auto size = fs::file_size(database);
        REQUIRE(size >= 8192);
        std::fstream file(database, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(static_cast<std::streamoff>(size / 4));
        file << std::string(size / 2, '\xa5');
    }
    SECTION("a file that is not a database") {
        std::ofstream file(database, std::ios::trunc | std::ios::binary);
        for (int i = 0; i < 4096; ++i) file << static_cast<char>((i * 131 + 7) % 251);
    }

    const std::vector<std::string> commands = {
        exec_plugins + "-q run pipeline.lua",
        exec_plugins + "-q run pipeline.lua --set rate=0.3",
        exec_plugins + "-q plan pipeline.lua",
        "runs list",
        "runs list --json",
        "runs show latest",
        "runs compare latest latest",
        "lineage 0123456789ab",
        "gc --dry-run",
        "gc",
    };
    for (const auto& args : commands) {
        INFO("trellis " << args);
        const auto result = sandbox.run(args);
        INFO(result.out << result.err);
        CHECK(result.exit_code == 2);
        const auto lines = nonempty_lines(result.err);
        REQUIRE_FALSE(lines.empty());
        CHECK(lines.size() == 1);
        CHECK_THAT(lines.back(), Catch::StartsWith("trellis: error: ") && Catch::Contains("metadata.db") &&
                                     Catch::Contains("damaged"));
    }
    CHECK_FALSE(fs::exists(record)); // no stage ran

    // trellis check reports it too (as a problem found, or as an error).
    const auto check = sandbox.run("check");
    INFO(check.out << check.err);
    CHECK((check.exit_code == 1 || check.exit_code == 2));
    CHECK_THAT(check.out + check.err, Catch::Contains("metadata.db") && Catch::Contains("damaged"));
}

TEST_CASE("store: a damaged object is found by check, never used, and stored anew by its stage") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", small_pipeline);
    const auto first = run_pipeline(sandbox);
    REQUIRE(first.exit_code == 0);
    CHECK_THAT(stage_line(first, "k"), Catch::Contains("sum=4.995e+05"));
    const auto store = sandbox.dir() / ".trellis";
    const auto digest = output_digest(sandbox, "t", "table");
    const auto object = object_path(store, digest);
    auto check = sandbox.run("check");
    INFO(check.out << check.err);
    CHECK(check.exit_code == 0);
    CHECK_THAT(check.out, Catch::Contains(": ok ("));

    // One byte flipped in the middle of t's table: same size, other content.
    fs::permissions(object, fs::perms::owner_write, fs::perm_options::add);
    {
        std::fstream file(object, std::ios::in | std::ios::out | std::ios::binary);
        file.seekg(500);
        char byte = 0;
        file.read(&byte, 1);
        file.seekp(500);
        file.put(static_cast<char>(byte ^ 0x40));
    }
    REQUIRE(sha256_file(object) != digest);
    check = sandbox.run("check");
    INFO(check.out << check.err);
    CHECK(check.exit_code == 1);
    CHECK_THAT(check.out + check.err, Catch::Contains("problem: artifact " + digest.substr(0, 12)) &&
                                          Catch::Contains("is damaged"));
    CHECK(check_store(store).size() == 1); // the damaged object, and nothing else

    SECTION("a run that would reuse it runs the stage again and stores the object anew") {
        const auto again = run_pipeline(sandbox);
        INFO(again.out << again.err);
        CHECK(again.exit_code == 0);
        CHECK_THAT(again.err, Catch::Contains("stage 't': artifact " + digest + " is damaged") &&
                                  Catch::Contains("running the stage again"));
        CHECK(stage_status(again, "t") == "succeeded");
        CHECK_THAT(stage_line(again, "t"), Catch::Contains("1000 rows"));
        CHECK(stage_status(again, "k") == "cached"); // its input is the same digest again
        CHECK(sha256_file(object) == digest);
    }
    SECTION("a run whose next stage reads it gets the good bytes") {
        const auto needs = run_pipeline(sandbox, "--set rate=0.2");
        INFO(needs.out << needs.err);
        CHECK(needs.exit_code == 0);
        CHECK_THAT(needs.err, Catch::Contains("artifact " + digest + " is damaged"));
        CHECK(stage_status(needs, "t") == "succeeded");
        CHECK(stage_status(needs, "k") == "succeeded");
        CHECK_THAT(stage_line(needs, "k"), Catch::Contains("sum=4.995e+05"));
        CHECK(sha256_file(object) == digest);
    }
    SECTION("after --no-cache, the next run that reuses it still finds it whole or repairs it") {
        // --no-cache runs t without reusing anything; the store keeps an object of the right size
        // as it is (it compares sizes only), so the damage may outlive this run ...
        const auto forced = run_pipeline(sandbox, "--no-cache");
        INFO(forced.out << forced.err);
        CHECK(forced.exit_code == 0);
        CHECK_THAT(stage_line(forced, "k"), Catch::Contains("sum=4.995e+05"));
        // ... but never reaches a stage: the next run that reuses it verifies it first.
        const auto later = run_pipeline(sandbox, "--set rate=0.3");
        INFO(later.out << later.err);
        CHECK(later.exit_code == 0);
        CHECK_THAT(stage_line(later, "k"), Catch::Contains("sum=4.995e+05"));
        CHECK(sha256_file(object) == digest);
    }
    SECTION("an object deleted by hand: the stage runs again") {
        fs::remove(object);
        const auto again = run_pipeline(sandbox);
        INFO(again.out << again.err);
        CHECK(again.exit_code == 0);
        CHECK_THAT(again.err, Catch::Contains("stage 't': the stored output 'table' of an earlier execution is missing"));
        CHECK(stage_status(again, "t") == "succeeded");
        CHECK(sha256_file(object) == digest);
    }
    const auto problems = check_store(store);
    INFO(join_lines(problems));
    CHECK(problems.empty());
    check = sandbox.run("check");
    INFO(check.out << check.err);
    CHECK(check.exit_code == 0);
}

TEST_CASE("store: two runs at once on one store both succeed and share its objects", "[slow]") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", R"(
        pipeline { name = "together" }
        local P = params { scale = 1.0 }
        local big = stage "test.table" { id = "big", rows = 2100000 }
        local t = stage "test.table" { id = "t", rows = 300000, scale = P.scale }
        local kt = stage "test.track" { id = "kt", table = t.table, steps = 2000 }
        local kbig = stage "test.track" { id = "kbig", table = big.table, steps = 200 }
        stage "test.noop" { id = "join", ["in"] = kt.metrics, after = kbig }
    )");
    const auto store = sandbox.dir() / ".trellis";
    const std::string args = exec_plugins + "-q run pipeline.lua";

    // The same pipeline twice at once, on a store that does not exist yet; then two different
    // params at once.
    for (const auto& [first, second] : {std::pair<std::string, std::string>{"", ""}, {"--set scale=2", "--set scale=3"}}) {
        INFO("runs with '" << first << "' and '" << second << "'");
        const auto a = start_trellis(sandbox, words(args + " " + first), "a");
        const auto b = start_trellis(sandbox, words(args + " " + second), "b");
        const auto result_a = a.wait();
        const auto result_b = b.wait();
        INFO(result_a.out << result_a.err << result_b.out << result_b.err);
        CHECK(result_a.exit_code == 0);
        CHECK(result_b.exit_code == 0);
        const auto problems = check_store(store);
        INFO(join_lines(problems));
        CHECK(problems.empty());
    }

    SqliteDb db(store / "metadata.db");
    CHECK(db.column("SELECT status FROM runs") == std::vector<std::string>(4, "succeeded"));
    CHECK(db.scalar("SELECT count(*) FROM executions") == "20");
    // One record per object, every object recorded and referenced: nothing stored twice.
    std::vector<std::string> problems;
    const auto objects = scan_objects(store, problems);
    CHECK(problems.empty());
    CHECK(db.scalar("SELECT count(*) FROM artifacts") == std::to_string(objects.size()));
    CHECK(db.scalar("SELECT count(DISTINCT artifact_digest) FROM events") == std::to_string(objects.size()));
    // Tables of scale 1, 2, 3 and the big one; three metrics for kt, one for kbig, one for join.
    CHECK(db.scalar("SELECT count(*) FROM artifacts WHERE type = 'table'") == "4");
    const auto list = sandbox.run("runs list --json");
    REQUIRE(list.exit_code == 0);
    CHECK(list.json().at("total") == 4);
}

TEST_CASE("store: tracked params and metrics show in runs show, compare, list --sort and --tag") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", R"(
        pipeline { name = "tracked" }
        local P = params { rate = 0.1, optimizer = "sgd" }
        local t = stage "test.table" { id = "t", rows = 100 }
        stage "test.track" { id = "k", table = t.table, steps = 50, rate = P.rate, optimizer = P.optimizer }
    )");
    REQUIRE(run_pipeline(sandbox, "--set rate=0.3 --tag team=red --tag note=first").exit_code == 0);
    REQUIRE(run_pipeline(sandbox, "--set rate=0.1 --tag team=blue").exit_code == 0);
    REQUIRE(run_pipeline(sandbox, "--set rate=0.2 --set optimizer=adam --tag team=red").exit_code == 0);
    const auto all = sandbox.run("runs list --json");
    REQUIRE(all.exit_code == 0);
    const auto ids = run_ids(all); // newest first
    REQUIRE(ids.size() == 3);
    const std::string a = ids[2], b = ids[1], c = ids[0];

    auto show = sandbox.run("runs show " + a + " --json");
    REQUIRE(show.exit_code == 0);
    const auto run = show.json();
    INFO(run.dump(2));
    CHECK(run.at("pipeline") == "tracked");
    CHECK(run.at("params").at("k.optimizer") == "sgd");
    CHECK(run.at("params").at("k.rate") == 0.3);
    CHECK(run.at("params").at("rate") == 0.3);
    CHECK(run.at("overrides").at("rate") == "0.3");
    CHECK(run.at("tags") == nlohmann::json{{"note", "first"}, {"team", "red"}});
    const auto& loss = run.at("metrics").at("loss");
    CHECK(loss.at("points") == 50);
    CHECK(loss.at("step") == 49);
    CHECK(loss.at("value").get<double>() == Approx(1.0 / 50));
    CHECK(run.at("metrics").at("rate").at("value").get<double>() == Approx(0.3));
    CHECK(run.at("metrics").at("sum").at("value").get<double>() == Approx(4950));
    const auto text = sandbox.run("runs show " + a);
    CHECK_THAT(text.out, Catch::Contains("tags:") && Catch::Contains("note=first team=red") &&
                             Catch::Contains("(50 points, last step 49)"));
    const auto points = sandbox.run("runs show " + a + " --metric loss --json");
    REQUIRE(points.exit_code == 0);
    CHECK(points.json().at("points").size() == 50);

    // compare: the rate differs (param and metric), the optimizer and the loss do not.
    const auto compare = sandbox.run("runs compare " + a + " " + b + " --json");
    REQUIRE(compare.exit_code == 0);
    const auto compared = compare.json();
    INFO(compared.dump(2));
    std::map<std::string, nlohmann::json> params, metrics;
    for (const auto& row : compared.at("params")) params[row.at("key")] = row;
    for (const auto& row : compared.at("metrics")) metrics[row.at("name")] = row;
    CHECK(params.at("k.rate").at("differs") == true);
    CHECK(params.at("k.rate").at("values") == nlohmann::json{0.3, 0.1});
    CHECK(params.at("k.optimizer").at("differs") == false);
    CHECK(metrics.at("rate").at("differs") == true);
    CHECK(metrics.at("loss").at("differs") == false);
    CHECK(compared.at("runs").at(0).at("id") == a);
    const auto compare_text = sandbox.run("runs compare " + a + " " + c);
    bool marked = false;
    for (const auto& line : nonempty_lines(compare_text.out))
        if (line.find("k.optimizer") != std::string::npos) marked = line.rfind("*", 0) == 0;
    CHECK(marked);

    // --sort rate: highest first, or lowest with :asc; the metric becomes a column.
    auto sorted = sandbox.run("runs list --sort rate --json");
    REQUIRE(sorted.exit_code == 0);
    CHECK(run_ids(sorted) == std::vector<std::string>{a, c, b});
    sorted = sandbox.run("runs list --sort rate:asc --json");
    CHECK(run_ids(sorted) == std::vector<std::string>{b, c, a});
    const auto sorted_text = sandbox.run("runs list --sort rate");
    CHECK_THAT(nonempty_lines(sorted_text.out).at(0), Catch::EndsWith("rate"));

    // --tag filters.
    auto tagged = sandbox.run("runs list --tag team=red --json");
    REQUIRE(tagged.exit_code == 0);
    CHECK(run_ids(tagged) == std::vector<std::string>{c, a});
    CHECK(run_ids(sandbox.run("runs list --tag team --json")).size() == 3);
    CHECK(run_ids(sandbox.run("runs list --tag team=red --tag note=first --json")) == std::vector<std::string>{a});
    tagged = sandbox.run("runs list --tag team=green --json");
    CHECK(tagged.json().at("total") == 0);
    CHECK(sandbox.run("runs list --tag =x").exit_code == 2);
}

TEST_CASE("store: lineage of the quickstart's registered model goes back to the data file", "[slow]") {
    Sandbox sandbox;
    const auto quickstart = sandbox.run(std::string("-q run ") + EXAMPLES_DIR + "/quickstart.lua");
    INFO(quickstart.err);
    REQUIRE(quickstart.exit_code == 0);

    const auto lineage = sandbox.run("lineage breast_cancer:1");
    INFO(lineage.out << lineage.err);
    REQUIRE(lineage.exit_code == 0);
    CHECK_THAT(lineage.out, Catch::Contains("model breast_cancer v1"));
    const auto train = lineage.out.find("<- train (train.linear, train-linear@");
    const auto split = lineage.out.find("<- split (data.split, data-split@");
    const auto load = lineage.out.find("<- load (data.csv, data-csv@");
    const auto file = lineage.out.find("data/breast_cancer.csv");
    CHECK(train != std::string::npos);
    CHECK(split != std::string::npos);
    CHECK(load != std::string::npos);
    CHECK(file != std::string::npos);
    CHECK((train < split && split < load && load < file));
    CHECK_THAT(lineage.out, Catch::Contains("-> evaluate (train.evaluate"));

    const auto as_json = sandbox.run("lineage breast_cancer:1 --json");
    REQUIRE(as_json.exit_code == 0);
    const auto graph = as_json.json();
    CHECK(graph.at("root").at("model") == nlohmann::json{{"name", "breast_cancer"}, {"version", 1}});
    std::map<std::string, nlohmann::json> executions;
    for (const auto& execution : graph.at("executions")) executions[execution.at("stage")] = execution;
    REQUIRE(executions.count("data.csv"));
    REQUIRE(executions.count("train.linear"));
    for (const auto& [stage, execution] : executions) {
        INFO(stage);
        CHECK(execution.at("plugin_version").is_string());
        if (stage == "govern.promote" || stage == "registry.model") // core stages: the trellis binary ran them
            CHECK(execution.at("plugin") == "trellis");
        else
            CHECK(execution.at("plugin_digest").get<std::string>().size() == 64);
    }
    CHECK_THAT(executions.at("data.csv").at("config").at("path").get<std::string>(),
               Catch::EndsWith("data/breast_cancer.csv"));
    // The model artifact was made by train.
    for (const auto& artifact : graph.at("artifacts"))
        if (artifact.at("digest") == graph.at("root").at("digest"))
            CHECK(artifact.at("produced_by") == nlohmann::json{executions.at("train.linear").at("id")});
    // NAME alone is the newest version; a missing version lists the versions.
    CHECK(sandbox.run("lineage breast_cancer --json").json().at("root").at("digest") == graph.at("root").at("digest"));
    const auto missing = sandbox.run("lineage breast_cancer:2");
    CHECK(missing.exit_code == 2);
    CHECK_THAT(missing.err, Catch::Contains("model 'breast_cancer' has no version 2; its versions: 1"));

    const auto dot = sandbox.run("lineage breast_cancer:1 --dot");
    REQUIRE(dot.exit_code == 0);
    CHECK_THAT(dot.out, Catch::StartsWith("digraph lineage {") && Catch::EndsWith("}\n") && Catch::Contains(" -> "));
    CHECK(std::count(dot.out.begin(), dot.out.end(), '{') == std::count(dot.out.begin(), dot.out.end(), '}'));

    // Everything is needed: a gc dry run lists nothing.
    const auto gc = sandbox.run("gc --dry-run --json");
    INFO(gc.out << gc.err);
    REQUIRE(gc.exit_code == 0);
    CHECK(gc.json().at("removed").empty());
    CHECK(gc.json().at("orphans").empty());
    CHECK(gc.json().at("dry_run") == true);
}

TEST_CASE("store: gc deletes what no kept run needs, keeps the history, and a later run makes it again") {
    Sandbox sandbox;
    sandbox.write("pipeline.lua", small_pipeline);
    const auto store = sandbox.dir() / ".trellis";
    REQUIRE(run_pipeline(sandbox, "--set scale=1").exit_code == 0);
    const auto old_table = output_digest(sandbox, "t", "table");
    const auto old_metrics = output_digest(sandbox, "k", "metrics");
    REQUIRE(run_pipeline(sandbox, "--set scale=2").exit_code == 0);
    const auto new_table = output_digest(sandbox, "t", "table");
    REQUIRE(old_table != new_table);
    const auto old_run = run_ids(sandbox.run("runs list --json")).at(1);

    // With the default --keep (30 days) everything is recent: nothing would go.
    auto gc = sandbox.run("gc --dry-run --json");
    REQUIRE(gc.exit_code == 0);
    CHECK(gc.json().at("removed").empty());

    // --keep 0: only the newest succeeded run of the pipeline is kept.
    gc = sandbox.run("gc --dry-run --keep 0 --json");
    INFO(gc.out << gc.err);
    REQUIRE(gc.exit_code == 0);
    std::set<std::string> removed;
    const auto gc_json = gc.json(); // held: a temporary would end before the loop
    for (const auto& object : gc_json.at("removed")) removed.insert(object.at("digest").get<std::string>());
    CHECK(removed == std::set<std::string>{old_table, old_metrics});
    CHECK(fs::exists(object_path(store, old_table))); // a dry run deletes nothing

    gc = sandbox.run("gc --keep 0");
    INFO(gc.out << gc.err);
    REQUIRE(gc.exit_code == 0);
    CHECK_THAT(gc.out, Catch::Contains(old_table.substr(0, 12)));
    CHECK_FALSE(fs::exists(object_path(store, old_table)));
    CHECK(fs::exists(object_path(store, new_table)));
    auto problems = check_store(store);
    INFO(join_lines(problems));
    CHECK(problems.empty());

    // The history stays.
    CHECK(sandbox.run("runs show " + old_run + " --json").exit_code == 0);
    const auto lineage = sandbox.run("lineage " + old_table.substr(0, 12));
    INFO(lineage.out << lineage.err);
    CHECK(lineage.exit_code == 0);
    CHECK_THAT(lineage.out, Catch::Contains("removed by gc"));

    // The old params again: plan and run agree that t runs and stores its table again.
    const auto plan = sandbox.run(exec_plugins + "-q plan pipeline.lua --set scale=1");
    CHECK(plan_verdict(plan, "t") == "runs");
    const auto again = run_pipeline(sandbox, "--set scale=1");
    INFO(again.out << again.err);
    CHECK(again.exit_code == 0);
    CHECK(stage_status(again, "t") == "succeeded");
    CHECK(fs::exists(object_path(store, old_table)));
    problems = check_store(store);
    CHECK(problems.empty());
}
