// Runs one stage of a plugin loaded in-process, with config set the way the pipeline runner sets
// it, and gives access to the outputs. Shared by the tests that drive real plugin entry points.
#pragma once

#include "log/logging.hpp"
#include "plugin/host_api.hpp"
#include "plugin/plugin_library.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <span>
#include <string>

namespace trellis::test {

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
    }

    trellis::core::StageOutcome invoke() { return trellis::core::invoke_stage(entry_->run, context); }

    std::span<const uint8_t> output(const std::string& port) const {
        const auto& bytes = *context.outputs.at(port).bytes;
        return {bytes.data(), bytes.size()};
    }

    std::atomic<bool> cancelled{false};
    trellis::core::StageContext context;

private:
    std::shared_ptr<trellis::core::PluginLibrary> plugin_;
    const trellis_stage_descriptor* entry_ = nullptr;
    trellis::test::TempDir scratch_;
};

} // namespace trellis::test
