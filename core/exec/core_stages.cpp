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

    // The monitor's stages (monitor/monitor_stages.hpp): only trellis monitor runs them.
    StageManifest window;
    window.kind = "monitor";
    window.name = StageNode::monitor_window_stage_name;
    window.description = "The window of the endpoint's prediction log trellis monitor is checking: one row per "
                         "predicted row with request_id, time, version, variant, the inputs, the outputs and the label";
    window.outputs = {{"table", "table", false, "the window's rows"}};
    window.config = {
        {"previous", "bool", false, false, "the window before the one being checked, for comparing windows"},
        {"labels", "bool", false, true, "join the delayed labels as a column (null where none has arrived)"},
        {"label_column", "string", false, "label", "the labels' column name"},
        {"shadow", "bool", false, false, "include the shadow's answers (variant shadow)"},
    };

    StageManifest reference;
    reference.kind = "monitor";
    reference.name = StageNode::monitor_reference_stage_name;
    reference.description = "The data the served model learned from, found through its lineage: the table input of "
                            "the stage that trained the version that answered most of the window";
    reference.outputs = {{"table", "table", false, "the training table"}};
    reference.config = {
        {"model", "string", false, "", "NAME@ALIAS or NAME:VERSION whose training data to use instead"},
        {"port", "string", false, "", "the trainer's input port holding the training data, when it had several tables"},
    };
    return {promote, source, window, reference};
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
