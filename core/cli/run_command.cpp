#include "cli/run_command.hpp"

#include "cli/exit_codes.hpp"
#include "cli/recorded_run.hpp"
#include "cli/run_summary.hpp"
#include "exec/executor.hpp"
#include "exec/progress.hpp"
#include "log/logging.hpp"
#include "pipeline/pipeline_script.hpp"
#include "pipeline/validator.hpp"
#include "exec/cache_plan.hpp"
#include "exec/registry_stages.hpp"
#include "exec/run_recorder.hpp"
#include "govern/access.hpp"
#include "store/metadata_store.hpp"
#include "store/run_queries.hpp"
#include "store/store_lock.hpp"
#include "store/store_paths.hpp"
#include "util/child_process.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <iostream>
#include <memory>
#include <random>
#include <unistd.h>

namespace trellis::cli {
namespace {


struct ScriptArgs {
    std::string file;
    std::vector<std::string> sets;
};

struct RunArgs {
    unsigned jobs = 0;
    bool fail_fast = false;
    bool timings = false;
    bool no_cache = false;
    std::string resume; // run id to resume
    std::vector<std::string> tags;
};

std::map<std::string, std::string> parse_tags(const std::vector<std::string>& tags) {
    std::map<std::string, std::string> out;
    for (const auto& item : tags) {
        const auto equals = item.find('=');
        if (equals == std::string::npos || equals == 0)
            throw UsageError("--tag " + item + ": expected KEY=VALUE, e.g. --tag owner=ana");
        out[item.substr(0, equals)] = item.substr(equals + 1);
    }
    return out;
}

int run_pipeline(CliContext& context, ScriptArgs args, const RunArgs& run) {
    const auto& settings = context.settings();
    const auto root = settings.store_path();
    const auto tags = parse_tags(run.tags);

    // Resuming reads the run first: it names the script and the overrides to run again.
    std::optional<store::RunRow> resumed;
    if (!run.resume.empty()) {
        if (!std::filesystem::exists(store::MetadataStore::database_path(root)))
            throw UsageError("--resume " + run.resume + ": no runs are recorded in " + root.string());
        store::MetadataStore metadata(root);
        metadata.reap_interrupted();
        std::string run_id;
        try {
            run_id = store::resolve_run_id(metadata.db(), run.resume); // an id, a unique prefix or "latest"
        } catch (const std::exception& e) {
            throw UsageError("--resume: " + std::string(e.what()));
        }
        resumed = metadata.find_run(run_id);
        if (!resumed) throw UsageError("--resume " + run.resume + ": no such run in " + root.string());
        if (resumed->status == "running")
            throw UsageError("--resume " + run.resume + ": the run is still running (pid " +
                             std::to_string(resumed->pid) + " on " + resumed->host + ")");
        if (resumed->status == "succeeded")
            std::cerr << "trellis: run " << resumed->id << " already succeeded; resuming reuses all of it\n";
        if (args.file.empty()) args.file = resumed->script;
        if (args.sets.empty())
            for (const auto& [key, value] : resumed->overrides.items()) args.sets.push_back(key + "=" + value.get<std::string>());
    }
    if (args.file.empty()) throw UsageError("run: a pipeline script is required (or --resume RUN)");

    // A script that does not validate touches nothing, not even the store.
    LoadedScript loaded = load_and_validate(context, args.file, args.sets);
    if (!loaded.script) return exit_usage;
    RunRequest request;
    request.file = args.file;
    request.resumed = resumed;
    request.tags = tags;
    request.jobs = run.jobs;
    request.fail_fast = run.fail_fast;
    request.no_cache = run.no_cache;
    const RunResult result = execute_recorded_run(context, loaded, request);
    if (run.timings)
        std::cerr << "timings: evaluate " << loaded.evaluate_seconds << " s, validate " << loaded.validate_seconds
                  << " s, execute " << result.execute_seconds << " s, save " << result.save_seconds << " s, stages "
                  << loaded.script->pipeline().stages.size() << "\n";
    leave_if_abandoned(result, result.exit_code);
    return result.exit_code;
}

int validate_command(CliContext& context, const ScriptArgs& args) {
    LoadedScript loaded = load_and_validate(context, args.file, args.sets);
    if (!loaded.script) return exit_usage;
    const auto& pipeline = loaded.script->pipeline();
    std::cout << args.file << ": ok, pipeline '" << pipeline.name << "' with " << pipeline.stages.size() << " stage"
              << (pipeline.stages.size() == 1 ? "" : "s") << "\n";
    return exit_ok;
}

// Upstream stages `node` waits for without taking one of their outputs (its `after` list).
std::vector<size_t> after_only(const core::StageNode& node) {
    std::vector<size_t> out;
    for (size_t up : node.upstream) {
        bool wired = false;
        for (const auto& input : node.inputs) wired = wired || input.from == up;
        if (!wired) out.push_back(up);
    }
    return out;
}

std::string dot_quote(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '\n') {
            out += "\\n"; // a line break in a Graphviz label
            continue;
        }
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

// A duration as a script would write it: "7d", "12h", "90s".
std::string duration_text(double seconds) {
    for (const auto& [unit, size] : {std::pair{"w", 604800.0}, {"d", 86400.0}, {"h", 3600.0}, {"m", 60.0}})
        if (seconds >= size && std::fmod(seconds, size) == 0) return std::to_string(static_cast<int64_t>(seconds / size)) + unit;
    char text[32];
    std::snprintf(text, sizeof text, "%gs", seconds);
    return text;
}

int plan_command(CliContext& context, const ScriptArgs& args, bool dot, bool no_cache) {
    LoadedScript loaded = load_and_validate(context, args.file, args.sets);
    if (!loaded.script) return exit_usage;
    const auto& pipeline = loaded.script->pipeline();
    if (dot) {
        std::cout << "digraph " << dot_quote(pipeline.name) << " {\n  rankdir=LR;\n  node [shape=box];\n";
        for (size_t i : pipeline.order) {
            const auto& node = pipeline.stages[i];
            std::cout << "  " << dot_quote(node.id) << " [label=" << dot_quote(node.id + "\n" + node.stage_name) << "];\n";
        }
        for (size_t i : pipeline.order) {
            const auto& node = pipeline.stages[i];
            for (const auto& input : node.inputs)
                std::cout << "  " << dot_quote(pipeline.stages[input.from].id) << " -> " << dot_quote(node.id)
                          << " [label=" << dot_quote(input.from_port + " -> " + input.port) << "];\n";
            for (size_t up : after_only(node))
                std::cout << "  " << dot_quote(pipeline.stages[up].id) << " -> " << dot_quote(node.id) << " [style=dashed];\n";
        }
        std::cout << "}\n";
        return exit_ok;
    }
    std::cout << "pipeline " << pipeline.name << " (" << pipeline.file << "): " << pipeline.stages.size()
              << (pipeline.stages.size() == 1 ? " stage" : " stages") << " in execution order\n";
    if (!pipeline.description.empty()) std::cout << pipeline.description << "\n";
    if (!pipeline.params.empty()) {
        std::cout << "params:";
        for (const auto& [key, value] : pipeline.params) std::cout << " " << key << "=" << value.dump();
        std::cout << "\n";
    }
    const auto cache = core::plan_cache(pipeline, *loaded.script, context.registry(), context.settings().store_path(), no_cache);
    size_t step = 0, hits = 0;
    for (size_t i : pipeline.order) {
        const auto& node = pipeline.stages[i];
        if (!cache.empty()) hits += cache[i].hit;
        std::cout << "  " << ++step << ". " << node.id << "  (" << node.stage_name << ")";
        std::string from;
        for (const auto& input : node.inputs)
            from += (from.empty() ? "" : ", ") + input.port + " <- " + pipeline.stages[input.from].id + "." + input.from_port;
        for (size_t up : after_only(node)) from += (from.empty() ? "" : ", ") + std::string("after ") + pipeline.stages[up].id;
        if (!from.empty()) std::cout << "  " << from;
        std::string options;
        if (node.when.set()) options += " when";
        if (node.retries) options += " retries=" + std::to_string(node.retries);
        if (node.retry_delay > 0) options += " retry_delay=" + core::format_duration(node.retry_delay);
        if (node.timeout > 0) options += " timeout=" + core::format_duration(node.timeout);
        if (node.isolate) options += " isolated";
        if (!node.cache) options += " cache=false";
        if (node.cache_ttl > 0) options += " cache_ttl=" + duration_text(node.cache_ttl);
        if (!options.empty()) std::cout << "  [" << options.substr(1) << "]";
        if (!cache.empty()) std::cout << "  => " << (cache[i].hit ? "cached, " : "runs, ") << cache[i].detail;
        std::cout << "\n";
    }
    if (!cache.empty()) std::cout << hits << " of " << pipeline.stages.size() << " stages would be reused from the cache\n";
    return exit_ok;
}

void add_script_args(CLI::App* command, const std::shared_ptr<ScriptArgs>& args) {
    command->add_option("FILE", args->file, "Pipeline script (.lua)")->required();
    command->add_option("--set", args->sets, "Override a param: KEY=VALUE (repeatable)")->allow_extra_args(false);
}

} // namespace

void add_run_commands(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto run_script = std::make_shared<ScriptArgs>();
    auto run_args = std::make_shared<RunArgs>();
    auto* run = app.add_subcommand("run", "Validate a pipeline script, then run it, reusing unchanged stages");
    run->add_option("FILE", run_script->file, "Pipeline script (.lua); with --resume, the run's own by default");
    run->add_option("--set", run_script->sets, "Override a param: KEY=VALUE (repeatable)")->allow_extra_args(false);
    run->add_flag("--no-cache", run_args->no_cache, "Run every stage, reusing nothing (results are still recorded)");
    run->add_option("--resume", run_args->resume, "Finish run RUN: redo only the stages that did not finish");
    run->add_option("--tag", run_args->tags, "Tag the run: KEY=VALUE (repeatable)")->allow_extra_args(false);
    run->add_option("-j,--jobs", run_args->jobs, "Stages to run at once (default: run.jobs, the number of cores)")
        ->check(CLI::Range(1u, 1024u));
    run->add_flag("--fail-fast", run_args->fail_fast, "Cancel everything as soon as one stage fails");
    run->add_flag("--timings", run_args->timings, "Print how long evaluating, validating and executing took");
    run->callback([=, &action] { action = [=] { return run_pipeline(context(), *run_script, *run_args); }; });

    auto validate_script = std::make_shared<ScriptArgs>();
    auto* validate = app.add_subcommand("validate", "Check a pipeline script against the installed plugins; run nothing");
    add_script_args(validate, validate_script);
    validate->callback([=, &action] { action = [=] { return validate_command(context(), *validate_script); }; });

    auto plan_script = std::make_shared<ScriptArgs>();
    auto dot = std::make_shared<bool>(false);
    auto* plan = app.add_subcommand("plan", "Print the stages a script would run, in execution order");
    add_script_args(plan, plan_script);
    auto no_cache = std::make_shared<bool>(false);
    plan->add_flag("--dot", *dot, "Print the graph in Graphviz dot format");
    plan->add_flag("--no-cache", *no_cache, "Plan as `trellis run --no-cache` would run: reuse nothing");
    plan->callback([=, &action] { action = [=] { return plan_command(context(), *plan_script, *dot, *no_cache); }; });
}

} // namespace trellis::cli
