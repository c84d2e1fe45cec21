// The deployment file `trellis serve` reads: where to listen, the server's limits, and the
// endpoints with the registered model each serves. It is YAML (yaml-cpp keeps every node's line),
// read and checked whole before anything starts: every problem is reported, each as FILE:LINE.
#pragma once

#include "http/http_server.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace trellis::serve {

// Every problem found in a deployment file, one "FILE:LINE: message" per line of what().
class DeploymentError : public std::runtime_error {
public:
    explicit DeploymentError(const std::vector<std::string>& problems);
    const std::vector<std::string>& problems() const { return problems_; }

private:
    std::vector<std::string> problems_;
};

// Which versions of the primary's model an endpoint loads besides the ones it routes to, each
// answering at /v2/models/<endpoint>/versions/<V>/...: TF Serving's version policy.
struct VersionPolicy {
    enum class Kind { Routed, Latest, Specific, All };
    Kind kind = Kind::Routed;        // Routed: only the primary's and the canary's versions
    int64_t latest = 0;              // Latest: how many of the newest active versions
    std::vector<int64_t> specific;   // Specific: these versions
};

// A second version taking a share of the endpoint's requests. With `sticky_header` or
// `sticky_parameter` set it is an A/B test: the same key always sees the same variant.
struct CanarySpec {
    std::string model;               // NAME:VERSION or NAME@ALIAS
    int percent = 0;                 // 0..100 of requests
    std::string sticky_header;       // e.g. X-User-Id
    std::string sticky_parameter;    // a key of the request's "parameters", e.g. user_id
};

// A challenger that sees a copy of every request, off the request path; its answers go to the
// prediction log only.
struct ShadowSpec {
    std::string model;
    size_t queue = 1000;             // copies waiting beyond this are dropped (and counted)
};

// Adaptive batching: requests arriving together are predicted in one call.
struct BatchingSpec {
    size_t max_batch_size = 0;       // 0: off
    std::chrono::microseconds max_delay{1000};
};

// What an endpoint serves: a registered model as NAME:VERSION or NAME@ALIAS, and its traffic rules.
struct EndpointSpec {
    std::string name;      // the model name in V2 URLs, /v2/models/<name>/infer
    std::string model;     // "NAME:VERSION" or "NAME@ALIAS"
    int line = 0;          // where the endpoint is declared, for later messages
    VersionPolicy versions;
    std::optional<CanarySpec> canary;
    std::optional<ShadowSpec> shadow;
    BatchingSpec batching;
};

// The append-only prediction log under the store (docs/serving.md has its format).
struct PredictionLogSpec {
    double sample = 1.0;             // the share of requests recorded, 0..1
    size_t queue = 10'000;           // records waiting beyond this are dropped (and counted)
};

struct DeploymentSpec {
    std::filesystem::path file;
    http::ServerOptions server;
    size_t max_json_depth = 32; // deeper request bodies get 400
    std::chrono::milliseconds reload_interval{2'000}; // how often aliases are looked up again
    std::chrono::milliseconds drain_timeout{30'000};  // SIGTERM: how long in-flight requests may take
    PredictionLogSpec prediction_log;
    std::vector<EndpointSpec> endpoints;
};

// Why `reference` is not a NAME:VERSION or NAME@ALIAS model reference; empty when it is one.
std::string model_reference_problem(const std::string& reference);

// Reads and checks `file`. Throws DeploymentError listing every problem.
DeploymentSpec read_deployment_file(const std::filesystem::path& file);
// The same from text (tests); `file` only names it in messages.
DeploymentSpec parse_deployment(const std::string& text, const std::filesystem::path& file);

} // namespace trellis::serve
