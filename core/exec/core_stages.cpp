#include "exec/core_stages.hpp"

namespace trellis::core {

namespace {

std::vector<StageManifest> make_manifests() {
    StageManifest promote;
    promote.kind = "govern";
    promote.name = StageNode::promote_stage_name;
    promote.description = "Promotes the registered version of a model to an alias through the alias's promotion "
                          "policy (docs/governance.md)";
    promote.inputs = {{"model", "model", false,
                       "the candidate: a model a stage before this one registered (deploy.export) under 'name'"}};
    promote.outputs = {{"report", "report", false, "the outcome: promoted or not, and every rule checked"}};
    promote.config = {
        {"name", "string", true, std::nullopt, "the registered model's name"},
        {"alias", "string", true, std::nullopt, "the alias to move, e.g. champion"},
        {"required", "bool", false, true,
         "a refusal fails the stage; false: a refusal is reported and the stage succeeds"},
    };

    StageManifest source;
    source.kind = "govern";
    source.name = StageNode::registered_model_stage_name;
    source.description = "A model from the registry, named NAME@ALIAS, NAME:VERSION or NAME (its newest active "
                         "version), as of when the stage runs";
    source.inputs = {{"otherwise", "model", true,
                      "the model to use when NAME@ALIAS points at no version yet (the candidate, on a first run)"}};
    source.outputs = {{"model", "model", false, "the registered version's model artifact"}};
    source.config = {{"ref", "string", true, std::nullopt, "NAME@ALIAS, NAME:VERSION or NAME"}};
    return {promote, source};
}

} // namespace

const std::vector<StageManifest>& core_stage_manifests() {
    static const std::vector<StageManifest> manifests = make_manifests();
    return manifests;
}

const StageManifest* core_stage_manifest(const std::string& name) {
    for (const auto& manifest : core_stage_manifests())
        if (manifest.name == name) return &manifest;
    return nullptr;
}

} // namespace trellis::core
