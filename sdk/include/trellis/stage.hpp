// The C++ layer plugin authors write stages against: a base class per stage kind, a declarative
// stage spec (ports and a typed config schema), and the Context a stage's run() receives.
// Everything here is header-only and talks to the host only through trellis_host_api.
#pragma once

#include <trellis/artifacts.hpp>
#include <trellis/json.hpp>
#include <trellis/plugin_abi.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace trellis {

/// The five stage kinds; values match trellis_stage_kind.
enum class StageKind : uint32_t { Data = 1, Train = 2, Deploy = 3, Monitor = 4, Govern = 5 };

/// Lower-case name of a stage kind ("data", "train", ...).
inline std::string_view to_string(StageKind kind) {
    switch (kind) {
    case StageKind::Data: return "data";
    case StageKind::Train: return "train";
    case StageKind::Deploy: return "deploy";
    case StageKind::Monitor: return "monitor";
    case StageKind::Govern: return "govern";
    }
    return "unknown";
}

/// Types of config values; values match trellis_value_type.
enum class ValueType : uint32_t { Bool = 1, Int = 2, Float = 3, String = 4, StringList = 5, Json = 6 };

/// Lower-case name of a config value type ("bool", "int", "float", "string", "string_list", "json").
inline std::string_view to_string(ValueType type) {
    switch (type) {
    case ValueType::Bool: return "bool";
    case ValueType::Int: return "int";
    case ValueType::Float: return "float";
    case ValueType::String: return "string";
    case ValueType::StringList: return "string_list";
    case ValueType::Json: return "json";
    }
    return "unknown";
}

/// An error a plugin throws to fail its stage with a specific trellis_status code.
class Error : public std::runtime_error {
public:
    /// Makes an error with `code` (a trellis_status) and a message naming what is at fault.
    Error(int32_t code, const std::string& message) : std::runtime_error(message), code_(code) {}
    /// The trellis_status this error reports across the boundary.
    int32_t code() const noexcept { return code_; }

private:
    int32_t code_;
};

/// Thrown by Context::throw_if_cancelled() when the run was cancelled.
class Cancelled : public Error {
public:
    /// Makes the cancellation error.
    Cancelled() : Error(TRELLIS_ERR_CANCELLED, "cancelled") {}
};

namespace detail {
/// Quotes a string as a JSON string literal; used to write config defaults.
inline std::string json_quote(std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                static const char hex[] = "0123456789abcdef";
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    return out + "\"";
}
} // namespace detail

/// A declared input or output port.
struct PortSpec {
    std::string name;       ///< port name
    ArtifactType type;      ///< artifact type flowing through it
    std::string doc;        ///< one-line description
    bool optional = false;  ///< inputs only: may be left unconnected
};

/// A declared configuration key.
struct ConfigKeySpec {
    std::string key;           ///< key name
    ValueType type;            ///< value type
    bool required = false;     ///< the pipeline must set it
    std::string default_json;  ///< default as JSON text; empty for none
    std::string doc;           ///< one-line description
};

/// What a stage declares about itself: name, ports and config schema. Built fluently in the
/// stage class's static spec() function, e.g.
///   return StageSpec("data.csv", "Reads a CSV file").output("table", ArtifactType::Table)
///          .required("path", ValueType::String, "file to read").option_bool("header", true);
class StageSpec {
public:
    /// Starts a spec for the stage `name` (as pipelines call it) with a one-line description.
    StageSpec(std::string name, std::string description)
        : name_(std::move(name)), description_(std::move(description)) {}

    /// Declares a required input.
    StageSpec& input(std::string name, ArtifactType type, std::string doc = {}) {
        inputs_.push_back({std::move(name), type, std::move(doc), false});
        return *this;
    }
    /// Declares an input that may be left unconnected (check Context::has_input).
    StageSpec& optional_input(std::string name, ArtifactType type, std::string doc = {}) {
        inputs_.push_back({std::move(name), type, std::move(doc), true});
        return *this;
    }
    /// Declares an output.
    StageSpec& output(std::string name, ArtifactType type, std::string doc = {}) {
        outputs_.push_back({std::move(name), type, std::move(doc), false});
        return *this;
    }
    /// Declares a config key the pipeline must set.
    StageSpec& required(std::string key, ValueType type, std::string doc = {}) {
        config_.push_back({std::move(key), type, true, {}, std::move(doc)});
        return *this;
    }
    /// Declares an optional config key with no default (check Context::config_is_set).
    StageSpec& optional(std::string key, ValueType type, std::string doc = {}) {
        config_.push_back({std::move(key), type, false, {}, std::move(doc)});
        return *this;
    }
    /// Declares a bool config key with a default.
    StageSpec& option_bool(std::string key, bool fallback, std::string doc = {}) {
        return add_default(std::move(key), ValueType::Bool, fallback ? "true" : "false", std::move(doc));
    }
    /// Declares an int config key with a default.
    StageSpec& option_int(std::string key, int64_t fallback, std::string doc = {}) {
        return add_default(std::move(key), ValueType::Int, std::to_string(fallback), std::move(doc));
    }
    /// Declares a float config key with a default.
    StageSpec& option_float(std::string key, double fallback, std::string doc = {}) {
        char text[64];
        std::snprintf(text, sizeof text, "%.17g", fallback);
        return add_default(std::move(key), ValueType::Float, text, std::move(doc));
    }
    /// Declares a string config key with a default.
    StageSpec& option_string(std::string key, std::string_view fallback, std::string doc = {}) {
        return add_default(std::move(key), ValueType::String, detail::json_quote(fallback), std::move(doc));
    }
    /// Declares a string-list config key with a default.
    StageSpec& option_string_list(std::string key, const std::vector<std::string>& fallback, std::string doc = {}) {
        std::string json = "[";
        for (size_t i = 0; i < fallback.size(); ++i) {
            if (i) json += ',';
            json += detail::json_quote(fallback[i]);
        }
        json += ']';
        return add_default(std::move(key), ValueType::StringList, std::move(json), std::move(doc));
    }
    /// Declares a JSON config key with a default given as JSON text.
    StageSpec& option_json(std::string key, std::string default_json, std::string doc = {}) {
        return add_default(std::move(key), ValueType::Json, std::move(default_json), std::move(doc));
    }

    /// The stage's name.
    const std::string& name() const { return name_; }
    /// The stage's one-line description.
    const std::string& description() const { return description_; }
    /// Declared inputs, in declaration order.
    const std::vector<PortSpec>& inputs() const { return inputs_; }
    /// Declared outputs, in declaration order.
    const std::vector<PortSpec>& outputs() const { return outputs_; }
    /// Declared config keys, in declaration order.
    const std::vector<ConfigKeySpec>& config() const { return config_; }

private:
    StageSpec& add_default(std::string key, ValueType type, std::string json, std::string doc) {
        config_.push_back({std::move(key), type, false, std::move(json), std::move(doc)});
        return *this;
    }

    std::string name_;
    std::string description_;
    std::vector<PortSpec> inputs_;
    std::vector<PortSpec> outputs_;
    std::vector<ConfigKeySpec> config_;
};

/// Writes log lines through the stage's own named logger in the host.
class Logger {
public:
    /// Wraps the host's logger for one execution.
    Logger(const trellis_host_api* host, trellis_context* ctx) : host_(host), ctx_(ctx) {}
    /// Logs at trace level.
    void trace(const std::string& message) const { write(TRELLIS_LOG_TRACE, message); }
    /// Logs at debug level.
    void debug(const std::string& message) const { write(TRELLIS_LOG_DEBUG, message); }
    /// Logs at info level.
    void info(const std::string& message) const { write(TRELLIS_LOG_INFO, message); }
    /// Logs at warning level.
    void warn(const std::string& message) const { write(TRELLIS_LOG_WARN, message); }
    /// Logs at error level.
    void error(const std::string& message) const { write(TRELLIS_LOG_ERROR, message); }

private:
    void write(int32_t level, const std::string& message) const { host_->log(ctx_, level, message.c_str()); }
    const trellis_host_api* host_;
    trellis_context* ctx_;
};

/// What a stage's run() receives: its validated config, its inputs, its outputs, its logger,
/// metric logging, a scratch directory and the cancellation flag. Valid only during run().
class Context {
public:
    /// Wraps the host's context for one execution.
    Context(const trellis_host_api* host, trellis_context* ctx) : host_(host), ctx_(ctx), logger_(host, ctx) {}

    /// The validated value of config key `key`, as bool, int64_t, double, std::string or
    /// std::vector<std::string> (json keys read as std::string holding JSON text).
    template <class T> T config(const std::string& key) const;

    /// Whether the pipeline set `key` explicitly.
    bool config_is_set(const std::string& key) const {
        int32_t out = 0;
        check(host_->config_is_set(ctx_, key.c_str(), &out), "config key '" + key + "'");
        return out != 0;
    }

    /// Whether optional input `port` is connected.
    bool has_input(const std::string& port) const {
        uint32_t type = 0;
        const uint8_t* data = nullptr;
        size_t size = 0;
        return host_->input_get(ctx_, port.c_str(), &type, &data, &size) == TRELLIS_OK;
    }

    /// Input `port` deserialised as artifact type T (Table, Model, Metrics, Report, FileRef, DirectoryRef).
    template <class T> T input(const std::string& port) const {
        auto [data, size] = input_bytes(port, ArtifactTraits<T>::type);
        return ArtifactTraits<T>::deserialize(std::span<const uint8_t>(data, size));
    }

    /// Raw serialised bytes of input `port`, checked to be of artifact `type`; valid during run().
    std::pair<const uint8_t*, size_t> input_bytes(const std::string& port, ArtifactType type) const {
        uint32_t actual = 0;
        const uint8_t* data = nullptr;
        size_t size = 0;
        check(host_->input_get(ctx_, port.c_str(), &actual, &data, &size), "input '" + port + "'");
        if (actual != static_cast<uint32_t>(type))
            throw Error(TRELLIS_ERR_TYPE, "input '" + port + "' holds a " +
                                              std::string(to_string(static_cast<ArtifactType>(actual))) +
                                              ", not a " + std::string(to_string(type)));
        return {data, size};
    }

    /// Sets output `port` to `value` (Table, Model, Metrics, Report, FileRef, DirectoryRef).
    template <class T> void output(const std::string& port, const T& value) {
        const std::vector<uint8_t> bytes = ArtifactTraits<T>::serialize(value);
        check(host_->output_set(ctx_, port.c_str(), static_cast<uint32_t>(ArtifactTraits<T>::type), bytes.data(),
                                bytes.size()),
              "output '" + port + "'");
    }

    /// Logs metric `name` with `value` at `step` (0 for a scalar metric).
    void log_metric(const std::string& name, double value, int64_t step = 0) {
        check(host_->metric_log(ctx_, name.c_str(), value, step), "metric '" + name + "'");
    }

    /// Logs param `key` of this execution, given as JSON text; shown by `trellis runs show` and
    /// compared by `trellis runs compare`. Needs a host of API 1.2 or newer (ignored by older ones).
    void log_param_json(const std::string& key, const std::string& value_json) {
        if (!host_has(offsetof(trellis_host_api, param_log) + sizeof(host_->param_log))) return;
        check(host_->param_log(ctx_, key.c_str(), value_json.c_str()), "param '" + key + "'");
    }
    /// Logs a text param.
    void log_param(const std::string& key, const std::string& value) { log_param_json(key, json_string(value)); }
    /// Logs a text param.
    void log_param(const std::string& key, const char* value) { log_param_json(key, json_string(value)); }
    /// Logs a number param.
    void log_param(const std::string& key, double value) { log_param_json(key, json_number(value)); }
    /// Logs an integer param.
    void log_param(const std::string& key, int64_t value) { log_param_json(key, std::to_string(value)); }
    /// Logs an integer param.
    void log_param(const std::string& key, int value) { log_param_json(key, std::to_string(value)); }
    /// Logs a true/false param.
    void log_param(const std::string& key, bool value) { log_param_json(key, value ? "true" : "false"); }

    /// Registers the Model on input `port` in the host's model registry as `name` at `version`
    /// (0: the next free one), published at `uri` (may be empty). The host records it when the
    /// stage succeeds. Returns false on a host older than API 1.2, which has no registry.
    bool register_model(const std::string& port, const std::string& name, int64_t version = 0,
                        const std::string& uri = "") {
        if (!host_has(offsetof(trellis_host_api, model_register) + sizeof(host_->model_register))) return false;
        const int32_t status = host_->model_register(ctx_, port.c_str(), name.c_str(), version, uri.c_str());
        if (status != TRELLIS_OK) {
            const char* why = host_->last_error(ctx_);
            throw Error(status, "registering model '" + name + "': " + (why && *why ? why : "failed"));
        }
        return true;
    }

    /// The stage's logger.
    const Logger& log() const { return logger_; }

    /// A directory private to this execution; the host removes it afterwards.
    std::filesystem::path scratch_dir() const { return host_->scratch_dir(ctx_); }

    /// Predictions of `model` for the rows of `features`, made by whichever installed plugin
    /// provides the model's flavor: an evaluation or monitoring stage need not know how a model
    /// was trained. Needs a host of API 1.1 or newer; throws Error on failure.
    Table predict(const Model& model, const Table& features) const {
        if (host_->struct_size < offsetof(trellis_host_api, last_error) + sizeof(host_->last_error))
            throw Error(TRELLIS_ERR_FAILED, "this trellis host is too old to predict (needs plugin API 1.1)");
        const std::vector<uint8_t> model_bytes = serialize(model);
        const std::vector<uint8_t> table_bytes = serialize(features);
        const uint8_t* out = nullptr;
        size_t out_size = 0;
        const int32_t status = host_->model_predict(ctx_, model_bytes.data(), model_bytes.size(), table_bytes.data(),
                                                    table_bytes.size(), &out, &out_size);
        if (status != TRELLIS_OK) {
            const char* why = host_->last_error(ctx_);
            throw Error(status, "predicting with flavor '" + model.flavor + "': " + (why ? why : "failed"));
        }
        return deserialize_table(std::span<const uint8_t>(out, out_size));
    }

    /// Whether the host's function table reaches `end` bytes, i.e. has the functions before it.
    bool host_has(size_t end) const { return host_->struct_size >= end; }

    /// Reports that `done` of `total` units of work (rounds, rows...) are finished; the host shows
    /// it in the run's status line. Cheap: call it every iteration. Does nothing on a host older
    /// than API 1.3.
    void progress(double done, double total) const {
        if (host_has(offsetof(trellis_host_api, progress_report) + sizeof(host_->progress_report)) &&
            host_->progress_report)
            host_->progress_report(ctx_, done, total);
    }

    /// Whether the run was cancelled.
    bool cancelled() const { return host_->is_cancelled(ctx_) != 0; }

    /// Throws Cancelled if the run was cancelled; call it in long loops.
    void throw_if_cancelled() const {
        if (cancelled()) throw Cancelled();
    }

private:
    static void check(int32_t status, const std::string& what) {
        if (status == TRELLIS_OK) return;
        switch (status) {
        case TRELLIS_ERR_NOT_FOUND: throw Error(status, what + " does not exist or is not set");
        case TRELLIS_ERR_TYPE: throw Error(status, what + " has another type");
        default: throw Error(status, what + ": host call failed with status " + std::to_string(status));
        }
    }

    const trellis_host_api* host_;
    trellis_context* ctx_;
    Logger logger_;
};

template <> inline bool Context::config<bool>(const std::string& key) const {
    int32_t out = 0;
    check(host_->config_get_bool(ctx_, key.c_str(), &out), "config key '" + key + "'");
    return out != 0;
}
template <> inline int64_t Context::config<int64_t>(const std::string& key) const {
    int64_t out = 0;
    check(host_->config_get_int(ctx_, key.c_str(), &out), "config key '" + key + "'");
    return out;
}
template <> inline double Context::config<double>(const std::string& key) const {
    double out = 0;
    check(host_->config_get_float(ctx_, key.c_str(), &out), "config key '" + key + "'");
    return out;
}
template <> inline std::string Context::config<std::string>(const std::string& key) const {
    const char* out = nullptr;
    check(host_->config_get_string(ctx_, key.c_str(), &out), "config key '" + key + "'");
    return out ? out : "";
}
template <> inline std::vector<std::string> Context::config<std::vector<std::string>>(const std::string& key) const {
    size_t size = 0;
    check(host_->config_get_list_size(ctx_, key.c_str(), &size), "config key '" + key + "'");
    std::vector<std::string> items;
    items.reserve(size);
    for (size_t i = 0; i < size; ++i) {
        const char* item = nullptr;
        check(host_->config_get_list_item(ctx_, key.c_str(), i, &item), "config key '" + key + "'");
        items.emplace_back(item ? item : "");
    }
    return items;
}

/// What a stage's optional `static CacheFingerprint fingerprint(Context&)` returns: a text that
/// stands for what the stage reads from outside its inputs and config (a database table's row
/// count and max id, say), mixed into its cache key, or always_run() for a stage that must not be
/// answered from the cache. The host calls it before the cache lookup, with the stage's config
/// readable and no inputs. Needs a host of API 1.3 or newer (older hosts never call it).
struct CacheFingerprint {
    std::string text;       ///< mixed into the stage's cache key
    bool cacheable = true;  ///< false: run every time

    /// A fingerprint that never matches the cache: the stage runs every time.
    static CacheFingerprint always_run() { return CacheFingerprint{"", false}; }
};

/// Base of every stage. A stage class derives from one of the kind aliases below, has a
/// `static StageSpec spec()`, and overrides run(). One instance is made per execution. It may
/// also have a `static CacheFingerprint fingerprint(Context&)` (see CacheFingerprint).
class Stage {
public:
    virtual ~Stage() = default;
    /// Does the stage's work: read inputs and config from `ctx`, set every output. Throw to fail.
    virtual void run(Context& ctx) = 0;
};

/// Base of stages of one kind; the kind is read from the base class by the export macro.
template <StageKind Kind> class StageOf : public Stage {
public:
    /// The kind of stages deriving from this base.
    static constexpr StageKind kind = Kind;
};

using DataStage = StageOf<StageKind::Data>;       ///< base for data stages
using TrainStage = StageOf<StageKind::Train>;     ///< base for train stages
using DeployStage = StageOf<StageKind::Deploy>;   ///< base for deploy stages
using MonitorStage = StageOf<StageKind::Monitor>; ///< base for monitor stages
using GovernStage = StageOf<StageKind::Govern>;   ///< base for govern stages

} // namespace trellis
