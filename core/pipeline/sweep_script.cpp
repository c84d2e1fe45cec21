#include "pipeline/sweep_script.hpp"

#include "pipeline/lua_sandbox.hpp"
#include "pipeline/script_binding.hpp"
#include "util/join.hpp"

#include <cmath>
#include <set>
#include <stdexcept>

namespace trellis::core {

namespace {

const char* const range_type = "trellis.range";

std::string type_name(lua_State* L, int index) { return luaL_typename(L, index); }

// ---- range { low, high, log = bool, int = bool, steps = n }

double read_bound(lua_State* L, int table, lua_Integer position, const char* which) {
    lua_rawgeti(L, table, position);
    if (lua_type(L, -1) != LUA_TNUMBER)
        throw std::invalid_argument(std::string("range: the ") + which + " bound (item " + std::to_string(position) +
                                    ") must be a number, not " + (lua_isnil(L, -1) ? "missing" : "a " + type_name(L, -1)) +
                                    "; write range { low, high }");
    const double value = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return value;
}

bool read_flag(lua_State* L, int table, const char* key) {
    lua_getfield(L, table, key);
    const int type = lua_type(L, -1);
    const bool value = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN)
        throw std::invalid_argument(std::string("range: ") + key + " must be true or false");
    return value;
}

int l_range(lua_State* L) {
    return lua_guarded(L, [L] {
        if (lua_type(L, 1) != LUA_TTABLE)
            throw std::invalid_argument("range takes a table: range { low, high } (options: log, int, steps)");
        lua_pushnil(L);
        while (lua_next(L, 1) != 0) {
            const bool position = lua_isinteger(L, -2) && (lua_tointeger(L, -2) == 1 || lua_tointeger(L, -2) == 2);
            const std::string key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
            if (!position && key != "log" && key != "int" && key != "steps")
                throw std::invalid_argument("range: '" + (key.empty() ? type_name(L, -2) + " key" : key) +
                                            "' is not one of its keys (low and high as items 1 and 2; log, int, steps)");
            lua_pop(L, 1);
        }
        SweepRange range;
        range.low = read_bound(L, 1, 1, "low");
        range.high = read_bound(L, 1, 2, "high");
        range.log = read_flag(L, 1, "log");
        range.integer = read_flag(L, 1, "int");
        lua_getfield(L, 1, "steps");
        if (!lua_isnil(L, -1)) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 2 ||
                lua_tointeger(L, -1) > static_cast<lua_Integer>(max_sweep_trials))
                throw std::invalid_argument("range: steps must be a whole number from 2 to " +
                                            std::to_string(max_sweep_trials));
            range.steps = static_cast<int>(lua_tointeger(L, -1));
        }
        lua_pop(L, 1);
        check_range(range, "range");
        *static_cast<SweepRange*>(lua_newuserdatauv(L, sizeof(SweepRange), 0)) = range;
        luaL_setmetatable(L, range_type);
        return 1;
    });
}

int range_tostring(lua_State* L) {
    const auto* range = static_cast<const SweepRange*>(luaL_checkudata(L, 1, range_type));
    lua_pushfstring(L, "range { %f, %f%s%s }", range->low, range->high, range->log ? ", log = true" : "",
                    range->integer ? ", int = true" : "");
    return 1;
}

// ---- sweep { ... }

const char* const sweep_keys = "id, method, space, trials, seed, metric, direction, score, trial";

class SweepReader {
public:
    SweepReader(lua_State* L, PipelineScript& script) : L_(L), script_(script) {}

    // Reads the spec at stack index 1, runs the trial function for every trial and adds the trials'
    // stages and the selector to the pipeline. Returns the selector's index.
    size_t read() {
        if (lua_type(L_, 1) != LUA_TTABLE)
            throw std::invalid_argument("sweep takes a table: sweep { id = ..., space = ..., trial = function(p) ... end, ... }");
        const LuaLocation where = lua_caller_location(L_, 1);
        sweep_.where = {where.file, where.line};
        check_keys();
        read_id();
        read_method();
        read_space();
        read_metric();
        read_trial_function();
        expand();
        Pipeline& pipeline = script_.pipeline();
        const size_t index = pipeline.sweeps.size();
        for (size_t t = 0; t < trial_params_.size(); ++t) run_trial(index, static_cast<int>(t + 1), trial_params_[t]);
        add_selector(index);
        pipeline.sweeps.push_back(std::move(sweep_));
        return pipeline.sweeps.back().selector;
    }

private:
    [[noreturn]] void fail(const std::string& message) const {
        throw std::invalid_argument("sweep '" + sweep_.id + "': " + message);
    }

    void check_keys() {
        static const std::set<std::string> known = {"id",     "method",    "space", "trials", "seed",
                                                    "metric", "direction", "score", "trial"};
        lua_pushnil(L_);
        while (lua_next(L_, 1) != 0) {
            const std::string key = lua_type(L_, -2) == LUA_TSTRING ? lua_tostring(L_, -2) : "";
            if (!known.count(key))
                throw std::invalid_argument("sweep: '" + (key.empty() ? "a " + type_name(L_, -2) + " key" : key) +
                                            "' is not one of its keys (" + sweep_keys + ")");
            lua_pop(L_, 1);
        }
    }

    // Pushes field `key` of the spec; the caller pops it.
    int field(const char* key) {
        lua_getfield(L_, 1, key);
        return lua_gettop(L_);
    }

    void read_id() {
        const int at = field("id");
        if (lua_type(L_, at) != LUA_TSTRING || !script_binding::is_identifier(lua_tostring(L_, at)))
            throw std::invalid_argument(lua_isnil(L_, at)
                                            ? "sweep: 'id' is required; it names the sweep and its trials' stages "
                                              "(id.1.train, id.2.train, ...)"
                                            : "sweep: id must be a name of letters, digits, _ and -, starting with a letter");
        sweep_.id = lua_tostring(L_, at);
        lua_pop(L_, 1);
    }

    void read_method() {
        int at = field("method");
        const std::string method = lua_type(L_, at) == LUA_TSTRING ? lua_tostring(L_, at) : "";
        if (lua_isnil(L_, at) || method == "grid") sweep_.method = SweepMethod::Grid;
        else if (method == "random") sweep_.method = SweepMethod::Random;
        else fail("method must be \"grid\" or \"random\", not " + describe(at));
        lua_pop(L_, 1);

        at = field("trials");
        if (sweep_.method == SweepMethod::Random) {
            if (lua_isnil(L_, at)) fail("method = \"random\" needs trials = n, the number of draws");
            if (!lua_isinteger(L_, at) || lua_tointeger(L_, at) < 1 ||
                lua_tointeger(L_, at) > static_cast<lua_Integer>(max_sweep_trials))
                fail("trials must be a whole number from 1 to " + std::to_string(max_sweep_trials) + ", not " +
                     describe(at));
            sweep_.requested_trials = static_cast<size_t>(lua_tointeger(L_, at));
        } else if (!lua_isnil(L_, at)) {
            fail("trials is for method = \"random\"; a grid runs every combination of the space");
        }
        lua_pop(L_, 1);

        at = field("seed");
        if (!lua_isnil(L_, at)) {
            if (sweep_.method != SweepMethod::Random) fail("seed is for method = \"random\"; a grid draws nothing");
            if (!lua_isinteger(L_, at)) fail("seed must be a whole number, not " + describe(at));
            sweep_.seed = static_cast<uint64_t>(lua_tointeger(L_, at));
        }
        lua_pop(L_, 1);
    }

    void read_space() {
        const int at = field("space");
        if (lua_type(L_, at) != LUA_TTABLE)
            fail(lua_isnil(L_, at) ? "'space' is required: a table of name = { values } or name = range { low, high }"
                                   : "space must be a table of name = { values } or name = range { low, high }, not " +
                                         describe(at));
        std::map<std::string, SweepAxis> axes; // sorted by name: the documented order
        lua_pushnil(L_);
        while (lua_next(L_, at) != 0) {
            const int value = lua_gettop(L_);
            if (lua_type(L_, -2) != LUA_TSTRING)
                fail("space: keys must be names, not a " + type_name(L_, -2) + " (write space = { name = { 1, 2 } })");
            SweepAxis axis;
            axis.name = lua_tostring(L_, -2);
            const std::string what = "space." + axis.name;
            if (const auto* range = static_cast<const SweepRange*>(luaL_testudata(L_, value, range_type))) {
                axis.range = *range;
                if (sweep_.method == SweepMethod::Grid && range->steps == 0)
                    fail(what + ": a grid needs a list of values, or a range with steps = n (e.g. range { " +
                         number_text(range->low) + ", " + number_text(range->high) + ", steps = 5 })");
            } else if (lua_type(L_, value) == LUA_TTABLE) {
                nlohmann::json values;
                try {
                    values = lua_to_json(L_, value, what);
                } catch (const std::invalid_argument& e) {
                    fail(e.what());
                }
                if (values.is_object() && !values.empty())
                    fail(what + " must be a list of values ({ 1, 2, 3 }) or a range, not a table with named keys");
                if (values.empty()) fail(what + " is an empty list; give it at least one value");
                for (auto& item : values) axis.choices.push_back(std::move(item));
            } else {
                fail(what + " must be a list of values ({ 1, 2, 3 }) or a range { low, high }, not " + describe(value));
            }
            axes.emplace(axis.name, std::move(axis));
            lua_pop(L_, 1);
        }
        lua_pop(L_, 1);
        if (axes.empty()) fail("space is empty; name at least one param, e.g. space = { l2 = { 0.1, 1, 10 } }");
        for (auto& [name, axis] : axes) sweep_.space.axes.push_back(std::move(axis));
    }

    void read_metric() {
        int at = field("metric");
        if (lua_type(L_, at) != LUA_TSTRING || std::string(lua_tostring(L_, at)).empty())
            fail(lua_isnil(L_, at) ? "'metric' is required: the metric that chooses the winner, e.g. metric = \"accuracy\""
                                   : "metric must be a metric's name, not " + describe(at));
        sweep_.metric = lua_tostring(L_, at);
        lua_pop(L_, 1);

        at = field("direction");
        const std::string direction = lua_type(L_, at) == LUA_TSTRING ? lua_tostring(L_, at) : "";
        if (direction == "maximize") sweep_.direction = SweepDirection::Maximize;
        else if (direction == "minimize") sweep_.direction = SweepDirection::Minimize;
        else if (lua_isnil(L_, at)) fail("'direction' is required: \"maximize\" or \"minimize\" (the metric '" + sweep_.metric + "')");
        else fail("direction must be \"maximize\" or \"minimize\", not " + describe(at));
        lua_pop(L_, 1);

        at = field("score");
        if (!lua_isnil(L_, at)) {
            if (lua_type(L_, at) != LUA_TSTRING || !script_binding::is_port_name(lua_tostring(L_, at)))
                fail("score must name one of the outputs the trial function returns (lower-case letters, digits and _), not " +
                     describe(at));
            sweep_.score_port = lua_tostring(L_, at);
        }
        lua_pop(L_, 1);
    }

    void read_trial_function() {
        const int at = field("trial");
        if (lua_type(L_, at) != LUA_TFUNCTION)
            fail(lua_isnil(L_, at) ? "'trial' is required: function(p) that declares one trial's stages and returns "
                                     "its outputs"
                                   : "trial must be a function(p), not " + describe(at));
        lua_pop(L_, 1);
    }

    void expand() {
        try {
            trial_params_ = sweep_.method == SweepMethod::Grid
                                ? grid_trials(sweep_.space)
                                : random_trials(sweep_.space, sweep_.requested_trials, sweep_.seed);
        } catch (const std::invalid_argument& e) {
            fail(e.what());
        }
    }

    // Marks the script as inside a trial function for as long as it runs, whatever happens.
    struct TrialScope {
        PipelineScript& script;
        explicit TrialScope(PipelineScript& s) : script(s) { script.in_sweep_trial_ = true; }
        ~TrialScope() { script.in_sweep_trial_ = false; }
    };

    void run_trial(size_t sweep_index, int number, const nlohmann::json& params) {
        Pipeline& pipeline = script_.pipeline();
        const size_t first = pipeline.stages.size();
        {
            TrialScope scope(script_);
            lua_getfield(L_, 1, "trial");
            push_json(L_, params);
            lua_pushinteger(L_, number);
            lua_call(L_, 2, 1);
        }
        const int result = lua_gettop(L_);
        const std::string which = "the trial function (trial " + std::to_string(number) + ", " + params_text(params) + ")";
        if (lua_type(L_, result) != LUA_TTABLE)
            fail(which + " returned " + describe(result) + "; it must return a table of its outputs, e.g. { model = "
                 "train.model, " + sweep_.score_port + " = evaluate.metrics }");
        SweepTrial trial;
        trial.number = number;
        trial.params = params;
        lua_pushnil(L_);
        while (lua_next(L_, result) != 0) {
            const std::string port = lua_type(L_, -2) == LUA_TSTRING ? lua_tostring(L_, -2) : "";
            if (!script_binding::is_port_name(port))
                fail(which + " returned a key " + (port.empty() ? "that is a " + type_name(L_, -2) : "'" + port + "'") +
                     "; output names are lower-case letters, digits and _");
            const auto ref = script_binding::output_ref(L_, -1);
            if (!ref)
                fail(which + " returned '" + port + "' = " + describe(lua_gettop(L_)) +
                     "; each value must be a stage output, as in evaluate.metrics");
            trial.outputs[port] = *ref;
            lua_pop(L_, 1);
        }
        lua_pop(L_, 1);
        if (!trial.outputs.count(sweep_.score_port))
            fail(which + " returned no '" + sweep_.score_port + "' output, which metric '" + sweep_.metric +
                 "' is read from" + (trial.outputs.empty() ? "" : " (it returned: " + ports_text(trial.outputs) + ")") +
                 "; return it, or name the scored output with score = \"port\"");
        if (!sweep_.trials.empty() && !same_ports(trial.outputs, sweep_.trials.front().outputs))
            fail(which + " returned " + ports_text(trial.outputs) + ", but trial 1 returned " +
                 ports_text(sweep_.trials.front().outputs) + "; every trial must return the same outputs");
        name_trial_stages(sweep_index, number, first);
        for (size_t s = first; s < pipeline.stages.size(); ++s) trial.stages.push_back(s);
        sweep_.trials.push_back(std::move(trial));
    }

    // Stage ids inside a trial are its own (explicit ones, or implicit ones made from the stage name
    // within the trial, as validation makes them for the whole script), prefixed "<id>.<n>.".
    void name_trial_stages(size_t sweep_index, int number, size_t first) {
        auto& stages = script_.pipeline().stages;
        std::set<std::string> taken;
        for (size_t s = first; s < stages.size(); ++s)
            if (stages[s].explicit_id) taken.insert(stages[s].id);
        std::map<std::string, int> suffixes;
        for (size_t s = first; s < stages.size(); ++s) {
            StageNode& node = stages[s];
            if (node.sweep != no_sweep) fail("a sweep cannot be declared inside another sweep's trial function");
            if (!node.explicit_id) {
                const auto dot = node.stage_name.rfind('.');
                const std::string base = dot == std::string::npos ? node.stage_name : node.stage_name.substr(dot + 1);
                std::string id = base;
                int& suffix = suffixes[base];
                while (taken.count(id)) id = base + "_" + std::to_string(++suffix + 1);
                taken.insert(id);
                node.id = id;
            }
            node.id = sweep_.id + "." + std::to_string(number) + "." + node.id;
            node.explicit_id = true;
            node.sweep = sweep_index;
            node.trial = number;
        }
    }

    void add_selector(size_t sweep_index) {
        StageNode node;
        node.id = sweep_.id;
        node.explicit_id = true;
        node.stage_name = StageNode::sweep_stage_name;
        node.where = sweep_.where;
        node.sweep = sweep_index;
        for (const auto& trial : sweep_.trials) {
            for (const auto& [port, ref] : trial.outputs) {
                SpecField field;
                field.ref = ref;
                node.fields.emplace(std::to_string(trial.number) + "." + port, std::move(field));
            }
            // It waits for every stage of every trial, not only those whose outputs it takes, so
            // that a trial's status is final when it judges.
            for (size_t stage : trial.stages) node.after.push_back({stage, {}, {}});
        }
        node.config = {{"method", to_string(sweep_.method)},
                       {"space", space_json(sweep_.space)},
                       {"metric", sweep_.metric},
                       {"direction", to_string(sweep_.direction)},
                       {"score", sweep_.score_port},
                       {"trials", sweep_.trials.size()}};
        if (sweep_.method == SweepMethod::Random) node.config["seed"] = sweep_.seed;
        auto& stages = script_.pipeline().stages;
        stages.push_back(std::move(node));
        sweep_.selector = stages.size() - 1;
    }

    static bool same_ports(const std::map<std::string, OutputRef>& a, const std::map<std::string, OutputRef>& b) {
        if (a.size() != b.size()) return false;
        for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
            if (ia->first != ib->first) return false;
        return true;
    }

    static std::string ports_text(const std::map<std::string, OutputRef>& outputs) {
        std::vector<std::string> names;
        for (const auto& [port, ref] : outputs) names.push_back(port);
        return join(names, ", ");
    }

    static std::string params_text(const nlohmann::json& params) {
        std::vector<std::string> parts;
        for (const auto& [name, value] : params.items()) parts.push_back(name + "=" + value.dump());
        return join(parts, " ");
    }

    static std::string number_text(double value) {
        char text[32];
        std::snprintf(text, sizeof text, "%g", value);
        return text;
    }

    // "a number (3)", "'adam'", "a function": how a value the script gave is named in messages.
    std::string describe(int index) const {
        switch (lua_type(L_, index)) {
        case LUA_TNIL: return "nil";
        case LUA_TSTRING: return "'" + std::string(lua_tostring(L_, index)) + "'";
        case LUA_TNUMBER: {
            lua_pushvalue(L_, index);
            const std::string text = lua_tostring(L_, -1);
            lua_pop(L_, 1);
            return "a number (" + text + ")";
        }
        case LUA_TBOOLEAN: return lua_toboolean(L_, index) ? "true" : "false";
        default:
            if (script_binding::is_stage_handle(L_, index)) return "a whole stage";
            return "a " + type_name(L_, index);
        }
    }

    lua_State* L_;
    PipelineScript& script_;
    Sweep sweep_;
    std::vector<nlohmann::json> trial_params_;
};

int l_sweep(lua_State* L) {
    return lua_guarded(L, [L] {
        PipelineScript& script = script_binding::declaring(L, "sweep");
        if (script.in_sweep_trial_)
            throw std::invalid_argument("sweep: a sweep cannot be declared inside another sweep's trial function");
        lua_settop(L, 1);
        const size_t selector = SweepReader(L, script).read();
        return script_binding::push_stage_handle(L, selector);
    });
}

} // namespace

void register_sweep_functions(lua_State* L) {
    luaL_newmetatable(L, range_type);
    lua_pushcfunction(L, &range_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    lua_register(L, "range", &l_range);
    lua_register(L, "sweep", &l_sweep);
}

} // namespace trellis::core
