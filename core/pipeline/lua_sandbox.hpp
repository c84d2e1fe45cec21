// A Lua 5.4 state that runs untrusted pipeline scripts: an allow-list of libraries, text chunks
// only, a counting allocator with a memory limit, and an instruction and time limit enforced by a
// hook that pcall cannot swallow. Every call into Lua goes through call(), which turns any Lua
// error into a ScriptError carrying "file:line: message".
//
// Lua is linked as the C++ build (liblua5.4-c++), so a Lua error is a C++ exception and unwinding
// runs destructors; C++ exceptions of ours are caught at every C function and turned into Lua
// errors (see guarded()), so they never unwind through Lua frames.
#pragma once

#include "pipeline/lua_watchdog.hpp"

#include <lua.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

namespace trellis::core {

// A script failed: a syntax error, a runtime error, or a limit. what() names file and line.
class ScriptError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct LuaLimits {
    size_t memory_bytes = size_t{256} << 20;
    uint64_t instructions = 200'000'000; // per evaluation and per callback
    double seconds = 10.0;               // wall clock, per evaluation and per callback
};

class LuaSandbox {
public:
    // `module_dir`: the only folder `require` loads modules from (the pipeline's own folder).
    LuaSandbox(const LuaLimits& limits, std::filesystem::path module_dir);
    ~LuaSandbox();
    LuaSandbox(const LuaSandbox&) = delete;
    LuaSandbox& operator=(const LuaSandbox&) = delete;

    lua_State* state() const { return L_; }
    const LuaLimits& limits() const { return limits_; }

    // Reads `file` and runs it as a text chunk named `display_name` (how errors show the file).
    void run_file(const std::filesystem::path& file, const std::string& display_name);

    // Calls the function below `nargs` arguments on the stack, with a fresh instruction and time
    // budget, leaving `nresults` results. Throws ScriptError (stack restored) on any error.
    void call(int nargs, int nresults);

    // Runs `body` inside a protected call with a fresh budget. Everything it does with the Lua API
    // (building argument tables, calling a script function with lua_call, reading its results) is
    // protected, so even a memory error there becomes a ScriptError instead of Lua's panic. A C++
    // exception from `body` becomes a ScriptError too. The stack is left as it was.
    void run_protected(const std::function<void(lua_State*)>& body);

    // A counter that, once above zero, stops any running script (Ctrl-C during a run).
    void set_interrupt(const std::atomic<int>* interrupts) { interrupts_ = interrupts; }

    // Bytes the script's values take now.
    size_t memory_in_use() const { return used_; }

    // The text of every file run or required so far, each module's after its module name: what the
    // Lua parts of a pipeline (inline stages, callbacks) are made of, for cache keys.
    const std::string& sources() const { return sources_; }
    // From now on `require` only returns modules loaded already: the sources are final, so the
    // cache keys made from them cover all the code a stage or callback can run.
    void freeze_modules() { modules_frozen_ = true; }

private:
    void add_source(const std::string& name, const std::string& text);
    static void* allocate(void* self, void* ptr, size_t old_size, size_t new_size) noexcept;
    static void count_hook(lua_State* L, lua_Debug* ar);
    static int message_handler(lua_State* L);
    static int sandbox_pcall(lua_State* L);
    static int sandbox_xpcall(lua_State* L);
    static int xpcall_handler(lua_State* L);
    static int sandbox_load(lua_State* L);
    static int sandbox_require(lua_State* L);
    static int sandbox_print(lua_State* L);
    static int sandbox_collectgarbage(lua_State* L);
    static int sandbox_setmetatable(lua_State* L);
    static int undefined_global(lua_State* L);
    static LuaSandbox& of(lua_State* L);

    int raise_kill(lua_State* L); // raises the limit error again, with the line that hit it
    void open_libraries();
    void start_budget();
    [[noreturn]] void raise_script_error(int status);

    LuaLimits limits_;
    std::filesystem::path module_dir_;
    std::string sources_;
    bool modules_frozen_ = false;
    lua_State* L_ = nullptr;
    size_t used_ = 0;
    bool over_memory_ = false;
    uint64_t executed_ = 0;
    std::chrono::steady_clock::time_point started_;
    // Set when a limit is hit: from then on every pcall re-raises and the hook fires on every
    // instruction, so the script cannot catch the error and carry on.
    bool killed_ = false;
    std::string kill_message_;
    std::string watchdog_message_; // names the script and the limit; made once, not per call
    const std::atomic<int>* interrupts_ = nullptr;
    LuaWatchdog watchdog_;
};

// Runs `body` (a C function's work in C++); a C++ exception becomes a Lua error that names the
// script's current file and line. Lua's own errors pass through untouched.
int lua_guarded(lua_State* L, const std::function<int()>& body);

// Defines a lua_CFunction that runs F under lua_guarded.
template <int (*F)(lua_State*)> int guarded(lua_State* L) {
    return lua_guarded(L, [L] { return F(L); });
}

// "file:line" of the Lua code `level` calls up (1 = the caller of the current C function).
struct LuaLocation {
    std::string file;
    int line = 0;
};
LuaLocation lua_caller_location(lua_State* L, int level = 1);

} // namespace trellis::core
