#include "registry/promotion.hpp"

#include "store/metadata_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace trellis::registry {

namespace {

using govern::Role;


bool compare(double left, const std::string& op, double right) {
    if (op == ">=") return left >= right;
    if (op == ">") return left > right;
    if (op == "<=") return left <= right;
    if (op == "<") return left < right;
    return left == right;
}

MetricThreshold parse_threshold(const std::string& metric, const nlohmann::json& rule) {
    const std::string where = "policy: metrics." + metric;
    if (!rule.is_string()) throw RegistryError(where + ": write the rule as a string such as \">= 0.95\"");
    const std::string text = rule.get<std::string>();
    MetricThreshold threshold{metric, "", 0};
    for (const char* op : {">=", "<=", "==", ">", "<"})
        if (text.rfind(op, 0) == 0) {
            threshold.op = op;
            break;
        }
    if (threshold.op.empty()) throw RegistryError(where + ": '" + text + "' should start with >=, >, <=, < or ==");
    try {
        size_t used = 0;
        const std::string rest = text.substr(threshold.op.size());
        threshold.value = std::stod(rest, &used);
        if (rest.find_first_not_of(" \t", used) != std::string::npos || !std::isfinite(threshold.value))
            throw std::invalid_argument(rest);
    } catch (const std::exception&) {
        throw RegistryError(where + ": '" + text + "' needs a number after " + threshold.op);
    }
    return threshold;
}

// The candidate's newest evaluation that logged every metric named in `wanted`.
const Evaluation* evaluation_with(const ModelVersion& version, const std::set<std::string>& wanted) {
    for (const auto& evaluation : version.evaluations) {
        bool all = true;
        for (const auto& name : wanted) all = all && evaluation.metrics.count(name);
        if (all) return &evaluation;
    }
    return nullptr;
}

std::string data_text(const std::map<std::string, std::string>& data) {
    std::string out;
    for (const auto& [port, digest] : data) out += (out.empty() ? "" : ", ") + port + " " + digest.substr(0, 12);
    return out.empty() ? "no data" : out;
}

RuleCheck check_beat(store::Database& db, const ModelVersion& candidate, const std::string& alias,
                     const PromotionPolicy::Beat& beat, std::optional<int64_t> holder) {
    RuleCheck check;
    check.rule = "beat " + candidate.name + "@" + alias + " on " + beat.metric + " by " + metric_text(beat.by);
    if (!holder) {
        check.passed = true;
        check.detail = "no version holds " + candidate.name + "@" + alias + " yet";
        return check;
    }
    const ModelVersion current = load_version(db, version_label(candidate.name, *holder));
    for (const auto& mine : candidate.evaluations) {
        auto score = mine.metrics.find(beat.metric);
        if (score == mine.metrics.end()) continue;
        for (const auto& theirs : current.evaluations) {
            if (theirs.data != mine.data) continue;
            auto other = theirs.metrics.find(beat.metric);
            if (other == theirs.metrics.end()) continue;
            const double margin = beat.maximize ? score->second - other->second : other->second - score->second;
            check.passed = margin >= beat.by;
            check.detail = beat.metric + " " + metric_text(score->second) + " against " + metric_text(other->second) + " for " +
                           version_label(current.name, current.version) + " on the same data (" + data_text(mine.data) +
                           "): a margin of " + (margin >= 0 ? "+" : "") + metric_text(margin) +
                           (check.passed ? "" : ", less than the " + metric_text(beat.by) + " required");
            return check;
        }
    }
    check.detail = candidate.evaluations.empty()
                       ? version_label(candidate.name, candidate.version) + " has no evaluation with " + beat.metric
                       : "no evaluation of " + version_label(current.name, current.version) + " (the current " + alias +
                             ") on the data " + version_label(candidate.name, candidate.version) +
                             " was evaluated on; evaluate both on the same data (in a pipeline: "
                             "registered_model \"" + candidate.name + "@" + alias + "\")";
    return check;
}

RuleCheck check_approvals(const ModelVersion& candidate, const PromotionPolicy& policy) {
    RuleCheck check;
    check.rule = std::to_string(policy.approvals) + " approval(s) by role " + govern::to_string(policy.approver_role);
    // Each identity's latest decision counts, once.
    std::map<std::string, const Decision*> latest;
    for (const auto& decision : candidate.decisions) latest[decision.identity] = &decision;
    std::vector<std::string> approvers;
    for (const auto& [identity, decision] : latest) {
        if (decision->decision == "rejected") {
            check.detail = "rejected by " + identity + ": " + decision->reason;
            return check;
        }
        const auto role = govern::parse_role(decision->role).value_or(Role::Viewer);
        if (role >= policy.approver_role) approvers.push_back(identity);
    }
    check.passed = static_cast<int>(approvers.size()) >= policy.approvals;
    std::string names;
    for (const auto& identity : approvers) names += (names.empty() ? "" : ", ") + identity;
    check.detail = std::to_string(approvers.size()) + " of " + std::to_string(policy.approvals) +
                   (approvers.empty() ? "" : " (" + names + ")") +
                   (check.passed ? "" : "; ask an approver: trellis models approve " +
                                            version_label(candidate.name, candidate.version) + " --reason ...");
    return check;
}

} // namespace

PromotionPolicy parse_policy(const nlohmann::json& json) {
    if (!json.is_object()) throw RegistryError("policy: write it as a JSON object (see docs/governance.md)");
    static const std::set<std::string> known = {"metrics", "beat_current", "approvals", "require_signature"};
    for (const auto& [key, value] : json.items())
        if (!known.count(key))
            throw RegistryError("policy: unknown key '" + key +
                                "'; a policy has metrics, beat_current, approvals and require_signature");
    PromotionPolicy policy;
    if (json.contains("metrics")) {
        if (!json["metrics"].is_object()) throw RegistryError("policy: metrics: write an object such as {\"auc\": \">= 0.95\"}");
        for (const auto& [metric, rule] : json["metrics"].items()) policy.metrics.push_back(parse_threshold(metric, rule));
    }
    if (json.contains("beat_current")) {
        const auto& beat = json["beat_current"];
        if (beat.is_object())
            for (const auto& [key, value] : beat.items())
                if (key != "metric" && key != "by" && key != "direction")
                    throw RegistryError("policy: beat_current: unknown key '" + key + "' (metric, by, direction)");
        if (!beat.is_object() || !beat.contains("metric") || !beat["metric"].is_string())
            throw RegistryError("policy: beat_current: write {\"metric\": \"auc\", \"by\": 0.01}");
        PromotionPolicy::Beat rule;
        rule.metric = beat["metric"].get<std::string>();
        if (beat.contains("by")) {
            if (!beat["by"].is_number() || beat["by"].get<double>() < 0)
                throw RegistryError("policy: beat_current.by: a number, at least 0");
            rule.by = beat["by"].get<double>();
        }
        if (beat.contains("direction")) {
            const auto direction = beat["direction"].is_string() ? beat["direction"].get<std::string>() : "";
            if (direction != "maximize" && direction != "minimize")
                throw RegistryError("policy: beat_current.direction: maximize or minimize");
            rule.maximize = direction == "maximize";
        }
        policy.beat_current = rule;
    }
    if (json.contains("approvals")) {
        const auto& approvals = json["approvals"];
        // Read as 64 bits and checked below, so 4294967297 is not taken for 1.
        const auto count_of = [](const nlohmann::json& value) { return std::clamp<int64_t>(value.get<int64_t>(), -1, 21); };
        if (approvals.is_number_integer()) {
            policy.approvals = static_cast<int>(count_of(approvals));
        } else if (approvals.is_object()) {
            for (const auto& [key, value] : approvals.items())
                if (key != "count" && key != "role")
                    throw RegistryError("policy: approvals: unknown key '" + key + "' (count, role)");
            if (!approvals.contains("count") || !approvals["count"].is_number_integer())
                throw RegistryError("policy: approvals.count: a whole number");
            policy.approvals = static_cast<int>(count_of(approvals["count"]));
            if (approvals.contains("role")) {
                const auto role = approvals["role"].is_string() ? govern::parse_role(approvals["role"].get<std::string>())
                                                                : std::nullopt;
                if (!role || *role < Role::Approver)
                    throw RegistryError("policy: approvals.role: approver or admin");
                policy.approver_role = *role;
            }
        } else {
            throw RegistryError("policy: approvals: a count, or {\"count\": 2, \"role\": \"approver\"}");
        }
        if (policy.approvals < 0 || policy.approvals > 20) throw RegistryError("policy: approvals.count: 0 to 20");
    }
    if (json.contains("require_signature")) {
        if (!json["require_signature"].is_boolean()) throw RegistryError("policy: require_signature: true or false");
        policy.require_signature = json["require_signature"].get<bool>();
    }
    return policy;
}

nlohmann::json policy_json(const PromotionPolicy& policy) {
    nlohmann::json out = nlohmann::json::object();
    if (!policy.metrics.empty()) {
        out["metrics"] = nlohmann::json::object();
        for (const auto& threshold : policy.metrics) out["metrics"][threshold.metric] = threshold.op + " " + metric_text(threshold.value);
    }
    if (policy.beat_current)
        out["beat_current"] = {{"metric", policy.beat_current->metric},
                               {"by", policy.beat_current->by},
                               {"direction", policy.beat_current->maximize ? "maximize" : "minimize"}};
    if (policy.approvals > 0)
        out["approvals"] = {{"count", policy.approvals}, {"role", govern::to_string(policy.approver_role)}};
    if (policy.require_signature) out["require_signature"] = true;
    return out;
}

std::optional<PromotionPolicy> find_policy(store::Database& db, const std::string& name, const std::string& alias) {
    auto query = db.prepare("SELECT policy FROM promotion_policies WHERE name = ? AND alias = ?");
    query.bind(1, name).bind(2, alias);
    if (!query.step()) return std::nullopt;
    return parse_policy(nlohmann::json::parse(query.text(0)));
}

void set_policy(govern::Governance& governance, const std::string& name, const std::string& alias,
                const PromotionPolicy& policy) {
    check_alias_name(alias);
    governance.require(Role::Admin, "set the promotion policy of " + name + "@" + alias);
    auto& db = governance.db();
    store::Transaction transaction(db);
    const auto before = find_policy(db, name, alias);
    auto upsert = db.prepare("INSERT OR REPLACE INTO promotion_policies (name, alias, policy, set_by, set_at) "
                             "VALUES (?, ?, ?, ?, ?)");
    upsert.bind(1, name)
        .bind(2, alias)
        .bind(3, store::canonical_json(policy_json(policy)))
        .bind(4, governance.who().name)
        .bind(5, governance.now());
    upsert.run();
    governance.audit("policy.set", name + "@" + alias, before ? policy_json(*before) : nlohmann::json(),
                     policy_json(policy));
    transaction.commit();
}

void remove_policy(govern::Governance& governance, const std::string& name, const std::string& alias) {
    governance.require(Role::Admin, "remove the promotion policy of " + name + "@" + alias);
    auto& db = governance.db();
    store::Transaction transaction(db);
    const auto before = find_policy(db, name, alias);
    if (!before) throw RegistryError(name + "@" + alias + " has no promotion policy");
    auto remove = db.prepare("DELETE FROM promotion_policies WHERE name = ? AND alias = ?");
    remove.bind(1, name).bind(2, alias);
    remove.run();
    governance.audit("policy.remove", name + "@" + alias, policy_json(*before), nullptr);
    transaction.commit();
}

std::vector<PolicyRow> list_policies(store::Database& db) {
    auto query = db.prepare("SELECT name, alias, set_by, set_at, policy FROM promotion_policies ORDER BY name, alias");
    std::vector<PolicyRow> out;
    while (query.step())
        out.push_back({query.text(0), query.text(1), query.text(2), query.real(3),
                       parse_policy(nlohmann::json::parse(query.text(4)))});
    return out;
}

std::string PromotionOutcome::refusal() const {
    for (const auto& check : checks)
        if (!check.passed)
            return "not promoting " + version_label(name, version) + " to " + name + "@" + alias + ": rule '" + check.rule +
                   "' failed: " + check.detail;
    return {};
}

PromotionOutcome promote(govern::Governance& governance, const std::string& reference, const std::string& alias,
                         const PromotionOptions& options) {
    check_alias_name(alias);
    auto& db = governance.db();
    const ModelVersion named = load_version(db, reference);
    governance.require(Role::Developer, "promote " + version_label(named.name, named.version) + " to " + named.name + "@" + alias);
    // One write transaction from reading the holder to moving the alias (see the header).
    store::Transaction transaction(db);
    // Resolved again inside the transaction: NAME@challenger may have moved since.
    const ModelVersion candidate = load_version(db, reference);
    if (candidate.version != named.version)
        throw RegistryError(reference + " moved to version " + std::to_string(candidate.version) +
                            " while promoting it; look again and retry");
    PromotionOutcome outcome;
    outcome.name = candidate.name;
    outcome.version = candidate.version;
    outcome.alias = alias;
    outcome.previous = alias_holder(db, candidate.name, alias);
    if (outcome.previous == candidate.version)
        throw RegistryError(candidate.name + "@" + alias + " is already version " + std::to_string(candidate.version) +
                            "; nothing to promote");
    if (options.expected_holder && *options.expected_holder != outcome.previous) {
        const auto text = [](std::optional<int64_t> v) { return v ? "version " + std::to_string(*v) : std::string("no version"); };
        throw RegistryError("not promoting " + version_label(candidate.name, candidate.version) + ": " + candidate.name + "@" +
                            alias + " now points at " + text(outcome.previous) + ", not " +
                            text(*options.expected_holder) +
                            " as when it was judged (another promotion moved it meanwhile); look again and retry");
    }

    outcome.checks.push_back({"status active", candidate.status == "active",
                              candidate.status == "active" ? "active" : "the version is " + candidate.status});
    const auto policy = find_policy(db, candidate.name, alias).value_or(PromotionPolicy{});
    if (!policy.metrics.empty()) {
        std::set<std::string> wanted;
        for (const auto& threshold : policy.metrics) wanted.insert(threshold.metric);
        const Evaluation* evaluation = evaluation_with(candidate, wanted);
        for (const auto& threshold : policy.metrics) {
            RuleCheck check;
            check.rule = "metric " + threshold.metric + " " + threshold.op + " " + metric_text(threshold.value);
            if (!evaluation) {
                check.detail = "no evaluation of " + version_label(candidate.name, candidate.version) + " logged " +
                               threshold.metric + " (evaluate it, e.g. with train.evaluate)";
            } else {
                const double value = evaluation->metrics.at(threshold.metric);
                check.passed = compare(value, threshold.op, threshold.value);
                check.detail = threshold.metric + " = " + metric_text(value) + " (stage " + evaluation->stage_id + " of run " +
                               evaluation->run_id + ")";
            }
            outcome.checks.push_back(std::move(check));
        }
    }
    if (policy.beat_current)
        outcome.checks.push_back(check_beat(db, candidate, alias, *policy.beat_current, outcome.previous));
    if (policy.approvals > 0) outcome.checks.push_back(check_approvals(candidate, policy));
    if (policy.require_signature || options.require_signed_models) {
        const std::string problem = signature_problem(db, governance.root(), candidate);
        outcome.checks.push_back({"signed by a trusted key", problem.empty(),
                                  problem.empty() ? "signature verifies, bytes unchanged" : problem});
    }

    outcome.promoted = true;
    for (const auto& check : outcome.checks) outcome.promoted = outcome.promoted && check.passed;
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& check : outcome.checks)
        checks.push_back({{"rule", check.rule}, {"passed", check.passed}, {"detail", check.detail}});
    const std::string object = candidate.name + "@" + alias;
    const nlohmann::json before = outcome.previous ? nlohmann::json({{"version", *outcome.previous}}) : nlohmann::json();
    if (!outcome.promoted) {
        governance.audit("promotion.refuse", object, before, {{"candidate", candidate.version}, {"checks", checks}});
        transaction.commit();
        return outcome;
    }
    auto upsert = db.prepare("INSERT OR REPLACE INTO model_aliases (name, alias, version, set_by, set_at) "
                             "VALUES (?, ?, ?, ?, ?)");
    upsert.bind(1, candidate.name)
        .bind(2, alias)
        .bind(3, candidate.version)
        .bind(4, governance.who().name)
        .bind(5, governance.now());
    upsert.run();
    governance.audit("alias.promote", object, before, {{"version", candidate.version}, {"checks", checks}});
    transaction.commit();
    return outcome;
}

} // namespace trellis::registry
