#include "pipeline/lua_watchdog.hpp"

#include "util/child_process.hpp"

#include <cstdio>
#include <unistd.h>

namespace trellis::core {

LuaWatchdog::~LuaWatchdog() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void LuaWatchdog::arm(std::chrono::steady_clock::duration allowed, std::string message) {
    {
        std::lock_guard lock(mutex_);
        armed_ = true;
        ++generation_;
        deadline_ = std::chrono::steady_clock::now() + allowed;
        message_ = std::move(message);
        if (!thread_.joinable()) thread_ = std::thread([this] { watch(); });
    }
    changed_.notify_all();
}

void LuaWatchdog::disarm() {
    std::lock_guard lock(mutex_);
    armed_ = false;
}

void LuaWatchdog::watch() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (!armed_) {
            changed_.wait(lock);
            continue;
        }
        const uint64_t watched = generation_;
        if (changed_.wait_until(lock, deadline_, [&] { return stopping_ || !armed_ || generation_ != watched; }))
            continue;
        std::fprintf(stderr, "trellis: error: %s\n", message_.c_str());
        std::fflush(stderr);
        kill_child_groups();
        _exit(2); // the stuck thread cannot be unwound; nothing else is safe to run
    }
}

} // namespace trellis::core
