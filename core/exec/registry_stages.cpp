#include "exec/registry_stages.hpp"

#include "govern/access.hpp"
#include "registry/model_registry.hpp"
#include "util/json_text.hpp"
#include "util/nearest_names.hpp"

#include <trellis/artifacts.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace trellis::core {

RegistryStages::RegistryStages(const Pipeline& pipeline, RunRecorder& recorder, std::filesystem::path root,
                               std::optional<std::string> token, registry::PromotionOptions options)
    : pipeline_(pipeline), recorder_(recorder), root_(std::move(root)), token_(std::move(token)), options_(options) {}

AttemptResult RegistryStages::run(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs) {
    // What the stages before this one registered and evaluated is still in the writer's queue.
    recorder_.flush();
    if (node.stage_name == StageNode::registered_model_stage_name) return registered_model(node, inputs);
    if (node.stage_name == StageNode::promote_stage_name) return promote(node, inputs);
    if (node.stage_name == StageNode::monitor_window_stage_name || node.stage_name == StageNode::monitor_reference_stage_name)
        return AttemptResult::failure(TRELLIS_ERR_INVALID,
                                      "stage '" + node.stage_name + "' gives what trellis monitor is checking, so it runs only "
                                      "under trellis monitor (trellis monitor run FILE --once)");
    return AttemptResult::failure(TRELLIS_ERR_NOT_FOUND, "no core stage '" + node.stage_name + "'");
}

// Whether a govern.promote stage of this pipeline promotes NAME@ALIAS, or, for a reference
// without an alias, whether a stage registers or promotes NAME: then a reference that names
// nothing yet is the first run's, not a typo.
bool RegistryStages::pipeline_promotes(const std::string& name, const std::optional<std::string>& alias) const {
    for (const auto& stage : pipeline_.stages) {
        const bool promotes = stage.stage_name == StageNode::promote_stage_name;
        if (!promotes && (alias || stage.stage_name != "deploy.export")) continue;
        if (stage.config.value("name", "") != name) continue;
        if (!alias || (promotes && stage.config.value("alias", "") == *alias)) return true;
    }
    return false;
}

AttemptResult RegistryStages::registered_model(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs) {
    const std::string ref = node.config.at("ref").get<std::string>();
    const auto at = ref.find('@');
    const std::string name = ref.substr(0, std::min(at, ref.find(':')));
    const std::optional<std::string> alias = at == std::string::npos ? std::nullopt : std::optional(ref.substr(at + 1));
    AttemptResult result;
    registry::ModelVersion version;
    try {
        version = registry::load_version(recorder_.metadata().db(), ref);
    } catch (const registry::RegistryError& e) {
        auto otherwise = inputs.find("otherwise");
        if (otherwise == inputs.end()) return AttemptResult::failure(TRELLIS_ERR_NOT_FOUND, e.what());
        if (!pipeline_promotes(name, alias))
            return AttemptResult::failure(
                TRELLIS_ERR_NOT_FOUND,
                std::string(e.what()) + "; 'otherwise' stands in only for " +
                    (alias ? "the alias a govern.promote stage of this pipeline promotes"
                           : "a model a stage of this pipeline registers") +
                    ", so this looks like a typo");
        // The first run of a champion/challenger pipeline: there is no champion yet.
        spdlog::info("stage '{}': {}; using its 'otherwise' input", node.id, e.what());
        if (alias) resolved_[name + "@" + *alias] = std::nullopt;
        result.outputs["model"] = otherwise->second;
        result.params["ref"] = ref;
        result.params["resolved"] = "otherwise";
        return result;
    }
    const std::string label = registry::version_label(version.name, version.version);
    if (options_.require_signed_models)
        if (const auto problem = registry::signature_problem(recorder_.metadata().db(), root_, version); !problem.empty())
            return AttemptResult::failure(TRELLIS_ERR_FAILED,
                                          "not using " + label + ": trust.require_signed_models is on and " + problem);
    // Loading checks that the bytes are in the store and still hash to the registered digest.
    result.outputs["model"] = recorder_.load(ArtifactBytes::stored(TRELLIS_ARTIFACT_MODEL, version.digest));
    if (alias) resolved_[name + "@" + *alias] = version.version;
    result.params["ref"] = ref;
    result.params["resolved"] = label;
    spdlog::info("stage '{}': {} is {}", node.id, ref, label);
    return result;
}

AttemptResult RegistryStages::promote(const StageNode& node, const std::map<std::string, ArtifactBytes>& inputs) {
    const std::string name = node.config.at("name").get<std::string>();
    const std::string alias = node.config.at("alias").get<std::string>();
    const std::string object = name + "@" + alias;
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
    const std::string label = registry::version_label(name, *candidate);

    AttemptResult result;
    result.params["version"] = *candidate;
    nlohmann::json report = {{"name", name}, {"version", *candidate}, {"alias", alias}};
    const auto finish = [&](bool promoted) {
        report["promoted"] = promoted;
        result.params["promoted"] = promoted;
        result.outputs["report"] = ArtifactBytes::own(TRELLIS_ARTIFACT_REPORT, serialize(Report{dump_json(report)}));
        return result;
    };
    const auto holder = registry::alias_holder(db, name, alias);
    if (holder == *candidate) {
        // A re-run of a pipeline whose model did not change: the promotion already happened.
        spdlog::info("stage '{}': {} is already {}", node.id, object, label);
        report["already"] = true;
        return finish(false);
    }
    if (holder && *holder > *candidate) {
        // A re-run whose export was cached found an older version: a pipeline moves an alias
        // forward only; rolling back is a deliberate `models promote`.
        spdlog::warn("stage '{}': not promoting {}: {} is already the newer version {} (to roll back: trellis models "
                     "promote {} --alias {})",
                     node.id, label, object, *holder, label, alias);
        report["older"] = true;
        report["previous"] = *holder;
        return finish(false);
    }
    if (!registry::find_policy(db, name, alias)) {
        std::vector<std::string> guarded;
        for (const auto& policy : registry::list_policies(db))
            if (policy.name == name) guarded.push_back(policy.alias);
        const auto near = nearest_names(alias, guarded);
        spdlog::warn("stage '{}': {} has no promotion policy: only its status is checked{}", node.id, object,
                     near.empty() ? "" : " (did you mean " + name + "@" + near.front() + "?)");
    }

    registry::PromotionOptions options = options_;
    // The holder this run judged the candidate against (registry.model resolved it): if another
    // promotion moved the alias since, this one must not win on a comparison with the old holder.
    if (auto judged = resolved_.find(object); judged != resolved_.end()) options.expected_holder = judged->second;
    govern::Governance governance(db, root_, token_, unix_now());
    registry::PromotionOutcome outcome;
    try {
        outcome = registry::promote(governance, label, alias, options);
    } catch (const registry::RegistryError&) {
        if (registry::alias_holder(db, name, alias) != *candidate) throw;
        // Another run promoted the same version between the check above and this one.
        report["already"] = true;
        return finish(false);
    }
    report["previous"] = outcome.previous ? nlohmann::json(*outcome.previous) : nlohmann::json();
    report["checks"] = nlohmann::json::array();
    for (const auto& check : outcome.checks)
        report["checks"].push_back({{"rule", check.rule}, {"passed", check.passed}, {"detail", check.detail}});
    if (outcome.promoted) {
        spdlog::info("stage '{}': promoted {} to {}{}", node.id, label, object,
                     outcome.previous ? " (was version " + std::to_string(*outcome.previous) + ")" : "");
    } else if (required) {
        result.status = TRELLIS_ERR_FAILED;
        result.message = outcome.refusal();
    } else {
        spdlog::warn("stage '{}': {} (required = false: the run goes on)", node.id, outcome.refusal());
    }
    return finish(outcome.promoted);
}

} // namespace trellis::core
