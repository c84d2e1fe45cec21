#include "plugin/plugin_scanner.hpp"

#include "plugin/plugin_library.hpp"

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

struct Child {
    size_t index = 0;
    pid_t pid = -1;
    int fd = -1;
    std::string output;
    Clock::time_point deadline;
    bool finished_output = false;
};

std::string signal_name(int signal) {
    const char* abbrev = sigabbrev_np(signal);
    const char* description = strsignal(signal);
    return (abbrev ? "SIG" + std::string(abbrev) : "signal " + std::to_string(signal)) +
           (description ? std::string(": ") + description : "");
}

// Under AddressSanitizer the child would turn a SEGV into a report and exit(1); let the signal
// through so the crash is seen as what it is.
std::vector<std::string> child_environment() {
    std::vector<std::string> env;
    std::string asan = "ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:detect_leaks=0";
    for (char** entry = environ; *entry; ++entry) {
        std::string item = *entry;
        if (item.rfind("ASAN_OPTIONS=", 0) == 0) asan = item + ":handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:detect_leaks=0";
        else env.push_back(std::move(item));
    }
#if defined(__SANITIZE_ADDRESS__)
    env.push_back(asan);
#endif
    return env;
}

Child start_child(size_t index, const std::filesystem::path& file, const ScanOptions& options,
                  const std::vector<std::string>& env) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot create a pipe: ") + strerror(errno));
    constexpr int child_result_fd = 3;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], child_result_fd);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);

    const std::string helper = options.helper_executable.string();
    const std::string fd_text = std::to_string(child_result_fd);
    const std::string file_text = file.string();
    std::vector<char*> argv = {const_cast<char*>(helper.c_str()), const_cast<char*>(scan_child_command),
                               const_cast<char*>(fd_text.c_str()), const_cast<char*>(file_text.c_str()), nullptr};
    std::vector<char*> envp;
    for (const auto& item : env) envp.push_back(const_cast<char*>(item.c_str()));
    envp.push_back(nullptr);

    pid_t pid = -1;
    const int rc = posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        throw std::runtime_error("cannot start the plugin scanner '" + helper + "': " + strerror(rc));
    }
    Child child;
    child.index = index;
    child.pid = pid;
    child.fd = fds[0];
    child.deadline = Clock::now() + options.timeout;
    return child;
}

std::string describe_timeout(std::chrono::milliseconds timeout) {
    const auto ms = timeout.count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

ScanResult finish_child(Child& child, const std::filesystem::path& file, bool timed_out, const ScanOptions& options) {
    if (timed_out) kill(child.pid, SIGKILL);
    int status = 0;
    while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
    close(child.fd);
    ScanResult result;
    result.path = file;
    if (timed_out) {
        result.reason = "hangs while loading: no answer within " + describe_timeout(options.timeout);
        return result;
    }
    auto parsed = nlohmann::json::parse(child.output, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object() && (parsed.contains("manifest") || parsed.contains("reason"))) {
        try {
            if (parsed.contains("manifest")) result.manifest = parsed.at("manifest").get<PluginManifest>();
            else result.reason = parsed.at("reason").get<std::string>();
            return result;
        } catch (const std::exception& e) {
            result.reason = std::string("scanner returned an unreadable result: ") + e.what();
            return result;
        }
    }
    if (WIFSIGNALED(status)) result.reason = "crashed while loading (" + signal_name(WTERMSIG(status)) + ")";
    else result.reason = "scanner exited with status " + std::to_string(WEXITSTATUS(status)) + " without a result";
    return result;
}

} // namespace

std::vector<ScanResult> scan_in_children(const std::vector<std::filesystem::path>& files, const ScanOptions& options) {
    std::vector<ScanResult> results(files.size());
    const auto env = child_environment();
    std::vector<Child> running;
    size_t next = 0;
    const unsigned parallelism = std::max(1u, options.parallelism);
    while (next < files.size() || !running.empty()) {
        while (next < files.size() && running.size() < parallelism) {
            running.push_back(start_child(next, files[next], options, env));
            ++next;
        }
        std::vector<pollfd> polls;
        auto soonest = running.front().deadline;
        for (const auto& child : running) {
            polls.push_back({child.fd, POLLIN, 0});
            soonest = std::min(soonest, child.deadline);
        }
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(soonest - Clock::now()).count();
        const int ready = poll(polls.data(), polls.size(), static_cast<int>(std::max<long long>(0, wait) + 1));
        if (ready < 0 && errno != EINTR) throw std::runtime_error(std::string("poll failed: ") + strerror(errno));
        const auto now = Clock::now();
        for (size_t i = running.size(); i-- > 0;) {
            Child& child = running[i];
            bool done = false;
            if (polls[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                char buffer[65536];
                const ssize_t got = read(child.fd, buffer, sizeof buffer);
                if (got > 0 && child.output.size() < (64u << 20)) child.output.append(buffer, static_cast<size_t>(got));
                else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) done = true;
            }
            const bool timed_out = !done && now >= child.deadline;
            if (done || timed_out) {
                results[child.index] = finish_child(child, files[child.index], timed_out, options);
                running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
            }
        }
    }
    return results;
}

int run_scan_child(int result_fd, const std::filesystem::path& file) {
    nlohmann::json result;
    try {
        result["manifest"] = PluginLibrary::open(file)->manifest();
    } catch (const PluginLoadError& e) {
        result["reason"] = e.what();
    } catch (const std::exception& e) {
        result["reason"] = std::string("loading failed: ") + e.what();
    }
    const std::string text = result.dump();
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
