// Helpers for the `trellis serve` tests: register a version of the "cancer" model, one request
// with curl, start and stop the real server on a free port, and a V2 request body of the example
// data's rows.
#pragma once

#include "store_helpers.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <signal.h>

namespace trellis::testing {

inline std::string breast_cancer_csv() {
    return (std::filesystem::path(EXAMPLES_DIR) / "data" / "breast_cancer.csv").string();
}

// Trains and registers a version of "cancer"; a different seed gives a different model.
inline void register_version(const Sandbox& sandbox, int seed) {
    sandbox.write("train.lua", R"(pipeline { name = "train" }
local P = params { seed = 42 }
local data = stage "data.csv" { path = ")" + breast_cancer_csv() + R"(" }
local split = stage "data.split" { table = data.table, seed = P.seed, stratify = "malignant" }
local model = stage "train.linear" { train = split.train, target = "malignant", objective = "logistic" }
stage "deploy.export" { model = model.model, registry = "models", name = "cancer" }
)");
    const auto trained = sandbox.run("run train.lua --set seed=" + std::to_string(seed));
    REQUIRE(trained.exit_code == 0);
}

struct Reply {
    int status = 0;
    std::string body;
    nlohmann::json parsed() const { return nlohmann::json::parse(body); }
};

// One request with curl; `body` is sent as the request body when given.
inline Reply curl(const Sandbox& sandbox, const std::string& method, const std::string& url,
           const std::optional<std::string>& body = std::nullopt, const std::string& extra = "") {
    const auto out = sandbox.dir() / "curl.out";
    std::string command = "curl -s -m 20 -X " + method + " -o " + quote(out.string()) + " -w '%{http_code}' " + extra;
    if (body) {
        sandbox.write("curl.body", *body);
        command += " -H 'Content-Type: application/json' --data-binary @" + quote((sandbox.dir() / "curl.body").string());
    }
    command += " " + quote(url) + " > " + quote((sandbox.dir() / "curl.code").string());
    std::system(command.c_str());
    Reply reply;
    reply.status = std::atoi(read_file(sandbox.dir() / "curl.code").c_str());
    reply.body = read_file(out);
    return reply;
}

struct Server {
    Started process;
    int port = 0;
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }
};

// Starts `trellis serve FILE --port 0` and waits for its "listening on" line. Its output goes to
// NAME.out and NAME.err in the sandbox: a second server in one test needs a name of its own.
inline Server start_server(const Sandbox& sandbox, const std::string& file, const std::string& name = "serve") {
    Server server;
    server.process = start_trellis(sandbox, {"serve", file, "--port", "0"}, name);
    for (int i = 0; i < 600 && server.port == 0; ++i) {
        const auto out = read_file(server.process.out);
        if (const auto at = out.find("listening on 127.0.0.1:"); at != std::string::npos)
            server.port = std::atoi(out.c_str() + at + 23);
        else std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (::kill(server.process.pid, 0) != 0) break;
    }
    if (server.port == 0) FAIL("trellis serve did not start: " + read_file(server.process.err));
    return server;
}

inline int stop_server(const Server& server) {
    ::kill(server.process.pid, SIGTERM);
    return server.process.wait().exit_code;
}

// Kills a server that a test did not stop (a failed REQUIRE ends the test early), so that no server
// outlives its test and its sandbox. stop() is stop_server; released() is for a test that waited
// for the process itself.
class ServerGuard {
public:
    explicit ServerGuard(const Server& server) : server_(server) {}
    ~ServerGuard() {
        if (stopped_) return;
        ::kill(-server_.process.pid, SIGKILL);
        server_.process.wait();
    }
    int stop() {
        stopped_ = true;
        return stop_server(server_);
    }
    void released() { stopped_ = true; }

    ServerGuard(const ServerGuard&) = delete;
    ServerGuard& operator=(const ServerGuard&) = delete;

private:
    const Server& server_;
    bool stopped_ = false;
};

// Overwrites the start of a registered version's stored bytes, so loading it fails.
// Returns each damaged file with its bytes as they were, for restore_files.
inline std::vector<std::pair<fs::path, std::string>> damage_model_bytes(const Sandbox& sandbox, const std::string& version) {
    const auto shown = sandbox.run("models show " + version + " --json");
    REQUIRE(shown.exit_code == 0);
    const std::string digest = shown.json().at("artifact");
    std::vector<std::pair<fs::path, std::string>> originals;
    for (const auto& entry : fs::recursive_directory_iterator(sandbox.dir() / ".trellis"))
        if (entry.is_regular_file() && entry.path().filename().string().find(digest.substr(2)) != std::string::npos) {
            originals.emplace_back(entry.path(), read_file(entry.path()));
            fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
            std::ofstream(entry.path(), std::ios::binary | std::ios::in | std::ios::out) << "garbage";
        }
    return originals;
}

// Puts back what damage_model_bytes changed.
inline void restore_files(const std::vector<std::pair<fs::path, std::string>>& originals) {
    for (const auto& [path, bytes] : originals) std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// An API token with `role`, for identity ops-<role>.
inline std::string make_token(const Sandbox& sandbox, const std::string& role) {
    const auto made = sandbox.run("tokens create --name ops-" + role + " --role " + role + " --json");
    INFO(made.out << made.err);
    REQUIRE(made.exit_code == 0);
    return made.json().at("token").get<std::string>();
}

// A V2 request with one [rows, 30] FP32 tensor of the first `rows` rows of the data (from row
// `first` on), with request id `id`.
inline std::string matrix_request(size_t rows, const std::string& id = "req-1", size_t first = 0) {
    std::ifstream in(breast_cancer_csv());
    std::string line;
    std::getline(in, line);
    for (size_t skip = 0; skip < first && std::getline(in, line); ++skip) {
    }
    nlohmann::json data = nlohmann::json::array();
    for (size_t r = 0; r < rows && std::getline(in, line); ++r) {
        std::istringstream fields(line);
        nlohmann::json row = nlohmann::json::array();
        std::string value;
        for (int c = 0; c < 30 && std::getline(fields, value, ','); ++c) row.push_back(std::stod(value));
        data.push_back(row);
    }
    return nlohmann::json{{"id", id}, {"inputs", {{{"name", "input-0"}, {"shape", {rows, 30}}, {"datatype", "FP32"}, {"data", data}}}}}.dump();
}

} // namespace trellis::testing
