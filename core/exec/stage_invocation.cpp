#include "exec/stage_invocation.hpp"

#include "log/logging.hpp"
#include "plugin/config_types.hpp"
#include "store/digest.hpp"
#include "util/child_process.hpp"
#include "util/json_text.hpp"

#include <trellis/artifacts.hpp>

#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <set>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace trellis::core {
namespace {

std::vector<uint8_t> read_bytes(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + file.string());
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::filesystem::path& file, const uint8_t* data, size_t size) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out.flush()) throw std::runtime_error("cannot write " + file.string());
}

void write_text(const std::filesystem::path& file, const std::string& text) {
    write_bytes(file, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

void remove_scratch(const StageContext& context) {
    if (!context.scratch_created) return;
    std::error_code ec;
    std::filesystem::remove_all(context.scratch_dir, ec);
}

} // namespace

AttemptResult run_in_process(const StageAttempt& attempt) {
    const trellis_stage_descriptor* entry = attempt.library->find_stage(attempt.manifest->name);
    if (!entry) return AttemptResult::failure(TRELLIS_ERR_NOT_FOUND, "plugin no longer provides stage '" + attempt.manifest->name + "'");
    StageContext context;
    context.stage = attempt.manifest;
    context.config = attempt.config;
    context.explicitly_set.insert(attempt.explicitly_set.begin(), attempt.explicitly_set.end());
    context.inputs = attempt.inputs;
    context.logger_name = attempt.stage_id;
    context.scratch_dir = (attempt.work_dir / "scratch").string();
    context.cancelled = attempt.cancelled;
    context.progress = attempt.progress;
    context.flavors = attempt.flavors;
    const StageOutcome outcome = invoke_stage(entry->run, context);
    remove_scratch(context);
    AttemptResult result = AttemptResult::failure(outcome.status, outcome.message);
    result.metrics = std::move(context.metrics);
    result.params = std::move(context.params);
    // A failed stage's outputs are kept too: what it reported before failing is recorded with the
    // failed execution (the executor never hands them downstream).
    result.outputs = std::move(context.outputs);
    if (outcome.ok()) result.registrations = std::move(context.registrations);
    return result;
}

AttemptResult run_isolated(const StageAttempt& attempt) {
    const auto& dir = attempt.work_dir;
    std::filesystem::create_directories(dir);
    nlohmann::json request = {{"plugin_file", attempt.plugin_file},
                              {"stage", attempt.manifest->name},
                              {"stage_id", attempt.stage_id},
                              {"config", attempt.config},
                              {"explicitly_set", attempt.explicitly_set},
                              {"flavor_files", attempt.flavor_files},
                              {"signed_sha256", attempt.signed_sha256},
                              {"log_level", attempt.log_level},
                              {"log_file", attempt.log_file.string()},
                              {"inputs", nlohmann::json::object()}};
    for (const auto& [port, artifact] : attempt.inputs) {
        const std::string file = "in-" + port + ".trls";
        write_bytes(dir / file, artifact.bytes().data(), artifact.bytes().size());
        request["inputs"][port] = {{"type", artifact.type}, {"file", file}};
    }
    write_text(dir / "request.json", dump_json(request));

    const std::string executable = attempt.executable.string();
    const std::string dir_text = dir.string();
    std::vector<std::string> env = child_environment();
    auto envp = environment_pointers(env);
    char* argv[] = {const_cast<char*>(executable.c_str()), const_cast<char*>(exec_stage_command),
                    const_cast<char*>(dir_text.c_str()), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO); // keep stdout for the summary
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // Its own process group: the terminal's Ctrl-C reaches the parent, which cancels the child
    // cooperatively, and a kill reaches everything the plugin started.
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, executable.c_str(), &actions, &attributes, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (spawned != 0)
        return AttemptResult::failure(TRELLIS_ERR_INTERNAL, "cannot start the isolated stage process: " + std::string(strerror(spawned)));
    register_child_group(pid);

    using Clock = std::chrono::steady_clock;
    int status = 0;
    Clock::time_point terminated_at{};
    bool killed = false;
    for (auto pause = std::chrono::microseconds(200);;) {
        const pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (attempt.cancelled && attempt.cancelled->load()) {
            if (terminated_at == Clock::time_point{}) {
                kill(-pid, SIGTERM); // the child turns it into cooperative cancellation
                terminated_at = Clock::now();
            } else if (!killed && Clock::now() - terminated_at > std::chrono::seconds(2)) {
                kill(-pid, SIGKILL);
                killed = true;
            }
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(10'000));
    }
    kill(-pid, SIGKILL); // anything the plugin left running in its group
    unregister_child_group(pid);

    if (WIFSIGNALED(status)) {
        if (attempt.cancelled && attempt.cancelled->load())
            return AttemptResult::failure(TRELLIS_ERR_CANCELLED, "cancelled (isolated stage process stopped)");
        return AttemptResult::failure(TRELLIS_ERR_FAILED, "isolated stage process crashed (" + signal_name(WTERMSIG(status)) + ")");
    }
    nlohmann::json answer;
    try {
        std::ifstream in(dir / "result.json");
        answer = nlohmann::json::parse(in);
    } catch (const std::exception&) {
        return AttemptResult::failure(TRELLIS_ERR_FAILED, "isolated stage process exited with code " +
                                                              std::to_string(WEXITSTATUS(status)) + " without a result");
    }
    AttemptResult result;
    result.status = answer.value("status", TRELLIS_ERR_INTERNAL);
    result.message = answer.value("message", "");
    try {
        for (const auto& [port, output] : answer.at("outputs").items()) {
            result.outputs[port] = ArtifactBytes::own(output.at("type").get<uint32_t>(),
                                                      read_bytes(dir / output.at("file").get<std::string>()));
        }
        for (const auto& point : answer.at("metrics"))
            result.metrics.push_back({point.at(0).get<std::string>(), point.at(1).get<double>(), point.at(2).get<int64_t>()});
        const nlohmann::json params = answer.value("params", nlohmann::json::object());
        for (const auto& [key, value] : params.items()) result.params[key] = value;
        const nlohmann::json registrations = answer.value("registrations", nlohmann::json::array());
        for (const auto& model : registrations)
            result.registrations.push_back({model.at("port").get<std::string>(), model.at("name").get<std::string>(),
                                            model.at("version").get<int64_t>(), model.at("uri").get<std::string>()});
    } catch (const std::exception& e) {
        return AttemptResult::failure(TRELLIS_ERR_INTERNAL, std::string("isolated stage process wrote a bad result: ") + e.what());
    }
    return result;
}

namespace {
std::atomic<bool> child_cancelled{false};
extern "C" void on_child_sigterm(int) { child_cancelled.store(true); }
} // namespace

int run_exec_stage_child(const std::filesystem::path& dir) {
    std::signal(SIGTERM, on_child_sigterm);
    nlohmann::json answer = {{"status", TRELLIS_ERR_INTERNAL}, {"message", ""}, {"outputs", nlohmann::json::object()},
                             {"metrics", nlohmann::json::array()}};
    try {
        std::ifstream in(dir / "request.json");
        const nlohmann::json request = nlohmann::json::parse(in);
        logging::setup({logging::parse_level(request.value("log_level", "info")).value_or(spdlog::level::info), false});
        if (const std::string log_file = request.value("log_file", ""); !log_file.empty())
            logging::add_file_sink(log_file);
        const auto signed_sha256 = request.value("signed_sha256", std::map<std::string, std::string>{});
        // A file that is not the one whose signature the host checked is never opened.
        const auto open_checked = [signed_sha256](const std::string& file) {
            if (auto it = signed_sha256.find(file); it != signed_sha256.end() && store::sha256_file(file) != it->second)
                throw std::runtime_error(file + ": refused (trust.require_signed_plugins): changed after its signature was checked");
            return PluginLibrary::open(file);
        };
        auto library = open_checked(request.at("plugin_file").get<std::string>());
        const std::string stage_name = request.at("stage").get<std::string>();
        const trellis_stage_descriptor* entry = library->find_stage(stage_name);
        const StageManifest* manifest = library->manifest().find_stage(stage_name);
        if (!entry || !manifest) throw std::runtime_error("plugin does not provide stage '" + stage_name + "'");

        StageContext context;
        context.stage = manifest;
        context.config = request.at("config");
        for (const auto& key : request.at("explicitly_set")) context.explicitly_set.insert(key.get<std::string>());
        for (const auto& [port, input] : request.at("inputs").items())
            context.inputs[port] =
                ArtifactBytes::own(input.at("type").get<uint32_t>(), read_bytes(dir / input.at("file").get<std::string>()));
        context.logger_name = request.value("stage_id", stage_name);
        context.scratch_dir = (dir / "scratch").string();
        context.cancelled = &child_cancelled;
        const auto flavor_files = request.at("flavor_files").get<std::map<std::string, std::string>>();
        context.flavors = [flavor_files, open_checked](const std::string& name) -> FlavorEntry {
            auto it = flavor_files.find(name);
            if (it == flavor_files.end()) throw std::runtime_error("no installed plugin provides flavor '" + name + "'");
            auto plugin = open_checked(it->second);
            const auto* flavor = plugin->find_flavor(name);
            if (!flavor) throw std::runtime_error("plugin " + it->second + " no longer provides flavor '" + name + "'");
            return {plugin, flavor};
        };
        const StageOutcome outcome = invoke_stage(entry->run, context);
        remove_scratch(context);
        answer["status"] = outcome.status;
        answer["message"] = outcome.message;
        for (const auto& [port, artifact] : context.outputs) { // a failed stage's too, as in-process
            const std::string file = "out-" + port + ".trls";
            write_bytes(dir / file, artifact.bytes().data(), artifact.bytes().size());
            answer["outputs"][port] = {{"type", artifact.type}, {"file", file}};
        }
        for (const auto& point : context.metrics) answer["metrics"].push_back({point.name, point.value, point.step});
        answer["params"] = context.params;
        answer["registrations"] = nlohmann::json::array();
        for (const auto& model : context.registrations)
            answer["registrations"].push_back(
                {{"port", model.port}, {"name", model.name}, {"version", model.version}, {"uri", model.uri}});
    } catch (const std::exception& e) {
        answer["status"] = TRELLIS_ERR_FAILED;
        answer["message"] = e.what();
    }
    try {
        const auto temporary = dir / "result.json.tmp";
        write_text(temporary, dump_json(answer));
        std::filesystem::rename(temporary, dir / "result.json");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "trellis exec-stage: cannot write the result: %s\n", e.what());
        return 3;
    }
    std::fflush(stderr);
    return 0;
}

} // namespace trellis::core
