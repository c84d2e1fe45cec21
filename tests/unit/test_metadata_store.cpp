// MetadataStore: opening (fresh, migrated, newer, damaged, foreign), runs and executions with their
// lineage, metrics and params, cache lookups, reaping runs whose process died, concurrent writers,
// the model registry and file fingerprints.
#include "store/metadata_store.hpp"
#include "store/schema.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <exception>
#include <fstream>
#include <limits>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using trellis::store::ArtifactRow;
using trellis::store::Database;
using trellis::store::ExecutionEnd;
using trellis::store::ExecutionRow;
using trellis::store::MetadataStore;
using trellis::store::MetricRow;
using trellis::store::RunLock;
using trellis::store::RunRow;
using trellis::store::StoreError;
using trellis::test::TempDir;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::string host_name() {
    char buffer[256] = {};
    ::gethostname(buffer, sizeof buffer - 1);
    return buffer;
}

// The first column of the first row of `sql`, as text ("" for NULL or no row).
std::string scalar(Database& db, const std::string& sql) {
    auto query = db.prepare(sql);
    return query.step() ? query.text(0) : std::string();
}

int64_t count(Database& db, const std::string& sql) {
    auto query = db.prepare(sql);
    REQUIRE(query.step());
    return query.int64(0);
}

RunRow sample_run(const std::string& id) {
    RunRow run;
    run.id = id;
    run.pipeline = "churn";
    run.script = "/work/churn.lua";
    run.overrides = {{"train.depth", 6}};
    run.params = {{"seed", 7}, {"alpha", 0.5}};
    run.started_at = 1000.5;
    run.host = host_name();
    run.pid = ::getpid();
    run.user = "ana";
    run.trellis_version = "0.4.0";
    return run;
}

ExecutionRow sample_execution(const std::string& run_id, const std::string& stage_id,
                              std::optional<std::string> cache_key = std::nullopt) {
    ExecutionRow execution;
    execution.run_id = run_id;
    execution.stage_id = stage_id;
    execution.stage_name = "data.csv";
    execution.plugin_name = "data-csv";
    execution.plugin_version = "1.0.0";
    execution.plugin_digest = std::string(64, 'f');
    execution.config = {{"path", "in.csv"}, {"delimiter", ","}};
    execution.cache_key = std::move(cache_key);
    execution.started_at = 1001;
    execution.host = host_name();
    execution.pid = ::getpid();
    return execution;
}

// A digest-like name for `seed` (up to 32 printable characters): its bytes in hex, then zeros.
std::string digest_of(const std::string& seed) {
    static const char* hex = "0123456789abcdef";
    std::string digest;
    for (const unsigned char c : seed) {
        digest += hex[c >> 4];
        digest += hex[c & 15];
    }
    digest.resize(64, '0');
    return digest;
}

ArtifactRow artifact(const std::string& seed, const std::string& type = "table") {
    ArtifactRow row;
    row.digest = digest_of(seed);
    row.type = type;
    row.size = 1234;
    row.properties = {{"rows", 10}, {"columns", 3}};
    return row;
}

// Runs one execution of `stage_id` that ends `status` at `ended_at` with `outputs`; returns its id.
int64_t finished_execution(MetadataStore& store, const std::string& run_id, const std::string& stage_id,
                           const std::optional<std::string>& key, double ended_at,
                           std::map<std::string, ArtifactRow> outputs, const std::string& status = "succeeded",
                           std::map<std::string, std::string> inputs = {}) {
    const int64_t id = store.begin_execution(sample_execution(run_id, stage_id, key));
    ExecutionEnd end;
    end.status = status;
    end.attempts = 1;
    end.ended_at = ended_at;
    end.outputs = std::move(outputs);
    end.inputs = std::move(inputs);
    store.end_execution(id, end);
    return id;
}

// A database with schema v1 exactly as trellis 0.3 wrote it, holding one run.
void write_v1_store(const fs::path& root) {
    fs::create_directories(root);
    Database db(MetadataStore::database_path(root));
    db.exec(trellis::store::schema_v1);
    db.exec("PRAGMA user_version = 1");
    db.exec("INSERT INTO runs (id, pipeline, script, status, started_at, host, pid, trellis_version) "
            "VALUES ('old-run', 'p', '/s.lua', 'succeeded', 1, 'h', 1, '0.3.0')");
}

// Waits for `pid` and returns its exit status (or 128 + signal).
int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

} // namespace

TEST_CASE("A fresh metadata store is at the newest schema version in WAL mode", "[metadata_store]") {
    TempDir temp;
    const fs::path root = temp / "nested/.trellis";
    {
        MetadataStore store(root);
        CHECK(store.version() == trellis::store::schema_version);
        CHECK(store.version() == 6);
        CHECK(scalar(store.db(), "PRAGMA user_version") == "6");
        CHECK(scalar(store.db(), "PRAGMA journal_mode") == "wal");
        CHECK(scalar(store.db(), "PRAGMA foreign_keys") == "1");
        CHECK(scalar(store.db(), "PRAGMA synchronous") == "2"); // FULL
        CHECK(count(store.db(), "SELECT count(*) FROM sqlite_master WHERE name IN ('models', 'file_fingerprints')") ==
              2);
        CHECK(store.integrity_problems().empty());
    }
    CHECK(fs::is_regular_file(root / "metadata.db"));
    MetadataStore again(root);
    CHECK(again.version() == 6);
}

TEST_CASE("A version 1 metadata store migrates to the newest version and keeps its runs", "[metadata_store]") {
    TempDir temp;
    write_v1_store(temp.path());
    MetadataStore store(temp.path());
    CHECK(store.version() == 6);
    CHECK(scalar(store.db(), "PRAGMA user_version") == "6");
    const auto run = store.find_run("old-run");
    REQUIRE(run);
    CHECK(run->status == "succeeded");
    CHECK(run->trellis_version == "0.3.0");
    CHECK(count(store.db(), "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'models'") == 1);
    CHECK(count(store.db(), "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('sweeps', "
                            "'sweep_trials')") == 2);
    CHECK(count(store.db(), "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('prediction_labels', "
                            "'monitor_windows', 'monitor_alerts')") == 3);
    CHECK(scalar(store.db(), "PRAGMA journal_mode") == "wal");
    CHECK(store.integrity_problems().empty());
}

TEST_CASE("A metadata store from a newer trellis is refused", "[metadata_store]") {
    TempDir temp;
    write_v1_store(temp.path());
    {
        Database db(MetadataStore::database_path(temp.path()));
        db.exec("PRAGMA user_version = 7");
    }
    REQUIRE_THROWS_MATCHES(MetadataStore(temp.path()), StoreError,
                           Catch::Matchers::Predicate<StoreError>([](const StoreError& error) {
                               const std::string message = error.what();
                               return message.find("metadata.db") != std::string::npos &&
                                      message.find("written by a newer trellis (schema version 7; this trellis "
                                                   "knows up to 6)") != std::string::npos &&
                                      message.find('\n') == std::string::npos;
                           }));
    // Refused without touching it.
    Database db(MetadataStore::database_path(temp.path()));
    CHECK(scalar(db, "PRAGMA user_version") == "7");
}

TEST_CASE("A garbage metadata.db is refused as damaged", "[metadata_store]") {
    TempDir temp;
    std::string garbage;
    for (int i = 0; i < 3000; ++i) garbage += "this is not sqlite ";
    temp.write("metadata.db", garbage);
    try {
        MetadataStore store(temp.path());
        FAIL("a garbage file was opened");
    } catch (const StoreError& error) {
        const std::string message = error.what();
        INFO(message);
        CHECK_THAT(message, Contains("metadata.db") && Contains("damaged") && Contains("not a database") &&
                                Contains("move it aside"));
        CHECK(message.find('\n') == std::string::npos);
    }
    // An empty-looking header with a wrong magic is garbage too.
    temp.write("other/metadata.db", std::string(100, '\0') + std::string(8000, 'x'));
    CHECK_THROWS_AS(MetadataStore(temp / "other"), StoreError);
}

TEST_CASE("A SQLite database of another program is not a trellis metadata store", "[metadata_store]") {
    TempDir temp;
    {
        Database db(MetadataStore::database_path(temp.path()));
        db.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)");
    }
    CHECK_THROWS_WITH(MetadataStore(temp.path()), Contains("not a trellis metadata store"));
    Database db(MetadataStore::database_path(temp.path()));
    CHECK(scalar(db, "PRAGMA journal_mode") == "delete"); // left as it was
}

TEST_CASE("A truncated or damaged metadata store fails with StoreError, never a crash", "[metadata_store]") {
    TempDir temp;
    {
        MetadataStore store(temp.path());
        store.db().exec("PRAGMA synchronous = NORMAL"); // no fsync per commit: only the content matters here
        for (int r = 0; r < 20; ++r) {
            const std::string id = "run-" + std::to_string(r);
            store.begin_run(sample_run(id));
            for (int e = 0; e < 10; ++e)
                finished_execution(store, id, "s" + std::to_string(e), "k" + std::to_string(e), 2000 + e,
                                   {{"table", artifact(id + "x" + std::to_string(e))}});
        }
    }
    const fs::path db_path = MetadataStore::database_path(temp.path());
    REQUIRE_FALSE(fs::exists(temp / "metadata.db-wal")); // checkpointed on close
    const auto size = fs::file_size(db_path);
    REQUIRE(size > 8 * 4096);
    std::string bytes(size, '\0');
    {
        std::ifstream in(db_path, std::ios::binary);
        in.read(bytes.data(), static_cast<std::streamsize>(size));
    }

    SECTION("truncated to its first page") {
        temp.write("metadata.db", bytes.substr(0, 4096));
        CHECK_THROWS_WITH(MetadataStore(temp.path()), Contains("metadata.db") && Contains("damaged"));
    }
    SECTION("truncated to half") {
        temp.write("metadata.db", bytes.substr(0, size / 2));
        CHECK_THROWS_WITH(MetadataStore(temp.path()), Contains("damaged"));
    }
    SECTION("one page overwritten with garbage, page by page") {
        const size_t pages = size / 4096;
        int failures = 0;
        for (size_t page = 1; page < pages; ++page) {
            std::string damaged = bytes;
            for (size_t i = 0; i < 4096; ++i) damaged[page * 4096 + i] = static_cast<char>((i * 131 + page) & 0xff);
            temp.write("metadata.db", damaged);
            try {
                MetadataStore store(temp.path());
                for (int r = 0; r < 20; ++r) store.find_run("run-" + std::to_string(r));
                store.find_reusable("k3", 0);
                store.reap_interrupted();
                if (!store.integrity_problems().empty()) ++failures;
            } catch (const StoreError& error) {
                ++failures;
                CHECK(std::string(error.what()).find('\n') == std::string::npos);
            }
        }
        CHECK(failures > 0);
    }
}

TEST_CASE("Runs, executions, lineage, metrics and params round trip", "[metadata_store]") {
    TempDir temp;
    MetadataStore store(temp.path());
    RunRow run = sample_run("20261123-170500-ab12");
    store.begin_run(run);
    auto& db = store.db();

    const auto found = store.find_run(run.id);
    REQUIRE(found);
    CHECK(found->pipeline == "churn");
    CHECK(found->overrides == run.overrides);
    CHECK(found->params == run.params);
    CHECK(found->status == "running");
    CHECK_FALSE(found->ended_at);
    CHECK(found->user == "ana");
    CHECK(found->started_at == 1000.5);
    CHECK(scalar(db, "SELECT params FROM runs") == R"({"alpha":0.5,"seed":7})");
    CHECK_FALSE(store.find_run("no-such-run"));

    store.set_tags(run.id, {{"team", "risk"}, {"note", "first"}});
    store.set_tags(run.id, {{"note", "second"}});
    CHECK(scalar(db, "SELECT value FROM tags WHERE key = 'note'") == "second");
    CHECK(count(db, "SELECT count(*) FROM tags") == 2);

    // data: produces a table.
    const int64_t data = store.begin_execution(sample_execution(run.id, "data", "key-data"));
    CHECK(scalar(db, "SELECT status FROM executions WHERE id = " + std::to_string(data)) == "running");
    CHECK(scalar(db, "SELECT config FROM executions") == R"({"delimiter":",","path":"in.csv"})");
    ExecutionEnd data_end;
    data_end.status = "succeeded";
    data_end.attempts = 1;
    data_end.ended_at = 1002;
    data_end.outputs = {{"table", artifact("aa")}};
    store.end_execution(data, data_end);

    // train: reads the table, writes a model and metrics, logs params.
    const int64_t train = store.begin_execution(sample_execution(run.id, "train", "key-train"));
    ExecutionEnd train_end;
    train_end.status = "succeeded";
    train_end.attempts = 2;
    train_end.ended_at = 1010;
    train_end.inputs = {{"table", digest_of("aa")}};
    train_end.outputs = {{"model", artifact("bb", "model")}, {"metrics", artifact("cc", "metrics")}};
    for (int step = 0; step < 5; ++step) train_end.metrics.push_back({"loss", 1.0 / (step + 1), step, 1003.0 + step});
    train_end.metrics.push_back({"auc", std::numeric_limits<double>::quiet_NaN(), 0, 1009});
    train_end.params = {{"depth", 6}, {"booster", "gbtree"}};
    store.end_execution(train, train_end);

    const std::string t = std::to_string(train);
    CHECK(scalar(db, "SELECT status || ',' || attempts || ',' || ended_at FROM executions WHERE id = " + t) ==
          "succeeded,2,1010.0");
    CHECK(count(db, "SELECT count(*) FROM events WHERE execution_id = " + t + " AND kind = 'input'") == 1);
    CHECK(count(db, "SELECT count(*) FROM events WHERE execution_id = " + t + " AND kind = 'output'") == 2);
    CHECK(scalar(db, "SELECT artifact_digest FROM events WHERE execution_id = " + t + " AND port = 'table'") ==
          digest_of("aa"));
    CHECK(count(db, "SELECT count(*) FROM artifacts") == 3);
    CHECK(scalar(db, "SELECT type || ',' || size || ',' || properties FROM artifacts WHERE digest = '" +
                         digest_of("bb") + "'") == R"(model,1234,{"columns":3,"rows":10})");
    CHECK(count(db, "SELECT count(*) FROM metrics WHERE name = 'loss' AND execution_id = " + t + " AND run_id = '" +
                        run.id + "'") == 5);
    CHECK(scalar(db, "SELECT value FROM metrics WHERE name = 'loss' AND step = 3") == "0.25");
    CHECK(count(db, "SELECT count(*) FROM metrics WHERE name = 'auc' AND value IS NULL") == 1);
    CHECK(scalar(db, "SELECT value FROM params WHERE key = 'booster' AND execution_id = " + t) == R"("gbtree")");
    CHECK(scalar(db, "SELECT value FROM params WHERE key = 'depth'") == "6");

    // The same bytes written again are still one artifact; an artifact gc removed is back.
    db.exec("UPDATE artifacts SET removed_at = 5000 WHERE digest = '" + digest_of("aa") + "'");
    finished_execution(store, run.id, "data2", "key-data2", 1020, {{"table", artifact("aa")}});
    CHECK(count(db, "SELECT count(*) FROM artifacts") == 3);
    CHECK(count(db, "SELECT count(*) FROM artifacts WHERE removed_at IS NOT NULL") == 0);

    // An input that was never recorded is an error, and nothing of that execution is written.
    const int64_t broken = store.begin_execution(sample_execution(run.id, "broken"));
    ExecutionEnd broken_end;
    broken_end.status = "succeeded";
    broken_end.ended_at = 1030;
    broken_end.inputs = {{"table", digest_of("unknown")}};
    broken_end.outputs = {{"out", artifact("dd")}};
    CHECK_THROWS_WITH(store.end_execution(broken, broken_end), Contains("is not in the metadata store"));
    CHECK(scalar(db, "SELECT status FROM executions WHERE id = " + std::to_string(broken)) == "running");
    CHECK(count(db, "SELECT count(*) FROM artifacts WHERE digest = '" + digest_of("dd") + "'") == 0);
    CHECK_THROWS_AS(store.end_execution(999999, broken_end), StoreError);

    store.end_run(run.id, "failed", std::string("stage broken failed"), 1040);
    const auto ended = store.find_run(run.id);
    REQUIRE(ended);
    CHECK(ended->status == "failed");
    CHECK(ended->message == "stage broken failed");
    CHECK(ended->ended_at == 1040);
    trellis::store::RunRow again = run;
    again.host = "otherhost";
    again.pid = 4242;
    again.overrides = {{"seed", "7"}};
    store.reopen_run(again);
    const auto reopened = store.find_run(run.id);
    CHECK(reopened->status == "running");
    CHECK(reopened->overrides == nlohmann::json{{"seed", "7"}});
    CHECK_FALSE(reopened->message);
    CHECK_FALSE(reopened->ended_at);
    CHECK(reopened->pid == 4242);
    CHECK_THROWS_AS(store.end_run("no-such-run", "failed", std::nullopt, 1), StoreError);
    CHECK_THROWS_AS(store.begin_run(sample_run("../escape")), StoreError);
    CHECK_THROWS_AS(store.begin_run(sample_run(run.id)), StoreError); // exists
    CHECK(store.integrity_problems().empty());
}

TEST_CASE("find_reusable honours the time limit and removed artifacts", "[metadata_store]") {
    TempDir temp;
    MetadataStore store(temp.path());
    store.begin_run(sample_run("r1"));
    store.begin_run(sample_run("r2"));
    const int64_t older = finished_execution(store, "r1", "train", "K", 100, {{"model", artifact("old", "model")}});
    const int64_t newer = finished_execution(store, "r2", "train", "K", 200,
                                             {{"model", artifact("new", "model")}, {"report", artifact("rep")}});
    finished_execution(store, "r2", "train", "K", 300, {{"model", artifact("failed", "model")}}, "failed");
    store.begin_execution(sample_execution("r2", "train", "K")); // still running: no ended_at

    auto found = store.find_reusable("K", 0);
    REQUIRE(found);
    CHECK(found->execution_id == newer);
    CHECK(found->run_id == "r2");
    CHECK(found->ended_at == 200);
    REQUIRE(found->outputs.size() == 2);
    CHECK(found->outputs.at("model").digest == digest_of("new"));
    CHECK(found->outputs.at("model").type == "model");
    CHECK(found->outputs.at("model").size == 1234);
    CHECK(found->outputs.at("model").properties == nlohmann::json({{"rows", 10}, {"columns", 3}}));

    CHECK(store.find_reusable("K", 200)->execution_id == newer);
    CHECK_FALSE(store.find_reusable("K", 200.5));
    CHECK_FALSE(store.find_reusable("other", 0));

    // gc removed one of the newer one's outputs: the older one is what is left.
    store.db().exec("UPDATE artifacts SET removed_at = 400 WHERE digest = '" + digest_of("rep") + "'");
    found = store.find_reusable("K", 0);
    REQUIRE(found);
    CHECK(found->execution_id == older);
    CHECK(found->outputs.at("model").digest == digest_of("old"));
    CHECK_FALSE(store.find_reusable("K", 150));
    store.db().exec("UPDATE artifacts SET removed_at = 400 WHERE digest = '" + digest_of("old") + "'");
    CHECK_FALSE(store.find_reusable("K", 0));
}

TEST_CASE("record_cached points at its source and repeats its outputs", "[metadata_store]") {
    TempDir temp;
    MetadataStore store(temp.path());
    store.begin_run(sample_run("first"));
    store.begin_run(sample_run("second"));
    finished_execution(store, "first", "data", "KD", 50, {{"table", artifact("in")}});
    const int64_t source_id = finished_execution(store, "first", "train", "KT", 100,
                                                 {{"model", artifact("m", "model")}}, "succeeded",
                                                 {{"table", digest_of("in")}});
    const auto source = store.find_reusable("KT", 0);
    REQUIRE(source);
    REQUIRE(source->execution_id == source_id);

    const int64_t cached =
        store.record_cached(sample_execution("second", "train", "KT"), *source, {{"table", digest_of("in")}}, 500);
    auto& db = store.db();
    const std::string c = std::to_string(cached);
    CHECK(scalar(db, "SELECT status || ',' || cached_from || ',' || started_at || ',' || ended_at FROM executions "
                     "WHERE id = " + c) == "cached," + std::to_string(source_id) + ",500.0,500.0");
    CHECK(scalar(db, "SELECT artifact_digest FROM events WHERE execution_id = " + c + " AND kind = 'output' AND "
                     "port = 'model'") == digest_of("m"));
    CHECK(scalar(db, "SELECT artifact_digest FROM events WHERE execution_id = " + c + " AND kind = 'input' AND "
                     "port = 'table'") == digest_of("in"));
    // A cached execution does not count as a source of its own.
    CHECK(store.find_reusable("KT", 0)->execution_id == source_id);

    // --resume of the second run finds the cached one, with its outputs.
    const auto finished = store.find_finished_in_run("second", "train", "KT");
    REQUIRE(finished);
    CHECK(finished->execution_id == cached);
    CHECK(finished->outputs.at("model").digest == digest_of("m"));
    CHECK_FALSE(store.find_finished_in_run("second", "train", "other-key"));
    CHECK_FALSE(store.find_finished_in_run("second", "data", "KD"));
    CHECK(store.find_finished_in_run("first", "data", "KD"));
    // A failed one is not finished.
    finished_execution(store, "second", "eval", "KE", 600, {{"report", artifact("rep")}}, "failed");
    CHECK_FALSE(store.find_finished_in_run("second", "eval", "KE"));
}

TEST_CASE("reap_interrupted marks runs whose process died, not those still locked", "[metadata_store]") {
    TempDir temp;
    MetadataStore store(temp.path());
    const std::string host = host_name();
    store.begin_run(sample_run("alive"));
    store.begin_run(sample_run("killed"));
    RunRow elsewhere = sample_run("elsewhere");
    elsewhere.host = "some-other-host";
    store.begin_run(elsewhere);
    RunRow finished = sample_run("finished");
    store.begin_run(finished);
    store.end_run("finished", "succeeded", std::nullopt, 1100);
    const int64_t running = store.begin_execution(sample_execution("killed", "train"));
    const int64_t done = finished_execution(store, "killed", "data", "K", 1050, {{"table", artifact("t")}});

    RunLock alive_lock(temp.path(), "alive");
    CHECK(RunLock::held(temp.path(), "alive"));
    CHECK_FALSE(RunLock::held(temp.path(), "never-locked"));
    CHECK_THROWS_WITH(RunLock(temp.path(), "alive"), Contains("run alive is in use by another trellis process"));

    // A child process takes the lock of "killed" and is killed while holding it.
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(ready[0]);
        try {
            RunLock lock(temp.path(), "killed");
            const char byte = 1;
            if (::write(ready[1], &byte, 1) != 1) ::_exit(2);
            for (;;) ::pause();
        } catch (...) {
            ::_exit(3);
        }
    }
    ::close(ready[1]);
    char byte = 0;
    REQUIRE(::read(ready[0], &byte, 1) == 1);
    ::close(ready[0]);

    CHECK(RunLock::held(temp.path(), "killed"));
    CHECK(store.reap_interrupted().empty());
    CHECK(store.find_run("killed")->status == "running");

    ::kill(child, SIGKILL);
    CHECK(wait_for(child) == 128 + SIGKILL);
    CHECK_FALSE(RunLock::held(temp.path(), "killed"));

    const auto reaped = store.reap_interrupted();
    CHECK(reaped == std::vector<std::string>{"killed"});
    const auto killed = store.find_run("killed");
    CHECK(killed->status == "interrupted");
    CHECK(killed->message == "the process running it ended without finishing (killed?)");
    REQUIRE(killed->ended_at);
    CHECK(*killed->ended_at > 1.6e9);
    auto& db = store.db();
    CHECK(scalar(db, "SELECT status FROM executions WHERE id = " + std::to_string(running)) == "interrupted");
    CHECK(scalar(db, "SELECT status FROM executions WHERE id = " + std::to_string(done)) == "succeeded");
    CHECK(store.find_run("alive")->status == "running");
    CHECK(store.find_run("elsewhere")->status == "running");
    CHECK(store.find_run("finished")->status == "succeeded");
    CHECK(store.reap_interrupted().empty());

    // The lock is free again once its holder is gone, and the run can be taken.
    RunLock retaken(temp.path(), "killed");
    CHECK(RunLock::held(temp.path(), "killed"));
}

TEST_CASE("Run locks check run ids", "[metadata_store]") {
    TempDir temp;
    for (const std::string bad : {"", ".hidden", "a/b", "..", "run id", "x\ny"}) {
        INFO(bad);
        CHECK_THROWS_AS(RunLock(temp.path(), bad), StoreError);
        CHECK_THROWS_AS(RunLock::held(temp.path(), bad), StoreError);
    }
    {
        RunLock lock(temp.path(), "ok-1_2.3");
        CHECK(fs::is_regular_file(temp / "runs/ok-1_2.3/lock"));
    }
    CHECK_FALSE(RunLock::held(temp.path(), "ok-1_2.3"));
}

TEST_CASE("Two writers with stores of their own write concurrently without losing rows", "[metadata_store]") {
    TempDir temp;
    constexpr int per_thread = 1000;
    std::atomic<int> waiting{2};
    std::exception_ptr errors[2];
    auto writer = [&](int which) {
        try {
            waiting.fetch_sub(1);
            while (waiting.load() > 0) std::this_thread::yield();
            MetadataStore store(temp.path()); // both open the fresh store at once
            // What is tested is locking, not durability: FULL's fsync per commit would make this
            // take some 15 seconds on a disk.
            store.db().exec("PRAGMA synchronous = NORMAL");
            const std::string run_id = "run-" + std::to_string(which);
            store.begin_run(sample_run(run_id));
            for (int i = 0; i < per_thread; ++i) {
                // Half of the artifacts are shared with the other writer: the same digest, once.
                const std::string seed = (i % 2 == 0) ? "shared" + std::to_string(i)
                                                      : "own" + std::to_string(which) + "-" + std::to_string(i);
                const int64_t id = store.begin_execution(sample_execution(run_id, "s" + std::to_string(i), "k"));
                ExecutionEnd end;
                end.status = "succeeded";
                end.attempts = 1;
                end.ended_at = 2000 + i;
                end.outputs = {{"out", artifact(seed)}};
                end.metrics = {{"m", double(i), 0, 2000.0 + i}};
                store.end_execution(id, end);
            }
            store.end_run(run_id, "succeeded", std::nullopt, 9000);
        } catch (...) {
            errors[which] = std::current_exception();
        }
    };
    std::thread first(writer, 0), second(writer, 1);
    first.join();
    second.join();
    for (const auto& error : errors)
        if (error) std::rethrow_exception(error);

    MetadataStore store(temp.path());
    auto& db = store.db();
    CHECK(count(db, "SELECT count(*) FROM executions WHERE status = 'succeeded'") == 2 * per_thread);
    CHECK(count(db, "SELECT count(*) FROM events WHERE kind = 'output'") == 2 * per_thread);
    CHECK(count(db, "SELECT count(*) FROM artifacts") == per_thread / 2 + per_thread);
    CHECK(count(db, "SELECT count(*) FROM metrics") == 2 * per_thread);
    CHECK(count(db, "SELECT count(*) FROM runs WHERE status = 'succeeded'") == 2);
    CHECK(store.integrity_problems().empty());
}

TEST_CASE("Processes opening a fresh metadata store at once all succeed", "[metadata_store]") {
    TempDir temp;
    for (int round = 0; round < 5; ++round) {
        const fs::path root = temp / ("store" + std::to_string(round));
        std::vector<pid_t> children;
        for (int i = 0; i < 4; ++i) {
            const pid_t child = ::fork();
            REQUIRE(child >= 0);
            if (child == 0) {
                try {
                    MetadataStore store(root);
                    store.begin_run(sample_run("p" + std::to_string(i)));
                    ::_exit(store.version() == trellis::store::schema_version ? 0 : 4);
                } catch (const std::exception& error) {
                    std::fprintf(stderr, "child: %s\n", error.what());
                    ::_exit(5);
                }
            }
            children.push_back(child);
        }
        for (const pid_t child : children) CHECK(wait_for(child) == 0);
        MetadataStore store(root);
        CHECK(count(store.db(), "SELECT count(*) FROM runs") == 4);
    }
}

// A registration as the run recorder makes one.
trellis::store::ModelRow model_row(const std::string& name, int64_t version, const std::string& digest,
                                   std::optional<int64_t> execution, std::optional<std::string> uri, double at) {
    trellis::store::ModelRow row;
    row.name = name;
    row.version = version;
    row.artifact_digest = digest;
    row.execution_id = execution;
    row.uri = std::move(uri);
    row.registered_at = at;
    row.registered_by = "tester";
    return row;
}

TEST_CASE("Models are registered with increasing versions", "[metadata_store]") {
    TempDir temp;
    MetadataStore store(temp.path());
    store.begin_run(sample_run("r"));
    const int64_t execution = finished_execution(store, "r", "train", "K", 10,
                                                 {{"a", artifact("m1", "model")}, {"b", artifact("m2", "model")}});

    CHECK(store.register_model(model_row("churn", 0, digest_of("m1"), execution, std::nullopt, 11)) == 1);
    CHECK(store.register_model(model_row("churn", 0, digest_of("m2"), execution, std::string("s3://x"), 12)) == 2);
    CHECK(store.register_model(model_row("other", 0, digest_of("m2"), std::nullopt, std::nullopt, 12)) == 1);
    CHECK(store.register_model(model_row("churn", 7, digest_of("m1"), std::nullopt, std::nullopt, 13)) == 7);
    CHECK(store.register_model(model_row("churn", 0, digest_of("m2"), std::nullopt, std::nullopt, 14)) == 8);
    // The same version again: idempotent with the same artifact, refused with another.
    CHECK(store.register_model(model_row("churn", 7, digest_of("m1"), std::nullopt, std::nullopt, 15)) == 7);
    CHECK_THROWS_WITH(store.register_model(model_row("churn", 7, digest_of("m2"), std::nullopt, std::nullopt, 16)),
                      Contains("model churn version 7 is already registered"));
    CHECK_THROWS_WITH(store.register_model(model_row("churn", 0, digest_of("nope"), std::nullopt, std::nullopt, 17)),
                      Contains("is not in the metadata store"));
    CHECK_THROWS_AS(store.register_model(model_row("churn", -1, digest_of("m1"), std::nullopt, std::nullopt, 17)), StoreError);
    auto& db = store.db();
    CHECK(count(db, "SELECT count(*) FROM models WHERE name = 'churn'") == 4);
    CHECK(scalar(db, "SELECT uri FROM models WHERE name = 'churn' AND version = 2") == "s3://x");
    CHECK(scalar(db, "SELECT execution_id FROM models WHERE name = 'churn' AND version = 1") ==
          std::to_string(execution));
}

TEST_CASE("File fingerprints match only the same size, time and inode", "[metadata_store]") {
    TempDir temp;
    MetadataStore store(temp.path());
    CHECK_FALSE(store.file_fingerprint("/data/a.csv", 10, 20, 30));
    store.save_file_fingerprint("/data/a.csv", 10, 20, 30, "abc");
    CHECK(store.file_fingerprint("/data/a.csv", 10, 20, 30) == std::optional<std::string>("abc"));
    CHECK_FALSE(store.file_fingerprint("/data/a.csv", 11, 20, 30));
    CHECK_FALSE(store.file_fingerprint("/data/a.csv", 10, 21, 30));
    CHECK_FALSE(store.file_fingerprint("/data/a.csv", 10, 20, 31));
    store.save_file_fingerprint("/data/a.csv", 11, 21, 30, "def");
    CHECK(store.file_fingerprint("/data/a.csv", 11, 21, 30) == std::optional<std::string>("def"));
    CHECK_FALSE(store.file_fingerprint("/data/a.csv", 10, 20, 30));
}

TEST_CASE("canonical_json sorts keys and writes NaN as null", "[metadata_store]") {
    using trellis::store::canonical_json;
    const nlohmann::json value = {{"b", 1}, {"a", {{"z", 0.1}, {"y", true}}}, {"c", nlohmann::json::array({3, 2})}};
    CHECK(canonical_json(value) == R"({"a":{"y":true,"z":0.1},"b":1,"c":[3,2]})");
    CHECK(canonical_json(nlohmann::json(std::nan(""))) == "null");
    CHECK(canonical_json(nlohmann::json(std::numeric_limits<double>::infinity())) == "null");
    CHECK(canonical_json(nlohmann::json(1.0 / 3)) == "0.3333333333333333");
    CHECK_THROWS_AS(canonical_json(nlohmann::json(std::string("M\xfcller"))), StoreError);
}

TEST_CASE("A batch of 200000 metric points is written in one go", "[metadata_store]") {
    TempDir temp;
    MetadataStore store(temp.path());
    store.begin_run(sample_run("r"));
    const int64_t id = store.begin_execution(sample_execution("r", "train"));
    ExecutionEnd end;
    end.status = "succeeded";
    end.ended_at = 5000;
    constexpr int points = 200000;
    end.metrics.reserve(points);
    const char* names[] = {"loss", "val_loss", "auc", "lr"};
    for (int i = 0; i < points; ++i) end.metrics.push_back({names[i % 4], i * 0.001, i / 4, 4000.0 + i * 1e-3});
    const auto start = std::chrono::steady_clock::now();
    store.end_execution(id, end);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    WARN("metrics: " << points << " points in " << seconds << " s = " << static_cast<long>(points / seconds)
                     << " points/s");
    CHECK(count(store.db(), "SELECT count(*) FROM metrics") == points);
    CHECK(count(store.db(), "SELECT max(step) FROM metrics WHERE name = 'lr'") == points / 4 - 1);
}

TEST_CASE("Store writes inside a caller's transaction are savepoints of it", "[metadata_store]") {
    TempDir temp;
    MetadataStore store(temp.path());
    store.begin_run(sample_run("r"));
    auto& db = store.db();
    {
        trellis::store::Transaction outer(db);
        store.set_tags("r", {{"a", "1"}});
        finished_execution(store, "r", "data", "K", 10, {{"table", artifact("t")}});
        CHECK(store.find_reusable("K", 0)); // sees its own transaction's rows
        // A failing write rolls back only itself.
        CHECK_THROWS_AS(finished_execution(store, "r", "bad", "K2", 11, {{"table", artifact("u")}}, "succeeded",
                                           {{"in", digest_of("missing")}}),
                        StoreError);
        CHECK(count(db, "SELECT count(*) FROM executions WHERE stage_id = 'bad' AND status = 'running'") == 1);
        // outer is not committed: everything goes
    }
    CHECK(count(db, "SELECT count(*) FROM tags") == 0);
    CHECK(count(db, "SELECT count(*) FROM executions") == 0);
    {
        trellis::store::Transaction outer(db);
        store.set_tags("r", {{"a", "1"}});
        finished_execution(store, "r", "data", "K", 10, {{"table", artifact("t")}});
        outer.commit();
    }
    CHECK(count(db, "SELECT count(*) FROM tags") == 1);
    CHECK(store.find_reusable("K", 0));
}

TEST_CASE("record_execution writes a whole execution, a cache hit with its source's results", "[metadata_store]") {
    TempDir temp;
    MetadataStore store(temp.path());
    store.begin_run(sample_run("first"));
    store.begin_run(sample_run("second"));
    auto& db = store.db();
    finished_execution(store, "first", "data", "KD", 5, {{"table", artifact("in")}});

    trellis::store::ExecutionRecord trained;
    trained.execution = sample_execution("first", "train", "KT");
    trained.end.status = "succeeded";
    trained.end.attempts = 1;
    trained.end.ended_at = 20;
    trained.end.inputs = {{"table", digest_of("in")}};
    trained.end.outputs = {{"model", artifact("model", "model")}};
    trained.end.metrics = {{"auc", 0.9, 0, 19}, {"loss", 0.5, 3, 19}};
    trained.end.params = {{"depth", 6}};
    const int64_t source = store.record_execution(trained);
    const std::string s = std::to_string(source);
    CHECK(scalar(db, "SELECT status || ',' || ended_at FROM executions WHERE id = " + s) == "succeeded,20.0");
    CHECK(count(db, "SELECT count(*) FROM metrics WHERE execution_id = " + s) == 2);
    CHECK(count(db, "SELECT count(*) FROM events WHERE execution_id = " + s) == 2);

    // The deploy stage of the second run reuses it and registers the model.
    const auto reusable = store.find_reusable("KT", 0);
    REQUIRE(reusable);
    trellis::store::ExecutionRecord hit;
    hit.execution = sample_execution("second", "train", "KT");
    hit.end.status = "cached";
    hit.end.ended_at = 30;
    hit.end.inputs = {{"table", digest_of("in")}};
    hit.reused_from = reusable;
    trellis::store::ModelRow model;
    model.name = "churn";
    model.artifact_digest = digest_of("model");
    model.registered_at = 30;
    hit.models = {model, model};
    trellis::store::ModelRow pinned = model;
    pinned.version = 1;
    pinned.artifact_digest = digest_of("in"); // version 1 is taken by another artifact: skipped
    hit.models.push_back(pinned);
    const int64_t cached = store.record_execution(hit);
    const std::string c = std::to_string(cached);
    CHECK(scalar(db, "SELECT status || ',' || cached_from FROM executions WHERE id = " + c) == "cached," + s);
    CHECK(scalar(db, "SELECT artifact_digest FROM events WHERE execution_id = " + c + " AND kind = 'output'") ==
          digest_of("model"));
    CHECK(count(db, "SELECT count(*) FROM metrics WHERE run_id = 'second' AND execution_id = " + c) == 2);
    CHECK(scalar(db, "SELECT value FROM params WHERE run_id = 'second' AND key = 'depth'") == "6");
    CHECK(count(db, "SELECT count(*) FROM models WHERE name = 'churn'") == 2);
    CHECK(scalar(db, "SELECT group_concat(version) FROM (SELECT version FROM models ORDER BY version)") == "1,2");
    CHECK(count(db, "SELECT count(*) FROM models WHERE execution_id = " + c) == 2);
    CHECK(store.find_finished_in_run("second", "train", "KT")->execution_id == cached);
    // Not a source for a cache hit itself.
    CHECK(store.find_reusable("KT", 0)->execution_id == source);
    CHECK(store.integrity_problems().empty());
}
