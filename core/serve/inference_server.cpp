#include "serve/inference_server.hpp"

#include "govern/access.hpp"
#include "registry/model_registry.hpp"
#include "serve/inference_protocol.hpp"
#include "store/artifact_store.hpp"
#include "store/metadata_store.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <random>

namespace trellis::serve {

namespace {

namespace beast_http = http::beast_http;
using json = nlohmann::json;

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

http::Response json_response(const http::Request& request, int status, const json& body) {
    return http::make_response(request, static_cast<beast_http::status>(status),
                               body.dump(-1, ' ', false, json::error_handler_t::replace));
}

http::Response error_response(const http::Request& request, int status, const std::string& message) {
    return http::make_response(request, static_cast<beast_http::status>(status), error_json(message));
}

// The path without its query, split at '/'.
std::vector<std::string> path_parts(std::string_view target) {
    target = target.substr(0, target.find('?'));
    std::vector<std::string> parts;
    size_t start = 1;
    while (start <= target.size()) {
        const size_t end = std::min(target.find('/', start), target.size());
        if (end > start) parts.emplace_back(target.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

std::string new_request_id() {
    thread_local std::mt19937_64 random{std::random_device{}()};
    char text[33];
    std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(random()),
                  static_cast<unsigned long long>(random()));
    return text;
}

json tensor_metadata(const std::vector<Field>& fields) {
    json out = json::array();
    for (const auto& field : fields) out.push_back({{"name", field.name}, {"datatype", v2_datatype(field.type)}, {"shape", {-1}}});
    return out;
}

} // namespace

InferenceServer::InferenceServer(DeploymentSpec spec, ServeContext context)
    : spec_(std::move(spec)), context_(std::move(context)) {
    for (const auto& endpoint_spec : spec_.endpoints) {
        auto endpoint = std::make_unique<Endpoint>();
        endpoint->spec = endpoint_spec;
        try {
            endpoint->model.store(load(endpoint_spec));
        } catch (const std::exception& e) {
            throw std::runtime_error(spec_.file.string() + ":" + std::to_string(endpoint_spec.line) + ": endpoint '" +
                                     endpoint_spec.name + "': " + e.what());
        }
        const auto model = endpoint->model.load();
        spdlog::info("endpoint '{}' serves {} (flavor {})", endpoint_spec.name,
                     registry::version_label(model->name(), model->version()), model->flavor_name());
        audit("serve.load", "endpoint " + endpoint_spec.name, nullptr,
              {{"model", endpoint_spec.model}, {"version", model->version()}, {"digest", model->digest()}});
        endpoints_.push_back(std::move(endpoint));
    }
    const auto exempt = [](const std::string& target) {
        return target.starts_with("/v2/health/") || target == "/metrics";
    };
    http_ = std::make_unique<http::HttpServer>(spec_.server, [this](const http::Request& r) { return handle(r); }, exempt);
}

InferenceServer::~InferenceServer() {
    {
        std::lock_guard lock(reload_mutex_);
        stopping_ = true;
    }
    reload_wakeup_.notify_all();
    if (reload_thread_.joinable()) reload_thread_.join();
    if (http_) http_->stop();
}

void InferenceServer::start() {
    http_->start();
    ready_ = true;
    reload_thread_ = std::thread([this] { reload_loop(); });
}

unsigned short InferenceServer::port() const { return http_->port(); }

bool InferenceServer::shutdown() {
    ready_ = false;
    {
        std::lock_guard lock(reload_mutex_);
        stopping_ = true;
    }
    reload_wakeup_.notify_all();
    if (reload_thread_.joinable()) reload_thread_.join();
    http_->stop_accepting();
    const bool drained = http_->wait_idle(spec_.drain_timeout);
    http_->stop();
    return drained;
}

std::shared_ptr<const ServedModel> InferenceServer::load(const EndpointSpec& endpoint) {
    store::MetadataStore metadata(context_.store_root);
    const registry::ModelVersion version = registry::load_version(metadata.db(), endpoint.model);
    if (context_.require_signed_models)
        if (auto problem = registry::signature_problem(metadata.db(), context_.store_root, version); !problem.empty())
            throw std::runtime_error("not serving " + registry::version_label(version.name, version.version) +
                                     ": trust.require_signed_models is on and " + problem);
    store::ArtifactStore artifacts(context_.store_root);
    const auto object = artifacts.get(version.digest);
    const Model header = deserialize_model(object->bytes());
    const core::PluginFile* provider = context_.plugins->find_flavor_provider(header.flavor);
    if (!provider)
        throw std::runtime_error("model " + registry::version_label(version.name, version.version) + " has flavor '" +
                                 header.flavor + "', which no installed plugin provides");
    core::FlavorEntry flavor;
    flavor.library = context_.plugins->load(provider->scan.manifest->name);
    flavor.flavor = flavor.library->find_flavor(header.flavor);
    return std::make_shared<const ServedModel>(version.name, version.version, version.digest, object->bytes(), flavor);
}

void InferenceServer::audit(const std::string& action, const std::string& object, const json& before, const json& after) {
    try {
        store::MetadataStore metadata(context_.store_root);
        govern::Governance governance(metadata.db(), context_.store_root, std::nullopt, unix_now());
        store::Transaction transaction(metadata.db());
        governance.audit(action, object, before, after);
        transaction.commit();
    } catch (const std::exception& e) {
        // Serving goes on; the operator learns the log missed an entry.
        spdlog::error("could not write '{}' for {} to the audit log: {}", action, object, e.what());
    }
}

void InferenceServer::reload_now() {
    for (auto& endpoint : endpoints_) {
        const auto current = endpoint->model.load();
        int64_t wanted = current->version();
        try {
            store::MetadataStore metadata(context_.store_root);
            wanted = registry::load_version(metadata.db(), endpoint->spec.model).version;
        } catch (const std::exception& e) {
            spdlog::warn("endpoint '{}': cannot look {} up: {}; serving {} still", endpoint->spec.name, endpoint->spec.model,
                         e.what(), registry::version_label(current->name(), current->version()));
            continue;
        }
        if (wanted == current->version()) continue;
        const json before{{"version", current->version()}};
        try {
            auto next = load(endpoint->spec);
            endpoint->model.store(next);
            spdlog::info("endpoint '{}' switched from {} to {}", endpoint->spec.name,
                         registry::version_label(current->name(), current->version()),
                         registry::version_label(next->name(), next->version()));
            audit("serve.switch", "endpoint " + endpoint->spec.name, before,
                  {{"model", endpoint->spec.model}, {"version", next->version()}, {"digest", next->digest()}});
        } catch (const std::exception& e) {
            metrics_.load_failed(endpoint->spec.name);
            spdlog::error("endpoint '{}': {} moved to version {}, which cannot be served ({}); serving {} still",
                          endpoint->spec.name, endpoint->spec.model, wanted, e.what(),
                          registry::version_label(current->name(), current->version()));
            audit("serve.load_failed", "endpoint " + endpoint->spec.name, before,
                  {{"model", endpoint->spec.model}, {"version", wanted}, {"error", e.what()}});
        }
    }
}

void InferenceServer::reload_loop() {
    std::unique_lock lock(reload_mutex_);
    while (!reload_wakeup_.wait_for(lock, spec_.reload_interval, [this] { return stopping_; })) {
        lock.unlock();
        reload_now();
        lock.lock();
    }
}

InferenceServer::Endpoint* InferenceServer::find_endpoint(const std::string& name) {
    for (auto& endpoint : endpoints_)
        if (endpoint->spec.name == name) return endpoint.get();
    return nullptr;
}

http::Response InferenceServer::handle(const http::Request& request) {
    const auto parts = path_parts(std::string_view(request.target().data(), request.target().size()));
    const bool get = request.method() == beast_http::verb::get || request.method() == beast_http::verb::head;
    const auto only = [&](beast_http::verb verb) -> std::optional<http::Response> {
        if (request.method() == verb || (verb == beast_http::verb::get && get)) return std::nullopt;
        auto response = error_response(request, 405, "use " + std::string(beast_http::to_string(verb)) + " for " +
                                                         std::string(request.target()));
        response.set(beast_http::field::allow, beast_http::to_string(verb));
        return response;
    };
    if (parts.size() == 1 && parts[0] == "metrics") {
        if (auto refused = only(beast_http::verb::get)) return *refused;
        return http::make_response(request, beast_http::status::ok, metrics_.render(http_->counters()),
                                   "text/plain; version=0.0.4; charset=utf-8");
    }
    if (parts.empty() || parts[0] != "v2") return error_response(request, 404, "no such path; the API is under /v2");
    if (parts.size() == 1) {
        if (auto refused = only(beast_http::verb::get)) return *refused;
        return json_response(request, 200, {{"name", "trellis"}, {"version", TRELLIS_VERSION}, {"extensions", json::array()}});
    }
    if (parts[1] == "health" && parts.size() == 3) {
        if (auto refused = only(beast_http::verb::get)) return *refused;
        if (parts[2] == "live") return json_response(request, 200, {{"live", true}});
        if (parts[2] == "ready") {
            const bool ready = ready_.load();
            return json_response(request, ready ? 200 : 503, {{"ready", ready}});
        }
    }
    if (parts[1] != "models" || parts.size() < 3) return error_response(request, 404, "no such path: " + std::string(request.target()));
    Endpoint* endpoint = find_endpoint(parts[2]);
    if (!endpoint) {
        std::string served;
        for (const auto& e : endpoints_) served += (served.empty() ? "" : ", ") + e->spec.name;
        return error_response(request, 404, "model '" + parts[2] + "' is not served here; served: " + served);
    }
    // Holding the model for the whole request: a switch meanwhile does not unload it under us.
    const std::shared_ptr<const ServedModel> model = endpoint->model.load();
    size_t next = 3;
    if (parts.size() >= 5 && parts[3] == "versions") {
        if (parts[4] != std::to_string(model->version()))
            return error_response(request, 404, "version " + parts[4] + " of model '" + parts[2] + "' is not served; " +
                                                    "version " + std::to_string(model->version()) + " is");
        next = 5;
    }
    if (parts.size() == next) {
        if (auto refused = only(beast_http::verb::get)) return *refused;
        return json_response(request, 200,
                             {{"name", endpoint->spec.name},
                              {"versions", {std::to_string(model->version())}},
                              {"platform", "trellis_" + model->flavor_name()},
                              {"inputs", tensor_metadata(model->inputs())},
                              {"outputs", tensor_metadata(model->outputs())}});
    }
    if (parts.size() == next + 1 && parts[next] == "ready") {
        if (auto refused = only(beast_http::verb::get)) return *refused;
        const bool ready = ready_.load();
        return json_response(request, ready ? 200 : 503, {{"name", endpoint->spec.name}, {"ready", ready}});
    }
    if (parts.size() == next + 1 && parts[next] == "infer") {
        if (auto refused = only(beast_http::verb::post)) return *refused;
        return infer(request, *endpoint, model);
    }
    return error_response(request, 404, "no such path: " + std::string(request.target()));
}

http::Response InferenceServer::infer(const http::Request& request, Endpoint& endpoint,
                                      const std::shared_ptr<const ServedModel>& model) {
    const auto started = std::chrono::steady_clock::now();
    std::string request_id;
    if (const auto header = request.find("X-Request-Id"); header != request.end()) request_id = std::string(header->value());
    http::Response response;
    try {
        InferRequest decoded = decode_infer_request(request.body(), model->inputs(), spec_.max_json_depth);
        if (decoded.id.empty()) decoded.id = request_id.empty() ? new_request_id() : request_id;
        request_id = decoded.id;
        Table predictions;
        try {
            predictions = model->predict(decoded.features);
        } catch (const std::exception& e) {
            throw ProtocolError(500, "model " + registry::version_label(model->name(), model->version()) +
                                         " failed to predict: " + e.what());
        }
        response = http::make_response(request, beast_http::status::ok,
                                       encode_infer_response(endpoint.spec.name, *model, decoded, predictions));
    } catch (const ProtocolError& e) {
        response = error_response(request, e.status(), e.what());
    }
    if (!request_id.empty()) response.set("X-Request-Id", request_id);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    metrics_.observe(endpoint.spec.name, model->version(), static_cast<int>(response.result_int()), seconds);
    return response;
}

} // namespace trellis::serve
