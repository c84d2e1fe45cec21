#include "plugin/host_api.hpp"

#include "plugin/config_types.hpp"
#include "log/logging.hpp"
#include "util/json_text.hpp"

#include <trellis/artifacts.hpp>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <type_traits>

namespace trellis::core {
namespace {

const nlohmann::json* config_value(StageContext* ctx, const char* key) {
    if (ctx == nullptr || key == nullptr) return nullptr;
    auto it = ctx->config.find(key);
    return it == ctx->config.end() || it->is_null() ? nullptr : &*it;
}

const char* keep_string(StageContext* ctx, const std::string& cache_key, const std::function<std::string()>& make) {
    std::lock_guard lock(ctx->mutex);
    auto found = ctx->returned_strings.find(cache_key);
    if (found == ctx->returned_strings.end()) found = ctx->returned_strings.emplace(cache_key, make()).first;
    return found->second.c_str();
}

void error_set(trellis_error* err, int32_t code, const char* message) {
    if (err == nullptr) return;
    err->code = code;
    err->message = message ? message : "";
}

void log(trellis_context* ctx, int32_t level, const char* message) {
    if (message == nullptr) return;
    // Outside a context (a plugin logging from its own thread, say) lines go to the host's logger.
    std::shared_ptr<spdlog::logger> logger;
    if (ctx) {
        std::lock_guard lock(ctx->mutex);
        if (!ctx->logger && !ctx->logger_name.empty()) ctx->logger = logging::create(ctx->logger_name);
        logger = ctx->logger;
    }
    if (!logger) logger = spdlog::default_logger();
    const auto spd_level = level <= TRELLIS_LOG_TRACE   ? spdlog::level::trace
                           : level == TRELLIS_LOG_DEBUG ? spdlog::level::debug
                           : level == TRELLIS_LOG_INFO  ? spdlog::level::info
                           : level == TRELLIS_LOG_WARN  ? spdlog::level::warn
                                                        : spdlog::level::err;
    logger->log(spd_level, "{}", message);
}

int32_t config_get_bool(trellis_context* ctx, const char* key, int32_t* out) {
    const auto* value = config_value(ctx, key);
    if (!value) return TRELLIS_ERR_NOT_FOUND;
    if (!value->is_boolean() || !out) return TRELLIS_ERR_TYPE;
    *out = value->get<bool>() ? 1 : 0;
    return TRELLIS_OK;
}

int32_t config_get_int(trellis_context* ctx, const char* key, int64_t* out) {
    const auto* value = config_value(ctx, key);
    if (!value) return TRELLIS_ERR_NOT_FOUND;
    if (!value_matches_type(*value, "int") || !out) return TRELLIS_ERR_TYPE;
    *out = value->get<int64_t>();
    return TRELLIS_OK;
}

int32_t config_get_float(trellis_context* ctx, const char* key, double* out) {
    const auto* value = config_value(ctx, key);
    if (!value) return TRELLIS_ERR_NOT_FOUND;
    if (!value->is_number() || !out) return TRELLIS_ERR_TYPE;
    *out = value->get<double>();
    return TRELLIS_OK;
}

int32_t config_get_string(trellis_context* ctx, const char* key, const char** out) {
    const auto* value = config_value(ctx, key);
    if (!value) return TRELLIS_ERR_NOT_FOUND;
    if (!out) return TRELLIS_ERR_INVALID;
    bool is_json = false;
    if (ctx->stage)
        for (const auto& candidate : ctx->stage->config)
            if (candidate.key == key) is_json = candidate.type == "json";
    if (is_json) {
        *out = keep_string(ctx, key, [&] { return dump_json(*value); });
        return TRELLIS_OK;
    }
    if (!value->is_string()) return TRELLIS_ERR_TYPE;
    *out = keep_string(ctx, key, [&] { return value->get<std::string>(); });
    return TRELLIS_OK;
}

int32_t config_get_list_size(trellis_context* ctx, const char* key, size_t* out) {
    const auto* value = config_value(ctx, key);
    if (!value) return TRELLIS_ERR_NOT_FOUND;
    if (!value_matches_type(*value, "string_list") || !out) return TRELLIS_ERR_TYPE;
    *out = value->size();
    return TRELLIS_OK;
}

int32_t config_get_list_item(trellis_context* ctx, const char* key, size_t index, const char** out) {
    const auto* value = config_value(ctx, key);
    if (!value) return TRELLIS_ERR_NOT_FOUND;
    if (!value_matches_type(*value, "string_list") || !out) return TRELLIS_ERR_TYPE;
    if (index >= value->size()) return TRELLIS_ERR_NOT_FOUND;
    *out = keep_string(ctx, std::string(key) + "\n" + std::to_string(index), [&] { return (*value)[index].get<std::string>(); });
    return TRELLIS_OK;
}

int32_t config_is_set(trellis_context* ctx, const char* key, int32_t* out) {
    if (!ctx || !key || !out) return TRELLIS_ERR_INVALID;
    *out = ctx->explicitly_set.count(key) ? 1 : 0;
    return TRELLIS_OK;
}

int32_t input_get(trellis_context* ctx, const char* port, uint32_t* type, const uint8_t** data, size_t* size) {
    if (!ctx || !port || !type || !data || !size) return TRELLIS_ERR_INVALID;
    auto it = ctx->inputs.find(port);
    if (it == ctx->inputs.end() || !it->second.loaded()) return TRELLIS_ERR_NOT_FOUND;
    *type = it->second.type;
    *data = it->second.bytes().data();
    *size = it->second.bytes().size();
    return TRELLIS_OK;
}

int32_t output_set(trellis_context* ctx, const char* port, uint32_t type, const uint8_t* data, size_t size) {
    if (!ctx || !port || (!data && size > 0)) return TRELLIS_ERR_INVALID;
    if (ctx->stage) {
        const PortManifest* declared = nullptr;
        for (const auto& output : ctx->stage->outputs)
            if (output.name == port) declared = &output;
        if (!declared) return TRELLIS_ERR_NOT_FOUND;
        if (artifact_type_name(type) != declared->artifact_type) return TRELLIS_ERR_TYPE;
    }
    auto artifact = ArtifactBytes::own(type, std::vector<uint8_t>(data, data + size));
    std::lock_guard lock(ctx->mutex);
    ctx->outputs[port] = std::move(artifact);
    return TRELLIS_OK;
}

int32_t fail_with(trellis_context* ctx, int32_t status, const std::string& message) {
    std::lock_guard lock(ctx->mutex);
    ctx->last_error = message;
    return status;
}

int32_t metric_log(trellis_context* ctx, const char* name, double value, int64_t step) {
    if (!ctx || !name || !*name) return TRELLIS_ERR_INVALID;
    std::lock_guard lock(ctx->mutex);
    ctx->metrics.push_back({name, value, step});
    return TRELLIS_OK;
}

int32_t param_log(trellis_context* ctx, const char* key, const char* value_json) {
    if (!ctx || !key || !*key || !value_json) return TRELLIS_ERR_INVALID;
    nlohmann::json value = nlohmann::json::parse(value_json, nullptr, false);
    if (value.is_discarded()) return fail_with(ctx, TRELLIS_ERR_INVALID, std::string("param '") + key + "': not JSON text");
    std::lock_guard lock(ctx->mutex);
    ctx->params[key] = std::move(value);
    return TRELLIS_OK;
}

int32_t model_register(trellis_context* ctx, const char* input_port, const char* name, int64_t version, const char* uri) {
    if (!ctx || !input_port || !name || !*name || version < 0) return TRELLIS_ERR_INVALID;
    if (!ctx->stage) return fail_with(ctx, TRELLIS_ERR_INVALID, "model_register is only for stage executions");
    auto it = ctx->inputs.find(input_port);
    if (it == ctx->inputs.end() || !it->second.loaded())
        return fail_with(ctx, TRELLIS_ERR_NOT_FOUND, std::string("model_register: no input '") + input_port + "'");
    if (it->second.type != TRELLIS_ARTIFACT_MODEL)
        return fail_with(ctx, TRELLIS_ERR_TYPE, std::string("model_register: input '") + input_port + "' is not a model");
    std::lock_guard lock(ctx->mutex);
    ctx->registrations.push_back({input_port, name, version, uri ? uri : ""});
    return TRELLIS_OK;
}

const char* scratch_dir(trellis_context* ctx) {
    if (!ctx) return "";
    std::lock_guard lock(ctx->mutex);
    if (!ctx->scratch_created && !ctx->scratch_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(ctx->scratch_dir, ec);
        ctx->scratch_created = !ec;
    }
    return ctx->scratch_dir.c_str();
}

int32_t is_cancelled(trellis_context* ctx) { return ctx && ctx->cancelled && ctx->cancelled->load() ? 1 : 0; }

int32_t buffer_set(trellis_buffer* buffer, const uint8_t* data, size_t size) {
    if (!buffer || (!data && size > 0)) return TRELLIS_ERR_INVALID;
    buffer->bytes.assign(data, data + size);
    return TRELLIS_OK;
}

int32_t model_predict(trellis_context* ctx, const uint8_t* model, size_t model_size, const uint8_t* table,
                      size_t table_size, const uint8_t** out, size_t* out_size) {
    if (!ctx || !model || !table || !out || !out_size) return TRELLIS_ERR_INVALID;
    std::string flavor_name;
    try {
        flavor_name = deserialize_model(std::span<const uint8_t>(model, model_size)).flavor;
    } catch (const std::exception& e) {
        return fail_with(ctx, TRELLIS_ERR_INVALID, e.what());
    }
    if (!ctx->flavors) return fail_with(ctx, TRELLIS_ERR_NOT_FOUND, "no model flavors are available here");
    FlavorEntry entry;
    try {
        entry = ctx->flavors(flavor_name);
    } catch (const std::exception& e) {
        return fail_with(ctx, TRELLIS_ERR_NOT_FOUND, e.what());
    }
    // The flavor's own calls get a context with only a logger: it has no config, inputs or outputs.
    trellis_context flavor_context;
    {
        // The flavor logs under the stage's name; the stage's own threads may be logging too.
        std::lock_guard lock(ctx->mutex);
        flavor_context.logger = ctx->logger;
        flavor_context.logger_name = ctx->logger_name;
    }
    trellis_error error;
    trellis_predictor* predictor = nullptr;
    int32_t status = entry.flavor->load(host_api(), &flavor_context, model, model_size, &predictor, &error);
    if (status != TRELLIS_OK || !predictor)
        return fail_with(ctx, status == TRELLIS_OK ? TRELLIS_ERR_FAILED : status,
                         "could not load the model: " + error.message);
    trellis_buffer buffer;
    status = entry.flavor->predict(host_api(), &flavor_context, predictor, table, table_size, &buffer, &error);
    entry.flavor->destroy(predictor);
    if (status != TRELLIS_OK) return fail_with(ctx, status, error.message); // the SDK names the flavor
    std::lock_guard lock(ctx->mutex);
    const auto& kept = ctx->kept_buffers.emplace_back(std::move(buffer.bytes));
    *out = kept.data();
    *out_size = kept.size();
    return TRELLIS_OK;
}

int32_t progress_report(trellis_context* ctx, double done, double total) {
    if (!ctx || !(done >= 0) || !(total >= 0)) return TRELLIS_ERR_INVALID; // also refuses NaN
    if (ctx->progress) {
        ctx->progress->total.store(total);
        ctx->progress->done.store(done);
        return TRELLIS_OK;
    }
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(ctx->mutex);
        // The final report (done reaches a known total) always gets its line; with an unknown
        // total (0) every report is throttled, or a per-row call would flood the log.
        const bool finished = total > 0 && done >= total;
        if (now - ctx->last_progress_line < std::chrono::seconds(5) && !finished) return TRELLIS_OK;
        ctx->last_progress_line = now;
    }
    char line[96];
    if (total > 0) std::snprintf(line, sizeof line, "progress: %.0f of %.0f (%.0f%%)", done, total, 100 * done / total);
    else std::snprintf(line, sizeof line, "progress: %.0f", done);
    log(ctx, TRELLIS_LOG_INFO, line);
    return TRELLIS_OK;
}

const char* last_error(trellis_context* ctx) {
    if (!ctx) return "";
    std::lock_guard lock(ctx->mutex);
    return ctx->last_error.c_str();
}

// Wraps a host function so that nothing it throws (bad_alloc, a logger failure) unwinds into the
// plugin's C frames: the plugin gets TRELLIS_ERR_INTERNAL, an empty string, or nothing.
template <auto F> struct NoThrow;
template <class R, class... Args, R (*F)(Args...)> struct NoThrow<F> {
    static R call(Args... args) noexcept {
        try {
            return F(args...);
        } catch (...) {
            if constexpr (std::is_void_v<R>) return;
            else if constexpr (std::is_pointer_v<R>) return "";
            else return TRELLIS_ERR_INTERNAL;
        }
    }
};

const trellis_host_api the_host_api = {
    sizeof(trellis_host_api),
    {TRELLIS_API_MAJOR, TRELLIS_API_MINOR},
    &NoThrow<&error_set>::call,
    &NoThrow<&log>::call,
    &NoThrow<&config_get_bool>::call,
    &NoThrow<&config_get_int>::call,
    &NoThrow<&config_get_float>::call,
    &NoThrow<&config_get_string>::call,
    &NoThrow<&config_get_list_size>::call,
    &NoThrow<&config_get_list_item>::call,
    &NoThrow<&config_is_set>::call,
    &NoThrow<&input_get>::call,
    &NoThrow<&output_set>::call,
    &NoThrow<&metric_log>::call,
    &NoThrow<&scratch_dir>::call,
    &NoThrow<&is_cancelled>::call,
    &NoThrow<&buffer_set>::call,
    &NoThrow<&model_predict>::call,
    &NoThrow<&last_error>::call,
    &NoThrow<&param_log>::call,
    &NoThrow<&model_register>::call,
    &NoThrow<&progress_report>::call,
};

} // namespace

const trellis_host_api* host_api() { return &the_host_api; }

std::string status_name(int32_t status) {
    switch (status) {
    case TRELLIS_OK: return "ok";
    case TRELLIS_ERR_FAILED: return "failed";
    case TRELLIS_ERR_INVALID: return "invalid";
    case TRELLIS_ERR_NOT_FOUND: return "not found";
    case TRELLIS_ERR_TYPE: return "type error";
    case TRELLIS_ERR_CANCELLED: return "cancelled";
    case TRELLIS_ERR_INTERNAL: return "internal error";
    default: return "status " + std::to_string(status);
    }
}

FingerprintOutcome invoke_fingerprint(trellis_stage_fingerprint_fn fingerprint, StageContext& context) {
    trellis_error error;
    trellis_buffer buffer;
    int32_t cacheable = 1;
    FingerprintOutcome outcome;
    try {
        outcome.status = fingerprint(host_api(), &context, &buffer, &cacheable, &error);
    } catch (...) {
        outcome.status = TRELLIS_ERR_INTERNAL;
        error.message = "the stage let an exception escape its fingerprint entry point";
    }
    if (!outcome.ok()) {
        outcome.message = error.message.empty() ? "fingerprint returned " + status_name(outcome.status) : error.message;
        return outcome;
    }
    outcome.text.assign(buffer.bytes.begin(), buffer.bytes.end());
    outcome.cacheable = cacheable != 0;
    return outcome;
}

StageOutcome invoke_stage(trellis_stage_run_fn run, StageContext& context) {
    trellis_error error;
    int32_t status = TRELLIS_OK;
    try {
        status = run(host_api(), &context, &error);
    } catch (...) { // only a plugin that bypasses the SDK's guard can get here
        return {TRELLIS_ERR_INTERNAL, "the stage let an exception escape its entry point"};
    }
    if (status != TRELLIS_OK) {
        std::string message = error.message.empty() ? "stage returned " + status_name(status) : error.message;
        return {status, std::move(message)};
    }
    if (context.stage)
        for (const auto& output : context.stage->outputs)
            if (!context.outputs.count(output.name))
                return {TRELLIS_ERR_FAILED, "stage did not set its output '" + output.name + "'"};
    return {};
}

} // namespace trellis::core
