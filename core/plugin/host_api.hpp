// The host's side of trellis_host_api: the per-execution context a stage sees, host-owned error
// values and buffers, and one call that runs a stage's entry point and checks what it produced.
#pragma once

#include "plugin/plugin_library.hpp"
#include "plugin/plugin_manifest.hpp"

#include <trellis/plugin_abi.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
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

// Serialised bytes of one artifact with its type code (a trellis_artifact_type).
struct ArtifactBytes {
    uint32_t type = 0;
    std::shared_ptr<const std::vector<uint8_t>> bytes;
};

// A loaded plugin's flavor, kept alive by the library it lives in.
struct FlavorEntry {
    std::shared_ptr<PluginLibrary> library;
    const trellis_flavor_descriptor* flavor = nullptr;
};

// Finds the flavor called `name` among the installed plugins, loading its plugin if needed; throws
// with a message naming the flavor when there is none.
using FlavorResolver = std::function<FlavorEntry(const std::string& name)>;

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

    std::mutex mutex; // a plugin may call back from several of its own threads
    std::map<std::string, trellis::core::ArtifactBytes> outputs;
    std::vector<trellis::core::MetricPoint> metrics;
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

// Human-readable name of a trellis_status ("failed", "invalid", ...).
std::string status_name(int32_t status);

} // namespace trellis::core
