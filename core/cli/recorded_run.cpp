#include "cli/recorded_run.hpp"

#include "cli/exit_codes.hpp"
#include "cli/run_summary.hpp"
#include "exec/progress.hpp"
#include "exec/registry_stages.hpp"
#include "govern/access.hpp"
#include "log/logging.hpp"
#include "pipeline/validator.hpp"
#include "store/store_lock.hpp"
#include "store/store_paths.hpp"
#include "util/child_process.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <random>
#include <unistd.h>

namespace trellis::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> interrupts{0};
extern "C" void on_interrupt(int) { interrupts.fetch_add(1); }

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string new_run_id() {
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm utc{};
    gmtime_r(&now, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
    std::random_device random;
    // 24 random bits: sweeps start many runs in one second, and ids must not collide.
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "%06x", random() & 0xffffff);
    return std::string(stamp) + "-" + suffix;
}

// Whether stage outcomes say the run succeeded, failed or was cancelled (Ctrl-C).
std::string run_status(const core::RunOutcome& outcome) {
    if (outcome.interrupted) return "cancelled";
    return outcome.succeeded() ? "succeeded" : "failed";
}

} // namespace

std::atomic<int>& run_interrupts() { return interrupts; }

std::map<std::string, std::string> parse_sets(const std::vector<std::string>& sets) {
    std::map<std::string, std::string> out;
    for (const auto& item : sets) {
        const auto equals = item.find('=');
        if (equals == std::string::npos || equals == 0)
            throw UsageError("--set " + item + ": expected KEY=VALUE, e.g. --set seed=7");
        out[item.substr(0, equals)] = item.substr(equals + 1);
    }
    return out;
}

LoadedScript load_and_validate(CliContext& context, const std::string& file, const std::vector<std::string>& sets) {
    const auto& settings = context.settings();
    core::ScriptOptions options;
    options.limits.memory_bytes = settings.lua_memory_limit_bytes();
    options.limits.instructions = settings.lua_instruction_limit();
    options.limits.seconds = settings.lua_time_limit_seconds();
    options.overrides = parse_sets(sets);
    LoadedScript loaded;
    auto start = Clock::now();
    try {
        loaded.script = core::PipelineScript::load(file, options);
    } catch (const core::ScriptError& e) {
        std::cerr << "trellis: error: " << e.what() << "\n";
        return loaded;
    }
    loaded.evaluate_seconds = since(start);
    start = Clock::now();
    auto& registry = context.registry();
    const auto problems = core::validate_pipeline(loaded.script->pipeline(), registry);
    loaded.validate_seconds = since(start);
    if (!problems.empty()) {
        for (const auto& problem : problems) std::cerr << "trellis: error: " << problem << "\n";
        std::cerr << "trellis: error: " << file << ": " << problems.size() << " problem"
                  << (problems.size() == 1 ? "" : "s") << " found; nothing was run\n";
        loaded.script.reset();
    } else if (loaded.script->pipeline().stages.empty()) {
        std::cerr << "trellis: error: " << file << ": the script declares no stages\n";
        loaded.script.reset();
    }
    return loaded;
}

RunResult execute_recorded_run(CliContext& context, LoadedScript& loaded, const RunRequest& request) {
    const auto& settings = context.settings();
    const auto root = settings.store_path();
    auto& pipeline = loaded.script->pipeline();
    std::string runner;
    {
        // A damaged store is reported before any work; runs an earlier process left "running"
        // are marked interrupted.
        store::MetadataStore metadata(root);
        metadata.reap_interrupted();
        // Running registers models: a developer's action. The identity becomes the registrant.
        govern::Governance governance(metadata.db(), root, token_from_environment(), core::unix_now());
        governance.require(govern::Role::Developer, "run pipelines");
        runner = governance.who().name;
        // Registrations are audited with the store key: a key that cannot be read fails the run
        // here, before any work, rather than losing the records of stages that already ran.
        governance.key();
    }

    // A shared lock for the run's whole life: gc takes it exclusively, so it never deletes an
    // object this run has stored but not yet recorded.
    store::StoreLock gc_lock(root, store::StoreLock::Mode::Shared);
    const std::string run_id = request.resumed ? request.resumed->id : new_run_id();
    store::RunLock run_lock(root, run_id);
    const auto run_dir = root / "runs" / run_id;
    core::logging::add_file_sink(run_dir / "run.log");
    spdlog::flush_every(std::chrono::seconds(1)); // so `tail -f run.log` follows a long run
    spdlog::info("{} {} of pipeline '{}' ({} stage{}) in {}", request.resumed ? "resuming run" : "run", run_id, pipeline.name,
                 pipeline.stages.size(), pipeline.stages.size() == 1 ? "" : "s", run_dir.string());

    core::RecorderOptions recorder_options;
    recorder_options.no_cache = request.no_cache;
    recorder_options.resuming = request.resumed.has_value();
    recorder_options.user = runner;
    core::RunRecorder recorder(pipeline, *loaded.script, context.registry(), root, run_id, recorder_options);
    {
        auto& metadata = recorder.metadata();
        store::RunRow row;
        row.id = run_id;
        row.pipeline = pipeline.name;
        row.script = std::filesystem::absolute(request.file).lexically_normal().string();
        for (const auto& [key, value] : loaded.script->overrides()) row.overrides[key] = value;
        for (const auto& [key, value] : pipeline.params) row.params[key] = value;
        row.started_at = core::unix_now();
        row.host = store::host_name();
        row.pid = getpid();
        row.user = runner;
        row.trellis_version = TRELLIS_VERSION;
        if (request.resumed) metadata.reopen_run(row);
        else metadata.begin_run(row);
        if (!request.tags.empty()) metadata.set_tags(run_id, request.tags);
    }

    core::ExecutorOptions options;
    options.jobs = request.jobs ? request.jobs : settings.jobs();
    options.fail_fast = request.fail_fast;
    options.interrupts = &interrupts;
    options.work_dir = run_dir / "work";
    options.executable = context.executable();
    options.log_level = settings.log_level();
    options.log_file = run_dir / "run.log";
    options.store = &recorder;
    registry::PromotionOptions promotion;
    promotion.require_signed_models = settings.require_signed_models();
    core::RegistryStages registry_stages(pipeline, recorder, root, token_from_environment(), promotion);
    std::unique_ptr<core::CoreStageRunner> wrapped;
    if (request.core_stages) wrapped = request.core_stages(registry_stages, recorder);
    options.core_stages = wrapped ? wrapped.get() : &registry_stages;
    for (const auto& name : settings.isolated_plugins()) options.isolated_plugins.insert(name);

    interrupts.store(0);
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    struct sigaction previous {};
    sigaction(SIGINT, &action, &previous);

    loaded.script->set_interrupt(&interrupts);
    core::RunProgress progress(pipeline, isatty(STDERR_FILENO));
    const auto start = Clock::now();
    core::RunOutcome outcome = core::execute_pipeline(pipeline, loaded.script.get(), context.registry(), options, progress);
    const double execute_seconds = since(start);
    sigaction(SIGINT, &previous, nullptr);
    progress.close();

    const auto save_start = Clock::now();
    std::error_code ec;
    if (outcome.abandoned == 0) std::filesystem::remove_all(options.work_dir, ec);
    bool recorded = true;
    std::optional<std::string> not_recorded;
    try {
        recorder.flush();
    } catch (const std::exception& e) {
        std::cerr << "trellis: error: the run was not fully recorded: " << e.what() << "\n";
        not_recorded = std::string("not fully recorded: ") + e.what();
        recorded = false;
    }
    try {
        // Ended whatever happened to the records, so the run is not taken for a killed one.
        recorder.metadata().end_run(run_id, recorded ? run_status(outcome) : "failed", not_recorded, core::unix_now());
    } catch (const std::exception& e) {
        std::cerr << "trellis: error: cannot record how the run ended: " << e.what() << "\n";
        recorded = false;
    }
    // The summary describes every output, reused ones too.
    for (auto& stage : outcome.stages)
        for (auto& [port, artifact] : stage.outputs)
            if (!artifact.loaded()) {
                try {
                    artifact = recorder.load(artifact);
                } catch (const std::exception& e) {
                    spdlog::warn("output '{}': {}", port, e.what());
                    artifact = core::ArtifactBytes::own(artifact.type, {}); // described as unreadable
                }
            }
    RunResult result;
    result.run_id = run_id;
    result.recorded = recorded;
    result.execute_seconds = execute_seconds;
    if (request.print_summary) {
        const auto saved = save_run_outputs(pipeline, outcome, run_dir, run_id);
        print_run_summary(std::cout, pipeline, outcome, saved, run_dir);
        std::cout.flush();
    }
    result.save_seconds = since(save_start);
    result.exit_code = outcome.interrupted   ? exit_interrupted
                       : !recorded           ? exit_internal
                       : outcome.succeeded() ? exit_ok
                                             : exit_run_failed;
    if (outcome.abandoned > 0) {
        // Threads still inside a plugin use the recorder, the core stages and the locks of this
        // frame: leave now, without running their destructors under them.
        core::kill_child_groups();
        spdlog::default_logger()->flush();
        std::_Exit(result.exit_code);
    }
    result.outcome = std::move(outcome);
    core::logging::remove_file_sink(run_dir / "run.log");
    return result;
}

void leave_if_abandoned(const RunResult& result, int code) {
    if (result.outcome.abandoned == 0) return;
    core::kill_child_groups();
    spdlog::default_logger()->flush();
    std::_Exit(code);
}

} // namespace trellis::cli
