// Connects a run to the stores: stages reuse earlier executions with the same cache key, outputs
// go to the artifact store, and every execution with its lineage, params and metrics goes to the
// metadata store.
//
// Metadata writes go through a writer thread that commits them in batches (one transaction per
// batch), so a pipeline of thousands of tiny stages does not wait for a commit per stage. A
// process killed before a batch commits loses only those records: the stages run again on resume,
// and their outputs, already stored, are found in place.
#pragma once

#include "exec/cache_keys.hpp"
#include "exec/executor.hpp"
#include "store/artifact_store.hpp"
#include "store/clock.hpp"
#include "store/metadata_store.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace trellis::core {

struct RecorderOptions {
    bool no_cache = false;    // --no-cache: run every stage (results are still recorded)
    bool resuming = false;    // --resume: stages that finished in this run are reused whatever their cache settings
    std::string user;         // who runs it: recorded as the registrant of the models it registers
};

class RunRecorder : public StageStore {
public:
    // `root`: the store folder. Opens its own connection for the writer thread.
    RunRecorder(const Pipeline& pipeline, const PipelineScript& script, PluginRegistry& registry,
                const std::filesystem::path& root, std::string run_id, RecorderOptions options);
    ~RunRecorder() override;

    std::optional<std::map<std::string, ArtifactBytes>> reuse(size_t stage,
                                                              const std::map<std::string, ArtifactBytes>& inputs) override;
    void attempt_started(size_t stage, int attempt) override;
    void persist(std::map<std::string, ArtifactBytes>& outputs) override;
    ArtifactBytes load(const ArtifactBytes& artifact) override;
    void stage_ended(size_t stage, const StageRecord& record, const std::map<std::string, ArtifactBytes>& inputs) override;

    // Waits until every queued record is committed; throws the first error the writer met.
    void flush();

    store::MetadataStore& metadata() { return *metadata_; }
    store::ArtifactStore& artifacts() { return artifacts_; }

private:
    void enqueue(std::function<void(store::MetadataStore&)> write);
    void write_loop();

    const Pipeline& pipeline_;
    std::string run_id_;
    RecorderOptions options_;
    std::unique_ptr<store::MetadataStore> metadata_; // lookups, on the scheduler thread
    store::ArtifactStore artifacts_;
    CacheKeys keys_;
    std::string host_;

    struct StageState {
        std::optional<std::string> cache_key;
        std::optional<store::ReusableExecution> reused;
        double started_at = 0;
    };
    std::vector<StageState> stages_;

    std::mutex mapped_mutex_;
    std::map<std::string, std::weak_ptr<const store::MappedObject>> mapped_; // verified once per run

    std::unique_ptr<store::MetadataStore> writer_store_;
    std::mutex queue_mutex_;
    std::condition_variable queue_ready_;
    std::condition_variable queue_drained_;
    std::deque<std::function<void(store::MetadataStore&)>> queue_;
    size_t in_progress_ = 0;
    bool stopping_ = false;
    std::string writer_error_;
    std::thread writer_;
};

using store::unix_now;

} // namespace trellis::core
