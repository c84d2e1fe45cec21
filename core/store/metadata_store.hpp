// The metadata and lineage store: one SQLite database (WAL) per store folder, <root>/metadata.db,
// with the schema of schema.hpp. This class is its write side and the lookups a run needs; the
// CLI's read-only views (runs, lineage, gc) query the same database through db().
//
// Safe for several processes at once: every write is one IMMEDIATE transaction, and a writer waits
// (busy timeout) for another's. A process killed at any instant leaves either the whole
// transaction or none of it; a run it leaves "running" is marked interrupted by the next process
// that looks (reap_interrupted), which knows the run's process is gone because its lock is free.
#pragma once

#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace trellis::govern {
class SigningKey;
}

namespace trellis::store {

struct RunRow {
    std::string id;
    std::string pipeline;
    std::string script;                 // absolute path
    nlohmann::json overrides = nlohmann::json::object();
    nlohmann::json params = nlohmann::json::object();
    std::string status = "running";
    std::optional<std::string> message;
    double started_at = 0;
    std::optional<double> ended_at;
    std::string host;
    int64_t pid = 0;
    std::string user;
    std::string trellis_version;
};

// An artifact as the metadata store knows it.
struct ArtifactRow {
    std::string digest;
    std::string type; // "table", "model", ...
    uint64_t size = 0;
    nlohmann::json properties = nlohmann::json::object();
};

struct ExecutionRow {
    std::string run_id;
    std::string stage_id;
    std::string stage_name;
    std::optional<std::string> plugin_name, plugin_version, plugin_digest;
    nlohmann::json config = nlohmann::json::object();
    std::optional<std::string> cache_key;
    std::string status = "running";
    std::optional<int64_t> cached_from;
    int attempts = 0;
    double started_at = 0;
    std::string host;
    int64_t pid = 0;
};

struct MetricRow {
    std::string name;
    double value = 0; // NaN is stored as NULL
    int64_t step = 0;
    double logged_at = 0;
};

// How an execution ended, with everything it produced; written in one transaction.
struct ExecutionEnd {
    std::string status;                           // succeeded | failed | skipped | cancelled
    std::optional<std::string> error;
    int attempts = 0;
    double ended_at = 0;
    std::map<std::string, std::string> inputs;    // port -> artifact digest (already recorded)
    std::map<std::string, ArtifactRow> outputs;   // port -> artifact (recorded if new)
    std::vector<MetricRow> metrics;
    std::map<std::string, nlohmann::json> params; // logged by the stage
};

// A finished execution whose outputs can stand in for running a stage again.
struct ReusableExecution {
    int64_t execution_id = 0;
    std::string run_id;
    double ended_at = 0;
    std::map<std::string, ArtifactRow> outputs; // port -> artifact, every one still stored
};

struct ModelRow {
    std::string name;
    int64_t version = 0;
    std::string artifact_digest;
    std::optional<int64_t> execution_id;
    std::optional<std::string> uri;
    double registered_at = 0;
    std::string registered_by;                       // the run's user (an identity, see govern/access.hpp)
    nlohmann::json card = nlohmann::json::object();  // the pipeline's model_card fields
};

// One execution as a run records it when the stage has ended, with what it produced: the unit
// of RunRecorder's batched writes.
struct ExecutionRecord {
    ExecutionRow execution;
    ExecutionEnd end;
    std::optional<ReusableExecution> reused_from; // a cache hit: outputs, metrics and params come from it
    std::vector<ModelRow> models;                 // registered by it (execution_id is filled in)
};

class MetadataStore {
public:
    // Opens <root>/metadata.db, creating it (and root) if needed: WAL, foreign keys, migrations to
    // schema_version. Throws StoreError with a one-line message naming the file when it is not a
    // trellis metadata store, is damaged, or was made by a newer trellis.
    explicit MetadataStore(const std::filesystem::path& root);
    ~MetadataStore();

    Database& db() { return db_; }
    int version() const { return version_; }
    static std::filesystem::path database_path(const std::filesystem::path& root);

    // PRAGMA integrity_check: empty when ok, else the problems it lists.
    std::vector<std::string> integrity_problems();

    // Marks interrupted every run left "running" on this host whose process is gone (its lock under
    // <root>/runs/<id>/lock is free), and its running executions; returns the run ids.
    std::vector<std::string> reap_interrupted();

    // ---- runs
    void begin_run(const RunRow& run);
    // For --resume: back to running, under this process (host, pid), with the script, overrides
    // and params it runs with now (the rest of `run` is ignored).
    void reopen_run(const RunRow& run);
    void end_run(const std::string& run_id, const std::string& status, const std::optional<std::string>& message,
                 double ended_at);
    std::optional<RunRow> find_run(const std::string& run_id);
    void set_tags(const std::string& run_id, const std::map<std::string, std::string>& tags);

    // ---- executions
    int64_t begin_execution(const ExecutionRow& execution);
    void end_execution(int64_t execution_id, const ExecutionEnd& end);
    // Records a stage answered from the cache: an execution with status "cached" that points at
    // `source`, with the source's outputs as its own, and `inputs` as its inputs.
    int64_t record_cached(const ExecutionRow& execution, const ReusableExecution& source,
                          const std::map<std::string, std::string>& inputs, double at);

    // The newest succeeded execution with `cache_key` that ended at or after `not_before` and
    // whose outputs are all still stored (removed_at IS NULL).
    std::optional<ReusableExecution> find_reusable(const std::string& cache_key, double not_before);
    // For --resume: the newest succeeded or cached execution of `stage_id` in `run_id` with `cache_key`.
    std::optional<ReusableExecution> find_finished_in_run(const std::string& run_id, const std::string& stage_id,
                                                          const std::string& cache_key);

    // Inserts a whole ended execution: its row, artifacts, events, metrics and params, and its
    // model registrations (a registration that conflicts with the registry is logged and skipped,
    // never failing the run). For a cache hit, the source's outputs become its outputs, and the
    // source's metrics and params are copied, so every run shows the results it stands on. Runs in
    // the caller's transaction (the recorder batches many); returns the execution id.
    int64_t record_execution(const ExecutionRecord& record);

    // ---- model registry
    // Registers model.artifact_digest as model.name; version 0 asks for the next free version.
    // Returns it. A new registration is appended to the audit log (signed with the store key) in
    // the same transaction.
    int64_t register_model(const ModelRow& model);

    // ---- data-file fingerprints
    std::optional<std::string> file_fingerprint(const std::string& path, int64_t size, int64_t mtime_ns, int64_t inode);
    void save_file_fingerprint(const std::string& path, int64_t size, int64_t mtime_ns, int64_t inode,
                               const std::string& digest);

private:
    void migrate();
    // The part of end_execution inside its transaction.
    void write_execution_end(int64_t execution_id, const std::string& run_id, const ExecutionEnd& end);

    std::filesystem::path root_;
    Database db_;
    int version_ = 0;
    std::unique_ptr<govern::SigningKey> signing_key_; // the store key, loaded at the first registration
};

// Holds an exclusive flock on <root>/runs/<id>/lock for as long as the run's process lives; the
// kernel drops it when the process dies however it dies, which is how reap_interrupted knows.
class RunLock {
public:
    // Creates the run folder and lock file and locks it; throws StoreError when another live
    // process holds it (e.g. the same run resumed twice at once).
    RunLock(const std::filesystem::path& root, const std::string& run_id);
    ~RunLock();
    RunLock(const RunLock&) = delete;
    RunLock& operator=(const RunLock&) = delete;

    // Whether some live process holds the lock of `run_id` (false when there is no lock file).
    static bool held(const std::filesystem::path& root, const std::string& run_id);

private:
    int fd_ = -1;
};

// Canonical JSON text: keys sorted (nlohmann::json keeps objects sorted), no spaces, numbers in
// shortest round-trip form. What cache keys and the config column hash and store.
std::string canonical_json(const nlohmann::json& value);

} // namespace trellis::store
