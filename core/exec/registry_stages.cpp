#include "exec/registry_stages.hpp"

#include "govern/access.hpp"
#include "registry/model_registry.hpp"
#include "util/json_text.hpp"

#include <trellis/artifacts.hpp>

#include <spdlog/spdlog.h>

namespace trellis::core {

RegistryStages::RegistryStages(RunRecorder& recorder, std::filesystem::path root, std::optional<std::string> token,
                               registry::PromotionOptions options)
    : recorder_(recorder), root_(std::move(root)), token_(std::move(token)), options_(options) {}

AttemptResult RegistryStages::run(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs) {
    // What the stages before this one registered and evaluated is still in the writer's queue.
    recorder_.flush();
    if (node.stage_name == StageNode::registered_model_stage_name) return registered_model(node, inputs);
    if (node.stage_name == StageNode::promote_stage_name) return promote(node, inputs);
    return AttemptResult::failure(TRELLIS_ERR_NOT_FOUND, "no core stage '" + node.stage_name + "'");
}

AttemptResult RegistryStages::registered_model(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs) {
    const std::string ref = node.config.at("ref").get<std::string>();
    AttemptResult result;
    registry::ModelVersion version;
    try {
        version = registry::load_version(recorder_.metadata().db(), ref);
    } catch (const registry::RegistryError& e) {
        auto otherwise = inputs.find("otherwise");
        if (otherwise == inputs.end()) return AttemptResult::failure(TRELLIS_ERR_NOT_FOUND, e.what());
        // The first run of a champion/challenger pipeline: there is no champion yet.
        spdlog::info("stage '{}': {}; using its 'otherwise' input", node.id, e.what());
        result.outputs["model"] = otherwise->second;
        result.params["ref"] = ref;
        result.params["resolved"] = "otherwise";
        return result;
    }
    const std::string label = version.name + ":" + std::to_string(version.version);
    if (options_.require_signed_models)
        if (const auto problem = registry::signature_problem(recorder_.metadata().db(), root_, version); !problem.empty())
            return AttemptResult::failure(TRELLIS_ERR_FAILED, "not using " + label + " (" + ref +
                                                                  "): trust.require_signed_models is on and " + problem);
    // Loading checks that the bytes are in the store and still hash to the registered digest.
    result.outputs["model"] = recorder_.load(ArtifactBytes::stored(TRELLIS_ARTIFACT_MODEL, version.digest));
    result.params["ref"] = ref;
    result.params["resolved"] = label;
    spdlog::info("stage '{}': {} is {}", node.id, ref, label);
    return result;
}

AttemptResult RegistryStages::promote(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs) {
    const std::string name = node.config.at("name").get<std::string>();
    const std::string alias = node.config.at("alias").get<std::string>();
    const bool required = node.config.value("required", true);
    const std::string digest = inputs.at("model").digest;
    auto& db = recorder_.metadata().db();

    // The candidate: the newest version of NAME whose artifact is the model wired in.
    std::optional<int64_t> candidate;
    try {
        for (const auto& version : registry::list_versions(db, name))
            if (version.digest == digest) {
                candidate = version.version;
                break;
            }
    } catch (const registry::RegistryError&) {
        // No model of that name yet: reported below as not registered.
    }
    if (!candidate)
        return AttemptResult::failure(
            TRELLIS_ERR_INVALID,
            "its model (" + digest.substr(0, 12) + ") is not a registered version of '" + name +
                "'; register it first (deploy.export with name = \"" + name +
                "\") and list that stage in this one's 'after'");
    const std::string label = name + ":" + std::to_string(*candidate);

    AttemptResult result;
    result.params["version"] = *candidate;
    nlohmann::json report = {{"name", name}, {"version", *candidate}, {"alias", alias}};
    std::optional<int64_t> holder;
    {
        auto query = db.prepare("SELECT version FROM model_aliases WHERE name = ? AND alias = ?");
        query.bind(1, name).bind(2, alias);
        if (query.step()) holder = query.int64(0);
    }
    if (holder == *candidate) {
        // A re-run of a pipeline whose model did not change: the promotion already happened.
        spdlog::info("stage '{}': {}@{} is already {}", node.id, name, alias, label);
        report["promoted"] = false;
        report["already"] = true;
        result.params["promoted"] = false;
    } else {
        govern::Governance governance(db, root_, token_, unix_now());
        const registry::PromotionOutcome outcome = registry::promote(governance, label, alias, options_);
        report["promoted"] = outcome.promoted;
        report["previous"] = outcome.previous ? nlohmann::json(*outcome.previous) : nlohmann::json();
        report["checks"] = nlohmann::json::array();
        for (const auto& check : outcome.checks)
            report["checks"].push_back({{"rule", check.rule}, {"passed", check.passed}, {"detail", check.detail}});
        result.params["promoted"] = outcome.promoted;
        if (outcome.promoted) {
            spdlog::info("stage '{}': promoted {} to {}@{}{}", node.id, label, name, alias,
                         outcome.previous ? " (was version " + std::to_string(*outcome.previous) + ")" : "");
        } else if (required) {
            result.status = TRELLIS_ERR_FAILED;
            result.message = outcome.refusal();
        } else {
            spdlog::warn("stage '{}': {} (required = false: the run goes on)", node.id, outcome.refusal());
        }
    }
    result.outputs["report"] = ArtifactBytes::own(TRELLIS_ARTIFACT_REPORT, serialize(Report{dump_json(report)}));
    return result;
}

} // namespace trellis::core
