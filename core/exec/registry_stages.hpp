// The core stages over the model registry (exec/core_stages.hpp): registry.model resolves a
// registered model by name, version or alias; govern.promote moves an alias to the version a
// pipeline has just registered, through the alias's promotion policy, as the run's identity.
#pragma once

#include "exec/core_stages.hpp"
#include "exec/run_recorder.hpp"
#include "registry/promotion.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace trellis::core {

class RegistryStages : public CoreStageRunner {
public:
    // `token`: TRELLIS_TOKEN's value, if set: the identity promotions are made as (else the OS user).
    RegistryStages(const Pipeline& pipeline, RunRecorder& recorder, std::filesystem::path root,
                   std::optional<std::string> token, registry::PromotionOptions options);

    AttemptResult run(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs) override;

private:
    AttemptResult registered_model(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs);
    AttemptResult promote(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs);
    bool pipeline_promotes(const std::string& name, const std::optional<std::string>& alias) const;

    const Pipeline& pipeline_;
    RunRecorder& recorder_;
    std::filesystem::path root_;
    std::optional<std::string> token_;
    registry::PromotionOptions options_;
    // What each NAME@ALIAS resolved to in this run (empty: nothing yet, `otherwise` used): the
    // holder govern.promote expects to replace.
    std::map<std::string, std::optional<int64_t>> resolved_;
};

} // namespace trellis::core
