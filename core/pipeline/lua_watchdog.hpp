// The last line of defence of the Lua sandbox. The instruction hook stops scripts that run Lua
// code, but not one stuck inside a single C library call that never returns to the interpreter
// (a backtracking string pattern such as string.find(("a"):rep(5000), ".-.-.-.-b") runs for
// hours). No thread can safely unwind such a call, so when a call into Lua outlives its time
// limit by a grace period, the watchdog prints one clear error and ends the process with exit
// code 2: a stopped command instead of a hung one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace trellis::core {

class LuaWatchdog {
public:
    LuaWatchdog() = default;
    ~LuaWatchdog();
    LuaWatchdog(const LuaWatchdog&) = delete;
    LuaWatchdog& operator=(const LuaWatchdog&) = delete;

    // A call into Lua starts: after `allowed`, `message` is printed and the process exits.
    void arm(std::chrono::steady_clock::duration allowed, std::string message);
    // The call returned.
    void disarm();

private:
    void watch();

    std::mutex mutex_;
    std::condition_variable changed_;
    std::thread thread_; // started on first use
    bool armed_ = false;
    bool stopping_ = false;
    uint64_t generation_ = 0;
    std::chrono::steady_clock::time_point deadline_;
    std::string message_;
};

} // namespace trellis::core
