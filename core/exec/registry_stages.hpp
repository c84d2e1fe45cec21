// The core stages over the model registry (exec/core_stages.hpp): registry.model resolves a
// registered model by name, version or alias; govern.promote moves an alias to the version a
// pipeline has just registered, through the alias's promotion policy, as the run's identity.
#pragma once

#include "exec/core_stages.hpp"
#include "exec/run_recorder.hpp"
#include "registry/promotion.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace trellis::core {

class RegistryStages : public CoreStageRunner {
public:
    // `token`: TRELLIS_TOKEN's value, if set: the identity promotions are made as (else the OS user).
    RegistryStages(RunRecorder& recorder, std::filesystem::path root, std::optional<std::string> token,
                   registry::PromotionOptions options);

    AttemptResult run(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs) override;

private:
    AttemptResult registered_model(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs);
    AttemptResult promote(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs);

    RunRecorder& recorder_;
    std::filesystem::path root_;
    std::optional<std::string> token_;
    registry::PromotionOptions options_;
};

} // namespace trellis::core
