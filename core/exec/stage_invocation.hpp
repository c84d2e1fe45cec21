// Runs one attempt of one plugin stage: in this process through the host API, or isolated in a
// child process (`trellis exec-stage DIR`) so that a plugin that segfaults, aborts or leaks costs
// only its stage. Both ways take the same inputs and give the same result.
#pragma once

#include "plugin/host_api.hpp"
#include "plugin/plugin_library.hpp"

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace trellis::core {

struct StageAttempt {
    std::string stage_id;
    const StageManifest* manifest = nullptr;
    nlohmann::json config;
    std::vector<std::string> explicitly_set;
    std::map<std::string, ArtifactBytes> inputs;
    std::filesystem::path work_dir; // private to this attempt: scratch space, isolation files
    const std::atomic<bool>* cancelled = nullptr;
    std::shared_ptr<StageProgress> progress; // what the stage reports; in-process only
    FlavorResolver flavors;

    // In-process only.
    std::shared_ptr<PluginLibrary> library;
    // Isolated only.
    std::string plugin_file;
    std::filesystem::path executable;            // the trellis binary
    std::map<std::string, std::string> flavor_files; // flavor name -> plugin file providing it
    // Under trust.require_signed_plugins: file -> the SHA-256 it was signed with, checked by the
    // child before it opens the file, so one swapped after the host checked it is not run.
    std::map<std::string, std::string> signed_sha256;
    std::string log_level;
    std::filesystem::path log_file; // the run's log, which the child appends to as well
};

struct AttemptResult {
    int32_t status = TRELLIS_OK;
    std::string message;
    std::map<std::string, ArtifactBytes> outputs;
    std::vector<MetricPoint> metrics;
    std::map<std::string, nlohmann::json> params;
    std::vector<ModelRegistration> registrations; // only of a successful attempt
    bool ok() const { return status == TRELLIS_OK; }
    static AttemptResult failure(int32_t status, std::string message) {
        AttemptResult result;
        result.status = status;
        result.message = std::move(message);
        return result;
    }
};

AttemptResult run_in_process(const StageAttempt& attempt);
AttemptResult run_isolated(const StageAttempt& attempt);

// The child's side of run_isolated: reads DIR/request.json, runs the stage, writes the result.
// Returns the process exit code.
int run_exec_stage_child(const std::filesystem::path& dir);

inline constexpr const char* exec_stage_command = "exec-stage";

} // namespace trellis::core
