#include "exec/run_recorder.hpp"

#include "exec/secret_redaction.hpp"
#include "log/logging.hpp"
#include "plugin/config_types.hpp"

#include <trellis/artifacts.hpp>

#include <chrono>
#include <cmath>
#include <unistd.h>

namespace trellis::core {

namespace {

std::string type_name(uint32_t code) { return artifact_type_name(code).value_or("unknown"); }

uint32_t type_code(const std::string& name) {
    const auto type = artifact_type_from_string(name);
    if (!type) throw std::runtime_error("the metadata store names an unknown artifact type '" + name + "'");
    return static_cast<uint32_t>(*type);
}

// What `trellis runs show` and lineage print about an artifact without reading it again.
nlohmann::json properties_of(const ArtifactBytes& artifact) {
    nlohmann::json properties = nlohmann::json::object();
    try {
        const auto bytes = artifact.bytes();
        switch (static_cast<ArtifactType>(artifact.type)) {
        case ArtifactType::Table: {
            const auto [rows, columns] = table_shape(bytes);
            properties = {{"rows", rows}, {"columns", columns}};
            break;
        }
        case ArtifactType::Model: {
            const Model model = deserialize_model(bytes);
            nlohmann::json inputs = nlohmann::json::array();
            for (const Field& field : model.signature) inputs.push_back({{"name", field.name}, {"type", to_string(field.type)}});
            properties = {{"flavor", model.flavor}, {"features", model.signature.size()}, {"inputs", inputs}};
            break;
        }
        case ArtifactType::File: properties = {{"path", deserialize_file(bytes).path}}; break;
        case ArtifactType::Directory: properties = {{"path", deserialize_directory(bytes).path}}; break;
        default: break;
        }
    } catch (const std::exception&) {
        // A description only: an artifact the stage wrote is checked where it is used.
    }
    return properties;
}

// Values of Metrics outputs count as the run's metrics (step 0), so runs can be sorted and
// compared by what the evaluation produced, not only by what stages logged.
// A value the stage also logged itself (train.evaluate does both) is kept once.
void add_output_metrics(const ArtifactBytes& artifact, const std::vector<MetricPoint>& logged, double now,
                        std::vector<store::MetricRow>& rows) {
    if (artifact.type != TRELLIS_ARTIFACT_METRICS || !artifact.loaded()) return;
    Metrics metrics;
    try {
        metrics = deserialize_metrics(artifact.bytes());
    } catch (const std::exception&) {
        return; // the host checked the bytes when they were set; nothing to add if it did not
    }
    for (const auto& [name, value] : metrics.values) {
        bool seen = false;
        for (const auto& point : logged) seen = seen || (point.name == name && point.step == 0);
        if (!seen) rows.push_back({name, value, 0, now});
    }
}

const char* final_status(const StageRecord& record) {
    switch (record.state) {
    case core::StageState::Succeeded: return "succeeded";
    case core::StageState::Failed: return "failed";
    case core::StageState::Skipped: return "skipped";
    case core::StageState::Cancelled: return "cancelled";
    default: return "interrupted";
    }
}

} // namespace

RunRecorder::RunRecorder(const Pipeline& pipeline, const PipelineScript& script, PluginRegistry& registry,
                         const std::filesystem::path& root, std::string run_id, RecorderOptions options)
    : pipeline_(pipeline), run_id_(std::move(run_id)), options_(options),
      metadata_(std::make_unique<store::MetadataStore>(root)), artifacts_(root),
      keys_(pipeline, script.sources(), registry, *metadata_), host_(store::host_name()),
      stages_(pipeline.stages.size()), writer_store_(std::make_unique<store::MetadataStore>(root)) {
    try {
        keys_.hash_plugins();
    } catch (const std::exception& e) {
        // A plugin that cannot be read fails its stage when it is loaded, with its own message.
        spdlog::debug("hashing the plugins: {}", e.what());
    }
    writer_ = std::thread([this] { write_loop(); });
}

RunRecorder::~RunRecorder() {
    {
        std::lock_guard lock(queue_mutex_);
        stopping_ = true;
    }
    queue_ready_.notify_all();
    writer_.join();
}

void RunRecorder::enqueue(std::function<void(store::MetadataStore&)> write) {
    {
        std::lock_guard lock(queue_mutex_);
        queue_.push_back(std::move(write));
    }
    queue_ready_.notify_one();
}

void RunRecorder::write_loop() {
    for (;;) {
        std::deque<std::function<void(store::MetadataStore&)>> batch;
        {
            std::unique_lock lock(queue_mutex_);
            queue_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            batch.swap(queue_);
            in_progress_ = batch.size();
        }
        std::string error;
        try {
            store::Transaction transaction(writer_store_->db());
            // Each write is a savepoint of its own: one record that cannot be written (and is
            // reported) does not take the rest of the batch with it.
            for (auto& write : batch) {
                try {
                    write(*writer_store_);
                } catch (const std::exception& e) {
                    if (error.empty()) error = e.what();
                    spdlog::error("cannot record an execution in the metadata store: {}", e.what());
                }
            }
            transaction.commit();
        } catch (const std::exception& e) {
            if (error.empty()) error = e.what();
            spdlog::error("cannot record the run in the metadata store: {}", e.what());
        }
        {
            std::lock_guard lock(queue_mutex_);
            in_progress_ = 0;
            if (!error.empty() && writer_error_.empty()) writer_error_ = error;
        }
        queue_drained_.notify_all();
    }
}

void RunRecorder::flush() {
    std::unique_lock lock(queue_mutex_);
    queue_drained_.wait(lock, [&] { return queue_.empty() && in_progress_ == 0; });
    if (!writer_error_.empty()) throw store::StoreError(writer_error_);
}

std::optional<std::map<std::string, ArtifactBytes>> RunRecorder::reuse(size_t stage,
                                                                       const std::map<std::string, ArtifactBytes>& inputs) {
    const StageNode& node = pipeline_.stages[stage];
    StageState& state = stages_[stage];
    std::map<std::string, std::string> digests;
    for (const auto& [port, input] : inputs) {
        if (input.digest.empty()) return std::nullopt; // an input that was never stored: nothing to match
        digests[port] = input.digest;
    }
    state.cache_key = keys_.key(stage, digests);

    std::optional<store::ReusableExecution> found;
    if (options_.resuming) found = metadata_->find_finished_in_run(run_id_, node.id, *state.cache_key);
    if (!found && node.cache && !options_.no_cache && !keys_.always_runs(stage))
        found = metadata_->find_reusable(*state.cache_key, node.cache_ttl > 0 ? unix_now() - node.cache_ttl : 0);
    if (!found) return std::nullopt;
    std::map<std::string, ArtifactBytes> outputs;
    for (const auto& [port, artifact] : found->outputs) {
        // The metadata says it is stored; a file removed behind the store's back means a miss.
        if (!artifacts_.contains(artifact.digest)) {
            spdlog::warn("stage '{}': the stored output '{}' of an earlier execution is missing; running it again",
                         node.id, port);
            return std::nullopt;
        }
        // Reused bytes are verified now, not when a later stage needs them: a damaged object is
        // then a miss that this stage repairs by running again, instead of a failure downstream.
        ArtifactBytes reused = ArtifactBytes::stored(type_code(artifact.type), artifact.digest);
        try {
            reused = load(reused);
        } catch (const store::DamagedArtifact& e) {
            spdlog::warn("stage '{}': {}; moving it to {} and running the stage again", node.id, e.what(),
                         (artifacts_.root() / "damaged").string());
            artifacts_.quarantine(artifact.digest);
            return std::nullopt;
        } catch (const std::exception& e) {
            spdlog::warn("stage '{}': not reusing an earlier execution: {}", node.id, e.what());
            return std::nullopt;
        }
        outputs[port] = std::move(reused);
    }
    state.reused = std::move(found);
    return outputs;
}

void RunRecorder::attempt_started(size_t stage, int attempt) {
    if (attempt == 1) stages_[stage].started_at = unix_now();
}

void RunRecorder::persist(std::map<std::string, ArtifactBytes>& outputs) {
    for (auto& [port, artifact] : outputs) {
        if (!artifact.digest.empty() || !artifact.loaded()) continue;
        try {
            artifact.digest = artifacts_.put(artifact.bytes()).digest;
        } catch (const std::exception& e) {
            throw std::runtime_error("output '" + port + "': " + e.what());
        }
    }
}

ArtifactBytes RunRecorder::load(const ArtifactBytes& artifact) {
    if (artifact.loaded()) return artifact;
    std::shared_ptr<const store::MappedObject> mapped;
    {
        std::lock_guard lock(mapped_mutex_);
        if (auto it = mapped_.find(artifact.digest); it != mapped_.end()) mapped = it->second.lock();
    }
    if (!mapped) {
        mapped = artifacts_.get(artifact.digest); // verifies the digest
        std::lock_guard lock(mapped_mutex_);
        mapped_[artifact.digest] = mapped;
    }
    ArtifactBytes loaded = artifact;
    loaded.view = mapped->bytes();
    loaded.owner = mapped;
    return loaded;
}

void RunRecorder::stage_ended(size_t stage, const StageRecord& record, const std::map<std::string, ArtifactBytes>& inputs) {
    const StageNode& node = pipeline_.stages[stage];
    StageState& state = stages_[stage];
    const double now = unix_now();

    store::ExecutionRecord entry;
    store::ExecutionRow& row = entry.execution;
    row.run_id = run_id_;
    row.stage_id = node.id;
    row.stage_name = node.stage_name;
    if (node.is_sweep() || node.is_core()) row.config = node.config; // the sweep's definition, or the core stage's
    if (node.is_core()) { // the trellis binary ran it
        row.plugin_name = "trellis";
        row.plugin_version = TRELLIS_VERSION;
    }
    if (node.is_plugin()) {
        row.plugin_name = node.plugin_name;
        row.plugin_version = keys_.plugin_version(node.plugin_name);
        try {
            row.plugin_digest = keys_.plugin_digest(node.plugin_name);
        } catch (const std::exception&) {
            // A plugin that is gone is recorded without a digest; its failure says why.
        }
        row.config = redact_secrets(node.config); // runs show and lineage print it
    }
    row.cache_key = state.cache_key;
    row.attempts = record.attempts;
    row.started_at = state.started_at ? state.started_at : now;
    row.host = host_;
    row.pid = getpid();

    store::ExecutionEnd& end = entry.end;
    const bool cached = record.reused && record.state == core::StageState::Succeeded;
    end.status = cached ? "cached" : final_status(record);
    if (!record.message.empty()) end.error = record.message;
    end.attempts = record.attempts;
    end.ended_at = now;
    for (const auto& [port, input] : inputs)
        if (!input.digest.empty()) end.inputs[port] = input.digest;
    if (record.reused) {
        entry.reused_from = state.reused; // its outputs are this execution's, even when a callback failed
    } else if (record.state == core::StageState::Succeeded) {
        for (const auto& [port, artifact] : record.outputs) {
            if (artifact.digest.empty()) continue;
            end.outputs[port] = {artifact.digest, type_name(artifact.type), artifact.bytes().size(), properties_of(artifact)};
            add_output_metrics(artifact, record.metrics, now, end.metrics);
        }
        for (const auto& model : record.registrations) {
            auto input = end.inputs.find(model.port);
            if (input == end.inputs.end()) continue;
            store::ModelRow registered;
            registered.name = model.name;
            registered.version = model.version;
            registered.artifact_digest = input->second;
            if (!model.uri.empty()) registered.uri = model.uri;
            registered.registered_at = now;
            registered.registered_by = options_.user;
            registered.card = pipeline_.model_card;
            entry.models.push_back(std::move(registered));
        }
    } else if (record.state == core::StageState::Failed) {
        // What a stage set before it failed (data.validate's anomalies) stays with the failed
        // execution for `runs show`; a failed stage's Metrics outputs do not count as run metrics.
        for (const auto& [port, artifact] : record.outputs)
            if (!artifact.digest.empty())
                end.outputs[port] = {artifact.digest, type_name(artifact.type), artifact.bytes().size(), properties_of(artifact)};
    }
    for (const auto& point : record.metrics) end.metrics.push_back({point.name, point.value, point.step, now});
    end.params = record.params;
    std::optional<store::SweepRecord> sweep;
    if (node.is_sweep() && record.sweep) {
        sweep = sweep_record(pipeline_.sweeps.at(node.sweep), *record.sweep);
        sweep->run_id = run_id_;
    }
    enqueue([entry = std::move(entry), sweep = std::move(sweep)](store::MetadataStore& metadata) {
        const int64_t id = metadata.record_execution(entry);
        if (sweep) store::record_sweep(metadata.db(), id, *sweep);
    });
}

} // namespace trellis::core
