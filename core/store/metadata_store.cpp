#include "store/metadata_store.hpp"

#include "govern/audit_log.hpp"
#include "govern/store_key.hpp"
#include "store/clock.hpp"
#include "store/schema.hpp"
#include "store/store_paths.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace trellis::store {

namespace fs = std::filesystem;

namespace {

constexpr const char* damaged_advice = "; move it aside (and its -wal/-shm files) or restore a backup";
constexpr const char* interrupted_message = "the process running it ended without finishing (killed?)";

// Creates the store folder, so SQLite can create the database inside it.
fs::path prepare_root(const fs::path& root) {
    std::error_code error;
    fs::create_directories(root, error);
    if (error) throw StoreError(root.string() + ": cannot create the store folder: " + error.message());
    // A metadata.db planted as a symlink to a file elsewhere is refused, not written through.
    resolve_beneath(root, "metadata.db");
    return MetadataStore::database_path(root);
}

bool is_damage(int code) {
    const int primary = code & 0xff;
    return primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT;
}

[[noreturn]] void fail_damaged(const Database& db, int code, std::string_view action) {
    if (is_damage(code))
        throw StoreError(db.path().string() + ": the metadata store is damaged (" + sqlite3_errmsg(db.handle()) + ")" +
                         damaged_advice);
    db.fail(code, action);
}

// Runs `sql` (one statement), putting every row's first column as text in `rows`; returns the
// SQLite result code (SQLITE_DONE when it went well).
int try_first_column(Database& db, const std::string& sql, std::vector<std::string>& rows) {
    rows.clear();
    sqlite3_stmt* stmt = nullptr;
    int code = sqlite3_prepare_v2(db.handle(), sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (code == SQLITE_OK) {
        while ((code = sqlite3_step(stmt)) == SQLITE_ROW) {
            const auto* text = sqlite3_column_text(stmt, 0);
            rows.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
        }
    }
    sqlite3_finalize(stmt);
    return code;
}

// As above, throwing when it failed. The first contact with a file goes through here, so garbage
// or a damaged page becomes the "damaged" message.
std::vector<std::string> first_column(Database& db, const std::string& sql) {
    std::vector<std::string> rows;
    if (const int code = try_first_column(db, sql, rows); code != SQLITE_DONE)
        fail_damaged(db, code, "cannot read the metadata store");
    return rows;
}

// Switches the database to WAL and returns the journal mode it is in afterwards. SQLite answers
// BUSY at once, without its busy handler, when another connection switches at the same moment
// (two processes creating one store): that is waited out here.
std::string switch_to_wal(Database& db) {
    using namespace std::chrono;
    const auto deadline = steady_clock::now() + seconds(60);
    std::vector<std::string> rows;
    for (int attempt = 1;; ++attempt) {
        const int code = try_first_column(db, "PRAGMA journal_mode = WAL", rows);
        if (code == SQLITE_DONE) return rows.empty() ? std::string("unknown") : rows.front();
        if ((code & 0xff) != SQLITE_BUSY || steady_clock::now() > deadline)
            fail_damaged(db, code, "cannot switch the metadata store to write-ahead logging");
        std::this_thread::sleep_for(milliseconds(std::min(attempt, 20)));
    }
}

// `name` as an SQL identifier.
std::string quoted(const std::string& name) {
    std::string text = "\"";
    for (const char c : name) {
        if (c == '"') text += '"';
        text += c;
    }
    return text + '"';
}

int user_version(Database& db) { return std::stoi(first_column(db, "PRAGMA user_version").at(0)); }

std::vector<std::string> table_names(Database& db) {
    return first_column(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
                            "ESCAPE '\\' ORDER BY name");
}

// A read transaction (BEGIN DEFERRED), so several queries see one snapshot; nothing when the
// caller has a transaction open already (which gives the snapshot).
class ReadTransaction {
public:
    explicit ReadTransaction(Database& db) : db_(db), own_(sqlite3_get_autocommit(db.handle()) != 0) {
        if (own_) db_.exec("BEGIN");
    }
    ~ReadTransaction() {
        if (own_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;

private:
    Database& db_;
    bool own_;
};

bool valid_run_id(const std::string& id) {
    if (id.empty() || id.size() > 200 || id.front() == '.') return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.';
    });
}

void check_run_id(const std::string& id) {
    if (!valid_run_id(id))
        throw StoreError("invalid run id '" + id + "': use letters, digits, '-', '_' and '.' (not first)");
}

fs::path lock_path(const fs::path& root, const std::string& run_id) { return root / "runs" / run_id / "lock"; }

nlohmann::json parse_column(const Database& db, const std::string& text, std::string_view what) {
    auto value = nlohmann::json::parse(text, nullptr, false);
    if (value.is_discarded())
        throw StoreError(db.path().string() + ": " + std::string(what) + " is not valid JSON" + damaged_advice);
    return value;
}

// Outputs of `execution_id` with their artifact rows.
std::map<std::string, ArtifactRow> load_outputs(Database& db, int64_t execution_id) {
    auto query = db.prepare("SELECT ev.port, a.digest, a.type, a.size, a.properties FROM events ev "
                            "JOIN artifacts a ON a.digest = ev.artifact_digest "
                            "WHERE ev.execution_id = ? AND ev.kind = 'output'");
    query.bind(1, execution_id);
    std::map<std::string, ArtifactRow> outputs;
    while (query.step()) {
        ArtifactRow row;
        row.digest = query.text(1);
        row.type = query.text(2);
        row.size = static_cast<uint64_t>(query.int64(3));
        row.properties = parse_column(db, query.text(4), "the properties of artifact " + row.digest);
        outputs.emplace(query.text(0), std::move(row));
    }
    return outputs;
}

// The first row of `query` (id, run_id, ended_at) as a ReusableExecution with its outputs.
std::optional<ReusableExecution> reusable_from(Database& db, Statement& query) {
    if (!query.step()) return std::nullopt;
    ReusableExecution found;
    found.execution_id = query.int64(0);
    found.run_id = query.text(1);
    found.ended_at = query.real(2);
    found.outputs = load_outputs(db, found.execution_id);
    return found;
}

// Condition that every output artifact of executions row `e` is still stored.
constexpr const char* outputs_stored = "NOT EXISTS (SELECT 1 FROM events ev JOIN artifacts a ON a.digest = "
                                       "ev.artifact_digest WHERE ev.execution_id = e.id AND ev.kind = 'output' "
                                       "AND a.removed_at IS NOT NULL)";

void require_artifact(Database& db, const std::string& digest, std::string_view what) {
    auto query = db.prepare("SELECT 1 FROM artifacts WHERE digest = ?");
    query.bind(1, digest);
    if (!query.step())
        throw StoreError(db.path().string() + ": " + std::string(what) + ": artifact " + digest +
                         " is not in the metadata store");
}

int64_t insert_execution(Database& db, const ExecutionRow& execution, const std::string& status,
                         std::optional<int64_t> cached_from, double started_at, std::optional<double> ended_at) {
    auto insert = db.prepare(
        "INSERT INTO executions (run_id, stage_id, stage_name, plugin_name, plugin_version, plugin_digest, config, "
        "cache_key, status, cached_from, attempts, started_at, ended_at, host, pid) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, execution.run_id)
        .bind(2, execution.stage_id)
        .bind(3, execution.stage_name)
        .bind(4, execution.plugin_name)
        .bind(5, execution.plugin_version)
        .bind(6, execution.plugin_digest)
        .bind(7, canonical_json(execution.config))
        .bind(8, execution.cache_key)
        .bind(9, status)
        .bind(10, cached_from)
        .bind(11, execution.attempts)
        .bind(12, started_at)
        .bind(13, ended_at)
        .bind(14, execution.host)
        .bind(15, execution.pid);
    insert.run();
    return db.last_insert_id();
}

} // namespace

// ---- opening

MetadataStore::MetadataStore(const fs::path& root) : root_(root), db_(prepare_root(root)) {
    // Garbage, a truncated file or a foreign database is refused before anything is written. One
    // snapshot: another process may be creating the store meanwhile.
    int found = 0;
    std::vector<std::string> tables;
    {
        ReadTransaction snapshot(db_);
        found = user_version(db_);
        tables = table_names(db_);
    }
    if (found > schema_version)
        throw StoreError(db_.path().string() + ": the metadata store was written by a newer trellis (schema version " +
                         std::to_string(found) + "; this trellis knows up to " + std::to_string(schema_version) +
                         "); use that trellis, or a store folder of its own for this one");
    const bool has_runs = std::find(tables.begin(), tables.end(), "runs") != tables.end();
    if ((found == 0 && !tables.empty()) || (found > 0 && !has_runs))
        throw StoreError(db_.path().string() + ": not a trellis metadata store (it holds other tables" +
                         (tables.empty() ? std::string() : ", e.g. " + tables.front()) +
                         "); use another store folder or move the file aside");
    // Touch each table's first pages, so a store cut short fails here, clearly.
    for (const auto& table : tables) first_column(db_, "SELECT 1 FROM " + quoted(table) + " LIMIT 1");

    if (const std::string mode = switch_to_wal(db_); mode != "wal")
        throw StoreError(db_.path().string() + ": cannot use write-ahead logging (journal mode stays " + mode +
                         "); put the store on a local file system");
    // FULL: in WAL mode every commit is fsync'ed, so a commit survives a power loss as well as a kill.
    db_.exec("PRAGMA synchronous = FULL");
    db_.exec("PRAGMA foreign_keys = ON");
    migrate();
}

MetadataStore::~MetadataStore() = default;

fs::path MetadataStore::database_path(const fs::path& root) { return root / "metadata.db"; }

void MetadataStore::migrate() {
    int version = user_version(db_);
    while (version < schema_version) {
        Transaction transaction(db_);
        // Another process may have migrated while this one waited for the write lock.
        version = user_version(db_);
        if (version > schema_version)
            throw StoreError(db_.path().string() + ": the metadata store was written by a newer trellis (schema "
                             "version " + std::to_string(version) + "; this trellis knows up to " +
                             std::to_string(schema_version) + ")");
        if (version == schema_version) break;
        db_.exec(migrations[version]);
        db_.exec("PRAGMA user_version = " + std::to_string(version + 1));
        transaction.commit();
        ++version;
    }
    version_ = version;
}

std::vector<std::string> MetadataStore::integrity_problems() {
    auto problems = first_column(db_, "PRAGMA integrity_check");
    if (problems.size() == 1 && problems.front() == "ok") problems.clear();
    return problems;
}

std::vector<std::string> MetadataStore::reap_interrupted() {
    const std::string host = host_name();
    std::vector<std::string> candidates;
    {
        auto query = db_.prepare("SELECT id FROM runs WHERE status = 'running' AND host = ?");
        query.bind(1, host);
        while (query.step()) candidates.push_back(query.text(0));
    }
    if (candidates.empty()) return {};

    // The locks are checked under the write lock: a process that resumes a run takes its run lock
    // before writing, so it either shows up as held here or writes after this commits.
    std::vector<std::string> reaped;
    const double now = unix_now();
    Transaction transaction(db_);
    auto update_run = db_.prepare("UPDATE runs SET status = 'interrupted', message = ?, ended_at = ? "
                                  "WHERE id = ? AND status = 'running' AND host = ?");
    auto update_executions = db_.prepare("UPDATE executions SET status = 'interrupted', "
                                         "ended_at = coalesce(ended_at, ?) WHERE run_id = ? AND status = 'running'");
    for (const auto& id : candidates) {
        if (!valid_run_id(id)) continue; // never locked by trellis: leave it alone
        bool held = true;
        try {
            held = RunLock::held(root_, id);
        } catch (const StoreError&) {
            // Cannot tell (e.g. permissions): leave it.
        }
        if (held) continue;
        update_run.bind(1, interrupted_message).bind(2, now).bind(3, id).bind(4, host);
        update_run.run();
        const bool changed = db_.changes() > 0;
        update_run.reset();
        if (!changed) continue;
        update_executions.bind(1, now).bind(2, id);
        update_executions.run();
        update_executions.reset();
        reaped.push_back(id);
    }
    transaction.commit();
    return reaped;
}

// ---- runs

void MetadataStore::begin_run(const RunRow& run) {
    check_run_id(run.id);
    Transaction transaction(db_);
    auto insert = db_.prepare("INSERT INTO runs (id, pipeline, script, overrides, params, status, message, "
                              "started_at, ended_at, host, pid, user, trellis_version) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, run.id)
        .bind(2, run.pipeline)
        .bind(3, run.script)
        .bind(4, canonical_json(run.overrides))
        .bind(5, canonical_json(run.params))
        .bind(6, run.status)
        .bind(7, run.message)
        .bind(8, run.started_at)
        .bind(9, run.ended_at)
        .bind(10, run.host)
        .bind(11, run.pid);
    if (run.user.empty())
        insert.bind(12, std::nullopt);
    else
        insert.bind(12, run.user);
    insert.bind(13, run.trellis_version);
    insert.run();
    transaction.commit();
}

void MetadataStore::reopen_run(const RunRow& run) {
    Transaction transaction(db_);
    // A resume may give another script or other --set values: the run is what it runs now.
    auto update = db_.prepare("UPDATE runs SET status = 'running', message = NULL, ended_at = NULL, host = ?, pid = ?, "
                              "script = ?, overrides = ?, params = ? WHERE id = ?");
    const std::string& run_id = run.id;
    update.bind(1, run.host)
        .bind(2, run.pid)
        .bind(3, run.script)
        .bind(4, canonical_json(run.overrides))
        .bind(5, canonical_json(run.params))
        .bind(6, run_id);
    update.run();
    if (db_.changes() == 0) throw StoreError("no run " + run_id + " in " + db_.path().string());
    transaction.commit();
}

void MetadataStore::end_run(const std::string& run_id, const std::string& status,
                            const std::optional<std::string>& message, double ended_at) {
    Transaction transaction(db_);
    auto update = db_.prepare("UPDATE runs SET status = ?, message = ?, ended_at = ? WHERE id = ?");
    update.bind(1, status).bind(2, message).bind(3, ended_at).bind(4, run_id);
    update.run();
    if (db_.changes() == 0) throw StoreError("no run " + run_id + " in " + db_.path().string());
    transaction.commit();
}

std::optional<RunRow> MetadataStore::find_run(const std::string& run_id) {
    auto query = db_.prepare("SELECT id, pipeline, script, overrides, params, status, message, started_at, ended_at, "
                             "host, pid, user, trellis_version FROM runs WHERE id = ?");
    query.bind(1, run_id);
    if (!query.step()) return std::nullopt;
    RunRow run;
    run.id = query.text(0);
    run.pipeline = query.text(1);
    run.script = query.text(2);
    run.overrides = parse_column(db_, query.text(3), "the overrides of run " + run_id);
    run.params = parse_column(db_, query.text(4), "the params of run " + run_id);
    run.status = query.text(5);
    run.message = query.optional_text(6);
    run.started_at = query.real(7);
    run.ended_at = query.optional_real(8);
    run.host = query.text(9);
    run.pid = query.int64(10);
    run.user = query.text(11);
    run.trellis_version = query.text(12);
    return run;
}

void MetadataStore::set_tags(const std::string& run_id, const std::map<std::string, std::string>& tags) {
    Transaction transaction(db_);
    auto insert = db_.prepare("INSERT OR REPLACE INTO tags (run_id, key, value) VALUES (?, ?, ?)");
    for (const auto& [key, value] : tags) {
        insert.bind(1, run_id).bind(2, key).bind(3, value);
        insert.run();
        insert.reset();
    }
    transaction.commit();
}

// ---- executions

int64_t MetadataStore::begin_execution(const ExecutionRow& execution) {
    Transaction transaction(db_);
    const int64_t id =
        insert_execution(db_, execution, execution.status, execution.cached_from, execution.started_at, std::nullopt);
    transaction.commit();
    return id;
}

void MetadataStore::end_execution(int64_t execution_id, const ExecutionEnd& end) {
    Transaction transaction(db_);
    std::string run_id;
    {
        auto query = db_.prepare("SELECT run_id FROM executions WHERE id = ?");
        query.bind(1, execution_id);
        if (!query.step())
            throw StoreError("no execution " + std::to_string(execution_id) + " in " + db_.path().string());
        run_id = query.text(0);
    }
    write_execution_end(execution_id, run_id, end);
    transaction.commit();
}

void MetadataStore::write_execution_end(int64_t execution_id, const std::string& run_id, const ExecutionEnd& end) {
    // The same bytes are one artifact, however many executions or processes write them; an
    // object that gc removed and that was written again is stored again.
    auto artifact = db_.prepare("INSERT INTO artifacts (digest, type, size, properties, created_at) "
                                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE SET removed_at = NULL "
                                "WHERE artifacts.removed_at IS NOT NULL");
    auto event = db_.prepare("INSERT OR REPLACE INTO events (execution_id, kind, port, artifact_digest) "
                             "VALUES (?, ?, ?, ?)");
    for (const auto& [port, digest] : end.inputs) {
        require_artifact(db_, digest, "input " + port);
        event.bind(1, execution_id).bind(2, "input").bind(3, port).bind(4, digest);
        event.run();
        event.reset();
    }
    for (const auto& [port, row] : end.outputs) {
        artifact.bind(1, row.digest)
            .bind(2, row.type)
            .bind(3, static_cast<int64_t>(row.size))
            .bind(4, canonical_json(row.properties))
            .bind(5, end.ended_at);
        artifact.run();
        artifact.reset();
        event.bind(1, execution_id).bind(2, "output").bind(3, port).bind(4, row.digest);
        event.run();
        event.reset();
    }

    if (!end.metrics.empty()) {
        auto metric = db_.prepare("INSERT INTO metrics (run_id, execution_id, name, step, value, logged_at) "
                                  "VALUES (?, ?, ?, ?, ?, ?)");
        // Prepared once; the run and execution bound once (rewind keeps them): this loop takes
        // hundreds of thousands of points per second.
        metric.bind(1, run_id).bind(2, execution_id);
        for (const auto& row : end.metrics) {
            metric.bind(3, row.name).bind(4, row.step);
            if (std::isnan(row.value))
                metric.bind(5, std::nullopt);
            else
                metric.bind(5, row.value);
            metric.bind(6, row.logged_at);
            metric.run();
            metric.rewind();
        }
    }

    if (!end.params.empty()) {
        auto param = db_.prepare("INSERT OR REPLACE INTO params (run_id, execution_id, key, value) VALUES (?, ?, ?, ?)");
        for (const auto& [key, value] : end.params) {
            param.bind(1, run_id).bind(2, execution_id).bind(3, key).bind(4, canonical_json(value));
            param.run();
            param.reset();
        }
    }

    auto update = db_.prepare("UPDATE executions SET status = ?, error = ?, attempts = ?, ended_at = ? WHERE id = ?");
    update.bind(1, end.status).bind(2, end.error).bind(3, end.attempts).bind(4, end.ended_at).bind(5, execution_id);
    update.run();
}

int64_t MetadataStore::record_execution(const ExecutionRecord& record) {
    // A savepoint in the caller's transaction (all of it or none of it); a transaction of its own
    // when called alone.
    Transaction transaction(db_);
    const ExecutionRow& row = record.execution;
    const int64_t id = insert_execution(db_, row, "running", record.reused_from ? std::optional<int64_t>(record.reused_from->execution_id) : std::nullopt,
                                        row.started_at, std::nullopt);
    ExecutionEnd end = record.end;
    if (record.reused_from) {
        // A cache hit: the source's outputs are this execution's, and so are its results, so that
        // a run that reused everything still shows (and compares by) the numbers it stands on.
        end.outputs = record.reused_from->outputs;
        // Resuming reuses executions of the same run: their results are in the run already.
        const bool same_run = record.reused_from->run_id == row.run_id;
        auto metrics = db_.prepare("INSERT INTO metrics (run_id, execution_id, name, step, value, logged_at) "
                                   "SELECT ?, ?, name, step, value, logged_at FROM metrics "
                                   "WHERE run_id = ? AND execution_id = ?"); // run_id: the index
        metrics.bind(1, row.run_id).bind(2, id).bind(3, record.reused_from->run_id).bind(4, record.reused_from->execution_id);
        if (!same_run) metrics.run();
        auto params = db_.prepare("INSERT OR REPLACE INTO params (run_id, execution_id, key, value) "
                                  "SELECT ?, ?, key, value FROM params WHERE run_id = ? AND execution_id = ? "
                                  "AND execution_id != 0");
        params.bind(1, row.run_id).bind(2, id).bind(3, record.reused_from->run_id).bind(4, record.reused_from->execution_id);
        if (!same_run) params.run();
        for (const auto& [port, artifact] : end.outputs) require_artifact(db_, artifact.digest, "output " + port);
    }
    write_execution_end(id, row.run_id, end);
    for (const ModelRow& model : record.models) {
        try {
            ModelRow registered = model;
            registered.execution_id = id;
            register_model(registered);
        } catch (const StoreError& e) {
            // The registry keeps what it has; the execution is recorded all the same.
            spdlog::warn("{}; not registering artifact {} under that version", e.what(), model.artifact_digest.substr(0, 12));
        } catch (const govern::KeyError& e) {
            // Without the store key the registration cannot be audited, so it is not made.
            spdlog::error("not registering model {} (artifact {}): {}", model.name, model.artifact_digest.substr(0, 12),
                          e.what());
        }
    }
    transaction.commit();
    return id;
}

int64_t MetadataStore::record_cached(const ExecutionRow& execution, const ReusableExecution& source,
                                     const std::map<std::string, std::string>& inputs, double at) {
    Transaction transaction(db_);
    const int64_t id = insert_execution(db_, execution, "cached", source.execution_id, at, at);
    auto event = db_.prepare("INSERT INTO events (execution_id, kind, port, artifact_digest) VALUES (?, ?, ?, ?)");
    for (const auto& [port, digest] : inputs) {
        require_artifact(db_, digest, "input " + port);
        event.bind(1, id).bind(2, "input").bind(3, port).bind(4, digest);
        event.run();
        event.reset();
    }
    for (const auto& [port, row] : source.outputs) {
        require_artifact(db_, row.digest, "output " + port);
        event.bind(1, id).bind(2, "output").bind(3, port).bind(4, row.digest);
        event.run();
        event.reset();
    }
    transaction.commit();
    return id;
}

std::optional<ReusableExecution> MetadataStore::find_reusable(const std::string& cache_key, double not_before) {
    ReadTransaction snapshot(db_);
    auto query = db_.prepare(std::string("SELECT e.id, e.run_id, e.ended_at FROM executions e "
                                         "WHERE e.status = 'succeeded' AND e.cache_key = ? AND e.ended_at >= ? AND ") +
                             outputs_stored + " ORDER BY e.ended_at DESC, e.id DESC LIMIT 1");
    query.bind(1, cache_key).bind(2, not_before);
    return reusable_from(db_, query);
}

std::optional<ReusableExecution> MetadataStore::find_finished_in_run(const std::string& run_id,
                                                                     const std::string& stage_id,
                                                                     const std::string& cache_key) {
    ReadTransaction snapshot(db_);
    auto query = db_.prepare(std::string("SELECT e.id, e.run_id, e.ended_at FROM executions e "
                                         "WHERE e.run_id = ? AND e.stage_id = ? AND e.cache_key = ? "
                                         "AND e.status IN ('succeeded', 'cached') AND ") +
                             outputs_stored + " ORDER BY e.ended_at DESC, e.id DESC LIMIT 1");
    query.bind(1, run_id).bind(2, stage_id).bind(3, cache_key);
    return reusable_from(db_, query);
}

// ---- model registry

int64_t MetadataStore::register_model(const ModelRow& model) {
    const std::string& name = model.name;
    int64_t version = model.version;
    const std::string& digest = model.artifact_digest;
    if (name.empty()) throw StoreError("a model needs a name");
    if (version < 0) throw StoreError("model " + name + ": version " + std::to_string(version) + " is not valid");
    Transaction transaction(db_);
    require_artifact(db_, digest, "model " + name);
    if (version == 0) {
        auto next = db_.prepare("SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = ?");
        next.bind(1, name);
        next.step();
        version = next.int64(0);
    } else {
        auto existing = db_.prepare("SELECT artifact_digest FROM models WHERE name = ? AND version = ?");
        existing.bind(1, name).bind(2, version);
        if (existing.step()) {
            const std::string registered = existing.text(0);
            if (registered == digest) return version; // registered already: nothing to do
            throw StoreError("model " + name + " version " + std::to_string(version) +
                             " is already registered, with another artifact (" + registered.substr(0, 12) +
                             "); register a new version instead");
        }
    }
    auto insert = db_.prepare("INSERT INTO models (name, version, artifact_digest, execution_id, uri, registered_at, "
                              "registered_by, card) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    // Never NULL from this schema on: a NULL registrant marks a model registered before the audit
    // log existed, which audit verify cannot account for.
    const std::string by = model.registered_by.empty() ? "unknown" : model.registered_by;
    insert.bind(1, name)
        .bind(2, version)
        .bind(3, digest)
        .bind(4, model.execution_id)
        .bind(5, model.uri)
        .bind(6, model.registered_at)
        .bind(7, by)
        .bind(8, canonical_json(model.card.is_object() ? model.card : nlohmann::json::object()));
    insert.run();
    if (!signing_key_) signing_key_ = std::make_unique<govern::SigningKey>(govern::store_signing_key(root_));
    nlohmann::json after = {{"artifact", digest}, {"status", "active"}};
    if (model.execution_id) after["execution"] = *model.execution_id;
    if (model.uri) after["uri"] = *model.uri;
    govern::append_audit(db_, *signing_key_, model.registered_by.empty() ? "unknown" : model.registered_by,
                         "model.register", name + ":" + std::to_string(version), nullptr, after, model.registered_at);
    transaction.commit();
    return version;
}

// ---- data-file fingerprints

std::optional<std::string> MetadataStore::file_fingerprint(const std::string& path, int64_t size, int64_t mtime_ns,
                                                           int64_t inode) {
    auto query = db_.prepare("SELECT digest FROM file_fingerprints WHERE path = ? AND size = ? AND mtime_ns = ? "
                             "AND inode = ?");
    query.bind(1, path).bind(2, size).bind(3, mtime_ns).bind(4, inode);
    if (!query.step()) return std::nullopt;
    return query.text(0);
}

void MetadataStore::save_file_fingerprint(const std::string& path, int64_t size, int64_t mtime_ns, int64_t inode,
                                          const std::string& digest) {
    Transaction transaction(db_);
    auto insert = db_.prepare("INSERT OR REPLACE INTO file_fingerprints (path, size, mtime_ns, inode, digest) "
                              "VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, path).bind(2, size).bind(3, mtime_ns).bind(4, inode).bind(5, digest);
    insert.run();
    transaction.commit();
}

// ---- run locks

RunLock::RunLock(const fs::path& root, const std::string& run_id) {
    check_run_id(run_id);
    const fs::path path = lock_path(root, run_id);
    // runs/ or runs/<id> planted as a symlink to elsewhere would put the run's files (its log,
    // run.json, reports) outside the store: refused before anything is created, and after.
    const std::string folder = "runs/" + run_id;
    resolve_beneath(root, folder);
    std::error_code error;
    fs::create_directories(path.parent_path(), error);
    if (error) throw StoreError(path.parent_path().string() + ": cannot create the run folder: " + error.message());
    resolve_beneath(root, folder);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) throw StoreError(path.string() + ": cannot open the run lock: " + std::strerror(errno));
    // Another process may hold it for a moment (reap_interrupted probes every run's lock), so a
    // refusal is retried for a second before it means another live run.
    int code = 0;
    for (int attempt = 0; attempt < 100; ++attempt) {
        while ((code = ::flock(fd_, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
        }
        if (code == 0 || errno != EWOULDBLOCK) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (code != 0) {
        const int saved = errno;
        ::close(fd_);
        fd_ = -1;
        if (saved == EWOULDBLOCK) throw StoreError("run " + run_id + " is in use by another trellis process");
        throw StoreError(path.string() + ": cannot lock the run: " + std::strerror(saved));
    }
}

RunLock::~RunLock() {
    if (fd_ >= 0) ::close(fd_);
}

bool RunLock::held(const fs::path& root, const std::string& run_id) {
    check_run_id(run_id);
    const fs::path path = lock_path(root, run_id);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return false;
        throw StoreError(path.string() + ": cannot open the run lock: " + std::strerror(errno));
    }
    int code;
    while ((code = ::flock(fd, LOCK_SH | LOCK_NB)) != 0 && errno == EINTR) {
    }
    const int saved = errno;
    if (code == 0) ::flock(fd, LOCK_UN);
    ::close(fd);
    if (code == 0) return false;
    if (saved == EWOULDBLOCK) return true;
    throw StoreError(path.string() + ": cannot test the run lock: " + std::strerror(saved));
}

// ---- canonical JSON

std::string canonical_json(const nlohmann::json& value) {
    // dump() prints NaN and infinities as null and never throws for them; text that is not
    // UTF-8 would make it throw, which becomes a StoreError here.
    try {
        return value.dump();
    } catch (const nlohmann::json::exception& error) {
        throw StoreError(std::string("cannot write a value as JSON: ") + error.what());
    }
}

} // namespace trellis::store
