// `trellis serve`: the endpoints of a deployment file, each serving one registered model version
// over the Open Inference Protocol V2, with /metrics beside them. Models are resolved in the
// registry (NAME@ALIAS follows the alias: it is looked up again every reload interval and a new
// version is loaded and warmed beside the old one, then switched to atomically; requests already
// running finish on the version they started with). A version that fails to load leaves the old
// one serving and is logged, counted and audited.
#pragma once

#include "http/http_server.hpp"
#include "plugin/plugin_registry.hpp"
#include "serve/deployment_file.hpp"
#include "serve/serve_metrics.hpp"
#include "serve/served_model.hpp"

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

namespace trellis::serve {

struct ServeContext {
    std::filesystem::path store_root;
    core::PluginRegistry* plugins = nullptr;
    bool require_signed_models = false; // trust.require_signed_models
};

class InferenceServer {
public:
    // Loads every endpoint's model (throws std::runtime_error naming the endpoint when one cannot be
    // loaded: a server does not start half-configured) and binds the listener.
    InferenceServer(DeploymentSpec spec, ServeContext context);
    ~InferenceServer();

    // Serves until shutdown() is called.
    void start();
    unsigned short port() const;
    // SIGTERM: readiness turns 503, no new connections, in-flight requests finish (up to the drain
    // timeout), then everything stops. True when nothing was cut off.
    bool shutdown();

    // Looks every alias up again now and switches endpoints whose version moved (the reload
    // thread's work, callable by tests).
    void reload_now();

    InferenceServer(const InferenceServer&) = delete;
    InferenceServer& operator=(const InferenceServer&) = delete;

private:
    struct Endpoint {
        EndpointSpec spec;
        std::atomic<std::shared_ptr<const ServedModel>> model;
    };

    std::shared_ptr<const ServedModel> load(const EndpointSpec& endpoint);
    void audit(const std::string& action, const std::string& object, const nlohmann::json& before,
               const nlohmann::json& after);
    http::Response handle(const http::Request& request);
    http::Response infer(const http::Request& request, Endpoint& endpoint, const std::shared_ptr<const ServedModel>& model);
    Endpoint* find_endpoint(const std::string& name);
    void reload_loop();

    DeploymentSpec spec_;
    ServeContext context_;
    std::vector<std::unique_ptr<Endpoint>> endpoints_;
    ServeMetrics metrics_;
    std::unique_ptr<http::HttpServer> http_;
    std::atomic<bool> ready_{false};
    std::mutex reload_mutex_;
    std::condition_variable reload_wakeup_;
    bool stopping_ = false;
    std::thread reload_thread_;
};

} // namespace trellis::serve
