// A metadata store in a temporary folder, filled row by row with plain SQL, for the tests of the
// store's read side (run queries, lineage, gc): each test builds exactly the history it needs.
#pragma once

#include "store/artifact_store.hpp"
#include "store/metadata_store.hpp"
#include "store/sqlite.hpp"

#include "temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace trellis::test {

class StoreRows {
public:
    StoreRows() : root_(dir_.path() / "store"), meta_(root_) {}

    const std::filesystem::path& root() const { return root_; }
    store::MetadataStore& meta() { return meta_; }
    store::Database& db() { return meta_.db(); }

    static double now() {
        return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    }

    // A run on a host that is not this one, so reap_interrupted leaves a "running" one alone.
    void run(const std::string& id, const std::string& pipeline, const std::string& status, double started_at,
             std::optional<double> ended_at = std::nullopt, const nlohmann::json& params = nlohmann::json::object()) {
        auto insert = db().prepare("INSERT INTO runs (id, pipeline, script, params, status, started_at, ended_at, host, "
                                   "pid, trellis_version) VALUES (?, ?, '/tmp/p.lua', ?, ?, ?, ?, 'elsewhere', 1, '0.0')");
        insert.bind(1, id).bind(2, pipeline).bind(3, params.dump()).bind(4, status).bind(5, started_at).bind(6, ended_at);
        insert.run();
    }

    int64_t execution(const std::string& run_id, const std::string& stage_id, const std::string& status,
                      std::optional<int64_t> cached_from = std::nullopt, const nlohmann::json& config = {{"k", 1}},
                      double started_at = 100, double ended_at = 101) {
        auto insert = db().prepare(
            "INSERT INTO executions (run_id, stage_id, stage_name, plugin_name, plugin_version, plugin_digest, config, "
            "status, cached_from, attempts, started_at, ended_at) VALUES (?, ?, ?, 'acme', '1.0', ?, ?, ?, ?, 1, ?, ?)");
        insert.bind(1, run_id)
            .bind(2, stage_id)
            .bind(3, "acme." + stage_id)
            .bind(4, std::string(64, 'c'))
            .bind(5, config.dump())
            .bind(6, status)
            .bind(7, cached_from)
            .bind(8, started_at)
            .bind(9, ended_at);
        insert.run();
        return db().last_insert_id();
    }

    void artifact(const std::string& digest, const std::string& type = "table", double created_at = 100,
                  int64_t size = 10, const nlohmann::json& properties = nlohmann::json::object()) {
        auto insert = db().prepare("INSERT INTO artifacts (digest, type, size, properties, created_at) VALUES (?, ?, ?, ?, ?)");
        insert.bind(1, digest).bind(2, type).bind(3, size).bind(4, properties.dump()).bind(5, created_at);
        insert.run();
    }

    void input(int64_t execution, const std::string& port, const std::string& digest) { event(execution, "input", port, digest); }
    void output(int64_t execution, const std::string& port, const std::string& digest) { event(execution, "output", port, digest); }

    void metric(const std::string& run_id, int64_t execution, const std::string& name, int64_t step,
                std::optional<double> value, double logged_at) {
        auto insert = db().prepare("INSERT INTO metrics (run_id, execution_id, name, step, value, logged_at) VALUES (?, ?, ?, ?, ?, ?)");
        insert.bind(1, run_id).bind(2, execution).bind(3, name).bind(4, step).bind(5, value).bind(6, logged_at);
        insert.run();
    }

    void tag(const std::string& run_id, const std::string& key, const std::string& value) {
        auto insert = db().prepare("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)");
        insert.bind(1, run_id).bind(2, key).bind(3, value);
        insert.run();
    }

    void param(const std::string& run_id, int64_t execution, const std::string& key, const nlohmann::json& value) {
        auto insert = db().prepare("INSERT INTO params (run_id, execution_id, key, value) VALUES (?, ?, ?, ?)");
        insert.bind(1, run_id).bind(2, execution).bind(3, key).bind(4, value.dump());
        insert.run();
    }

    void model(const std::string& name, int64_t version, const std::string& digest, double registered_at = 100) {
        auto insert = db().prepare("INSERT INTO models (name, version, artifact_digest, registered_at) VALUES (?, ?, ?, ?)");
        insert.bind(1, name).bind(2, version).bind(3, digest).bind(4, registered_at);
        insert.run();
    }

    std::optional<double> removed_at(const std::string& digest) {
        auto query = db().prepare("SELECT removed_at FROM artifacts WHERE digest = ?");
        query.bind(1, digest);
        if (!query.step()) throw std::runtime_error("no artifact row " + digest);
        return query.optional_real(0);
    }

    // A made-up digest: 64 hex digits starting with `prefix`.
    static std::string digest(const std::string& prefix) { return prefix + std::string(64 - prefix.size(), '0'); }

private:
    void event(int64_t execution, const std::string& kind, const std::string& port, const std::string& digest) {
        auto insert = db().prepare("INSERT INTO events (execution_id, kind, port, artifact_digest) VALUES (?, ?, ?, ?)");
        insert.bind(1, execution).bind(2, kind).bind(3, port).bind(4, digest);
        insert.run();
    }

    TempDir dir_;
    std::filesystem::path root_;
    store::MetadataStore meta_;
};

} // namespace trellis::test
