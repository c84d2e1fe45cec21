// `trellis serve`: the endpoints of a deployment file over the Open Inference Protocol V2, with
// /metrics and an admin API beside them. Each endpoint routes requests to a primary model
// version, a share of them to a canary (sticky by a header or parameter for an A/B test), sends a
// copy of each to a shadow challenger off the request path, and answers every version its version
// policy loads at /v2/models/<endpoint>/versions/<V>. What each role names is resolved in the
// registry and the store's rollout state (`trellis rollout`) at every reload interval: a version
// that moved is loaded and warmed beside the old one, then the endpoint's whole routing is
// switched atomically; requests already running finish on the version they started with. A
// version that fails to load leaves the old one serving and is logged, counted and audited once.
#pragma once

#include "http/http_server.hpp"
#include "plugin/plugin_registry.hpp"
#include "registry/model_registry.hpp"
#include "serve/bounded_worker.hpp"
#include "serve/deployment_file.hpp"
#include "serve/inference_protocol.hpp"
#include "serve/prediction_log.hpp"
#include "serve/request_batcher.hpp"
#include "serve/serve_metrics.hpp"
#include "serve/served_model.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace trellis::store {
class Database;
}

namespace trellis::serve {

struct ServeContext {
    std::filesystem::path store_root;
    core::PluginRegistry* plugins = nullptr;
    bool require_signed_models = false; // trust.require_signed_models
};

class InferenceServer {
public:
    // Loads every endpoint's models (throws std::runtime_error naming the endpoint when one cannot
    // be loaded: a server does not start half-configured) and binds the listener.
    InferenceServer(DeploymentSpec spec, ServeContext context);
    ~InferenceServer();

    // Serves until shutdown() is called.
    void start();
    unsigned short port() const;
    // SIGTERM: readiness turns 503, no new connections, in-flight requests finish (up to the drain
    // timeout), then everything stops. True when nothing was cut off.
    bool shutdown();

    // Resolves every endpoint's models again now and switches those that moved (the reload
    // thread's work, callable by tests).
    void reload_now();

    InferenceServer(const InferenceServer&) = delete;
    InferenceServer& operator=(const InferenceServer&) = delete;

private:
    // Where an endpoint's requests go; replaced whole, never changed in place.
    struct Routing {
        std::shared_ptr<const ServedModel> primary;
        std::shared_ptr<const ServedModel> canary; // null: none
        int percent = 0;                            // of requests to the canary
        std::shared_ptr<const ServedModel> shadow;  // null: none
        std::map<int64_t, std::shared_ptr<const ServedModel>> versions; // of the primary's model, by number
    };
    struct Endpoint {
        EndpointSpec spec;
        std::atomic<std::shared_ptr<const Routing>> routing;
        std::set<std::string> known_failures; // lookups already reported as failing
        // Versions that failed to load, by "name:version digest": reported once, then tried again
        // after a wait that doubles each time (a flavor plugin installed or an object restored
        // since, or a passing lack of memory or file handles, should not need a restart).
        struct LoadFailure {
            std::chrono::steady_clock::time_point retry_at;
            std::chrono::milliseconds wait;
            int attempts = 1;
        };
        std::map<std::string, LoadFailure> load_failures;
        double rollout_set_at = 0; // when the stored rollout state this endpoint last saw was set
        std::unique_ptr<BoundedWorker> shadow_worker;
        std::unique_ptr<RequestBatcher> batcher;
        std::atomic<bool> shadow_failure_reported{false};
    };
    struct Chosen {
        std::shared_ptr<const ServedModel> model;
        std::string variant;
    };

    void refresh(Endpoint& endpoint, bool starting);
    // Loads and warms `version`, which refresh has just resolved in `db`.
    std::shared_ptr<const ServedModel> load(const registry::ModelVersion& version, store::Database& db);
    // Appends an entry by the OS user to the audit log of `db` (the refresh's open store).
    void audit(store::Database& db, const std::string& action, const std::string& object, const nlohmann::json& before,
               const nlohmann::json& after);
    http::Response handle(const http::Request& request);
    // POST /v2/models/<endpoint>/labels: delayed labels into the store (monitor/labels.hpp).
    http::Response post_labels(const http::Request& request, const Endpoint& endpoint);
    http::Response handle_admin(const http::Request& request, const std::vector<std::string>& parts);
    http::Response infer(const http::Request& request, Endpoint& endpoint, const Routing& routing,
                         std::optional<Chosen> pinned);
    Chosen choose(const Endpoint& endpoint, const Routing& routing, const http::Request& request,
                  const InferRequest& decoded) const;
    void send_to_shadow(Endpoint& endpoint, const std::shared_ptr<const ServedModel>& shadow,
                        std::shared_ptr<const Table> features, const std::string& request_id, bool logged, double time);
    nlohmann::json routing_json(const Endpoint& endpoint) const;
    Endpoint* find_endpoint(const std::string& name);
    void reload_loop();

    DeploymentSpec spec_;
    ServeContext context_;
    std::vector<std::unique_ptr<Endpoint>> endpoints_;
    ServeMetrics metrics_;
    std::unique_ptr<PredictionLog> prediction_log_;
    std::unique_ptr<http::HttpServer> http_;
    std::atomic<bool> ready_{false};
    std::mutex refresh_mutex_; // one refresh at a time: the reload thread's or an admin request's
    std::mutex reload_mutex_;
    std::condition_variable reload_wakeup_;
    bool stopping_ = false;
    std::thread reload_thread_;
};

} // namespace trellis::serve
