#include "util/child_process.hpp"

#include <csignal>
#include <cstring>
#include <mutex>
#include <set>
#include <unistd.h>

extern char** environ;

namespace trellis::core {

std::string signal_name(int signal) {
    const char* abbrev = sigabbrev_np(signal);
    const char* description = strsignal(signal);
    return (abbrev ? "SIG" + std::string(abbrev) : "signal " + std::to_string(signal)) +
           (description ? std::string(": ") + description : "");
}

std::vector<std::string> child_environment() {
    std::vector<std::string> env;
    const std::string signals = "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:detect_leaks=0";
    std::string asan = "ASAN_OPTIONS=" + signals;
    for (char** entry = environ; *entry; ++entry) {
        std::string item = *entry;
        if (item.rfind("ASAN_OPTIONS=", 0) == 0) asan = item + ":" + signals;
        else env.push_back(std::move(item));
    }
#if defined(__SANITIZE_ADDRESS__)
    env.push_back(asan);
#endif
    return env;
}

namespace {
std::mutex child_groups_mutex;
std::set<int> child_groups;
} // namespace

void register_child_group(int pgid) {
    std::lock_guard lock(child_groups_mutex);
    child_groups.insert(pgid);
}

void unregister_child_group(int pgid) {
    std::lock_guard lock(child_groups_mutex);
    child_groups.erase(pgid);
}

void kill_child_groups() noexcept {
    std::lock_guard lock(child_groups_mutex);
    for (int pgid : child_groups) ::kill(-pgid, SIGKILL);
}

std::vector<char*> environment_pointers(std::vector<std::string>& env) {
    std::vector<char*> pointers;
    pointers.reserve(env.size() + 1);
    for (auto& item : env) pointers.push_back(item.data());
    pointers.push_back(nullptr);
    return pointers;
}

} // namespace trellis::core
