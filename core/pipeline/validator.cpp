#include "pipeline/validator.hpp"

#include "exec/core_stages.hpp"
#include "plugin/config_types.hpp"
#include "util/join.hpp"
#include "util/json_text.hpp"
#include "util/nearest_names.hpp"

#include <algorithm>
#include <queue>
#include <set>
#include <unordered_map>

namespace trellis::core {
namespace {

struct Problem {
    size_t stage;
    std::string message;
};

class Validation {
public:
    Validation(Pipeline& pipeline, const PluginRegistry& registry) : pipeline_(pipeline), registry_(registry) {}

    std::vector<std::string> run() {
        assign_ids();
        for (size_t i = 0; i < pipeline_.stages.size(); ++i) find_stage(i);
        for (size_t i = 0; i < pipeline_.stages.size(); ++i) check_fields(i);
        link();
        order();
        std::stable_sort(problems_.begin(), problems_.end(),
                         [](const Problem& a, const Problem& b) { return a.stage < b.stage; });
        std::vector<std::string> out;
        for (const auto& problem : problems_) {
            const auto& node = pipeline_.stages[problem.stage];
            out.push_back(node.where.str() + ": stage '" + node.id + "' (" + node.stage_name + "): " + problem.message);
        }
        return out;
    }

private:
    void fail(size_t stage, std::string message) { problems_.push_back({stage, std::move(message)}); }

    static std::string hint(const std::string& wanted, const std::vector<std::string>& candidates) {
        const auto near = nearest_names(wanted, candidates);
        return near.empty() ? "" : " (did you mean " + near.front() + "?)";
    }

    // Explicit ids must be unique; stages without one are named after their stage ("csv",
    // "split"), with _2, _3 ... where that name is taken.
    void assign_ids() {
        std::unordered_map<std::string, size_t> explicit_ids;
        for (size_t i = 0; i < pipeline_.stages.size(); ++i) {
            auto& node = pipeline_.stages[i];
            if (!node.explicit_id) continue;
            auto [it, inserted] = explicit_ids.emplace(node.id, i);
            if (!inserted)
                fail(i, "duplicate stage id '" + node.id + "' (first used at " + pipeline_.stages[it->second].where.str() + ")");
            else
                by_id_[node.id] = i;
        }
        std::unordered_map<std::string, int> next_suffix;
        for (size_t i = 0; i < pipeline_.stages.size(); ++i) {
            auto& node = pipeline_.stages[i];
            if (node.explicit_id) continue;
            const auto dot = node.stage_name.rfind('.');
            const std::string base = dot == std::string::npos ? node.stage_name : node.stage_name.substr(dot + 1);
            std::string id = base;
            int& suffix = next_suffix[base];
            while (by_id_.count(id)) id = base + "_" + std::to_string(++suffix + 1);
            node.id = id;
            by_id_[id] = i;
        }
    }

    void find_stage(size_t i) {
        auto& node = pipeline_.stages[i];
        if (node.is_core()) {
            node.manifest = core_stage_manifest(node.stage_name);
            node.cache = false; // it reads the registry as it is now
            if (node.isolate) fail(i, "a core stage runs in the trellis process; it cannot be isolated");
            return;
        }
        if (!node.is_plugin()) return;
        const PluginFile* provider = registry_.find_stage_provider(node.stage_name);
        if (!provider) {
            auto names = registry_.stage_names();
            for (const auto& core : core_stage_manifests()) names.push_back(core.name);
            size_t not_loaded = 0;
            for (const auto& file : registry_.files()) not_loaded += file.scan.ok() ? 0 : 1;
            // A plugin refused (unsigned, say) provides no stages: say so, or its stage reads as a typo.
            fail(i, "unknown stage '" + node.stage_name + "'" + hint(node.stage_name, names) +
                        (not_loaded ? "; " + std::to_string(not_loaded) +
                                          " plugin file(s) were not loaded, and 'trellis plugins list' says why"
                                    : "; 'trellis plugins list' shows the installed stages"));
            return;
        }
        node.manifest = provider->scan.manifest->find_stage(node.stage_name);
        node.plugin_name = provider->scan.manifest->name;
        node.plugin_file = provider->scan.path.string();
    }

    static const PortManifest* find_port(const std::vector<PortManifest>& ports, const std::string& name) {
        for (const auto& port : ports)
            if (port.name == name) return &port;
        return nullptr;
    }

    // Which stage an "id.port" string or a handle's output names; no_stage if none (reported).
    size_t resolve(size_t i, const OutputRef& ref, const std::string& what) {
        if (ref.stage != no_stage) return ref.stage;
        auto it = by_id_.find(ref.stage_id);
        if (it != by_id_.end()) return it->second;
        std::vector<std::string> ids;
        for (const auto& [id, index] : by_id_)
            if (index != i) ids.push_back(id); // the stage itself would be a cycle, not a fix
        fail(i, what + " names stage '" + ref.stage_id + "', but there is no stage with that id" + hint(ref.stage_id, ids));
        return no_stage;
    }

    // The artifact type of `producer`'s output `port`, or "" (and a problem) if it has none.
    std::string output_type(size_t i, size_t producer, const std::string& port, const std::string& what) {
        const auto& from = pipeline_.stages[producer];
        std::vector<std::string> names;
        if (from.is_lua()) {
            if (auto it = from.lua_outputs.find(port); it != from.lua_outputs.end()) return it->second;
            for (const auto& [name, type] : from.lua_outputs) names.push_back(name);
        } else if (from.is_sweep()) {
            // A selector's outputs are its trials' (the first trial's: all return the same ports).
            const auto& outputs = pipeline_.sweeps.at(from.sweep).trials.front().outputs;
            if (auto it = outputs.find(port); it != outputs.end()) {
                const size_t source = resolve(i, it->second, what);
                return source == no_stage ? "" : output_type(i, source, it->second.port, what);
            }
            for (const auto& [name, ref] : outputs) names.push_back(name);
        } else {
            if (!from.manifest) return ""; // unknown stage: already reported
            if (const auto* out = find_port(from.manifest->outputs, port)) return out->artifact_type;
            for (const auto& out : from.manifest->outputs) names.push_back(out.name);
        }
        const std::string list = join(names, ", ");
        fail(i, what + " is wired to " + from.id + "." + port + ", but stage '" + from.id + "' (" + from.stage_name +
                    ") has no output '" + port + "'" + hint(port, names) +
                    (list.empty() ? "; it has no outputs" : "; its outputs: " + list));
        return "";
    }

    void connect(size_t i, const std::string& port, const OutputRef& ref, const std::string& wanted_type) {
        auto& node = pipeline_.stages[i];
        const std::string what = "input '" + port + "'";
        const size_t producer = resolve(i, ref, what);
        if (producer == no_stage) return;
        if (producer == i) {
            fail(i, "cycle: " + what + " is wired to the stage's own output '" + ref.port + "'");
            return;
        }
        const std::string type = output_type(i, producer, ref.port, what);
        if (type.empty()) return;
        if (!wanted_type.empty() && type != wanted_type) {
            fail(i, what + " takes a " + wanted_type + ", but " + pipeline_.stages[producer].id + "." + ref.port +
                        " is a " + type);
            return;
        }
        node.inputs.push_back({port, producer, ref.port, type});
    }

    // "an int", "a float": config and artifact type names with their article.
    static std::string with_article(const std::string& type) {
        const bool vowel = !type.empty() && std::string("aeiou").find(type[0]) != std::string::npos;
        return (vowel ? "an " : "a ") + type;
    }

    static std::string describe_value(const nlohmann::json& value) {
        std::string text = dump_json(value);
        if (text.size() > 40) text = text.substr(0, 37) + "...";
        const char* kind = value.is_boolean() ? "a bool"
                           : value.is_number_integer() || value.is_number_unsigned() ? "an int"
                           : value.is_number() ? "a float"
                           : value.is_string() ? "a string"
                           : value.is_array() ? "a list"
                           : value.is_object() ? "a table"
                                               : "nil";
        return std::string(kind) + " (" + text + ")";
    }

    void check_fields(size_t i) {
        auto& node = pipeline_.stages[i];
        if (node.is_sweep()) return check_sweep(i);
        if (node.is_lua()) {
            for (const auto& [key, field] : node.fields)
                if (field.ref) connect(i, key, *field.ref, "");
            return;
        }
        if (!node.manifest) return;
        const StageManifest& stage = *node.manifest;
        std::set<std::string> connected;
        for (const auto& [key, field] : node.fields) {
            if (const auto* port = find_port(stage.inputs, key)) {
                if (field.ref) {
                    connect(i, key, *field.ref, port->artifact_type);
                } else if (field.value.is_string() && field.value.get<std::string>().find('.') != std::string::npos) {
                    const std::string text = field.value.get<std::string>();
                    const auto dot = text.rfind('.');
                    connect(i, key, OutputRef{no_stage, text.substr(0, dot), text.substr(dot + 1)}, port->artifact_type);
                } else {
                    fail(i, "input '" + key + "' must be wired to a stage output (as split.train or \"split.train\"), not " +
                                describe_value(field.value));
                }
                connected.insert(key);
                continue;
            }
            const ConfigKeyManifest* spec = nullptr;
            for (const auto& candidate : stage.config)
                if (candidate.key == key) spec = &candidate;
            if (!spec) {
                std::vector<std::string> names;
                for (const auto& candidate : stage.config) names.push_back(candidate.key);
                for (const auto& port : stage.inputs) names.push_back(port.name);
                const std::string list = join(names, ", ");
                fail(i, "unknown key '" + key + "'" + hint(key, names) +
                            (list.empty() ? "; this stage takes no config or inputs" : "; it takes: " + list));
                continue;
            }
            if (field.ref) {
                fail(i, "config key '" + key + "' takes " + with_article(spec->type) + ", not a stage output");
                continue;
            }
            if (!value_matches_type(field.value, spec->type)) {
                fail(i, "config key '" + key + "' must be " + with_article(spec->type) + ", not " + describe_value(field.value));
                continue;
            }
            node.config[key] = field.value;
            node.explicitly_set.push_back(key);
        }
        for (const auto& key : stage.config) {
            if (node.fields.count(key.key)) continue;
            if (key.required)
                fail(i, "missing required config key '" + key.key + "' (" + key.type +
                            (key.doc.empty() ? "" : ": " + key.doc) + ")");
            else if (key.default_value)
                node.config[key.key] = *key.default_value;
        }
        for (const auto& port : stage.inputs)
            if (!port.optional && !connected.count(port.name))
                fail(i, "required input '" + port.name + "' (" + port.artifact_type + ") is not connected");
    }

    // A selector takes every trial's outputs; each output must have one type across the trials,
    // and the scored one must be metrics.
    void check_sweep(size_t i) {
        const auto& node = pipeline_.stages[i];
        const Sweep& sweep = pipeline_.sweeps.at(node.sweep);
        for (const auto& [key, field] : node.fields)
            if (field.ref) connect(i, key, *field.ref, "");
        std::map<std::string, std::pair<int, std::string>> first_type; // port -> (trial, type)
        for (const auto& input : pipeline_.stages[i].inputs) {
            const auto dot = input.port.find('.');
            const int trial = std::stoi(input.port.substr(0, dot));
            const std::string port = input.port.substr(dot + 1);
            auto [it, inserted] = first_type.emplace(port, std::make_pair(trial, input.type));
            if (!inserted && it->second.second != input.type)
                fail(i, "trial " + std::to_string(trial) + " returns '" + port + "' as " + with_article(input.type) +
                            ", but trial " + std::to_string(it->second.first) + " as " + with_article(it->second.second) +
                            "; every trial must return the same types");
        }
        if (auto it = first_type.find(sweep.score_port); it != first_type.end() && it->second.second != "metrics")
            fail(i, "the scored output '" + sweep.score_port + "' is " + with_article(it->second.second) +
                        "; metric '" + sweep.metric + "' is read from a metrics output (score = \"port\" names another)");
    }

    void add_edge(size_t from, size_t to) {
        auto& up = pipeline_.stages[to].upstream;
        if (std::find(up.begin(), up.end(), from) != up.end()) return;
        up.push_back(from);
        pipeline_.stages[from].downstream.push_back(to);
    }

    void link() {
        for (size_t i = 0; i < pipeline_.stages.size(); ++i) {
            for (const auto& input : pipeline_.stages[i].inputs) add_edge(input.from, i);
            for (const auto& ref : pipeline_.stages[i].after) {
                const size_t from = resolve(i, ref, "after");
                if (from == no_stage) continue;
                if (from == i) {
                    fail(i, "cycle: the stage is listed in its own 'after'");
                    continue;
                }
                add_edge(from, i);
            }
        }
    }

    // Kahn's algorithm, taking ready stages in script order so plans read like the script.
    void order() {
        const size_t n = pipeline_.stages.size();
        std::vector<size_t> waiting(n);
        std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
        for (size_t i = 0; i < n; ++i) {
            waiting[i] = pipeline_.stages[i].upstream.size();
            if (waiting[i] == 0) ready.push(i);
        }
        pipeline_.order.clear();
        std::vector<bool> in_cycle(n, false);
        for (;;) {
            while (!ready.empty()) {
                const size_t i = ready.top();
                ready.pop();
                if (!in_cycle[i]) pipeline_.order.push_back(i);
                for (size_t next : pipeline_.stages[i].downstream)
                    if (waiting[next] > 0 && --waiting[next] == 0) ready.push(next);
            }
            // Stages still waiting are in a cycle or after one. Report each cycle once, then
            // release its stages so that the stages after it are checked for cycles of their own.
            size_t at = 0;
            while (at < n && waiting[at] == 0) ++at;
            if (at == n) return;
            // Walk upstream among the stages left waiting until one repeats: that is a cycle.
            std::vector<size_t> path;
            std::vector<int> seen(n, -1);
            while (seen[at] < 0) {
                seen[at] = static_cast<int>(path.size());
                path.push_back(at);
                for (size_t up : pipeline_.stages[at].upstream)
                    if (waiting[up] > 0) {
                        at = up;
                        break;
                    }
            }
            std::vector<size_t> cycle(path.begin() + seen[at], path.end());
            std::reverse(cycle.begin(), cycle.end()); // in the direction data flows
            // Start the text at the stage the problem is reported on: the first in the script.
            std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
            std::string text;
            for (size_t s : cycle) text += pipeline_.stages[s].id + " -> ";
            text += pipeline_.stages[cycle.front()].id;
            fail(cycle.front(), "cycle: " + text);
            for (size_t s : cycle) {
                in_cycle[s] = true;
                waiting[s] = 0;
                ready.push(s);
            }
        }
    }

    Pipeline& pipeline_;
    const PluginRegistry& registry_;
    std::unordered_map<std::string, size_t> by_id_;
    std::vector<Problem> problems_;
};

} // namespace

std::vector<std::string> validate_pipeline(Pipeline& pipeline, const PluginRegistry& registry) {
    return Validation(pipeline, registry).run();
}

} // namespace trellis::core
