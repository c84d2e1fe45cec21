#include "serve/inference_server.hpp"

#include "govern/access.hpp"
#include "monitor/labels.hpp"
#include "registry/model_registry.hpp"
#include "serve/rollout_state.hpp"
#include "store/artifact_store.hpp"
#include "store/metadata_store.hpp"

#include <boost/beast/core/string.hpp>
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>

namespace trellis::serve {

namespace {

// A model named by the store's rollout state (trellis rollout), not by the deployment file.
class StoredRolloutError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

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

std::string label(const std::shared_ptr<const ServedModel>& model) {
    return model ? registry::version_label(model->name(), model->version()) : "none";
}

json model_json(const std::shared_ptr<const ServedModel>& model) {
    if (!model) return nullptr;
    return {{"model", model->name()}, {"version", model->version()}, {"digest", model->digest()}};
}

// 0..99 from a key, the same in every process and on every machine: sticky A/B assignment.
// Salted with the endpoint, so one key's bucket in one experiment says nothing of its bucket in another.
int bucket_of(const std::string& endpoint, std::string_view key) {
    std::string salted = endpoint;
    salted += '\0';
    salted += key;
    return static_cast<int>(XXH3_64bits(salted.data(), salted.size()) % 100);
}

int random_bucket() {
    thread_local std::mt19937_64 random{std::random_device{}()};
    return static_cast<int>(random() % 100);
}

// The versions of `name` a policy loads, newest first.
std::vector<int64_t> policy_versions(store::Database& db, const std::string& name, const VersionPolicy& policy) {
    if (policy.kind == VersionPolicy::Kind::Routed) return {};
    if (policy.kind == VersionPolicy::Kind::Specific) return policy.specific;
    std::vector<int64_t> out;
    for (const auto& version : registry::list_versions(db, name)) {
        if (version.status != "active") continue;
        if (policy.kind == VersionPolicy::Kind::Latest && static_cast<int64_t>(out.size()) == policy.latest) break;
        out.push_back(version.version);
    }
    return out;
}

std::optional<std::string> bearer_token(const http::Request& request) {
    const auto header = request.find(beast_http::field::authorization);
    if (header == request.end()) return std::nullopt;
    const std::string_view value(header->value().data(), header->value().size());
    if (value.size() <= 7 || value[6] != ' ' || !boost::beast::iequals(boost::beast::string_view(value.data(), 6), "Bearer")) return std::nullopt;
    return std::string(value.substr(7));
}

// An unknown, expired or revoked token is not authenticated (401); a weak role is forbidden (403).
http::Response access_denied_response(const http::Request& request, const govern::AccessDenied& denied) {
    std::string message = denied.what();
    const bool unauthenticated = denied.reason() == govern::AccessDenied::Reason::Unauthenticated;
    if (message.starts_with("TRELLIS_TOKEN")) message.replace(0, 13, "the bearer token");
    auto response = error_response(request, unauthenticated ? 401 : 403, message);
    if (unauthenticated) response.set(beast_http::field::www_authenticate, "Bearer error=\"invalid_token\"");
    return response;
}

} // namespace

InferenceServer::InferenceServer(DeploymentSpec spec, ServeContext context)
    : spec_(std::move(spec)), context_(std::move(context)) {
    for (const auto& endpoint_spec : spec_.endpoints) {
        auto endpoint = std::make_unique<Endpoint>();
        endpoint->spec = endpoint_spec;
        try {
            refresh(*endpoint, true);
        } catch (const StoredRolloutError& e) {
            // Not the file's fault: its line would send the operator to the wrong place.
            throw std::runtime_error("endpoint '" + endpoint_spec.name + "': " + e.what());
        } catch (const std::exception& e) {
            throw std::runtime_error(spec_.file.string() + ":" + std::to_string(endpoint_spec.line) + ": endpoint '" +
                                     endpoint_spec.name + "': " + e.what());
        }
        if (endpoint_spec.shadow) endpoint->shadow_worker = std::make_unique<BoundedWorker>(endpoint_spec.shadow->queue);
        if (endpoint_spec.batching.max_batch_size > 0)
            endpoint->batcher = std::make_unique<RequestBatcher>(endpoint_spec.batching);
        endpoints_.push_back(std::move(endpoint));
    }
    prediction_log_ = std::make_unique<PredictionLog>(context_.store_root / "predictions", spec_.prediction_log.sample,
                                                      spec_.prediction_log.queue);
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
    // Shadow jobs and batches still queued write to the metrics and the prediction log: they
    // finish before those go.
    for (auto& endpoint : endpoints_) {
        endpoint->shadow_worker.reset();
        endpoint->batcher.reset();
    }
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

std::shared_ptr<const ServedModel> InferenceServer::load(const registry::ModelVersion& version, store::Database& db) {
    if (context_.require_signed_models)
        if (auto problem = registry::signature_problem(db, context_.store_root, version); !problem.empty())
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

// Works out what every role of the endpoint names now, loads what is not loaded yet (reusing the
// versions the current routing holds) and switches to the new routing if anything moved.
// Starting, any failure throws; later, a role whose new version fails keeps its old one.
void InferenceServer::refresh(Endpoint& endpoint, bool starting) {
    std::lock_guard refreshing(refresh_mutex_);
    const EndpointSpec& spec = endpoint.spec;
    const std::string object = "endpoint " + spec.name;
    store::MetadataStore metadata(context_.store_root);
    store::Database& db = metadata.db();
    const auto state = load_rollout(db, spec.name);
    const std::string primary_ref = state && state->primary_model ? *state->primary_model : spec.model;
    const std::string canary_ref = state && state->canary_model ? *state->canary_model
                                   : spec.canary                ? spec.canary->model
                                                                : "";
    const int percent = state && state->percent ? *state->percent : spec.canary ? spec.canary->percent : 0;

    const auto current = endpoint.routing.load();
    std::map<std::string, std::shared_ptr<const ServedModel>> loaded; // "name:version" -> model
    if (current) {
        for (const auto& model : {current->primary, current->canary, current->shadow})
            if (model) loaded[label(model)] = model;
        for (const auto& [number, model] : current->versions) loaded[label(model)] = model;
    }
    std::map<std::string, std::shared_ptr<const ServedModel>> kept; // what the new routing holds

    // An operator's rollout change is a reason to try failed versions again at once, rather than
    // after their wait: they may have fixed what failed.
    if (const double set_at = state ? state->set_at : 0; set_at != endpoint.rollout_set_at) {
        endpoint.load_failures.clear();
        endpoint.rollout_set_at = set_at;
    }
    std::set<std::string> wanted_failures; // the failing versions this refresh still asks for

    // Starting, a model the stored rollout state names fails as that state's problem.
    const auto starting_failure = [&](const std::string& reference, const char* role, bool from_rollout,
                                      const std::exception& e) {
        if (!from_rollout) throw;
        throw StoredRolloutError("the " + std::string(role) + " " + reference + " comes from the rollout state last set by " +
                                 state->set_by + " (see trellis rollout status " + spec.name +
                                 "; trellis rollout rollback undoes a promote) and cannot be served: " + e.what());
    };

    // The model `reference` names, or null when it cannot be served (already reported).
    const auto obtain = [&](const std::string& reference, const char* role,
                            bool from_rollout = false) -> std::shared_ptr<const ServedModel> {
        registry::ModelVersion version;
        try {
            version = registry::load_version(db, reference);
        } catch (const std::exception& e) {
            if (starting) starting_failure(reference, role, from_rollout, e);
            if (endpoint.known_failures.insert("lookup " + reference).second)
                spdlog::warn("endpoint '{}': cannot look the {} {} up: {}", spec.name, role, reference, e.what());
            return nullptr;
        }
        endpoint.known_failures.erase("lookup " + reference);
        const std::string key = registry::version_label(version.name, version.version);
        if (auto found = loaded.find(key); found != loaded.end() && found->second->digest() == version.digest)
            return kept[key] = found->second;
        if (auto found = kept.find(key); found != kept.end()) return found->second;
        const std::string failure = key + " " + version.digest;
        wanted_failures.insert(failure);
        const auto failed_before = endpoint.load_failures.find(failure);
        const auto now = std::chrono::steady_clock::now();
        if (failed_before != endpoint.load_failures.end() && now < failed_before->second.retry_at) {
            spdlog::debug("endpoint '{}': {} failed to load; next attempt in {} ms", spec.name, key,
                          std::chrono::duration_cast<std::chrono::milliseconds>(failed_before->second.retry_at - now).count());
            return nullptr;
        }
        try {
            auto model = load(version, db);
            if (failed_before != endpoint.load_failures.end()) {
                spdlog::info("endpoint '{}': {} loads now, after {} failed attempt(s)", spec.name, key,
                             failed_before->second.attempts);
                endpoint.load_failures.erase(failed_before);
            }
            spdlog::info("endpoint '{}': loaded {} as {} (flavor {})", spec.name, key, role, model->flavor_name());
            if (!starting)
                audit(db, "serve.load", object, nullptr, {{"role", role}, {"model", reference}, {"version", version.version},
                                                     {"digest", version.digest}});
            return kept[key] = model;
        } catch (const std::exception& e) {
            if (starting) starting_failure(reference, role, from_rollout, e);
            if (failed_before != endpoint.load_failures.end()) {
                auto& again = failed_before->second;
                again.wait = std::min<std::chrono::milliseconds>(again.wait * 2, std::chrono::hours(1));
                again.retry_at = now + again.wait;
                ++again.attempts;
                spdlog::debug("endpoint '{}': {} still cannot be served ({}); next attempt in {} s", spec.name, key,
                              e.what(), again.wait.count() / 1000);
                return nullptr;
            }
            // Loading costs a read of the model and a warm-up, and a version that fails once mostly
            // fails again: trying it every interval would spend that on every reload. Ten intervals
            // keep the first retry prompt next to how fast this server follows the registry; at
            // least a second, so that a short interval does not make it a busy loop.
            const auto first_wait = std::max<std::chrono::milliseconds>(spec_.reload_interval * 10, std::chrono::seconds(1));
            endpoint.load_failures[failure] = {now + first_wait, first_wait, 1};
            metrics_.load_failed(spec.name);
            spdlog::error("endpoint '{}': {} {} is {}, which cannot be served ({}); the endpoint keeps what it serves "
                          "and tries again in {} s",
                          spec.name, role, reference, key, e.what(), first_wait.count() / 1000);
            audit(db, "serve.load_failed", object, nullptr,
                  {{"role", role}, {"model", reference}, {"version", version.version}, {"error", e.what()}});
            return nullptr;
        }
    };

    auto next = std::make_shared<Routing>();
    next->primary = obtain(primary_ref, "primary", state && state->primary_model);
    if (!next->primary) next->primary = current->primary;
    next->percent = percent;
    if (!canary_ref.empty()) {
        next->canary = obtain(canary_ref, "canary", state && state->canary_model);
        // A new canary that cannot be served must not take the new share: the old one keeps its own.
        if (!next->canary && current) {
            next->canary = current->canary;
            next->percent = current->percent;
        }
    }
    if (!next->canary) next->percent = 0;
    if (!next->canary && percent > 0 && canary_ref.empty())
        spdlog::warn("endpoint '{}': {}% of requests should go to a canary, but none is named", spec.name, percent);
    if (spec.shadow) {
        next->shadow = obtain(spec.shadow->model, "shadow");
        if (!next->shadow && current) next->shadow = current->shadow;
    }
    for (const auto& model : {next->primary, next->canary})
        if (model && model->name() == next->primary->name()) next->versions[model->version()] = model;
    std::vector<int64_t> wanted;
    try {
        wanted = policy_versions(db, next->primary->name(), spec.versions);
    } catch (const std::exception& e) {
        if (starting) throw;
        spdlog::warn("endpoint '{}': cannot list the versions of {}: {}", spec.name, next->primary->name(), e.what());
    }
    for (const int64_t number : wanted) {
        if (next->versions.contains(number)) continue;
        if (auto model = obtain(registry::version_label(next->primary->name(), number), "version"))
            next->versions[number] = model;
        else if (current && current->versions.contains(number))
            next->versions[number] = current->versions.at(number);
    }

    // A version no role asks for any more is forgotten: asked for again later, it is new.
    std::erase_if(endpoint.load_failures, [&](const auto& entry) { return !wanted_failures.contains(entry.first); });

    if (current && current->primary == next->primary && current->canary == next->canary &&
        current->percent == next->percent && current->shadow == next->shadow && current->versions == next->versions)
        return;
    endpoint.routing.store(next);
    if (starting) {
        spdlog::info("endpoint '{}' serves {}{}", spec.name, label(next->primary),
                     next->canary ? ", " + std::to_string(next->percent) + "% to canary " + label(next->canary) : "");
        audit(db, "serve.load", object, nullptr, routing_json(endpoint));
        return;
    }
    if (current->primary != next->primary) {
        spdlog::info("endpoint '{}' switched from {} to {}", spec.name, label(current->primary), label(next->primary));
        audit(db, "serve.switch", object, {{"version", current->primary->version()}},
              {{"model", primary_ref}, {"version", next->primary->version()}, {"digest", next->primary->digest()}});
    }
    if (current->canary != next->canary || current->percent != next->percent) {
        spdlog::info("endpoint '{}': {}% of requests now go to canary {}", spec.name, next->percent, label(next->canary));
        audit(db, "serve.route", object, {{"canary", model_json(current->canary)}, {"percent", current->percent}},
              {{"canary", model_json(next->canary)}, {"percent", next->percent}});
    }
}

void InferenceServer::audit(store::Database& db, const std::string& action, const std::string& object, const json& before,
                            const json& after) {
    try {
        govern::Governance governance(db, context_.store_root, std::nullopt, unix_now());
        store::Transaction transaction(db);
        governance.audit(action, object, before, after);
        transaction.commit();
    } catch (const std::exception& e) {
        // Serving goes on; the operator learns the log missed an entry.
        spdlog::error("could not write '{}' for {} to the audit log: {}", action, object, e.what());
    }
}

void InferenceServer::reload_now() {
    for (auto& endpoint : endpoints_) {
        try {
            refresh(*endpoint, false);
        } catch (const std::exception& e) {
            spdlog::warn("endpoint '{}': cannot look its models up: {}; it serves what it served", endpoint->spec.name,
                         e.what());
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

json InferenceServer::routing_json(const Endpoint& endpoint) const {
    const auto routing = endpoint.routing.load();
    json versions = json::array();
    for (const auto& [number, model] : routing->versions) versions.push_back(number);
    json out{{"endpoint", endpoint.spec.name},
             {"primary", model_json(routing->primary)},
             {"canary", model_json(routing->canary)},
             {"percent", routing->percent},
             {"shadow", model_json(routing->shadow)},
             {"versions", versions}};
    if (endpoint.spec.canary && !endpoint.spec.canary->sticky_header.empty())
        out["sticky"] = {{"header", endpoint.spec.canary->sticky_header}};
    else if (endpoint.spec.canary && !endpoint.spec.canary->sticky_parameter.empty())
        out["sticky"] = {{"parameter", endpoint.spec.canary->sticky_parameter}};
    return out;
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
        return http::make_response(request, beast_http::status::ok,
                                   metrics_.render({&http_->counters(), prediction_log_->written(), prediction_log_->dropped()}),
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
    if (parts[1] == "admin") return handle_admin(request, parts);
    if (parts[1] != "models" || parts.size() < 3) return error_response(request, 404, "no such path: " + std::string(request.target()));
    Endpoint* endpoint = find_endpoint(parts[2]);
    if (!endpoint) {
        std::string served;
        for (const auto& e : endpoints_) served += (served.empty() ? "" : ", ") + e->spec.name;
        return error_response(request, 404, "model '" + parts[2] + "' is not served here; served: " + served);
    }
    // Holding the routing for the whole request: a switch meanwhile does not unload its models.
    const std::shared_ptr<const Routing> routing = endpoint->routing.load();
    size_t next = 3;
    std::optional<Chosen> pinned;
    if (parts.size() >= 5 && parts[3] == "versions") {
        int64_t number = 0;
        const auto [end, error] = std::from_chars(parts[4].data(), parts[4].data() + parts[4].size(), number);
        const auto found = error == std::errc() && end == parts[4].data() + parts[4].size() ? routing->versions.find(number)
                                                                                            : routing->versions.end();
        if (found == routing->versions.end()) {
            std::string served;
            for (const auto& [v, model] : routing->versions) served += (served.empty() ? "" : ", ") + std::to_string(v);
            return error_response(request, 404, "version " + parts[4] + " of model '" + parts[2] + "' is not served; " +
                                                    "served versions: " + served);
        }
        const std::string variant = found->second == routing->primary  ? "primary"
                                    : found->second == routing->canary ? "canary"
                                                                       : "version";
        pinned = Chosen{found->second, variant};
        next = 5;
    }
    if (parts.size() == next) {
        if (auto refused = only(beast_http::verb::get)) return *refused;
        const auto& model = pinned ? pinned->model : routing->primary;
        json versions = json::array();
        if (pinned) versions.push_back(std::to_string(model->version()));
        else
            for (const auto& [number, served] : routing->versions) versions.push_back(std::to_string(number));
        return json_response(request, 200,
                             {{"name", endpoint->spec.name},
                              {"versions", versions},
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
        return infer(request, *endpoint, *routing, pinned);
    }
    if (parts.size() == 4 && parts[3] == "labels") {
        if (auto refused = only(beast_http::verb::post)) return *refused;
        return post_labels(request, *endpoint);
    }
    return error_response(request, 404, "no such path: " + std::string(request.target()));
}

http::Response InferenceServer::post_labels(const http::Request& request, const Endpoint& endpoint) {
    const auto token = bearer_token(request);
    if (!token) {
        auto response = error_response(request, 401, "posting labels needs a token: Authorization: Bearer <token> "
                                                     "(trellis token create)");
        response.set(beast_http::field::www_authenticate, "Bearer");
        return response;
    }
    try {
        // Checked before the body: a caller without the right may not learn what the body lacks.
        store::MetadataStore metadata(context_.store_root);
        govern::Governance governance(metadata.db(), context_.store_root, token, unix_now());
        governance.require(govern::Role::Developer, "post labels to endpoint " + endpoint.spec.name);
        json body;
        try {
            body = json::parse(request.body());
        } catch (const json::exception& e) {
            return error_response(request, 400, std::string("request body is not valid JSON: ") + e.what());
        }
        std::vector<monitor::Label> labels;
        try {
            labels = monitor::parse_label_body(body);
        } catch (const monitor::LabelError& e) {
            return error_response(request, 400, e.what());
        }
        const auto written = monitor::store_labels(metadata.db(), endpoint.spec.name, labels, governance.who().name, unix_now());
        metrics_.labels_received(endpoint.spec.name, labels.size());
        return json_response(request, 200, {{"endpoint", endpoint.spec.name}, {"accepted", labels.size()},
                                            {"inserted", written.inserted}, {"replaced", written.replaced}});
    } catch (const govern::AccessDenied& e) {
        return access_denied_response(request, e);
    } catch (const std::exception& e) {
        return error_response(request, 500, e.what());
    }
}

InferenceServer::Chosen InferenceServer::choose(const Endpoint& endpoint, const Routing& routing,
                                                const http::Request& request, const InferRequest& decoded) const {
    if (!routing.canary || routing.percent <= 0) return {routing.primary, "primary"};
    if (routing.percent >= 100) return {routing.canary, "canary"};
    int bucket = -1;
    if (const auto& canary = endpoint.spec.canary) {
        if (!canary->sticky_header.empty()) {
            if (const auto header = request.find(canary->sticky_header); header != request.end())
                bucket = bucket_of(endpoint.spec.name, std::string_view(header->value().data(), header->value().size()));
        } else if (!canary->sticky_parameter.empty() && decoded.parameters.is_object()) {
            if (const auto key = decoded.parameters.find(canary->sticky_parameter); key != decoded.parameters.end())
                bucket = bucket_of(endpoint.spec.name, key->is_string() ? key->get_ref<const std::string&>() : key->dump());
        }
    }
    if (bucket < 0) bucket = random_bucket(); // no key: a canary share, not an A/B assignment
    return bucket < routing.percent ? Chosen{routing.canary, "canary"} : Chosen{routing.primary, "primary"};
}

http::Response InferenceServer::infer(const http::Request& request, Endpoint& endpoint, const Routing& routing,
                                      std::optional<Chosen> pinned) {
    const auto started = std::chrono::steady_clock::now();
    const double arrived = unix_now();
    std::string request_id;
    if (const auto header = request.find("X-Request-Id"); header != request.end()) request_id = std::string(header->value());
    Chosen chosen = pinned ? *pinned : Chosen{routing.primary, "primary"};
    http::Response response;
    std::shared_ptr<Table> features;
    Table predictions;
    try {
        InferRequest decoded = parse_infer_request(request.body(), spec_.max_json_depth);
        // The id is echoed in a response header: control characters would split the response.
        if (std::any_of(decoded.id.begin(), decoded.id.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
            throw ProtocolError(400, "id must not hold control characters");
        if (decoded.id.empty()) decoded.id = request_id.empty() ? new_request_id() : request_id;
        request_id = decoded.id;
        if (!pinned) chosen = choose(endpoint, routing, request, decoded);
        bind_inputs(decoded, chosen.model->inputs());
        try {
            predictions = endpoint.batcher ? endpoint.batcher->predict(chosen.model, decoded.features)
                                           : chosen.model->predict(decoded.features);
        } catch (const std::exception& e) {
            throw ProtocolError(500, "model " + label(chosen.model) + " failed to predict: " + e.what());
        }
        response = http::make_response(request, beast_http::status::ok,
                                       encode_infer_response(endpoint.spec.name, *chosen.model, decoded, predictions));
        features = std::make_shared<Table>(std::move(decoded.features));
    } catch (const ProtocolError& e) {
        response = error_response(request, e.status(), e.what());
    }
    if (!request_id.empty()) response.set("X-Request-Id", request_id);
    response.set("X-Trellis-Variant", chosen.variant);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const int status = static_cast<int>(response.result_int());
    metrics_.observe(endpoint.spec.name, chosen.model->version(), chosen.variant, status, seconds);
    if (status == 200) {
        const bool logged = prediction_log_->sampled();
        if (logged)
            prediction_log_->append({arrived, request_id, endpoint.spec.name, chosen.model->name(), chosen.model->version(),
                                     chosen.variant, status, seconds * 1000, features, std::move(predictions)});
        if (routing.shadow && !pinned) send_to_shadow(endpoint, routing.shadow, features, request_id, logged, arrived);
    }
    return response;
}

void InferenceServer::send_to_shadow(Endpoint& endpoint, const std::shared_ptr<const ServedModel>& shadow,
                                     std::shared_ptr<const Table> features, const std::string& request_id, bool logged,
                                     double time) {
    if (!endpoint.shadow_worker) return;
    // The job holds the shadow model, so a switch meanwhile does not unload it under the job.
    const bool queued = endpoint.shadow_worker->try_post([this, &endpoint, shadow, features, request_id, logged, time] {
        const auto started = std::chrono::steady_clock::now();
        Table predictions;
        int status = 200;
        try {
            Table inputs;
            for (const auto& field : shadow->inputs()) {
                const Column* column = features->find(field.name);
                if (!column) throw std::runtime_error("the request has no input '" + field.name + "'");
                inputs.add_column(*column);
            }
            predictions = shadow->predict(inputs);
        } catch (const std::exception& e) {
            status = 500;
            // The first failure is a warning (a broken shadow would otherwise show only in metrics);
            // the rest are debug lines, so a shadow failing every request does not flood the log.
            const bool first = !endpoint.shadow_failure_reported.exchange(true);
            spdlog::log(first ? spdlog::level::warn : spdlog::level::debug,
                        "endpoint '{}': shadow {} failed on request {}: {}{}", endpoint.spec.name, label(shadow),
                        request_id, e.what(), first ? " (further shadow failures are logged at debug level)" : "");
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        metrics_.observe(endpoint.spec.name, shadow->version(), "shadow", status, seconds);
        if (logged && status == 200)
            prediction_log_->append({time, request_id, endpoint.spec.name, shadow->name(), shadow->version(), "shadow",
                                     status, seconds * 1000, features, std::move(predictions)});
    });
    if (!queued) metrics_.shadow_dropped(endpoint.spec.name);
}

http::Response InferenceServer::handle_admin(const http::Request& request, const std::vector<std::string>& parts) {
    // /v2/admin/endpoints/<name>/rollout
    if (parts.size() != 5 || parts[2] != "endpoints" || parts[4] != "rollout")
        return error_response(request, 404, "no such admin path: " + std::string(request.target()) +
                                                "; the admin API is /v2/admin/endpoints/<endpoint>/rollout");
    Endpoint* endpoint = find_endpoint(parts[3]);
    if (!endpoint) return error_response(request, 404, "endpoint '" + parts[3] + "' is not served here");
    const auto token = bearer_token(request);
    if (!token) {
        auto response = error_response(request, 401, "the admin API needs a token: Authorization: Bearer <token> "
                                                     "(trellis token create)");
        response.set(beast_http::field::www_authenticate, "Bearer");
        return response;
    }
    const bool get = request.method() == beast_http::verb::get || request.method() == beast_http::verb::head;
    if (!get && request.method() != beast_http::verb::post) {
        auto response = error_response(request, 405, "use GET or POST for " + std::string(request.target()));
        response.set(beast_http::field::allow, "GET, POST");
        return response;
    }
    try {
        store::MetadataStore metadata(context_.store_root);
        govern::Governance governance(metadata.db(), context_.store_root, token, unix_now());
        if (get) {
            governance.require(govern::Role::Viewer, "see the routing of endpoint " + endpoint->spec.name);
            json out = routing_json(*endpoint);
            const auto stored = load_rollout(metadata.db(), endpoint->spec.name);
            out["stored"] = stored ? rollout_json(*stored) : json();
            return json_response(request, 200, out);
        }
        json body;
        try {
            body = json::parse(request.body());
        } catch (const json::exception& e) {
            return error_response(request, 400, std::string("request body is not valid JSON: ") + e.what());
        }
        if (!body.is_object() || !body.contains("action") || !body["action"].is_string())
            return error_response(request, 400, "action must be \"split\", \"promote\", \"rollback\" or \"clear\"");
        const std::string action = body["action"];
        std::optional<std::string> model;
        if (body.contains("model")) {
            if (!body["model"].is_string()) return error_response(request, 400, "model must be a string such as churn:3");
            model = body["model"].get<std::string>();
        }
        if (action == "split") {
            if (!body.contains("percent") || !body["percent"].is_number_integer() || body["percent"].get<int64_t>() < 0 ||
                body["percent"].get<int64_t>() > 100)
                return error_response(request, 400, "percent must be a whole number from 0 to 100");
            split_traffic(governance, endpoint->spec.name, static_cast<int>(body["percent"].get<int64_t>()), model);
        } else if (action == "promote") {
            promote_canary(governance, endpoint->spec.name, model);
        } else if (action == "rollback") {
            roll_back(governance, endpoint->spec.name);
        } else if (action == "clear") {
            clear_rollout(governance, endpoint->spec.name);
        } else {
            return error_response(request, 400, "action '" + action + "' is not split, promote, rollback or clear");
        }
        refresh(*endpoint, false); // this server applies it now; others at their next reload
        return json_response(request, 200, routing_json(*endpoint));
    } catch (const govern::AccessDenied& e) {
        return access_denied_response(request, e);
    } catch (const registry::RegistryError& e) {
        return error_response(request, 400, e.what());
    } catch (const std::exception& e) {
        return error_response(request, 500, e.what());
    }
}

} // namespace trellis::serve
