// Turns C++ stage and flavor classes into the C descriptor the host reads, and catches every
// exception at the boundary. A plugin's source ends with one line:
//
//   TRELLIS_PLUGIN(plugin_info, CsvReader, Splitter, LinearFlavor)
//
// where plugin_info is a trellis::PluginInfo object and the rest are stage and flavor classes.
#pragma once

#include <trellis/flavor.hpp>
#include <trellis/plugin_abi.h>
#include <trellis/stage.hpp>

#include <concepts>
#include <deque>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace trellis {

/// Who made a plugin and what it is; becomes the descriptor's identity fields.
struct PluginInfo {
    const char* name = "";        ///< unique plugin name, [a-z0-9][a-z0-9_.-]*
    const char* version = "";     ///< plugin version, e.g. "1.0.0"
    const char* vendor = "";      ///< who ships it
    const char* license = "";     ///< SPDX identifier
    const char* description = ""; ///< one line
    void (*init)() = nullptr;     ///< optional one-time set-up; throw to refuse loading
};

namespace detail {

/// Runs `body` and turns any exception into an error value; nothing propagates to the host.
template <class Body> int32_t guard(const trellis_host_api* host, trellis_error* err, Body&& body) noexcept {
    try {
        body();
        return TRELLIS_OK;
    } catch (const Error& e) {
        host->error_set(err, e.code(), e.what());
        return e.code() == TRELLIS_OK ? TRELLIS_ERR_FAILED : e.code();
    } catch (const std::invalid_argument& e) { // bad config or input data
        host->error_set(err, TRELLIS_ERR_INVALID, e.what());
        return TRELLIS_ERR_INVALID;
    } catch (const std::exception& e) {
        host->error_set(err, TRELLIS_ERR_FAILED, e.what());
        return TRELLIS_ERR_FAILED;
    } catch (...) {
        host->error_set(err, TRELLIS_ERR_INTERNAL, "unknown exception thrown by the plugin");
        return TRELLIS_ERR_INTERNAL;
    }
}

template <class S>
int32_t run_stage(const trellis_host_api* host, trellis_context* ctx, trellis_error* err) noexcept {
    return guard(host, err, [&] {
        S stage;
        Context context(host, ctx);
        stage.run(context);
    });
}

/// Whether stage class S has a `static CacheFingerprint fingerprint(Context&)`.
template <class S>
concept HasFingerprint = requires(Context& ctx) {
    { S::fingerprint(ctx) } -> std::convertible_to<CacheFingerprint>;
};

template <class S>
int32_t fingerprint_stage(const trellis_host_api* host, trellis_context* ctx, trellis_buffer* out, int32_t* cacheable,
                          trellis_error* err) noexcept {
    return guard(host, err, [&] {
        Context context(host, ctx);
        const CacheFingerprint fingerprint = S::fingerprint(context);
        if (cacheable) *cacheable = fingerprint.cacheable ? 1 : 0;
        if (host->buffer_set(out, reinterpret_cast<const uint8_t*>(fingerprint.text.data()), fingerprint.text.size()) !=
            TRELLIS_OK)
            throw Error(TRELLIS_ERR_FAILED, "host refused the fingerprint buffer");
    });
}

template <class F>
int32_t load_flavor(const trellis_host_api* host, trellis_context*, const uint8_t* model, size_t size,
                    trellis_predictor** out, trellis_error* err) noexcept {
    return guard(host, err, [&] {
        std::unique_ptr<Predictor> predictor = F::load(deserialize_model(std::span<const uint8_t>(model, size)));
        if (!predictor) throw Error(TRELLIS_ERR_FAILED, "flavor returned no predictor");
        *out = reinterpret_cast<trellis_predictor*>(predictor.release());
    });
}

inline int32_t predict_flavor(const trellis_host_api* host, trellis_context*, trellis_predictor* predictor,
                              const uint8_t* table, size_t size, trellis_buffer* out, trellis_error* err) noexcept {
    return guard(host, err, [&] {
        Table result = reinterpret_cast<Predictor*>(predictor)->predict(
            deserialize_table(std::span<const uint8_t>(table, size)));
        const std::vector<uint8_t> bytes = serialize(result);
        if (host->buffer_set(out, bytes.data(), bytes.size()) != TRELLIS_OK)
            throw Error(TRELLIS_ERR_FAILED, "host refused the prediction buffer");
    });
}

inline void destroy_flavor(trellis_predictor* predictor) noexcept {
    delete reinterpret_cast<Predictor*>(predictor);
}

/// Owns the C descriptor and every string and array it points into, so pointers stay stable.
class DescriptorBuilder {
public:
    template <class... Parts> static std::unique_ptr<DescriptorBuilder> make(const PluginInfo& info) {
        auto builder = std::unique_ptr<DescriptorBuilder>(new DescriptorBuilder());
        (builder->add<Parts>(), ...);
        builder->finish(info);
        return builder;
    }

    const trellis_plugin_descriptor* get() const { return &descriptor_; }
    void set_init(trellis_plugin_init_fn init) { descriptor_.init = init; }

private:
    DescriptorBuilder() = default;

    const char* keep(const std::string& text) { return strings_.emplace_back(text).c_str(); }

    template <class Part> void add() {
        if constexpr (std::is_base_of_v<Stage, Part>) {
            trellis_stage_fingerprint_fn fingerprint = nullptr;
            if constexpr (HasFingerprint<Part>) fingerprint = &fingerprint_stage<Part>;
            add_stage(Part::spec(), static_cast<uint32_t>(Part::kind), &run_stage<Part>, fingerprint);
        } else {
            static_assert(std::is_base_of_v<Flavor, Part>,
                          "TRELLIS_PLUGIN takes stage classes (derived from a trellis::*Stage) and "
                          "flavor classes (derived from trellis::Flavor)");
            const FlavorSpec spec = Part::spec();
            trellis_flavor_descriptor flavor{};
            flavor.name = keep(spec.name);
            flavor.description = keep(spec.description);
            flavor.load = &load_flavor<Part>;
            flavor.predict = &predict_flavor;
            flavor.destroy = &destroy_flavor;
            flavors_.push_back(flavor);
        }
    }

    std::vector<trellis_port>& keep_ports(const std::vector<PortSpec>& ports) {
        auto& out = port_arrays_.emplace_back();
        for (const PortSpec& port : ports)
            out.push_back({keep(port.name), static_cast<uint32_t>(port.type),
                           port.optional ? TRELLIS_PORT_OPTIONAL : 0u, keep(port.doc), {}});
        return out;
    }

    void add_stage(const StageSpec& spec, uint32_t kind, trellis_stage_run_fn run, trellis_stage_fingerprint_fn fingerprint) {
        trellis_stage_descriptor stage{};
        stage.kind = kind;
        stage.name = keep(spec.name());
        stage.description = keep(spec.description());
        const auto& inputs = keep_ports(spec.inputs());
        stage.inputs = inputs.data();
        stage.input_count = static_cast<uint32_t>(inputs.size());
        const auto& outputs = keep_ports(spec.outputs());
        stage.outputs = outputs.data();
        stage.output_count = static_cast<uint32_t>(outputs.size());
        auto& keys = config_arrays_.emplace_back();
        for (const ConfigKeySpec& key : spec.config())
            keys.push_back({keep(key.key), static_cast<uint32_t>(key.type), key.required ? 1u : 0u,
                            key.default_json.empty() ? nullptr : keep(key.default_json), keep(key.doc), {}});
        stage.config = keys.data();
        stage.config_count = static_cast<uint32_t>(keys.size());
        stage.run = run;
        stage.fingerprint = fingerprint;
        stages_.push_back(stage);
    }

    void finish(const PluginInfo& info) {
        descriptor_.struct_size = sizeof(trellis_plugin_descriptor);
        descriptor_.name = keep(info.name ? info.name : "");
        descriptor_.version = keep(info.version ? info.version : "");
        descriptor_.vendor = keep(info.vendor ? info.vendor : "");
        descriptor_.license = keep(info.license ? info.license : "");
        descriptor_.description = keep(info.description ? info.description : "");
        descriptor_.stages = stages_.data();
        descriptor_.stage_count = static_cast<uint32_t>(stages_.size());
        descriptor_.flavors = flavors_.data();
        descriptor_.flavor_count = static_cast<uint32_t>(flavors_.size());
    }

    // deques: growing them never moves what earlier pointers point at.
    std::deque<std::string> strings_;
    std::deque<std::vector<trellis_port>> port_arrays_;
    std::deque<std::vector<trellis_config_key>> config_arrays_;
    std::vector<trellis_stage_descriptor> stages_;
    std::vector<trellis_flavor_descriptor> flavors_;
    trellis_plugin_descriptor descriptor_{};
};

} // namespace detail
} // namespace trellis

/// Exports a plugin: `info` names a trellis::PluginInfo object, the rest are its stage and flavor
/// classes. Writes the two exported symbols the host looks for; the version symbol is plain data
/// so the host can check it before running any of the plugin's code.
#define TRELLIS_PLUGIN(info, ...)                                                                          \
    extern "C" TRELLIS_PLUGIN_EXPORT const trellis_api_version trellis_plugin_api_version;                \
    extern "C" TRELLIS_PLUGIN_EXPORT const trellis_api_version trellis_plugin_api_version = {             \
        TRELLIS_API_MAJOR, TRELLIS_API_MINOR};                                                            \
    static int32_t trellis_plugin_init_thunk(const trellis_host_api* host, trellis_context*, trellis_error* err) { \
        return ::trellis::detail::guard(host, err, [] {                                                   \
            if ((info).init) (info).init();                                                               \
        });                                                                                               \
    }                                                                                                     \
    extern "C" TRELLIS_PLUGIN_EXPORT const trellis_plugin_descriptor* trellis_plugin_get_descriptor(void) { \
        try {                                                                                             \
            static const std::unique_ptr<::trellis::detail::DescriptorBuilder> builder = [] {             \
                auto made = ::trellis::detail::DescriptorBuilder::make<__VA_ARGS__>(info);                \
                made->set_init((info).init ? &trellis_plugin_init_thunk : nullptr);                       \
                return made;                                                                              \
            }();                                                                                          \
            return builder->get();                                                                        \
        } catch (...) {                                                                                   \
            return nullptr;                                                                               \
        }                                                                                                 \
    }
