// Runs one stage of a plugin loaded in-process, with config set the way the pipeline runner sets
// it, and gives access to the outputs. Shared by the tests that drive real plugin entry points.
#pragma once

#include "log/logging.hpp"
#include "plugin/host_api.hpp"
#include "plugin/plugin_library.hpp"

#include "temp_dir.hpp"

#include <trellis/artifacts.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <memory>
#include <span>
#include <string>

namespace trellis::test {

// Resolves model flavors among the built-in plugins, as the runner does among installed ones.
inline trellis::core::FlavorResolver builtin_flavors() {
    return [](const std::string& name) -> trellis::core::FlavorEntry {
        static std::map<std::string, std::shared_ptr<trellis::core::PluginLibrary>> opened;
        static std::mutex mutex;
        std::lock_guard lock(mutex);
        for (const auto& entry : std::filesystem::directory_iterator(BUILTIN_PLUGIN_DIR)) {
            if (entry.path().extension() != ".so") continue;
            auto& plugin = opened[entry.path().string()];
            if (!plugin) plugin = trellis::core::PluginLibrary::open(entry.path());
            if (const auto* flavor = plugin->find_flavor(name)) return {plugin, flavor};
        }
        throw std::runtime_error("no installed plugin provides flavor '" + name + "'");
    };
}

// One execution of a plugin's stage, set up as the pipeline runner does: the keys in `set` are
// set explicitly, every other key with a default gets its default.
class StageRun {
public:
    StageRun(std::shared_ptr<trellis::core::PluginLibrary> plugin, const std::string& stage_name, const nlohmann::json& set)
        : plugin_(std::move(plugin)) {
        entry_ = plugin_->find_stage(stage_name);
        const auto* manifest = plugin_->manifest().find_stage(stage_name);
        REQUIRE(entry_ != nullptr);
        REQUIRE(manifest != nullptr);
        context.stage = manifest;
        for (const auto& key : manifest->config) {
            if (set.contains(key.key)) {
                context.config[key.key] = set.at(key.key);
                context.explicitly_set.insert(key.key);
            } else if (key.default_value) {
                context.config[key.key] = *key.default_value;
            }
        }
        context.logger = trellis::core::logging::get("test");
        context.scratch_dir = scratch_.path().string();
        context.cancelled = &cancelled;
        context.flavors = builtin_flavors();
    }

    // Connects input `port` to serialised artifact bytes.
    void set_input(const std::string& port, trellis::ArtifactType type, std::vector<uint8_t> bytes) {
        context.inputs[port] = trellis::core::ArtifactBytes::own(static_cast<uint32_t>(type), std::move(bytes));
    }

    trellis::core::StageOutcome invoke() { return trellis::core::invoke_stage(entry_->run, context); }

    std::span<const uint8_t> output(const std::string& port) const {
        const auto bytes = context.outputs.at(port).bytes();
        return {bytes.begin(), bytes.end()};
    }

    std::atomic<bool> cancelled{false};
    trellis::core::StageContext context;

private:
    std::shared_ptr<trellis::core::PluginLibrary> plugin_;
    const trellis_stage_descriptor* entry_ = nullptr;
    trellis::test::TempDir scratch_;
};

} // namespace trellis::test
