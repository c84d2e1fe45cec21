#include "exec/executor.hpp"
#include "exec/core_stages.hpp"

#include "exec/stage_invocation.hpp"
#include "log/logging.hpp"

#include <trellis/artifacts.hpp>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace trellis::core {

const char* to_string(StageState state) {
    switch (state) {
    case StageState::Waiting: return "waiting";
    case StageState::Running: return "running";
    case StageState::Succeeded: return "succeeded";
    case StageState::Failed: return "failed";
    case StageState::Skipped: return "skipped";
    case StageState::Cancelled: return "cancelled";
    }
    return "unknown";
}

bool RunOutcome::succeeded() const {
    if (interrupted) return false;
    for (const auto& stage : stages)
        if (stage.state == StageState::Failed || stage.state == StageState::Cancelled) return false;
    return true;
}

namespace {

using Clock = std::chrono::steady_clock;

// Yields for at most 50 us until `ready` holds. Bounded by time, not by count: on a loaded
// machine each yield can take milliseconds, and deadlines and Ctrl-C must still be noticed.
template <class Ready> void spin_until(Ready ready) {
    const auto until = Clock::now() + std::chrono::microseconds(50);
    while (!ready() && Clock::now() < until) std::this_thread::yield();
}

struct Task {
    size_t stage = 0;
    uint64_t generation = 0;
    StageAttempt attempt;
    std::shared_ptr<std::atomic<bool>> cancel; // owned here too: an abandoned worker may outlive the run
    bool isolated = false;
    StageStore* store = nullptr;
};

struct Completion {
    size_t stage = 0;
    uint64_t generation = 0;
    AttemptResult result;
    double seconds = 0;
};

// Worker threads run tasks and hand back completions. A worker stuck in a plugin that ignores
// cancellation can be abandoned (detached) and replaced, so a run always finishes.
class WorkerPool {
public:
    explicit WorkerPool(unsigned threads) {
        for (unsigned i = 0; i < threads; ++i) add_worker();
    }
    ~WorkerPool() {
        {
            std::lock_guard lock(shared_->mutex);
            shared_->stopping = true;
        }
        shared_->task_ready.notify_all();
        for (auto& worker : workers_)
            if (worker.joinable()) worker.join();
    }

    void submit(std::unique_ptr<Task> task) {
        {
            std::lock_guard lock(shared_->mutex);
            shared_->tasks.push_back(std::move(task));
            shared_->queued.fetch_add(1, std::memory_order_release);
        }
        shared_->task_ready.notify_one();
    }

    // Waits until a completion arrives or `until` passes; returns what arrived.
    std::vector<Completion> wait(Clock::time_point until) {
        // Most stages of a generated pipeline take microseconds: spin a little before sleeping, as
        // a futex wake-up costs more than the stage.
        spin_until([&] { return shared_->has_completions.load(std::memory_order_acquire); });
        std::unique_lock lock(shared_->mutex);
        shared_->completion_ready.wait_until(lock, until, [&] { return !shared_->completions.empty(); });
        std::vector<Completion> out;
        out.swap(shared_->completions);
        shared_->has_completions.store(false, std::memory_order_release);
        return out;
    }

    // Gives up on one worker (it stays blocked in a plugin) and starts a replacement.
    void abandon_one() {
        add_worker();
        ++abandoned_;
    }
    size_t abandoned() const { return abandoned_; }

private:
    struct Shared {
        std::mutex mutex;
        std::condition_variable task_ready;
        std::condition_variable completion_ready;
        std::deque<std::unique_ptr<Task>> tasks;
        std::vector<Completion> completions;
        std::atomic<bool> has_completions{false};
        std::atomic<size_t> queued{0};
        bool stopping = false;
    };

    void add_worker() {
        // Abandoned workers may outlive the pool: they hold the shared state, not the pool.
        auto shared = shared_;
        workers_.emplace_back([shared] { work(shared); });
    }

    static void work(const std::shared_ptr<Shared>& shared) {
        for (;;) {
            std::unique_ptr<Task> task;
            spin_until([&] { return shared->queued.load(std::memory_order_acquire) != 0; });
            {
                std::unique_lock lock(shared->mutex);
                shared->task_ready.wait(lock, [&] { return shared->stopping || !shared->tasks.empty(); });
                if (shared->tasks.empty()) return;
                task = std::move(shared->tasks.front());
                shared->tasks.pop_front();
                shared->queued.fetch_sub(1, std::memory_order_release);
            }
            const auto start = Clock::now();
            AttemptResult result = run_task(*task);
            const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
            {
                std::lock_guard lock(shared->mutex);
                shared->completions.push_back({task->stage, task->generation, std::move(result), seconds});
                shared->has_completions.store(true, std::memory_order_release);
            }
            shared->completion_ready.notify_one();
        }
    }

    // Loads inputs known only by digest, runs the attempt, and stores what it produced: the
    // artifact I/O happens here, on the worker, so the scheduler never waits on a large file.
    static AttemptResult run_task(Task& task) {
        if (task.store) {
            for (auto& [port, input] : task.attempt.inputs) {
                if (input.loaded()) continue;
                try {
                    input = task.store->load(input);
                } catch (const std::exception& e) {
                    return AttemptResult::failure(TRELLIS_ERR_FAILED, "input '" + port + "': " + e.what());
                }
            }
        }
        AttemptResult result;
        try {
            result = task.isolated ? run_isolated(task.attempt) : run_in_process(task.attempt);
        } catch (const std::exception& e) {
            return AttemptResult::failure(TRELLIS_ERR_INTERNAL, e.what());
        }
        if (result.ok() && task.store) {
            try {
                task.store->persist(result.outputs);
            } catch (const std::exception& e) {
                return AttemptResult::failure(TRELLIS_ERR_FAILED, std::string("cannot store its outputs: ") + e.what());
            }
        } else if (!result.outputs.empty() && task.store && result.status != TRELLIS_ERR_CANCELLED) {
            // Outputs a stage set before it failed (data.validate's anomalies) are kept with the
            // failed execution; storing them must not replace the stage's own error.
            try {
                task.store->persist(result.outputs);
            } catch (const std::exception& e) {
                spdlog::warn("stage '{}': cannot keep the outputs it set before failing: {}", task.attempt.stage_id, e.what());
                result.outputs.clear();
            }
        }
        return result;
    }

    std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
    std::vector<std::thread> workers_;
    size_t abandoned_ = 0;

public:
    // Threads of abandoned workers cannot be joined; detach all so the destructor does not wait.
    void detach_all() {
        {
            std::lock_guard lock(shared_->mutex);
            shared_->stopping = true;
        }
        shared_->task_ready.notify_all();
        for (auto& worker : workers_)
            if (worker.joinable()) worker.detach();
    }
};

class Scheduler {
public:
    Scheduler(const Pipeline& pipeline, PipelineScript* script, PluginRegistry& registry, const ExecutorOptions& options,
              ExecutionObserver& observer)
        : pipeline_(pipeline), script_(script), registry_(registry), options_(options), observer_(observer),
          pool_(std::max(1u, options.jobs)), jobs_(std::max(1u, options.jobs)) {
        const size_t n = pipeline.stages.size();
        outcome_.stages.resize(n);
        running_.resize(n);
        waiting_.resize(n);
        for (size_t i = 0; i < n; ++i) waiting_[i] = pipeline.stages[i].upstream.size();
        for (const auto& file : registry.files())
            if (file.active())
                for (const auto& flavor : file.scan.manifest->flavors)
                    flavor_files_.emplace(flavor.name, file.scan.path.string());
        for (const auto& name : options.isolated_plugins)
            if (name != "*" && !registry.find_plugin(name))
                spdlog::warn("run.isolate names plugin '{}', which is not installed", name);
    }

    RunOutcome run() {
        const auto started = Clock::now();
        prepare();
        for (size_t i : pipeline_.order)
            if (waiting_[i] == 0 && outcome_.stages[i].state == StageState::Waiting) ready_.push_back(i);
        while (true) {
            dispatch_ready();
            if (active_ == 0 && ready_.empty() && delayed_.empty()) break;
            const auto until = next_wakeup();
            for (auto& completion : pool_.wait(until)) complete(std::move(completion));
            check_deadlines();
            check_interrupts();
            if (stop_now_) break;
            start_due_retries();
            report_progress();
            observer_.tick();
        }
        outcome_.abandoned += pool_.abandoned(); // plus those a second Ctrl-C stopped waiting for
        if (outcome_.abandoned > 0 || stop_now_) pool_.detach_all();
        outcome_.seconds = std::chrono::duration<double>(Clock::now() - started).count();
        return std::move(outcome_);
    }

private:
    struct Running {
        bool active = false;
        uint64_t generation = 0;
        Clock::time_point started;
        Clock::time_point deadline = Clock::time_point::max();
        Clock::time_point stop_requested = Clock::time_point::max();
        bool timed_out = false;
        std::shared_ptr<std::atomic<bool>> cancel;
        std::shared_ptr<StageProgress> progress;
        double reported_done = -1;
    };

    void report_progress() {
        for (size_t i : in_flight_) {
            Running& slot = running_[i];
            if (!slot.progress) continue;
            const double done = slot.progress->done.load();
            if (done == slot.reported_done) continue;
            slot.reported_done = done;
            observer_.stage_progress(i, done, slot.progress->total.load());
        }
    }

    bool isolated(const StageNode& node) const {
        return node.isolate || options_.isolated_plugins.count("*") || options_.isolated_plugins.count(node.plugin_name);
    }

    // Loads every plugin that runs in this process before the first stage starts, so a plugin
    // that cannot load fails its stages clearly instead of racing with others.
    void prepare() {
        for (size_t i = 0; i < pipeline_.stages.size(); ++i) {
            const auto& node = pipeline_.stages[i];
            outcome_.stages[i].isolated = node.is_plugin() && isolated(node);
            if (!node.is_plugin() || outcome_.stages[i].isolated || libraries_.count(node.plugin_name)) continue;
            try {
                libraries_[node.plugin_name] = registry_.load(node.plugin_name);
            } catch (const std::exception& e) {
                load_errors_[node.plugin_name] = "plugin '" + node.plugin_name + "' cannot be loaded: " + e.what();
            }
        }
    }

    FlavorResolver flavor_resolver() {
        PluginRegistry* registry = &registry_;
        return [registry](const std::string& name) -> FlavorEntry {
            const PluginFile* provider = registry->find_flavor_provider(name);
            if (!provider) throw std::runtime_error("no installed plugin provides model flavor '" + name + "'");
            auto library = registry->load(provider->scan.manifest->name);
            const auto* flavor = library->find_flavor(name);
            if (!flavor) throw std::runtime_error("plugin '" + provider->scan.manifest->name + "' lost flavor '" + name + "'");
            return {library, flavor};
        };
    }

    Clock::time_point next_wakeup() const {
        auto until = Clock::now() + std::chrono::milliseconds(100);
        for (const auto& [when, stage] : delayed_) until = std::min(until, when);
        for (size_t i : in_flight_) {
            const Running& slot = running_[i];
            if (!slot.timed_out) until = std::min(until, slot.deadline);
            else if (slot.stop_requested != Clock::time_point::max())
                until = std::min(until, slot.stop_requested + options_.stop_grace);
        }
        return until;
    }

    std::map<std::string, ArtifactBytes> gather_inputs(const StageNode& node) const {
        std::map<std::string, ArtifactBytes> inputs;
        for (const auto& input : node.inputs) {
            const auto& produced = outcome_.stages[input.from].outputs;
            if (auto it = produced.find(input.from_port); it != produced.end()) inputs[input.port] = it->second;
        }
        return inputs;
    }

    // At most `jobs` attempts are with workers at once, so a stage's clock (and its timeout)
    // starts when it really starts, not while it waits for a free worker.
    void dispatch_ready() {
        while (!ready_.empty() && !stopping_ && active_ < jobs_) {
            const size_t i = ready_.front();
            ready_.pop_front();
            start(i);
        }
        if (stopping_) {
            for (size_t i : ready_) cancel_waiting(i, stop_reason_);
            ready_.clear();
        }
    }

    void start(size_t i) {
        const StageNode& node = pipeline_.stages[i];
        StageRecord& record = outcome_.stages[i];
        if (record.attempts == 0 && try_reuse(i)) return;
        record.state = StageState::Running;
        ++record.attempts;
        observer_.stage_started(i, record.attempts);
        if (options_.store) options_.store->attempt_started(i, record.attempts);
        if (node.is_lua()) return run_lua(i);
        if (node.is_sweep()) return run_selector(i);
        if (node.is_core()) return run_core(i);
        if (auto it = load_errors_.find(node.plugin_name); it != load_errors_.end())
            return finish(i, AttemptResult::failure(TRELLIS_ERR_FAILED, it->second), 0);

        Running& slot = running_[i];
        slot.active = true;
        ++slot.generation;
        slot.started = Clock::now();
        slot.deadline = node.timeout > 0 ? slot.started + std::chrono::duration_cast<Clock::duration>(
                                                              std::chrono::duration<double>(node.timeout))
                                         : Clock::time_point::max();
        slot.stop_requested = Clock::time_point::max();
        slot.timed_out = false;
        slot.cancel = std::make_shared<std::atomic<bool>>(false);
        slot.progress = std::make_shared<StageProgress>();
        slot.reported_done = -1;

        auto task = std::make_unique<Task>();
        task->stage = i;
        task->generation = slot.generation;
        task->isolated = record.isolated;
        task->store = options_.store;
        StageAttempt& attempt = task->attempt;
        attempt.stage_id = node.id;
        attempt.manifest = node.manifest;
        attempt.config = node.config;
        attempt.explicitly_set = node.explicitly_set;
        attempt.inputs = gather_inputs(node);
        attempt.work_dir = options_.work_dir / node.id / ("attempt-" + std::to_string(record.attempts));
        attempt.cancelled = slot.cancel.get();
        attempt.progress = slot.progress;
        task->cancel = slot.cancel;
        if (record.isolated) {
            attempt.plugin_file = node.plugin_file;
            attempt.executable = options_.executable;
            attempt.flavor_files = flavor_files_;
            try {
                attempt.signed_sha256 = signed_plugin_files(node.plugin_file);
            } catch (const std::exception& e) {
                slot.active = false;
                return finish(i, AttemptResult::failure(TRELLIS_ERR_FAILED, e.what()), 0);
            }
            attempt.log_level = options_.log_level;
            attempt.log_file = options_.log_file;
        } else {
            attempt.library = libraries_.at(node.plugin_name);
            attempt.flavors = flavor_resolver();
        }
        ++active_;
        in_flight_.insert(i);
        pool_.submit(std::move(task));
    }

    // Under trust.require_signed_plugins, the signed SHA-256 of `plugin_file` and of every flavor
    // plugin, which an isolated attempt's child checks each file against before it opens it. Each
    // file's signature is checked once a run: the child's hash is what catches a file swapped since.
    std::map<std::string, std::string> signed_plugin_files(const std::string& plugin_file) {
        std::map<std::string, std::string> out;
        const auto add = [&](const std::string& file) {
            auto known = verified_sha256_.find(file);
            if (known == verified_sha256_.end()) known = verified_sha256_.emplace(file, registry_.verified_sha256(file)).first;
            if (known->second) out[file] = *known->second;
        };
        add(plugin_file);
        for (const auto& [flavor, file] : flavor_files_) add(file);
        return out;
    }

    // A stage whose cache key matches an earlier execution's takes that execution's outputs
    // without running. Its callbacks still run: they are part of the pipeline's logic.
    bool try_reuse(size_t i) {
        if (!options_.store) return false;
        std::optional<std::map<std::string, ArtifactBytes>> outputs;
        try {
            outputs = options_.store->reuse(i, gather_inputs(pipeline_.stages[i]));
        } catch (const std::exception& e) {
            spdlog::warn("stage '{}': not reusing an earlier execution: {}", pipeline_.stages[i].id, e.what());
        }
        if (!outputs) return false;
        StageRecord& record = outcome_.stages[i];
        record.state = StageState::Running;
        record.reused = true;
        observer_.stage_started(i, 0);
        AttemptResult result;
        result.outputs = std::move(*outputs);
        finish(i, std::move(result), 0);
        return true;
    }

    // Gives every artifact in `artifacts` its bytes (Lua code and callbacks read them).
    void load_all(std::map<std::string, ArtifactBytes>& artifacts) const {
        if (!options_.store) return;
        for (auto& [port, artifact] : artifacts)
            if (!artifact.loaded()) artifact = options_.store->load(artifact);
    }

    void run_lua(size_t i) {
        const auto start = Clock::now();
        AttemptResult result;
        try {
            auto inputs = gather_inputs(pipeline_.stages[i]);
            load_all(inputs);
            result.outputs = script_->run_lua_stage(pipeline_.stages[i], inputs);
            if (options_.store) options_.store->persist(result.outputs);
        } catch (const std::exception& e) {
            // Ctrl-C stops Lua with an error; that is a cancellation, not the stage failing.
            const bool interrupted = options_.interrupts && options_.interrupts->load() > 0;
            result = AttemptResult::failure(interrupted ? TRELLIS_ERR_CANCELLED : TRELLIS_ERR_FAILED, e.what());
            if (interrupted) check_interrupts();
        }
        finish(i, std::move(result), std::chrono::duration<double>(Clock::now() - start).count());
    }

    // How each trial of the sweep whose selector is `node` ended: failed if one of its stages
    // failed, cancelled if one was cancelled, else succeeded if every output it returned is there,
    // else skipped. `with_metrics`: read the scored output of each succeeded trial.
    std::vector<TrialOutcome> trial_outcomes(const StageNode& node, bool with_metrics) {
        const Sweep& sweep = pipeline_.sweeps.at(node.sweep);
        auto inputs = gather_inputs(node);
        std::vector<TrialOutcome> out;
        for (const SweepTrial& trial : sweep.trials) {
            TrialOutcome outcome;
            outcome.number = trial.number;
            std::string failed, cancelled, skipped;
            for (size_t s : trial.stages) {
                const StageRecord& record = outcome_.stages[s];
                const std::string why = "stage '" + pipeline_.stages[s].id + "'" +
                                        (record.message.empty() ? "" : ": " + record.message);
                if (record.state == StageState::Failed && failed.empty()) failed = why;
                if (record.state == StageState::Cancelled && cancelled.empty()) cancelled = why;
                if ((record.state == StageState::Skipped || record.state == StageState::Waiting) && skipped.empty())
                    skipped = why;
            }
            const std::string prefix = std::to_string(trial.number) + ".";
            std::string missing;
            for (const auto& [port, ref] : trial.outputs)
                if (!inputs.count(prefix + port) && missing.empty())
                    missing = "its output '" + port + "' was not made" + (skipped.empty() ? "" : " (" + skipped + ")");
            if (!failed.empty()) outcome = {trial.number, "failed", failed, std::nullopt};
            else if (!cancelled.empty()) outcome = {trial.number, "cancelled", cancelled, std::nullopt};
            else if (!missing.empty()) outcome = {trial.number, "skipped", missing, std::nullopt};
            if (outcome.status == "succeeded" && with_metrics) {
                ArtifactBytes scored = inputs.at(prefix + sweep.score_port);
                try {
                    if (!scored.loaded() && options_.store) scored = options_.store->load(scored);
                    outcome.metrics = deserialize_metrics(scored.bytes()).values;
                } catch (const std::exception& e) {
                    throw std::runtime_error("trial " + std::to_string(trial.number) + ": cannot read its output '" +
                                             sweep.score_port + "': " + e.what());
                }
            }
            out.push_back(std::move(outcome));
        }
        return out;
    }

    // A sweep's selector, run here on the scheduler thread: reading a few Metrics artifacts is
    // all it does. The winner's outputs become its own, the same artifacts (digests), not copies.
    void run_selector(size_t i) {
        const StageNode& node = pipeline_.stages[i];
        const Sweep& sweep = pipeline_.sweeps.at(node.sweep);
        StageRecord& record = outcome_.stages[i];
        const auto start = Clock::now();
        AttemptResult result;
        try {
            auto judgement = std::make_shared<SweepJudgement>(judge_sweep(sweep, trial_outcomes(node, true)));
            record.sweep = judgement;
            if (judgement->all_skipped) {
                record.seconds = std::chrono::duration<double>(Clock::now() - start).count();
                record.state = StageState::Skipped;
                record.message = judgement->problem;
                ended(i);
                for (size_t next : node.downstream) skip(next, "upstream stage '" + node.id + "' skipped");
                return;
            }
            if (judgement->winner) {
                const auto inputs = gather_inputs(node);
                const std::string prefix = std::to_string(*judgement->winner) + ".";
                for (const auto& [port, ref] : sweep.trials.front().outputs) result.outputs[port] = inputs.at(prefix + port);
                load_all(result.outputs); // already in memory unless resumed; the record needs their sizes
                const SweepTrial& winner = sweep.trials.at(static_cast<size_t>(*judgement->winner - 1));
                for (const auto& [name, value] : winner.params.items()) result.params[name] = value;
                if (!winner.params.contains("trial")) result.params["trial"] = winner.number;
            } else {
                result = AttemptResult::failure(TRELLIS_ERR_FAILED, judgement->problem);
            }
        } catch (const std::exception& e) {
            result = AttemptResult::failure(TRELLIS_ERR_FAILED, e.what());
        }
        finish(i, std::move(result), std::chrono::duration<double>(Clock::now() - start).count());
    }

    // A core stage runs here on the scheduler thread: it reads and changes the registry, which
    // the store's writer must have brought up to date with every stage before it (the runner
    // flushes it). Its outputs are stored like any stage's.
    void run_core(size_t i) {
        const StageNode& node = pipeline_.stages[i];
        const auto start = Clock::now();
        AttemptResult result;
        try {
            if (!options_.core_stages || !options_.store)
                throw std::runtime_error("stage '" + node.stage_name + "' needs a store (trellis run records into one)");
            result = options_.core_stages->run(node, gather_inputs(node));
            options_.store->persist(result.outputs); // a refusal's report stays with the failed execution
        } catch (const std::exception& e) {
            result = AttemptResult::failure(TRELLIS_ERR_FAILED, e.what());
        }
        finish(i, std::move(result), std::chrono::duration<double>(Clock::now() - start).count());
    }

    // A selector waits for every stage of its trials, whatever becomes of them: an upstream stage
    // that did not succeed only counts as ended.
    void release_selector(size_t i) {
        if (waiting_[i] > 0 && --waiting_[i] == 0 && outcome_.stages[i].state == StageState::Waiting) ready_.push_back(i);
    }

    void complete(Completion completion) {
        Running& slot = running_[completion.stage];
        if (!slot.active || slot.generation != completion.generation) return; // abandoned earlier
        slot.active = false;
        --active_;
        in_flight_.erase(completion.stage);
        if (slot.timed_out) { // even if it finished after all: it ran past its limit
            const auto& node = pipeline_.stages[completion.stage];
            completion.result = AttemptResult::failure(TRELLIS_ERR_FAILED, "timed out after " + seconds_text(node.timeout));
        }
        finish(completion.stage, std::move(completion.result), completion.seconds);
    }

    static std::string seconds_text(double seconds) {
        char text[32];
        std::snprintf(text, sizeof text, "%g s", seconds);
        return text;
    }

    StageOutcomeView view(size_t i) const {
        const auto& record = outcome_.stages[i];
        return {pipeline_.stages[i].id, pipeline_.stages[i].stage_name, to_string(record.state), record.message,
                record.seconds, record.attempts, &record.outputs};
    }

    void finish(size_t i, AttemptResult result, double seconds) {
        const StageNode& node = pipeline_.stages[i];
        StageRecord& record = outcome_.stages[i];
        record.seconds = seconds;
        if (result.ok()) {
            record.state = StageState::Succeeded;
            record.message.clear(); // an earlier attempt's failure
            record.outputs = std::move(result.outputs);
            record.metrics = std::move(result.metrics);
            record.params = std::move(result.params);
            record.registrations = std::move(result.registrations);
            bool proceed = true;
            try {
                if (node.when.set() || node.on_success.set()) load_all(record.outputs);
                if (node.when.set()) proceed = script_->condition(node, view(i));
                if (node.on_success.set()) script_->notify(node.on_success, view(i));
            } catch (const std::exception& e) {
                record.state = StageState::Failed;
                record.message = e.what();
                return fail(i);
            }
            ended(i);
            if (!proceed) {
                for (size_t next : node.downstream)
                    skip(next, "the 'when' condition of '" + node.id + "' was false");
                return;
            }
            for (size_t next : node.downstream)
                if (--waiting_[next] == 0 && outcome_.stages[next].state == StageState::Waiting) ready_.push_back(next);
            return;
        }
        record.message = result.message;
        record.metrics = std::move(result.metrics);
        record.params = std::move(result.params);
        record.outputs = std::move(result.outputs); // set before failing; never passed downstream
        const bool cancelled = result.status == TRELLIS_ERR_CANCELLED && stopping_;
        if (!cancelled && !stopping_ && record.attempts <= node.retries) {
            spdlog::warn("stage '{}' failed (attempt {} of {}): {}; retrying{}", node.id, record.attempts,
                         node.retries + 1, record.message,
                         node.retry_delay > 0 ? " in " + seconds_text(node.retry_delay) : "");
            record.state = StageState::Waiting;
            delayed_.emplace_back(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                     std::chrono::duration<double>(node.retry_delay)),
                                  i);
            return;
        }
        record.state = cancelled ? StageState::Cancelled : StageState::Failed;
        if (cancelled) record.message = stop_reason_;
        if (node.on_failure.set() && !cancelled) {
            try {
                script_->notify(node.on_failure, view(i));
            } catch (const std::exception& e) {
                record.message += "; and its on_failure callback failed: " + std::string(e.what());
            }
        }
        fail(i);
    }

    // Tells the observer and the store that stage `i` reached its final state.
    void ended(size_t i) {
        if (pipeline_.stages[i].is_sweep()) judge_ended_selector(i);
        observer_.stage_finished(i, outcome_.stages[i]);
        if (!options_.store) return;
        try {
            options_.store->stage_ended(i, outcome_.stages[i], gather_inputs(pipeline_.stages[i]));
        } catch (const std::exception& e) {
            spdlog::error("stage '{}': cannot record its execution: {}", pipeline_.stages[i].id, e.what());
        }
    }

    // A selector that did not run (reused from the cache, cancelled) still reports its trials;
    // one that judged says what it chose.
    void judge_ended_selector(size_t i) {
        StageRecord& record = outcome_.stages[i];
        const StageNode& node = pipeline_.stages[i];
        const Sweep& sweep = pipeline_.sweeps.at(node.sweep);
        if (!record.sweep) {
            try {
                record.sweep = std::make_shared<SweepJudgement>(
                    record.state == StageState::Succeeded ? judge_sweep(sweep, trial_outcomes(node, true))
                                                          : unjudged(sweep, trial_outcomes(node, false)));
            } catch (const std::exception& e) {
                spdlog::warn("sweep '{}': cannot report its trials: {}", sweep.id, e.what());
                return;
            }
        }
        // A winner chosen with trials left out is worth a warning: the choice was among fewer.
        if (record.state == StageState::Succeeded && record.sweep->winner)
            spdlog::log(record.sweep->notes.empty() ? spdlog::level::info : spdlog::level::warn, "{}",
                        judgement_text(sweep, *record.sweep));
    }

    void fail(size_t i) {
        const StageNode& node = pipeline_.stages[i];
        ended(i);
        for (size_t next : node.downstream) skip(next, "upstream stage '" + node.id + "' " + to_string(outcome_.stages[i].state));
        if (options_.fail_fast && outcome_.stages[i].state == StageState::Failed && !stopping_)
            stop("--fail-fast after stage '" + node.id + "' failed");
    }

    // Skips `first` and everything downstream of it; a worklist, as a failure at the head of a
    // long chain would overflow the stack if this recursed.
    void skip(size_t first, const std::string& why) {
        std::vector<size_t> pending{first};
        while (!pending.empty()) {
            const size_t i = pending.back();
            pending.pop_back();
            if (pipeline_.stages[i].is_sweep()) {
                release_selector(i); // it chooses among the trials that succeeded
                continue;
            }
            StageRecord& record = outcome_.stages[i];
            if (record.state != StageState::Waiting) continue;
            record.state = StageState::Skipped;
            record.message = why;
            ended(i);
            for (size_t next : pipeline_.stages[i].downstream) pending.push_back(next);
        }
    }

    void cancel_waiting(size_t i, const std::string& why) {
        StageRecord& record = outcome_.stages[i];
        if (record.state != StageState::Waiting) return;
        record.state = StageState::Cancelled;
        record.message = why;
        ended(i);
    }

    // Stops starting stages and asks the running ones to cancel.
    void stop(const std::string& why) {
        stopping_ = true;
        stop_reason_ = why;
        const auto now = Clock::now();
        for (size_t i : in_flight_) {
            Running& slot = running_[i];
            slot.cancel->store(true);
            slot.stop_requested = std::min(slot.stop_requested, now);
        }
        for (auto& [when, stage] : delayed_) cancel_waiting(stage, why);
        delayed_.clear();
        for (size_t i : pipeline_.order) cancel_waiting(i, why);
    }

    void check_deadlines() {
        const auto now = Clock::now();
        // Only the running stages: a scan of every stage on every wake-up would make long chains quadratic.
        const std::vector<size_t> active(in_flight_.begin(), in_flight_.end());
        for (size_t i : active) {
            Running& slot = running_[i];
            if (!slot.active) continue;
            if (!slot.timed_out && now >= slot.deadline) {
                slot.timed_out = true;
                slot.cancel->store(true);
                slot.stop_requested = now;
                spdlog::warn("stage '{}' timed out after {}; cancelling it", pipeline_.stages[i].id,
                             seconds_text(pipeline_.stages[i].timeout));
            }
            if (slot.stop_requested != Clock::time_point::max() && now - slot.stop_requested > options_.stop_grace)
                abandon(i);
        }
    }

    // A stage that ignores cancellation: record it and stop waiting for its thread.
    void abandon(size_t i) {
        Running& slot = running_[i];
        slot.active = false;
        ++slot.generation;
        --active_;
        in_flight_.erase(i);
        pool_.abandon_one();
        const auto& node = pipeline_.stages[i];
        const std::string why = slot.timed_out ? "timed out after " + seconds_text(node.timeout) +
                                                     " and did not stop when cancelled"
                                               : "did not stop when cancelled";
        spdlog::error("stage '{}' {}; abandoning its thread", node.id, why);
        StageRecord& record = outcome_.stages[i];
        record.seconds = std::chrono::duration<double>(Clock::now() - slot.started).count();
        record.message = why;
        record.state = slot.timed_out && !stopping_ ? StageState::Failed : StageState::Cancelled;
        fail(i);
    }

    void check_interrupts() {
        if (!options_.interrupts) return;
        const int count = options_.interrupts->load();
        if (count >= 1 && !stopping_) {
            outcome_.interrupted = true;
            spdlog::warn("interrupted: cancelling running stages (press Ctrl-C again to stop at once)");
            stop("interrupted");
        }
        if (count >= 2 && !stop_now_) {
            stop_now_ = true;
            for (size_t i : in_flight_) {
                running_[i].active = false;
                outcome_.stages[i].state = StageState::Cancelled;
                outcome_.stages[i].message = "interrupted twice, not waited for";
                ++outcome_.abandoned;
            }
            in_flight_.clear();
        }
    }

    void start_due_retries() {
        const auto now = Clock::now();
        for (auto it = delayed_.begin(); it != delayed_.end();) {
            if (it->first <= now) {
                ready_.push_back(it->second);
                it = delayed_.erase(it);
            } else {
                ++it;
            }
        }
    }

    const Pipeline& pipeline_;
    PipelineScript* script_;
    PluginRegistry& registry_;
    const ExecutorOptions& options_;
    ExecutionObserver& observer_;
    WorkerPool pool_;
    size_t jobs_;
    RunOutcome outcome_;
    std::vector<Running> running_;
    std::vector<size_t> waiting_;
    std::deque<size_t> ready_;
    std::vector<std::pair<Clock::time_point, size_t>> delayed_;
    std::map<std::string, std::shared_ptr<PluginLibrary>> libraries_;
    std::map<std::string, std::string> load_errors_;
    std::map<std::string, std::string> flavor_files_;
    std::map<std::string, std::optional<std::string>> verified_sha256_; // file -> its signed SHA-256, if required
    size_t active_ = 0;
    std::set<size_t> in_flight_; // stages whose attempt is with a worker
    bool stopping_ = false;
    bool stop_now_ = false;
    std::string stop_reason_;
};

} // namespace

RunOutcome execute_pipeline(const Pipeline& pipeline, PipelineScript* script, PluginRegistry& registry,
                            const ExecutorOptions& options, ExecutionObserver& observer) {
    return Scheduler(pipeline, script, registry, options, observer).run();
}

} // namespace trellis::core
