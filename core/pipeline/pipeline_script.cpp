#include "pipeline/pipeline_script.hpp"

#include "pipeline/script_binding.hpp"
#include "pipeline/sweep_script.hpp"
#include "util/duration.hpp"
#include "util/utf8.hpp"

#include "util/join.hpp"
#include "util/json_text.hpp"

#include <trellis/artifacts.hpp>

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace trellis::core {

namespace {

const char* const stage_type = "trellis.stage";
const char* const output_type = "trellis.output";
const char* const script_key = "trellis.script";

PipelineScript& script_of(lua_State* L);

// The script's pipeline while it is being declared. Once it runs, callbacks may not add stages or
// params: the scheduler holds references into the stage list.
PipelineScript& declaring(lua_State* L, const char* function) {
    PipelineScript& script = script_of(L);
    if (!script.declaring_)
        throw std::invalid_argument(std::string(function) +
                                    "() declares the pipeline and cannot be called while it runs (from a when, "
                                    "on_success, on_failure or lua_stage function)");
    return script;
}

std::string type_name(lua_State* L, int index) { return luaL_typename(L, index); }

bool is_identifier(const std::string& text) {
    if (text.empty() || !(std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_')) return false;
    for (char c : text)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
    return true;
}

// Port names as plugins declare them: [a-z_][a-z0-9_]*.
bool is_port_name(const std::string& text) {
    if (text.empty() || text.size() > 64 || std::isdigit(static_cast<unsigned char>(text[0]))) return false;
    for (char c : text)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

// A --set value takes the type of the param's default.
nlohmann::json parse_override(const std::string& key, const std::string& text, const nlohmann::json& fallback) {
    auto bad = [&](const std::string& what) {
        return ScriptError("--set " + key + "=" + text + ": param '" + key + "' takes " + what);
    };
    if (fallback.is_boolean()) {
        if (text == "true") return true;
        if (text == "false") return false;
        throw bad("true or false");
    }
    if (fallback.is_number_integer()) {
        int64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc() || end != text.data() + text.size()) throw bad("a whole number");
        return value;
    }
    if (fallback.is_number()) {
        double value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) throw bad("a number");
        return value;
    }
    if (fallback.is_string()) return text;
    // Tables: the value is JSON.
    try {
        return nlohmann::json::parse(text);
    } catch (const std::exception&) {
        throw bad(fallback.is_array() ? "a JSON list, e.g. --set '" + key + "=[\"a\", \"b\"]'"
                                      : "a JSON value, e.g. --set '" + key + "={\"k\": 1}'");
    }
}

OutputRef read_output_ref(lua_State* L, int index) {
    OutputRef ref;
    ref.stage = *static_cast<size_t*>(lua_touserdata(L, index));
    lua_getiuservalue(L, index, 1);
    ref.port = lua_tostring(L, -1);
    lua_pop(L, 1);
    return ref;
}

// `after` takes a stage handle, an id, or a list of them.
void read_after(lua_State* L, int index, StageNode& node) {
    index = lua_absindex(L, index);
    auto one = [&](int at) {
        if (auto* stage = static_cast<size_t*>(luaL_testudata(L, at, stage_type))) {
            node.after.push_back({*stage, {}, {}});
        } else if (lua_type(L, at) == LUA_TSTRING) {
            node.after.push_back({no_stage, lua_tostring(L, at), {}});
        } else {
            throw std::invalid_argument("after: expected a stage or a stage id, got a " + type_name(L, at));
        }
    };
    if (lua_type(L, index) == LUA_TTABLE) {
        const auto n = lua_rawlen(L, index);
        for (lua_Integer i = 1; i <= static_cast<lua_Integer>(n); ++i) {
            lua_rawgeti(L, index, i);
            one(lua_gettop(L));
            lua_pop(L, 1);
        }
    } else {
        one(index);
    }
}

LuaCallback read_callback(lua_State* L, int index, const std::string& key) {
    if (lua_type(L, index) != LUA_TFUNCTION)
        throw std::invalid_argument(key + " must be a function, not a " + type_name(L, index));
    lua_pushvalue(L, index);
    return {luaL_ref(L, LUA_REGISTRYINDEX)};
}

// Seconds: at most a year, far beyond any real stage and far inside what a clock can add.
double read_seconds(lua_State* L, int index, const std::string& key) {
    if (lua_type(L, index) != LUA_TNUMBER) throw std::invalid_argument(key + " must be a number, not a " + type_name(L, index));
    const double value = lua_tonumber(L, index);
    if (!std::isfinite(value) || value < 0 || value > 31'536'000)
        throw std::invalid_argument(key + " must be a number of seconds from 0 to 31536000 (a year)");
    return value;
}

// A duration: seconds as a number, or text such as "90s", "15m", "12h", "7d" (at most a year).
double read_duration(lua_State* L, int index, const std::string& key) {
    if (lua_type(L, index) == LUA_TNUMBER) return read_seconds(L, index, key);
    const std::string example = key + " must be seconds or a duration such as \"30m\", \"12h\" or \"7d\"";
    if (lua_type(L, index) != LUA_TSTRING) throw std::invalid_argument(example + ", not a " + type_name(L, index));
    const auto seconds = parse_duration(lua_tostring(L, index));
    if (!seconds || *seconds > 31'536'000) throw std::invalid_argument(example + " (up to a year), not '" +
                                                                       std::string(lua_tostring(L, index)) + "'");
    return *seconds;
}

// Reads the keys every stage accepts (id, after, when, ...). Returns false for other keys.
bool read_run_option(lua_State* L, const std::string& key, int value, StageNode& node) {
    if (key == "id") {
        if (lua_type(L, value) != LUA_TSTRING || !is_identifier(lua_tostring(L, value)))
            throw std::invalid_argument("id must be a name of letters, digits, _ and -, starting with a letter");
        node.id = lua_tostring(L, value);
        node.explicit_id = true;
    } else if (key == "after") {
        read_after(L, value, node);
    } else if (key == "when") {
        node.when = read_callback(L, value, key);
    } else if (key == "on_success") {
        node.on_success = read_callback(L, value, key);
    } else if (key == "on_failure") {
        node.on_failure = read_callback(L, value, key);
    } else if (key == "retries") {
        if (!lua_isinteger(L, value) || lua_tointeger(L, value) < 0 || lua_tointeger(L, value) > 100)
            throw std::invalid_argument("retries must be a whole number from 0 to 100");
        node.retries = static_cast<int>(lua_tointeger(L, value));
    } else if (key == "retry_delay") {
        node.retry_delay = read_seconds(L, value, key);
    } else if (key == "timeout") {
        node.timeout = read_seconds(L, value, key);
        if (node.timeout <= 0) throw std::invalid_argument("timeout must be a positive number of seconds");
    } else if (key == "isolate") {
        if (lua_type(L, value) != LUA_TBOOLEAN) throw std::invalid_argument("isolate must be true or false");
        node.isolate = lua_toboolean(L, value);
    } else if (key == "cache") {
        if (lua_type(L, value) != LUA_TBOOLEAN) throw std::invalid_argument("cache must be true or false");
        node.cache = lua_toboolean(L, value);
    } else if (key == "cache_ttl") {
        node.cache_ttl = read_duration(L, value, key);
        if (node.cache_ttl <= 0) throw std::invalid_argument("cache_ttl must be a positive duration");
    } else {
        return false;
    }
    return true;
}

void read_field(lua_State* L, const std::string& key, int value, StageNode& node) {
    SpecField field;
    if (luaL_testudata(L, value, output_type)) {
        field.ref = read_output_ref(L, value);
    } else if (auto* stage = static_cast<size_t*>(luaL_testudata(L, value, stage_type))) {
        (void)stage;
        throw std::invalid_argument("'" + key + "' is set to a whole stage; wire one of its outputs, as in stage.output");
    } else {
        field.value = lua_to_json(L, value, "'" + key + "'");
    }
    if (!node.fields.emplace(key, std::move(field)).second)
        throw std::invalid_argument("'" + key + "' is set twice");
}

// Pushes a new stage handle for stage `index`.
int push_stage_handle(lua_State* L, size_t index) {
    *static_cast<size_t*>(lua_newuserdatauv(L, sizeof(size_t), 0)) = index;
    luaL_setmetatable(L, stage_type);
    return 1;
}

int new_stage(lua_State* L, const std::string& stage_name, int spec) {
    PipelineScript& script = declaring(L, "stage");
    auto& pipeline = script.pipeline();
    StageNode node;
    node.stage_name = stage_name;
    const LuaLocation where = lua_caller_location(L, 1);
    node.where = {where.file, where.line};
    luaL_checktype(L, spec, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, spec) != 0) {
        const int value = lua_gettop(L);
        if (lua_type(L, -2) != LUA_TSTRING)
            throw std::invalid_argument("stage '" + stage_name + "': keys must be names, not a " + type_name(L, -2) +
                                        " (did you mean to put the list in a key?)");
        const std::string key = lua_tostring(L, -2);
        if (!read_run_option(L, key, value, node)) {
            if (key == "config") {
                if (lua_type(L, value) != LUA_TTABLE) throw std::invalid_argument("config must be a table");
                lua_pushnil(L);
                while (lua_next(L, value) != 0) {
                    if (lua_type(L, -2) != LUA_TSTRING) throw std::invalid_argument("config keys must be names");
                    read_field(L, lua_tostring(L, -2), lua_gettop(L), node);
                    lua_pop(L, 1);
                }
            } else {
                read_field(L, key, value, node);
            }
        }
        lua_pop(L, 1);
    }
    pipeline.stages.push_back(std::move(node));
    return push_stage_handle(L, pipeline.stages.size() - 1);
}

int lua_stage_closure(lua_State* L) {
    return lua_guarded(L, [L] {
        const std::string name = lua_tostring(L, lua_upvalueindex(1));
        return new_stage(L, name, 1);
    });
}

// stage "data.csv" { ... }  or  stage("data.csv", { ... })
int l_stage(lua_State* L) {
    return lua_guarded(L, [L] {
        const char* name = luaL_checkstring(L, 1);
        if (lua_gettop(L) >= 2) return new_stage(L, name, 2);
        lua_pushstring(L, name);
        lua_pushcclosure(L, &lua_stage_closure, 1);
        return 1;
    });
}

// registered_model "NAME@ALIAS"  or  registered_model { "NAME@ALIAS", id = ..., otherwise = ... }:
// sugar for stage "registry.model" { ref = "NAME@ALIAS", ... }.
int l_registered_model(lua_State* L) {
    return lua_guarded(L, [L] {
        lua_newtable(L);
        const int spec = lua_gettop(L);
        if (lua_type(L, 1) == LUA_TSTRING) {
            lua_pushvalue(L, 1);
            lua_setfield(L, spec, "ref");
        } else {
            if (lua_type(L, 1) != LUA_TTABLE)
                throw std::invalid_argument("registered_model: give the model as \"NAME@ALIAS\", \"NAME:VERSION\" or "
                                            "{ \"NAME@ALIAS\", otherwise = ... }");
            lua_pushnil(L);
            while (lua_next(L, 1) != 0) {
                if (lua_isinteger(L, -2) && lua_tointeger(L, -2) == 1) {
                    lua_setfield(L, spec, "ref"); // pops the value
                } else {
                    lua_pushvalue(L, -2);
                    lua_insert(L, -2);
                    lua_settable(L, spec); // spec[key] = value; the key stays for lua_next
                }
            }
        }
        return new_stage(L, StageNode::registered_model_stage_name, spec);
    });
}

// lua_stage { id = "...", inputs..., outputs = { name = "metrics" }, run = function(inputs) ... end }
int l_lua_stage(lua_State* L) {
    return lua_guarded(L, [L] {
        PipelineScript& script = declaring(L, "lua_stage");
        luaL_checktype(L, 1, LUA_TTABLE);
        StageNode node;
        node.stage_name = "lua";
        const LuaLocation where = lua_caller_location(L, 1);
        node.where = {where.file, where.line};
        lua_pushnil(L);
        while (lua_next(L, 1) != 0) {
            const int value = lua_gettop(L);
            if (lua_type(L, -2) != LUA_TSTRING) throw std::invalid_argument("lua_stage: keys must be names");
            const std::string key = lua_tostring(L, -2);
            if (read_run_option(L, key, value, node)) {
            } else if (key == "run") {
                node.lua_run = read_callback(L, value, key);
            } else if (key == "outputs") {
                if (lua_type(L, value) != LUA_TTABLE)
                    throw std::invalid_argument("lua_stage: outputs must be a table like { summary = \"metrics\" }");
                lua_pushnil(L);
                while (lua_next(L, value) != 0) {
                    const std::string type = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
                    if (lua_type(L, -2) != LUA_TSTRING || (type != "metrics" && type != "report"))
                        throw std::invalid_argument("lua_stage: each output is name = \"metrics\" or name = \"report\"");
                    // Output names become file names in the run folder: plain port names only.
                    if (!is_port_name(lua_tostring(L, -2)))
                        throw std::invalid_argument("lua_stage: output name '" + std::string(lua_tostring(L, -2)) +
                                                    "' must be lower-case letters, digits and _, starting with a letter or _");
                    node.lua_outputs[lua_tostring(L, -2)] = type;
                    lua_pop(L, 1);
                }
            } else if (luaL_testudata(L, value, output_type)) {
                read_field(L, key, value, node);
            } else {
                throw std::invalid_argument("lua_stage: '" + key +
                                            "' is not an option (id, run, outputs, after, when, on_success, on_failure, "
                                            "retries, retry_delay, cache, cache_ttl) nor an input wired to a stage output");
            }
            lua_pop(L, 1);
        }
        if (!node.lua_run.set()) throw std::invalid_argument("lua_stage: 'run' (a function) is required");
        if (node.isolate) throw std::invalid_argument("lua_stage: a Lua stage cannot be isolated");
        if (node.timeout > 0)
            throw std::invalid_argument("lua_stage: a Lua stage has no timeout; the sandbox's time limit (lua.time_limit) applies");
        script.pipeline().stages.push_back(std::move(node));
        return push_stage_handle(L, script.pipeline().stages.size() - 1);
    });
}

int stage_index(lua_State* L) {
    // handle.port -> a reference to that output
    const size_t index = *static_cast<size_t*>(luaL_checkudata(L, 1, stage_type));
    const char* port = luaL_checkstring(L, 2);
    *static_cast<size_t*>(lua_newuserdatauv(L, sizeof(size_t), 1)) = index;
    lua_pushstring(L, port);
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, output_type);
    return 1;
}

int stage_tostring(lua_State* L) {
    const size_t index = *static_cast<size_t*>(luaL_checkudata(L, 1, stage_type));
    const auto& node = script_of(L).pipeline().stages.at(index);
    lua_pushfstring(L, "stage %s (%s)", node.id.empty() ? "?" : node.id.c_str(), node.stage_name.c_str());
    return 1;
}

int output_tostring(lua_State* L) {
    const OutputRef ref = read_output_ref(L, 1);
    const auto& node = script_of(L).pipeline().stages.at(ref.stage);
    lua_pushfstring(L, "output %s of %s", ref.port.c_str(), node.id.empty() ? node.stage_name.c_str() : node.id.c_str());
    return 1;
}

int refuse_newindex(lua_State* L) { return luaL_error(L, "stage handles are read-only"); }

// pipeline { model_card = { intended_use = "...", limitations = "...", ... } }: what the model
// cards of the models this pipeline registers say beside what the store knows. Strings, or lists
// of strings, under names the card prints as headings.
nlohmann::json model_card_fields(const nlohmann::json& card) {
    if (!card.is_object() || card.empty())
        throw std::invalid_argument("pipeline: model_card: a table such as { intended_use = \"...\", limitations = \"...\" }");
    for (const auto& [key, value] : card.items()) {
        bool text = value.is_string();
        if (value.is_array()) {
            text = !value.empty();
            for (const auto& item : value) text = text && item.is_string();
        }
        if (!text) throw std::invalid_argument("pipeline: model_card." + key + ": a string or a list of strings");
    }
    return card;
}

// monitor { endpoint = "...", ... }: kept as JSON with where it was declared; trellis monitor
// checks its keys (monitor/monitor_policy.hpp), so that their errors name this line.
int l_monitor(lua_State* L) {
    return lua_guarded(L, [L] {
        auto& script = declaring(L, "monitor");
        auto& pipeline = script.pipeline();
        if (lua_type(L, 1) != LUA_TTABLE) throw std::invalid_argument("monitor takes a table { endpoint = \"...\", ... }");
        if (!pipeline.monitor.is_null()) throw std::invalid_argument("monitor: declared twice; a script is one monitoring policy");
        const LuaLocation where = lua_caller_location(L, 1);
        pipeline.monitor = lua_to_json(L, 1, "monitor");
        if (!pipeline.monitor.is_object()) throw std::invalid_argument("monitor takes a table of keys { endpoint = \"...\", ... }");
        pipeline.monitor_where = {where.file, where.line};
        return 0;
    });
}

int l_pipeline(lua_State* L) {
    return lua_guarded(L, [L] {
        auto& pipeline = declaring(L, "pipeline").pipeline();
        if (lua_type(L, 1) == LUA_TSTRING) {
            pipeline.name = lua_tostring(L, 1);
        } else if (lua_type(L, 1) == LUA_TTABLE) {
            lua_pushnil(L);
            while (lua_next(L, 1) != 0) {
                const std::string key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
                if (key == "model_card") {
                    pipeline.model_card = model_card_fields(lua_to_json(L, -1, "pipeline: model_card"));
                    lua_pop(L, 1);
                    continue;
                }
                if ((key != "name" && key != "description") || lua_type(L, -1) != LUA_TSTRING)
                    throw std::invalid_argument("pipeline: '" + key + "' is not one of its keys (name, description: "
                                                "strings; model_card: a table)");
                lua_pop(L, 1);
            }
            lua_getfield(L, 1, "name");
            if (lua_type(L, -1) == LUA_TSTRING) pipeline.name = lua_tostring(L, -1);
            lua_getfield(L, 1, "description");
            if (lua_type(L, -1) == LUA_TSTRING) pipeline.description = lua_tostring(L, -1);
            lua_pop(L, 2);
        } else {
            throw std::invalid_argument("pipeline takes a name or a table { name = ..., description = ... }");
        }
        return 0;
    });
}

int unknown_param(lua_State* L) {
    if (lua_type(L, 2) == LUA_TSTRING) return luaL_error(L, "unknown param '%s'", lua_tostring(L, 2));
    return 0;
}

// params { name = default, ... }: returns the params, with --set overrides applied.
int l_params(lua_State* L) {
    return lua_guarded(L, [L] {
        PipelineScript& script = declaring(L, "params");
        luaL_checktype(L, 1, LUA_TTABLE);
        auto& pipeline = script.pipeline();
        script.params_declared_ = true;
        lua_pushnil(L);
        while (lua_next(L, 1) != 0) {
            if (lua_type(L, -2) != LUA_TSTRING) throw std::invalid_argument("params: keys must be names");
            const std::string key = lua_tostring(L, -2);
            nlohmann::json value = lua_to_json(L, -1, "param '" + key + "'");
            if (auto it = script.overrides_.find(key); it != script.overrides_.end()) {
                value = parse_override(key, it->second, value);
                script.used_overrides_[key] = true;
            }
            pipeline.params[key] = std::move(value);
            lua_pop(L, 1);
        }
        lua_newtable(L);
        for (const auto& [key, value] : pipeline.params) {
            push_json(L, value);
            lua_setfield(L, -2, key.c_str());
        }
        lua_newtable(L);
        lua_pushcfunction(L, &unknown_param);
        lua_setfield(L, -2, "__index");
        lua_setmetatable(L, -2);
        return 1;
    });
}

// path "data/x.csv": a path relative to the script's folder.
int l_path(lua_State* L) {
    return lua_guarded(L, [L] {
        const std::string relative = luaL_checkstring(L, 1);
        const std::filesystem::path path(relative);
        const auto full = path.is_absolute() ? path : (script_of(L).script_dir_ / path).lexically_normal();
        lua_pushstring(L, full.string().c_str());
        return 1;
    });
}

} // namespace

namespace {
PipelineScript& script_of(lua_State* L) {
    lua_getfield(L, LUA_REGISTRYINDEX, script_key);
    auto* script = static_cast<PipelineScript*>(lua_touserdata(L, -1));
    lua_pop(L, 1);
    return *script;
}
} // namespace

namespace script_binding {
PipelineScript& script(lua_State* L) { return script_of(L); }
PipelineScript& declaring(lua_State* L, const char* function) { return core::declaring(L, function); }
int push_stage_handle(lua_State* L, size_t index) { return core::push_stage_handle(L, index); }
std::optional<OutputRef> output_ref(lua_State* L, int index) {
    if (!luaL_testudata(L, index, output_type)) return std::nullopt;
    return read_output_ref(L, index);
}
bool is_stage_handle(lua_State* L, int index) { return luaL_testudata(L, index, stage_type) != nullptr; }
bool is_identifier(const std::string& text) { return core::is_identifier(text); }
bool is_port_name(const std::string& text) { return core::is_port_name(text); }
} // namespace script_binding

namespace {

// What one conversion may produce. The copy lives outside the Lua state, beyond the reach of its
// memory limit and instruction hook, and a table shared by many keys is copied at every one of
// them, so a few lines of Lua could otherwise ask for gigabytes.
struct JsonBudget {
    size_t values = 0;
    size_t bytes = 0;
    static constexpr size_t max_values = 1'000'000;
    static constexpr size_t max_bytes = size_t{64} << 20;
    void charge(const std::string& what, size_t more_bytes) {
        bytes += more_bytes;
        if (++values > max_values || bytes > max_bytes)
            throw std::invalid_argument(what + " is too large to be a config value (more than 1,000,000 values or "
                                               "64 MiB of text)");
    }
};

nlohmann::json convert(lua_State* L, int index, const std::string& what, int depth, JsonBudget& budget) {
    index = lua_absindex(L, index);
    budget.charge(what, 0);
    luaL_checkstack(L, 4, "config value nests too deeply"); // each level keeps a key and a value
    if (depth > 32) throw std::invalid_argument(what + " nests too deeply (a table that contains itself?)");
    switch (lua_type(L, index)) {
    case LUA_TNIL: return nullptr;
    case LUA_TBOOLEAN: return static_cast<bool>(lua_toboolean(L, index));
    case LUA_TNUMBER: {
        if (lua_isinteger(L, index)) return static_cast<int64_t>(lua_tointeger(L, index));
        const double value = lua_tonumber(L, index);
        if (!std::isfinite(value)) throw std::invalid_argument(what + " is not a finite number");
        return value;
    }
    case LUA_TSTRING: {
        size_t size = 0;
        const char* text = lua_tolstring(L, index, &size);
        budget.charge(what, size);
        // Configs are stored and hashed as JSON text, which must be UTF-8.
        if (!valid_utf8(std::string_view(text, size))) throw std::invalid_argument(what + " is not valid UTF-8 text");
        return std::string(text, size);
    }
    case LUA_TTABLE: {
        const auto length = static_cast<lua_Integer>(lua_rawlen(L, index));
        lua_Integer count = 0;
        bool string_keys = true, sequence_keys = true;
        lua_pushnil(L);
        while (lua_next(L, index) != 0) {
            ++count;
            if (lua_type(L, -2) != LUA_TSTRING) string_keys = false;
            if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > length) sequence_keys = false;
            lua_pop(L, 1);
        }
        if (count == length && sequence_keys) {
            nlohmann::json array = nlohmann::json::array();
            for (lua_Integer i = 1; i <= length; ++i) {
                lua_rawgeti(L, index, i);
                array.push_back(convert(L, -1, what + "[" + std::to_string(i) + "]", depth + 1, budget));
                lua_pop(L, 1);
            }
            return array;
        }
        if (!string_keys)
            throw std::invalid_argument(what + " mixes a list with named keys, or has holes or numbered keys a list "
                                               "cannot hold");
        nlohmann::json object = nlohmann::json::object();
        lua_pushnil(L);
        while (lua_next(L, index) != 0) {
            const std::string key = lua_tostring(L, -2);
            budget.charge(what, key.size());
            object[key] = convert(L, -1, what + "." + key, depth + 1, budget);
            lua_pop(L, 1);
        }
        return object;
    }
    default:
        if (luaL_testudata(L, index, output_type))
            throw std::invalid_argument(what + " holds a stage output; outputs can only be wired to inputs");
        throw std::invalid_argument(what + " is a " + type_name(L, index) + ", which a config value cannot hold");
    }
}

} // namespace

nlohmann::json lua_to_json(lua_State* L, int index, const std::string& what) {
    JsonBudget budget;
    return convert(L, index, what, 0, budget);
}

void push_json(lua_State* L, const nlohmann::json& value) {
    luaL_checkstack(L, 4, "nesting too deep");
    switch (value.type()) {
    case nlohmann::json::value_t::null: lua_pushnil(L); break;
    case nlohmann::json::value_t::boolean: lua_pushboolean(L, value.get<bool>()); break;
    case nlohmann::json::value_t::number_integer: lua_pushinteger(L, value.get<int64_t>()); break;
    case nlohmann::json::value_t::number_unsigned:
        if (value.get<uint64_t>() <= uint64_t(INT64_MAX)) lua_pushinteger(L, static_cast<lua_Integer>(value.get<uint64_t>()));
        else lua_pushnumber(L, value.get<double>());
        break;
    case nlohmann::json::value_t::number_float: lua_pushnumber(L, value.get<double>()); break;
    case nlohmann::json::value_t::string: lua_pushstring(L, value.get_ref<const std::string&>().c_str()); break;
    case nlohmann::json::value_t::array: {
        lua_createtable(L, static_cast<int>(value.size()), 0);
        lua_Integer i = 0;
        for (const auto& item : value) {
            push_json(L, item);
            lua_rawseti(L, -2, ++i);
        }
        break;
    }
    case nlohmann::json::value_t::object: {
        lua_createtable(L, 0, static_cast<int>(value.size()));
        for (const auto& [key, item] : value.items()) {
            push_json(L, item);
            lua_setfield(L, -2, key.c_str());
        }
        break;
    }
    default: lua_pushnil(L);
    }
}

PipelineScript::PipelineScript(const std::filesystem::path& file, const ScriptOptions& options)
    : overrides_(options.overrides) {
    script_dir_ = std::filesystem::absolute(file).parent_path();
    sandbox_ = std::make_unique<LuaSandbox>(options.limits, script_dir_);
    pipeline_.file = file.string();
    pipeline_.name = file.stem().string();

    lua_State* L = sandbox_->state();
    lua_pushlightuserdata(L, this);
    lua_setfield(L, LUA_REGISTRYINDEX, script_key);

    luaL_newmetatable(L, stage_type);
    lua_pushcfunction(L, &stage_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, &refuse_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, &stage_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    luaL_newmetatable(L, output_type);
    lua_pushcfunction(L, &output_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    lua_register(L, "pipeline", &l_pipeline);
    lua_register(L, "params", &l_params);
    lua_register(L, "stage", &l_stage);
    lua_register(L, "lua_stage", &l_lua_stage);
    lua_register(L, "registered_model", &l_registered_model);
    lua_register(L, "path", &l_path);
    lua_register(L, "monitor", &l_monitor);
    register_sweep_functions(L);
}

PipelineScript::~PipelineScript() = default;

std::unique_ptr<PipelineScript> PipelineScript::load(const std::filesystem::path& file, const ScriptOptions& options) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
        throw ScriptError(file.string() + ": no such pipeline script");
    std::unique_ptr<PipelineScript> script(new PipelineScript(file, options));
    try {
        script->sandbox_->run_file(file, file.string());
    } catch (const ScriptError& e) {
        const std::string message = e.what();
        // Errors without a position (limits hit inside a library function) still name the file.
        if (message.rfind(file.string() + ":", 0) == 0 || message.find(".lua:") != std::string::npos) throw;
        throw ScriptError(file.string() + ": " + message);
    }
    script->declaring_ = false;
    script->sandbox_->freeze_modules();
    for (const auto& [key, value] : script->overrides_)
        if (!script->used_overrides_.count(key)) {
            std::vector<std::string> names;
            for (const auto& [name, unused] : script->pipeline_.params) names.push_back(name);
            const std::string known = join(names, ", ");
            throw ScriptError("--set " + key + "=" + value + ": " + file.string() + " declares no param '" + key + "'" +
                              (known.empty() ? " (it declares no params)" : " (params: " + known + ")"));
        }
    return script;
}

void PipelineScript::push_artifact(const ArtifactBytes& artifact) {
    lua_State* L = sandbox_->state();
    const std::span<const uint8_t> bytes = artifact.bytes();
    switch (static_cast<ArtifactType>(artifact.type)) {
    case ArtifactType::Metrics: {
        const auto metrics = deserialize_metrics(bytes);
        lua_createtable(L, 0, static_cast<int>(metrics.values.size()));
        for (const auto& [name, value] : metrics.values) {
            lua_pushnumber(L, value);
            lua_setfield(L, -2, name.c_str());
        }
        return;
    }
    case ArtifactType::Report: {
        const auto report = deserialize_report(bytes);
        push_json(L, nlohmann::json::parse(report.json, nullptr, false));
        return;
    }
    case ArtifactType::File: lua_pushstring(L, deserialize_file(bytes).path.c_str()); return;
    case ArtifactType::Directory: lua_pushstring(L, deserialize_directory(bytes).path.c_str()); return;
    case ArtifactType::Table: {
        const auto table = deserialize_table(bytes);
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, static_cast<lua_Integer>(table.num_rows()));
        lua_setfield(L, -2, "rows");
        push_json(L, table.column_names());
        lua_setfield(L, -2, "columns");
        return;
    }
    case ArtifactType::Model: {
        const auto model = deserialize_model(bytes);
        lua_createtable(L, 0, 2);
        lua_pushstring(L, model.flavor.c_str());
        lua_setfield(L, -2, "flavor");
        nlohmann::json signature = nlohmann::json::array();
        for (const auto& field : model.signature) signature.push_back({{"name", field.name}, {"type", to_string(field.type)}});
        push_json(L, signature);
        lua_setfield(L, -2, "signature");
        return;
    }
    }
    lua_pushnil(L);
}

void PipelineScript::push_outcome(const StageOutcomeView& outcome) {
    lua_State* L = sandbox_->state();
    lua_newtable(L);
    lua_newtable(L); // outputs
    if (outcome.outputs)
        for (const auto& [port, artifact] : *outcome.outputs) {
            push_artifact(artifact);
            lua_pushvalue(L, -1);
            lua_setfield(L, -3, port.c_str()); // r.outputs.port
            lua_setfield(L, -3, port.c_str()); // r.port
        }
    lua_setfield(L, -2, "outputs");
    lua_pushstring(L, outcome.id.c_str());
    lua_setfield(L, -2, "id");
    lua_pushstring(L, outcome.stage_name.c_str());
    lua_setfield(L, -2, "stage");
    lua_pushstring(L, outcome.status.c_str());
    lua_setfield(L, -2, "status");
    if (!outcome.error.empty()) {
        lua_pushstring(L, outcome.error.c_str());
        lua_setfield(L, -2, "error");
    }
    lua_pushnumber(L, outcome.seconds);
    lua_setfield(L, -2, "duration");
    lua_pushinteger(L, outcome.attempts);
    lua_setfield(L, -2, "attempts");
}

bool PipelineScript::condition(const StageNode& node, const StageOutcomeView& outcome) {
    int type = LUA_TNIL;
    bool result = false;
    sandbox_->run_protected([&](lua_State* L) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, node.when.ref);
        push_outcome(outcome);
        lua_call(L, 1, 1);
        type = lua_type(L, -1);
        result = lua_toboolean(L, -1);
    });
    if (type != LUA_TBOOLEAN)
        throw ScriptError(node.where.str() + ": the 'when' of stage '" + node.id + "' returned " +
                          (type == LUA_TNIL ? std::string("nothing")
                                            : "a " + std::string(lua_typename(sandbox_->state(), type))) +
                          "; it must return true or false");
    return result;
}

void PipelineScript::notify(const LuaCallback& callback, const StageOutcomeView& outcome) {
    sandbox_->run_protected([&](lua_State* L) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, callback.ref);
        push_outcome(outcome);
        lua_call(L, 1, 0);
    });
}

std::map<std::string, ArtifactBytes> PipelineScript::run_lua_stage(const StageNode& node,
                                                                  const std::map<std::string, ArtifactBytes>& inputs) {
    std::map<std::string, ArtifactBytes> outputs;
    const std::string prefix = node.where.str() + ": lua stage '" + node.id + "' ";
    sandbox_->run_protected([&](lua_State* L) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, node.lua_run.ref);
        lua_newtable(L);
        for (const auto& [port, artifact] : inputs) {
            push_artifact(artifact);
            lua_setfield(L, -2, port.c_str());
        }
        lua_call(L, 1, 1);
        const int result = lua_gettop(L);
        auto fail = [&](const std::string& why) { throw std::invalid_argument(prefix + why); };
        if (lua_type(L, result) != LUA_TTABLE && !(node.lua_outputs.empty() && lua_isnil(L, result)))
            fail("returned a " + type_name(L, result) + "; return a table of its outputs");
        if (lua_type(L, result) == LUA_TTABLE) {
            lua_pushnil(L);
            while (lua_next(L, result) != 0) {
                const std::string port = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
                if (!node.lua_outputs.count(port)) fail("returned '" + port + "', which is not one of its declared outputs");
                lua_pop(L, 1);
            }
        }
        for (const auto& [port, type] : node.lua_outputs) {
            lua_getfield(L, result, port.c_str());
            if (lua_isnil(L, -1)) fail("did not return its output '" + port + "'");
            nlohmann::json value;
            try {
                value = lua_to_json(L, -1, "output '" + port + "'");
            } catch (const std::invalid_argument& e) {
                fail(e.what());
            }
            lua_pop(L, 1);
            if (type == "metrics") {
                if (!value.is_object() && !(value.is_array() && value.empty()))
                    fail("output '" + port + "' must be a table of name = number");
                Metrics metrics;
                for (const auto& [name, number] : value.items()) {
                    if (!number.is_number()) fail("output '" + port + "': metric '" + name + "' is not a number");
                    metrics.values[name] = number.get<double>();
                }
                outputs[port] = ArtifactBytes::own(TRELLIS_ARTIFACT_METRICS, serialize(metrics));
            } else {
                outputs[port] = ArtifactBytes::own(TRELLIS_ARTIFACT_REPORT, serialize(Report{dump_json(value)}));
            }
        }
    });
    return outputs;
}

} // namespace trellis::core
