#include "plugin/plugin_scanner.hpp"
#include "util/child_process.hpp"

#include "plugin/plugin_library.hpp"
#include "util/json_text.hpp"

#include <algorithm>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace trellis::core {
namespace {

using Clock = std::chrono::steady_clock;

// One scan child. Its result is one JSON line on a pipe; the child is the leader of its own
// process group so that anything it forked dies with it.
struct Child {
    size_t index = 0;
    pid_t pid = -1;
    int fd = -1;
    std::string output;
    Clock::time_point deadline;
    bool pipe_closed = false;
    bool exited = false;
    int status = 0;

    Child() = default;
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    Child(Child&& other) noexcept { *this = std::move(other); }
    Child& operator=(Child&& other) noexcept {
        std::swap(index, other.index);
        std::swap(pid, other.pid);
        std::swap(fd, other.fd);
        std::swap(output, other.output);
        std::swap(deadline, other.deadline);
        std::swap(pipe_closed, other.pipe_closed);
        std::swap(exited, other.exited);
        std::swap(status, other.status);
        return *this;
    }
    // Whatever happens to the scan (an exception included), no child or grandchild outlives it.
    ~Child() {
        if (pid > 0) {
            kill(-pid, SIGKILL);
            if (!exited)
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
                }
        }
        if (fd >= 0) close(fd);
    }

    bool has_full_result() const { return !output.empty() && output.back() == '\n'; }

    void read_available() {
        char buffer[65536];
        for (;;) {
            const ssize_t got = read(fd, buffer, sizeof buffer);
            if (got > 0) {
                if (output.size() < max_output) output.append(buffer, static_cast<size_t>(got));
                continue;
            }
            if (got == 0) pipe_closed = true;
            if (got < 0 && errno == EINTR) continue;
            return; // EAGAIN: nothing more for now
        }
    }

    void check_exit() {
        if (exited) return;
        const pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) exited = true;
    }

    static constexpr size_t max_output = 16u << 20; // a manifest is kilobytes; more is a misbehaving plugin
};

Child start_child(size_t index, const std::filesystem::path& file, const ScanOptions& options,
                  const std::vector<std::string>& env) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot create a pipe: ") + strerror(errno));
    Child child;
    child.index = index;
    child.fd = fds[0];
    fcntl(child.fd, F_SETFL, fcntl(child.fd, F_GETFL) | O_NONBLOCK);

    constexpr int child_result_fd = 3;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], child_result_fd);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);

    const std::string helper = options.helper_executable.string();
    const std::string fd_text = std::to_string(child_result_fd);
    const std::string file_text = file.string();
    std::vector<char*> argv = {const_cast<char*>(helper.c_str()), const_cast<char*>(scan_child_command),
                               const_cast<char*>(fd_text.c_str()), const_cast<char*>(file_text.c_str()), nullptr};
    std::vector<char*> envp;
    for (const auto& item : env) envp.push_back(const_cast<char*>(item.c_str()));
    envp.push_back(nullptr);

    pid_t pid = -1;
    const int rc = posix_spawn(&pid, helper.c_str(), &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    close(fds[1]);
    if (rc != 0) throw std::runtime_error("cannot start the plugin scanner '" + helper + "': " + strerror(rc));
    child.pid = pid;
    child.deadline = Clock::now() + options.timeout;
    return child;
}

std::string describe_timeout(std::chrono::milliseconds timeout) {
    const auto ms = timeout.count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

ScanResult result_of(const Child& child, const std::filesystem::path& file, bool timed_out, const ScanOptions& options) {
    ScanResult result;
    result.path = file;
    if (child.has_full_result()) {
        auto parsed = nlohmann::json::parse(child.output, nullptr, false);
        try {
            if (!parsed.is_discarded() && parsed.contains("manifest")) {
                result.manifest = parsed.at("manifest").get<PluginManifest>();
                return result;
            }
            if (!parsed.is_discarded() && parsed.contains("reason")) {
                result.reason = parsed.at("reason").get<std::string>();
                return result;
            }
        } catch (const std::exception&) {
        }
        result.reason = "scanner returned an unreadable result";
        return result;
    }
    if (timed_out) {
        result.reason = "hangs while loading: no answer within " + describe_timeout(options.timeout);
        result.hang_timeout_ms = options.timeout.count();
    }
    else if (WIFSIGNALED(child.status)) result.reason = "crashed while loading (" + signal_name(WTERMSIG(child.status)) + ")";
    else result.reason = "scanner exited with status " + std::to_string(WEXITSTATUS(child.status)) + " without a result";
    return result;
}

} // namespace

std::vector<ScanResult> scan_in_children(const std::vector<std::filesystem::path>& files, const ScanOptions& options) {
    std::vector<ScanResult> results(files.size());
    const auto env = child_environment();
    std::vector<Child> running; // destroyed, and so killed and reaped, on any exception
    size_t next = 0;
    const unsigned parallelism = std::clamp(options.parallelism, 1u, 64u);
    while (next < files.size() || !running.empty()) {
        while (next < files.size() && running.size() < parallelism) {
            running.push_back(start_child(next, files[next], options, env));
            ++next;
        }
        std::vector<pollfd> polls;
        auto wake = running.front().deadline;
        for (const auto& child : running) {
            // -1: poll ignores it. A closed pipe or a child that only exited is checked on a short tick.
            polls.push_back({child.pipe_closed ? -1 : child.fd, POLLIN, 0});
            wake = std::min(wake, child.pipe_closed ? Clock::now() + std::chrono::milliseconds(5) : child.deadline);
        }
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now()).count();
        const int ready = poll(polls.data(), polls.size(), static_cast<int>(std::clamp<long long>(wait + 1, 1, 1000)));
        if (ready < 0 && errno != EINTR) throw std::runtime_error(std::string("poll failed: ") + strerror(errno));
        const auto now = Clock::now();
        for (size_t i = running.size(); i-- > 0;) {
            Child& child = running[i];
            if (!child.pipe_closed) child.read_available();
            child.check_exit();
            if (child.exited && !child.pipe_closed) child.read_available(); // what it wrote before exiting
            const bool timed_out = now >= child.deadline;
            // Done once the answer is complete, or the child is gone, or its time is up; the
            // Child's destructor then kills whatever is left of its process group.
            if (child.has_full_result() || child.exited || timed_out) {
                results[child.index] = result_of(child, files[child.index], timed_out && !child.exited, options);
                running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
            }
        }
    }
    return results;
}

int run_scan_child(int result_fd, const std::filesystem::path& file) {
    nlohmann::json result;
    std::shared_ptr<PluginLibrary> library; // held until the answer is written; the caller _Exits
    try {
        library = PluginLibrary::open(file);
        result["manifest"] = library->manifest();
    } catch (const PluginLoadError& e) {
        result["reason"] = e.what();
    } catch (const std::exception& e) {
        result["reason"] = std::string("loading failed: ") + e.what();
    }
    // A newline ends the answer, so the parent knows it is complete without waiting for EOF.
    const std::string text = dump_json(result) + "\n";
    size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = write(result_fd, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 1;
        written += static_cast<size_t>(n);
    }
    return 0;
}

} // namespace trellis::core
