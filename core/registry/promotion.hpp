// Promotion: moving NAME@ALIAS to a version through the alias's policy, from the CLI
// (`trellis models promote`) or a pipeline (`govern.promote`). A policy, set by an admin per alias,
// lists rules: thresholds on the candidate's evaluation metrics, "beat the current holder on the
// same evaluation data by at least Δ", approvals (how many, of what role), and a valid signature by
// a trusted key. The whole check and the move are one write transaction, so two promotions at
// once serialise: the second sees the first's result and is judged against the new holder. A
// caller that judged its candidate against a holder it saw (a pipeline that evaluated the
// champion; `models promote --expect-current`) passes it as `expected_holder`, and then of two
// promotions racing from the same holder exactly one wins and the other fails saying the alias
// moved. A refused promotion changes nothing but the audit log.
#pragma once

#include "govern/access.hpp"
#include "registry/model_registry.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace trellis::registry {

struct MetricThreshold {
    std::string metric;
    std::string op; // >=, >, <=, <, ==
    double value = 0;
};

struct PromotionPolicy {
    std::vector<MetricThreshold> metrics;
    struct Beat {
        std::string metric;
        double by = 0;
        bool maximize = true;
    };
    std::optional<Beat> beat_current;
    int approvals = 0;
    govern::Role approver_role = govern::Role::Approver;
    bool require_signature = false;
};

// Parses a policy's JSON (docs/governance.md); throws RegistryError naming the key at fault.
PromotionPolicy parse_policy(const nlohmann::json& json);
nlohmann::json policy_json(const PromotionPolicy& policy);

// The policy guarding NAME@ALIAS, if any.
std::optional<PromotionPolicy> find_policy(store::Database& db, const std::string& name, const std::string& alias);
// Sets (admin) or removes the policy of NAME@ALIAS, audited.
void set_policy(govern::Governance& governance, const std::string& name, const std::string& alias,
                const PromotionPolicy& policy);
void remove_policy(govern::Governance& governance, const std::string& name, const std::string& alias);
struct PolicyRow {
    std::string name, alias, set_by;
    double set_at = 0;
    PromotionPolicy policy;
};
std::vector<PolicyRow> list_policies(store::Database& db);

struct RuleCheck {
    std::string rule;   // "metric auc >= 0.95", "beat champion on auc by 0.01", "approvals", "signature"
    bool passed = false;
    std::string detail; // the numbers, or why it failed
};

struct PromotionOutcome {
    std::string name;
    int64_t version = 0;
    std::string alias;
    std::optional<int64_t> previous; // who held the alias before
    bool promoted = false;
    std::vector<RuleCheck> checks;
    // The first failed check as one line, when not promoted.
    std::string refusal() const;
};

struct PromotionOptions {
    bool require_signed_models = false; // trust.require_signed_models: a signature even without a policy
    // Compare-and-set: promote only if the alias still points at this version (an empty inner
    // value: at none), as when the caller judged the candidate against that holder. Another
    // promotion that moved it meanwhile makes this one fail with a RegistryError saying so.
    std::optional<std::optional<int64_t>> expected_holder;
};

// Promotes `reference` to NAME@ALIAS (developer) if every rule passes. Throws RegistryError for a
// model or alias that does not exist or is already there, or a holder other than the expected
// one, and AccessDenied for want of a role.
PromotionOutcome promote(govern::Governance& governance, const std::string& reference, const std::string& alias,
                         const PromotionOptions& options);

} // namespace trellis::registry
