// The deployment file `trellis serve` reads: where to listen, the server's limits, and the
// endpoints with the registered model each serves. It is YAML (yaml-cpp keeps every node's line),
// read and checked whole before anything starts: every problem is reported, each as FILE:LINE.
#pragma once

#include "http/http_server.hpp"

#include <filesystem>
#include <map>
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

// What an endpoint serves: a registered model as NAME:VERSION or NAME@ALIAS.
struct EndpointSpec {
    std::string name;      // the model name in V2 URLs, /v2/models/<name>/infer
    std::string model;     // "NAME:VERSION" or "NAME@ALIAS"
    int line = 0;          // where the endpoint is declared, for later messages
};

struct DeploymentSpec {
    std::filesystem::path file;
    http::ServerOptions server;
    size_t max_json_depth = 32; // deeper request bodies get 400
    std::chrono::milliseconds reload_interval{2'000}; // how often aliases are looked up again
    std::chrono::milliseconds drain_timeout{30'000};  // SIGTERM: how long in-flight requests may take
    std::vector<EndpointSpec> endpoints;
};

// Reads and checks `file`. Throws DeploymentError listing every problem.
DeploymentSpec read_deployment_file(const std::filesystem::path& file);
// The same from text (tests); `file` only names it in messages.
DeploymentSpec parse_deployment(const std::string& text, const std::filesystem::path& file);

} // namespace trellis::serve
