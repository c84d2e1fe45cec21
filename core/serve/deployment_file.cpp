#include "serve/deployment_file.hpp"

#include "util/duration.hpp"
#include "util/nearest_names.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <functional>
#include <regex>
#include <sstream>

namespace trellis::serve {

namespace {

std::string join_lines(const std::vector<std::string>& problems) {
    std::string text;
    for (const auto& problem : problems) text += (text.empty() ? "" : "\n") + problem;
    return text;
}

// Collects problems with the file's name and the node's line (yaml-cpp counts from 0).
class Checker {
public:
    explicit Checker(std::string file) : file_(std::move(file)) {}

    void problem(const YAML::Node& node, const std::string& message) {
        const int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 1;
        problems_.push_back(file_ + ":" + std::to_string(line) + ": " + message);
    }
    const std::vector<std::string>& problems() const { return problems_; }

    // Reports keys of `map` that are not in `known`, with the nearest known name.
    void only_keys(const YAML::Node& map, const std::string& where, const std::vector<std::string>& known) {
        for (const auto& entry : map) {
            const auto key = entry.first.as<std::string>();
            if (std::find(known.begin(), known.end(), key) != known.end()) continue;
            std::string message = "unknown key '" + key + "' in " + where;
            if (auto near = core::nearest_names(key, known); !near.empty()) message += " (did you mean " + near.front() + "?)";
            else {
                message += "; known keys:";
                for (size_t i = 0; i < known.size(); ++i) message += (i ? ", " : " ") + known[i];
            }
            problem(entry.first, message);
        }
    }

    std::optional<std::string> text(const YAML::Node& node, const std::string& what) {
        if (!node.IsScalar()) {
            problem(node, what + " must be a text value");
            return std::nullopt;
        }
        return node.as<std::string>();
    }

    std::optional<int64_t> integer(const YAML::Node& node, const std::string& what, int64_t low, int64_t high) {
        const auto value = text(node, what);
        if (!value) return std::nullopt;
        int64_t number = 0;
        const auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), number);
        if (error != std::errc() || end != value->data() + value->size() || number < low || number > high) {
            problem(node, what + " must be a whole number from " + std::to_string(low) + " to " + std::to_string(high) +
                              ", not '" + *value + "'");
            return std::nullopt;
        }
        return number;
    }

    std::optional<double> fraction(const YAML::Node& node, const std::string& what) {
        const auto value = text(node, what);
        if (!value) return std::nullopt;
        double number = 0;
        const auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), number);
        if (error != std::errc() || end != value->data() + value->size() || !(number >= 0 && number <= 1)) {
            problem(node, what + " must be a number from 0 to 1, not '" + *value + "'");
            return std::nullopt;
        }
        return number;
    }

    // "250ms", "10s", "2m" or a number of seconds; more than zero.
    std::optional<std::chrono::milliseconds> duration(const YAML::Node& node, const std::string& what) {
        const auto value = text(node, what);
        if (!value) return std::nullopt;
        std::optional<double> seconds;
        if (value->size() > 2 && value->ends_with("ms")) {
            if (auto ms = core::parse_duration(value->substr(0, value->size() - 2)); ms) seconds = *ms / 1000;
        } else {
            seconds = core::parse_duration(*value);
        }
        if (!seconds || *seconds <= 0 || *seconds > 86400) {
            problem(node, what + " must be a duration such as 500ms, 10s or 2m, not '" + *value + "'");
            return std::nullopt;
        }
        return std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000 + 0.5));
    }

private:
    std::string file_;
    std::vector<std::string> problems_;
};

// `where` names what holds the reference, e.g. "endpoint 'a': canary".
std::optional<std::string> model_reference(Checker& check, const YAML::Node& node, const std::string& where) {
    auto model = check.text(node, where + ": model");
    if (!model) return std::nullopt;
    if (auto problem = model_reference_problem(*model); !problem.empty()) {
        check.problem(node, where + ": " + problem);
        return std::nullopt;
    }
    return model;
}

// versions: all | {latest: N} | [V, ...]
void read_version_policy(Checker& check, const YAML::Node& node, const std::string& where, VersionPolicy& policy) {
    const std::string what = where + ": versions";
    if (node.IsScalar() && node.as<std::string>() == "all") {
        policy.kind = VersionPolicy::Kind::All;
    } else if (node.IsMap()) {
        check.only_keys(node, what, {"latest"});
        if (!node["latest"]) return check.problem(node, what + " as a map takes latest: N");
        if (auto n = check.integer(node["latest"], what + ".latest", 1, 1000)) {
            policy.kind = VersionPolicy::Kind::Latest;
            policy.latest = *n;
        }
    } else if (node.IsSequence() && node.size() > 0) {
        policy.kind = VersionPolicy::Kind::Specific;
        for (const auto& item : node)
            if (auto v = check.integer(item, what + " entry", 1, int64_t(1) << 40)) policy.specific.push_back(*v);
    } else {
        check.problem(node, what + " must be 'all', {latest: N} or a list of version numbers such as [3, 4]");
    }
}

std::optional<CanarySpec> read_canary(Checker& check, const YAML::Node& node, const std::string& where) {
    const std::string what = where + ": canary";
    if (!node.IsMap()) {
        check.problem(node, what + " must be a map: {model: NAME@ALIAS, percent: 10}");
        return std::nullopt;
    }
    check.only_keys(node, what, {"model", "percent", "sticky"});
    CanarySpec canary;
    if (!node["model"]) check.problem(node, what + " names no model");
    else if (auto model = model_reference(check, node["model"], what)) canary.model = *model;
    if (node["percent"])
        if (auto v = check.integer(node["percent"], what + ".percent", 0, 100)) canary.percent = static_cast<int>(*v);
    if (const auto& sticky = node["sticky"]; sticky) {
        if (!sticky.IsMap() || sticky.size() != 1 || !(sticky["header"] || sticky["parameter"])) {
            check.problem(sticky, what + ".sticky must be {header: NAME} or {parameter: NAME}, e.g. {header: X-User-Id}");
        } else if (sticky["header"]) {
            if (auto v = check.text(sticky["header"], what + ".sticky.header")) canary.sticky_header = *v;
        } else if (auto v = check.text(sticky["parameter"], what + ".sticky.parameter")) {
            canary.sticky_parameter = *v;
        }
    }
    return canary;
}

std::optional<ShadowSpec> read_shadow(Checker& check, const YAML::Node& node, const std::string& where) {
    const std::string what = where + ": shadow";
    if (!node.IsMap()) {
        check.problem(node, what + " must be a map: {model: NAME@ALIAS}");
        return std::nullopt;
    }
    check.only_keys(node, what, {"model", "queue"});
    ShadowSpec shadow;
    if (!node["model"]) check.problem(node, what + " names no model");
    else if (auto model = model_reference(check, node["model"], what)) shadow.model = *model;
    if (node["queue"])
        if (auto v = check.integer(node["queue"], what + ".queue", 1, 1'000'000)) shadow.queue = static_cast<size_t>(*v);
    return shadow;
}

void read_batching(Checker& check, const YAML::Node& node, const std::string& where, BatchingSpec& batching) {
    const std::string what = where + ": batching";
    if (!node.IsMap()) return check.problem(node, what + " must be a map: {max_batch_size: 32, max_delay: 2ms}");
    check.only_keys(node, what, {"max_batch_size", "max_delay"});
    if (!node["max_batch_size"]) return check.problem(node, what + " needs max_batch_size");
    if (auto v = check.integer(node["max_batch_size"], what + ".max_batch_size", 1, 100'000))
        batching.max_batch_size = static_cast<size_t>(*v);
    if (node["max_delay"])
        if (auto v = check.duration(node["max_delay"], what + ".max_delay"))
            batching.max_delay = std::chrono::duration_cast<std::chrono::microseconds>(*v);
}

void read_prediction_log(Checker& check, const YAML::Node& node, DeploymentSpec& spec) {
    if (!node.IsMap()) return check.problem(node, "'prediction_log' must be a map: {sample: 0.1, queue: 10000}");
    check.only_keys(node, "prediction_log", {"sample", "queue"});
    if (node["sample"])
        if (auto v = check.fraction(node["sample"], "prediction_log.sample")) spec.prediction_log.sample = *v;
    if (node["queue"])
        if (auto v = check.integer(node["queue"], "prediction_log.queue", 1, 10'000'000))
            spec.prediction_log.queue = static_cast<size_t>(*v);
}

void read_limits(Checker& check, const YAML::Node& node, DeploymentSpec& spec) {
    if (!node.IsMap()) return check.problem(node, "server.limits must be a map of limits");
    auto& limits = spec.server.limits;
    check.only_keys(node, "server.limits",
                    {"max_body_bytes", "max_header_bytes", "max_json_depth", "read_timeout", "idle_timeout",
                     "max_connections", "max_in_flight"});
    if (node["max_body_bytes"])
        if (auto v = check.integer(node["max_body_bytes"], "server.limits.max_body_bytes", 1, int64_t(1) << 32))
            limits.max_body_bytes = static_cast<size_t>(*v);
    if (node["max_header_bytes"])
        if (auto v = check.integer(node["max_header_bytes"], "server.limits.max_header_bytes", 256, 1 << 20))
            limits.max_header_bytes = static_cast<size_t>(*v);
    if (node["max_json_depth"])
        if (auto v = check.integer(node["max_json_depth"], "server.limits.max_json_depth", 2, 1000))
            spec.max_json_depth = static_cast<size_t>(*v);
    if (node["read_timeout"])
        if (auto v = check.duration(node["read_timeout"], "server.limits.read_timeout")) limits.read_timeout = *v;
    if (node["idle_timeout"])
        if (auto v = check.duration(node["idle_timeout"], "server.limits.idle_timeout")) limits.idle_timeout = *v;
    if (node["max_connections"])
        if (auto v = check.integer(node["max_connections"], "server.limits.max_connections", 1, 1'000'000))
            limits.max_connections = static_cast<size_t>(*v);
    if (node["max_in_flight"])
        if (auto v = check.integer(node["max_in_flight"], "server.limits.max_in_flight", 1, 1'000'000))
            limits.max_in_flight = static_cast<size_t>(*v);
}

void read_server(Checker& check, const YAML::Node& node, DeploymentSpec& spec) {
    if (!node.IsMap()) return check.problem(node, "'server' must be a map (address, port, threads, limits, ...)");
    check.only_keys(node, "server", {"address", "port", "threads", "limits", "reload_interval", "drain_timeout"});
    if (node["address"])
        if (auto v = check.text(node["address"], "server.address")) spec.server.address = *v;
    if (node["port"])
        if (auto v = check.integer(node["port"], "server.port", 0, 65535)) spec.server.port = static_cast<unsigned short>(*v);
    if (node["threads"])
        if (auto v = check.integer(node["threads"], "server.threads", 1, 256)) spec.server.threads = static_cast<unsigned>(*v);
    if (node["reload_interval"])
        if (auto v = check.duration(node["reload_interval"], "server.reload_interval")) spec.reload_interval = *v;
    if (node["drain_timeout"])
        if (auto v = check.duration(node["drain_timeout"], "server.drain_timeout")) spec.drain_timeout = *v;
    if (node["limits"]) read_limits(check, node["limits"], spec);
}

void read_endpoints(Checker& check, const YAML::Node& node, DeploymentSpec& spec) {
    if (!node.IsMap() || node.size() == 0)
        return check.problem(node, "'endpoints' must map endpoint names to what they serve, e.g. cancer: {model: breast_cancer@champion}");
    static const std::regex endpoint_name(R"(^[A-Za-z0-9][A-Za-z0-9_.\-]*$)");
    for (const auto& entry : node) {
        EndpointSpec endpoint;
        endpoint.name = entry.first.as<std::string>();
        endpoint.line = entry.first.Mark().line + 1;
        const std::string where = "endpoint '" + endpoint.name + "'";
        if (!std::regex_match(endpoint.name, endpoint_name))
            check.problem(entry.first, where + ": a name may hold letters, digits, '_', '.' and '-'");
        const YAML::Node& body = entry.second;
        if (!body.IsMap()) {
            check.problem(body, where + " must be a map with at least 'model'");
            continue;
        }
        check.only_keys(body, where, {"model", "versions", "canary", "shadow", "batching"});
        if (!body["model"]) {
            check.problem(entry.first, where + " names no model; add model: NAME@ALIAS or NAME:VERSION");
            continue;
        }
        if (auto model = model_reference(check, body["model"], where)) endpoint.model = *model;
        if (body["versions"]) read_version_policy(check, body["versions"], where, endpoint.versions);
        if (body["canary"]) endpoint.canary = read_canary(check, body["canary"], where);
        if (body["shadow"]) endpoint.shadow = read_shadow(check, body["shadow"], where);
        if (body["batching"]) read_batching(check, body["batching"], where, endpoint.batching);
        spec.endpoints.push_back(endpoint);
    }
}

} // namespace

// NAME:VERSION or NAME@ALIAS, with the registry's name rules for the alias.
std::string model_reference_problem(const std::string& reference) {
    static const std::regex by_version(R"(^[A-Za-z0-9][A-Za-z0-9_.\-]*:[1-9][0-9]*$)");
    static const std::regex by_alias(R"(^[A-Za-z0-9][A-Za-z0-9_.\-]*@[A-Za-z0-9_\-]+$)");
    if (std::regex_match(reference, by_version) || std::regex_match(reference, by_alias)) return "";
    return "model '" + reference + "' must name a registered model as NAME:VERSION or NAME@ALIAS, e.g. churn@champion";
}

DeploymentError::DeploymentError(const std::vector<std::string>& problems)
    : std::runtime_error(join_lines(problems)), problems_(problems) {}

DeploymentSpec parse_deployment(const std::string& text, const std::filesystem::path& file) {
    Checker check(file.string());
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw DeploymentError({file.string() + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg});
    }
    DeploymentSpec spec;
    spec.file = file;
    if (!root.IsMap()) throw DeploymentError({file.string() + ":1: a deployment file is a map with 'server' and 'endpoints'"});
    check.only_keys(root, "the deployment file", {"server", "endpoints", "prediction_log"});
    if (root["server"]) read_server(check, root["server"], spec);
    if (root["prediction_log"]) read_prediction_log(check, root["prediction_log"], spec);
    if (root["endpoints"]) read_endpoints(check, root["endpoints"], spec);
    else check.problem(root, "the deployment file has no 'endpoints'; add at least one, e.g. cancer: {model: breast_cancer@champion}");
    if (!check.problems().empty()) throw DeploymentError(check.problems());
    return spec;
}

DeploymentSpec read_deployment_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw DeploymentError({file.string() + ": cannot read the deployment file"});
    std::ostringstream text;
    text << in.rdbuf();
    return parse_deployment(text.str(), file);
}

} // namespace trellis::serve
