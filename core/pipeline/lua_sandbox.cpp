#include "pipeline/lua_sandbox.hpp"

#include "log/logging.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <locale>
#include <regex>
#include <sstream>

namespace trellis::core {
namespace {

constexpr int hook_interval = 10'000; // instructions between limit checks
const char* const sandbox_key = "trellis.sandbox";
const char* const modules_key = "trellis.modules";

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ScriptError(file.string() + ": cannot read the script: " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string mebibytes(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// 10 -> "10", 0.5 -> "0.5": a limit as the user wrote it, not cut to whole seconds.
std::string seconds_text(double seconds) {
    std::ostringstream text;
    text.imbue(std::locale::classic());
    text << seconds;
    return text.str();
}

// What the watchdog says when a call outlives its time limit inside C code.
std::string stuck_message(const std::string& script, double seconds) {
    return script + ": script exceeded its time limit (" + seconds_text(seconds) +
           " s) inside a library call that cannot be interrupted (a backtracking string pattern?); trellis stops";
}

} // namespace

int lua_guarded(lua_State* L, const std::function<int()>& body) {
    std::string message;
    try {
        return body();
    } catch (const std::exception& e) { // Lua's own errors are not std::exceptions: they pass
        message = e.what();
    }
    luaL_where(L, 1);
    lua_pushlstring(L, message.data(), message.size());
    lua_concat(L, 2);
    return lua_error(L);
}

LuaLocation lua_caller_location(lua_State* L, int level) {
    lua_Debug ar;
    // Skip C frames (a helper called through pcall, say) to the nearest Lua code.
    for (int at = level; lua_getstack(L, at, &ar); ++at) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.currentline > 0) {
            std::string file = ar.source && ar.source[0] == '@' ? ar.source + 1 : ar.short_src;
            return {std::move(file), ar.currentline};
        }
    }
    return {"?", 0};
}

LuaSandbox::LuaSandbox(const LuaLimits& limits, std::filesystem::path module_dir)
    : limits_(limits), module_dir_(std::move(module_dir)), watchdog_message_(stuck_message("script", limits.seconds)) {
    L_ = lua_newstate(&LuaSandbox::allocate, this);
    if (!L_) throw ScriptError("cannot create a Lua state (memory limit " + mebibytes(limits_.memory_bytes) + ")");
    lua_pushlightuserdata(L_, this);
    lua_setfield(L_, LUA_REGISTRYINDEX, sandbox_key);
    start_budget();
    try {
        open_libraries();
    } catch (...) {
        lua_close(L_);
        throw;
    }
}

LuaSandbox::~LuaSandbox() {
    if (L_) lua_close(L_);
}

LuaSandbox& LuaSandbox::of(lua_State* L) {
    lua_getfield(L, LUA_REGISTRYINDEX, sandbox_key);
    auto* self = static_cast<LuaSandbox*>(lua_touserdata(L, -1));
    lua_pop(L, 1);
    return *self;
}

void* LuaSandbox::allocate(void* opaque, void* ptr, size_t old_size, size_t new_size) noexcept {
    auto* self = static_cast<LuaSandbox*>(opaque);
    if (!ptr) old_size = 0; // for a new block, old_size holds the object's type, not a size
    if (new_size == 0) {
        std::free(ptr);
        self->used_ -= old_size;
        return nullptr;
    }
    if (new_size > old_size && self->used_ - old_size + new_size > self->limits_.memory_bytes) {
        self->over_memory_ = true;
        return nullptr; // Lua raises a memory error; shrinking never fails
    }
    void* out = std::realloc(ptr, new_size);
    if (out) self->used_ = self->used_ - old_size + new_size;
    return out;
}

void LuaSandbox::start_budget() {
    executed_ = 0;
    started_ = std::chrono::steady_clock::now();
    killed_ = false;
    over_memory_ = false;
    lua_sethook(L_, &LuaSandbox::count_hook, LUA_MASKCOUNT, hook_interval);
}

void LuaSandbox::count_hook(lua_State* L, lua_Debug*) {
    LuaSandbox& self = of(L);
    if (!self.killed_) {
        self.executed_ += hook_interval;
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - self.started_).count();
        std::string limit;
        if (self.executed_ > self.limits_.instructions)
            limit = "script exceeded its instruction limit (" + std::to_string(self.limits_.instructions) +
                    " instructions; raise lua.instruction_limit if this is intended)";
        else if (self.interrupts_ && self.interrupts_->load() > 0)
            limit = "script interrupted";
        else if (elapsed > self.limits_.seconds)
            limit = "script exceeded its time limit (" + seconds_text(self.limits_.seconds) +
                    " s; raise lua.time_limit if this is intended)";
        else
            return;
        // A hook runs without a frame of its own: level 0 is the Lua function that was running,
        // so the message names the line of the runaway code, not the line that called it.
        luaL_where(L, 0);
        self.kill_message_ = lua_tostring(L, -1) + limit;
        lua_pop(L, 1);
        self.killed_ = true;
        lua_sethook(L, &LuaSandbox::count_hook, LUA_MASKCOUNT, 1); // from now on, every instruction
    }
    self.raise_kill(L);
}

int LuaSandbox::raise_kill(lua_State* L) {
    lua_pushstring(L, kill_message_.c_str());
    return lua_error(L);
}

int LuaSandbox::message_handler(lua_State* L) {
    const char* message = lua_tostring(L, 1);
    if (!message) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        message = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, message, 1);
    return 1;
}

// pcall and xpcall that cannot swallow a limit: once the sandbox killed the script, the error is
// raised again past the protected call.
int LuaSandbox::sandbox_pcall(lua_State* L) {
    luaL_checkany(L, 1);
    const int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    if (of(L).killed_) return of(L).raise_kill(L);
    lua_pushboolean(L, status == LUA_OK);
    lua_insert(L, 1);
    return lua_gettop(L);
}

// xpcall's message handler, wrapped: a limit error is raised from inside the hook, where Lua keeps
// hooks off, so the script's own handler would run unlimited (and could loop forever). Once the
// script is killed the handler is skipped.
int LuaSandbox::xpcall_handler(lua_State* L) {
    if (of(L).killed_) {
        lua_pushstring(L, of(L).kill_message_.c_str());
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

int LuaSandbox::sandbox_xpcall(lua_State* L) {
    const int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, &LuaSandbox::xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);  // first result if no errors
    lua_pushvalue(L, 1);    // function
    lua_rotate(L, 3, 2);    // move them below the function's arguments
    const int status = lua_pcall(L, n - 2, LUA_MULTRET, 2);
    if (of(L).killed_) return of(L).raise_kill(L); // whatever the handler made of it
    if (status != LUA_OK) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - 2;
}

// load() for text only: bytecode is refused, and chunks see the sandbox's globals unless given an env.
int LuaSandbox::sandbox_load(lua_State* L) {
    size_t size = 0;
    const char* text = lua_tolstring(L, 1, &size);
    if (!text || lua_type(L, 1) != LUA_TSTRING) return luaL_error(L, "load: only string chunks are allowed here");
    const char* name = luaL_optstring(L, 2, "=(load)");
    const char* mode = luaL_optstring(L, 3, "t");
    if (std::strcmp(mode, "t") != 0) return luaL_error(L, "load: only text chunks are allowed (mode \"t\")");
    const bool has_env = !lua_isnone(L, 4);
    const int status = luaL_loadbufferx(L, text, size, name, "t");
    if (status != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env) {
        lua_pushvalue(L, 4);
        if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    }
    return 1;
}

// require(name): modules from the pipeline's own folder only, as text, loaded once.
int LuaSandbox::sandbox_require(lua_State* L) {
    const std::string name = luaL_checkstring(L, 1);
    LuaSandbox& self = of(L);
    lua_getfield(L, LUA_REGISTRYINDEX, modules_key);
    lua_getfield(L, -1, name.c_str());
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);

    std::string message;
    std::string text;
    std::string display;
    try {
        if (self.modules_frozen_)
            throw ScriptError("require: module '" + name + "' must be required at the top of the script, while it "
                              "declares the pipeline, not from a stage or callback: its text is part of the "
                              "stages' cache keys");
        static const std::regex valid(R"([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)");
        if (!std::regex_match(name, valid))
            throw ScriptError("require: '" + name + "' is not a module name (letters, digits, _ and dots)");
        std::string relative = name;
        for (char& c : relative)
            if (c == '.') c = '/';
        const auto file = self.module_dir_ / (relative + ".lua");
        std::error_code ec;
        const auto real = std::filesystem::weakly_canonical(file, ec);
        const auto root = std::filesystem::weakly_canonical(self.module_dir_, ec);
        const auto rel = real.lexically_relative(root);
        if (ec || rel.empty() || *rel.begin() == "..")
            throw ScriptError("require: module '" + name + "' resolves outside the pipeline's folder");
        if (!std::filesystem::is_regular_file(real))
            throw ScriptError("require: module '" + name + "' not found (no file " + file.string() + ")");
        text = read_text(real);
        display = file.lexically_normal().string();
        self.add_source(name, text);
    } catch (const std::exception& e) {
        message = e.what();
    }
    if (!message.empty()) {
        luaL_where(L, 1);
        lua_pushstring(L, message.c_str());
        lua_concat(L, 2);
        return lua_error(L);
    }
    if (luaL_loadbufferx(L, text.data(), text.size(), ("@" + display).c_str(), "t") != LUA_OK) return lua_error(L);
    lua_pushstring(L, name.c_str());
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name.c_str());
    return 1;
}

int LuaSandbox::sandbox_print(lua_State* L) {
    const int n = lua_gettop(L);
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    for (int i = 1; i <= n; ++i) {
        if (i > 1) luaL_addchar(&buffer, '\t');
        luaL_tolstring(L, i, nullptr);
        luaL_addvalue(&buffer);
    }
    luaL_pushresult(&buffer);
    const LuaLocation where = lua_caller_location(L);
    const std::string line = std::filesystem::path(where.file).filename().string() + ":" +
                             std::to_string(where.line) + ": " + lua_tostring(L, -1);
    return lua_guarded(L, [&] {
        logging::get("pipeline")->info("{}", line);
        return 0;
    });
}

int LuaSandbox::sandbox_collectgarbage(lua_State* L) {
    static const char* const options[] = {"collect", "count", "step", "isrunning", nullptr};
    const int option = luaL_checkoption(L, 1, "collect", options);
    switch (option) {
    case 0: lua_gc(L, LUA_GCCOLLECT); lua_pushinteger(L, 0); return 1;
    case 1: {
        const int kb = lua_gc(L, LUA_GCCOUNT);
        const int bytes = lua_gc(L, LUA_GCCOUNTB);
        lua_pushnumber(L, kb + bytes / 1024.0);
        return 1;
    }
    case 2: lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, 0)); return 1;
    default: lua_pushboolean(L, lua_gc(L, LUA_GCISRUNNING)); return 1;
    }
}

// setmetatable as in the base library, without finalizers: Lua runs __gc metamethods with hooks
// turned off, so a finalizer would run outside the instruction and time limits (and could loop
// forever).
int LuaSandbox::sandbox_setmetatable(lua_State* L) {
    const int type = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, type == LUA_TNIL || type == LUA_TTABLE, 2, "nil or table");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) return luaL_error(L, "cannot change a protected metatable");
    if (type == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc finalizers are not allowed in pipeline scripts");
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

// Reading a global that was never set is almost always a typo in a pipeline: say so.
int LuaSandbox::undefined_global(lua_State* L) {
    if (lua_type(L, 2) == LUA_TSTRING) return luaL_error(L, "undefined name '%s'", lua_tostring(L, 2));
    return 0;
}

void LuaSandbox::open_libraries() {
    static const luaL_Reg allowed[] = {{LUA_GNAME, luaopen_base},         {LUA_TABLIBNAME, luaopen_table},
                                       {LUA_STRLIBNAME, luaopen_string},  {LUA_MATHLIBNAME, luaopen_math},
                                       {LUA_UTF8LIBNAME, luaopen_utf8},   {nullptr, nullptr}};
    for (const luaL_Reg* lib = allowed; lib->func; ++lib) {
        luaL_requiref(L_, lib->name, lib->func, 1);
        lua_pop(L_, 1);
    }
    // os: only the clock. The full library is opened off the globals and copied from.
    luaopen_os(L_);
    lua_newtable(L_);
    for (const char* name : {"time", "clock"}) {
        lua_getfield(L_, -2, name);
        lua_setfield(L_, -2, name);
    }
    lua_setglobal(L_, "os");
    lua_pop(L_, 1);

    for (const char* name : {"dofile", "loadfile", "require", "collectgarbage"}) {
        lua_pushnil(L_);
        lua_setglobal(L_, name);
    }
    lua_getglobal(L_, "string");
    lua_pushnil(L_);
    lua_setfield(L_, -2, "dump");
    lua_pop(L_, 1);

    lua_register(L_, "pcall", &LuaSandbox::sandbox_pcall);
    lua_register(L_, "xpcall", &LuaSandbox::sandbox_xpcall);
    lua_register(L_, "load", &LuaSandbox::sandbox_load);
    lua_register(L_, "require", &LuaSandbox::sandbox_require);
    lua_register(L_, "print", &LuaSandbox::sandbox_print);
    lua_register(L_, "collectgarbage", &LuaSandbox::sandbox_collectgarbage);
    lua_register(L_, "setmetatable", &LuaSandbox::sandbox_setmetatable);
    lua_newtable(L_);
    lua_setfield(L_, LUA_REGISTRYINDEX, modules_key);

    // Protected metatables: scripts can neither remove the strict globals nor reach the string
    // library's metatable.
    lua_pushglobaltable(L_);
    lua_newtable(L_);
    lua_pushcfunction(L_, &LuaSandbox::undefined_global);
    lua_setfield(L_, -2, "__index");
    lua_pushliteral(L_, "protected");
    lua_setfield(L_, -2, "__metatable");
    lua_setmetatable(L_, -2);
    lua_pop(L_, 1);
    lua_pushliteral(L_, "");
    lua_getmetatable(L_, -1);
    lua_pushliteral(L_, "protected");
    lua_setfield(L_, -2, "__metatable");
    lua_pop(L_, 2);
}

void LuaSandbox::raise_script_error(int status) {
    std::string message = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "error object is not a string";
    lua_pop(L_, 1);
    // The first line is the message; the traceback after it is for the debug log.
    const auto newline = message.find("\nstack traceback:");
    if (newline != std::string::npos) {
        spdlog::debug("{}", message);
        message.resize(newline);
    }
    if (status == LUA_ERRMEM || over_memory_) {
        const bool plain = message.find("not enough memory") != std::string::npos;
        if (plain || status == LUA_ERRMEM)
            message = "script exceeded its memory limit (" + mebibytes(limits_.memory_bytes) +
                      "; raise lua.memory_limit if this is intended)";
    }
    throw ScriptError(message);
}

void LuaSandbox::call(int nargs, int nresults) {
    start_budget();
    const int base = lua_gettop(L_) - nargs; // the function's slot
    lua_pushcfunction(L_, &LuaSandbox::message_handler);
    lua_insert(L_, base);
    // The hook enforces the time limit; the watchdog only acts if the hook cannot (a C call that
    // never returns), after the limit and as much again (at least 2 s).
    const double allowed = limits_.seconds + std::max(2.0, limits_.seconds);
    watchdog_.arm(std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(allowed)),
                  watchdog_message_);
    const int status = lua_pcall(L_, nargs, nresults, base);
    watchdog_.disarm();
    lua_remove(L_, base);
    if (status != LUA_OK) raise_script_error(status);
}

void LuaSandbox::run_protected(const std::function<void(lua_State*)>& body) {
    const int top = lua_gettop(L_);
    lua_pushlightuserdata(L_, const_cast<std::function<void(lua_State*)>*>(&body));
    lua_pushcclosure(
        L_,
        [](lua_State* L) -> int {
            auto* work = static_cast<const std::function<void(lua_State*)>*>(lua_touserdata(L, lua_upvalueindex(1)));
            return lua_guarded(L, [&] {
                (*work)(L);
                return 0;
            });
        },
        1);
    call(0, 0);
    lua_settop(L_, top);
}

void LuaSandbox::add_source(const std::string& name, const std::string& text) {
    // Length-prefixed, so that moving text between two files changes the whole.
    sources_ += std::to_string(name.size()) + ":" + name + std::to_string(text.size()) + ":" + text;
}

void LuaSandbox::run_file(const std::filesystem::path& file, const std::string& display_name) {
    watchdog_message_ = stuck_message(display_name, limits_.seconds);
    const std::string text = read_text(file);
    add_source("", text); // the text, not the path as typed: ./p.lua and p.lua are one script
    const int status = luaL_loadbufferx(L_, text.data(), text.size(), ("@" + display_name).c_str(), "t");
    if (status != LUA_OK) raise_script_error(status);
    call(0, 0);
}

} // namespace trellis::core
