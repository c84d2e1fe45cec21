// The host's side of trellis_host_api: the per-execution context a stage sees, host-owned error
// values and buffers, and one call that runs a stage's entry point and checks what it produced.
#pragma once

#include "plugin/plugin_library.hpp"
#include "plugin/plugin_manifest.hpp"

#include <trellis/plugin_abi.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <vector>

// Host-owned error value a plugin fills in with error_set.
struct trellis_error {
    int32_t code = TRELLIS_OK;
    std::string message;
};

// Host-owned buffer a flavor's predict fills in with buffer_set.
struct trellis_buffer {
    std::vector<uint8_t> bytes;
};

namespace trellis::core {

// One artifact: its type code (a trellis_artifact_type), its serialised bytes, and once stored,
// its digest. The bytes live in memory or in a mapping of the stored object; an artifact reused
// from the store is known by digest alone until a stage needs its bytes (then it is loaded).
struct ArtifactBytes {
    uint32_t type = 0;
    std::span<const uint8_t> view;     // the bytes, valid while `owner` lives
    std::shared_ptr<const void> owner; // a std::vector or a store mapping; null until loaded
    std::string digest;                // SHA-256 of the bytes once stored, "" before

    bool loaded() const { return owner != nullptr; }
    std::span<const uint8_t> bytes() const { return view; }

    // Takes ownership of `bytes`.
    static ArtifactBytes own(uint32_t type, std::vector<uint8_t> bytes) {
        auto owned = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
        ArtifactBytes artifact;
        artifact.type = type;
        artifact.view = {owned->data(), owned->size()};
        artifact.owner = std::move(owned);
        return artifact;
    }
    // Known only by digest: loaded later.
    static ArtifactBytes stored(uint32_t type, std::string digest) {
        ArtifactBytes artifact;
        artifact.type = type;
        artifact.digest = std::move(digest);
        return artifact;
    }
};

// A model a deploy stage registered (model_register), recorded in the model registry by the host.
struct ModelRegistration {
    std::string port;    // the input that holds the model
    std::string name;
    int64_t version = 0; // 0: the registry's next
    std::string uri;     // where the stage put it, may be empty
};

// A loaded plugin's flavor, kept alive by the library it lives in.
struct FlavorEntry {
    std::shared_ptr<PluginLibrary> library;
    const trellis_flavor_descriptor* flavor = nullptr;
};

// Finds the flavor called `name` among the installed plugins, loading its plugin if needed; throws
// with a message naming the flavor when there is none.
using FlavorResolver = std::function<FlavorEntry(const std::string& name)>;

// How far a running stage says it is (progress_report), written by the stage's threads and read
// by the scheduler's status line.
struct StageProgress {
    std::atomic<double> done{0};
    std::atomic<double> total{0};
};

struct MetricPoint {
    std::string name;
    double value = 0;
    int64_t step = 0;
};

} // namespace trellis::core

// Everything one stage execution sees. The host fills in the inputs, then reads the outputs.
struct trellis_context {
    const trellis::core::StageManifest* stage = nullptr;
    nlohmann::json config = nlohmann::json::object(); // validated, defaults applied
    std::set<std::string> explicitly_set;              // keys the pipeline set itself
    std::map<std::string, trellis::core::ArtifactBytes> inputs;
    std::shared_ptr<spdlog::logger> logger;
    std::string logger_name;  // when `logger` is unset: made on the first line the stage logs
    std::string scratch_dir;  // created on first use: most stages never ask for one
    bool scratch_created = false;
    const std::atomic<bool>* cancelled = nullptr;
    // Where progress_report writes; without one (an isolated stage's child process, a test), the
    // stage's progress becomes a log line every few seconds.
    std::shared_ptr<trellis::core::StageProgress> progress;
    std::chrono::steady_clock::time_point last_progress_line{};

    std::mutex mutex; // a plugin may call back from several of its own threads
    std::map<std::string, trellis::core::ArtifactBytes> outputs;
    std::vector<trellis::core::MetricPoint> metrics;
    std::map<std::string, nlohmann::json> params;                 // logged with param_log
    std::vector<trellis::core::ModelRegistration> registrations;  // made with model_register
    // C strings handed to the plugin, one per config key (or list item): the config does not change
    // during a run, so asking again returns the same pointer and memory stays bounded.
    std::map<std::string, std::string> returned_strings;

    trellis::core::FlavorResolver flavors;          // for model_predict; empty: no flavors available
    std::deque<std::vector<uint8_t>> kept_buffers;  // predictions handed out, valid for the run
    std::string last_error;                         // message of the last failed host call
};

namespace trellis::core {

using StageContext = trellis_context;

// The process's host API table, handed to every plugin entry point.
const trellis_host_api* host_api();

struct StageOutcome {
    int32_t status = TRELLIS_OK;
    std::string message; // empty on success
    bool ok() const { return status == TRELLIS_OK; }
};

// Runs `run` with `context`. A stage that returns success without setting every declared output
// fails with a message naming the missing output.
StageOutcome invoke_stage(trellis_stage_run_fn run, StageContext& context);

// What a stage's fingerprint entry point said: the text mixed into its cache key, and whether it
// may be answered from the cache at all.
struct FingerprintOutcome {
    int32_t status = TRELLIS_OK;
    std::string message; // why it failed
    std::string text;
    bool cacheable = true;
    bool ok() const { return status == TRELLIS_OK; }
};

// Runs a stage's fingerprint entry point with `context` (config only).
FingerprintOutcome invoke_fingerprint(trellis_stage_fingerprint_fn fingerprint, StageContext& context);

// Human-readable name of a trellis_status ("failed", "invalid", ...).
std::string status_name(int32_t status);

} // namespace trellis::core
