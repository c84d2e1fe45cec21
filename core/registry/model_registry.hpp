// The model registry: versions with what they came from and how they did, aliases (MLflow 2's
// champion/challenger: NAME@ALIAS names the version the alias points at), tags, descriptions,
// archiving, approvals and signatures. Every change is checked against the actor's role and
// appended to the audit log in the same transaction. Promotion (moving an alias through a policy)
// is in promotion.hpp.
#pragma once

#include "govern/access.hpp"
#include "govern/ed25519.hpp"
#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace trellis::registry {

// A name, version or alias that does not exist, or a change the registry refuses (archiving the
// holder of an alias, approving one's own model): one line for the user.
class RegistryError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An evaluation of a model: an execution that took the model as an input and logged metrics.
struct Evaluation {
    int64_t execution_id = 0;
    std::string run_id;
    std::string stage_id;
    std::string stage_name;
    double ended_at = 0;
    std::map<std::string, std::string> data;   // its other inputs: port -> artifact digest
    std::map<std::string, double> metrics;     // the last value of each metric
};

struct Decision {
    std::string identity;
    std::string role;
    std::string decision; // approved | rejected
    std::string reason;
    double at = 0;
};

struct ModelSignature {
    std::string key_id;
    std::string public_key;
    std::string sha256;
    std::string signature;
    std::string signed_by;
    double signed_at = 0;
};

struct ModelVersion {
    std::string name;
    int64_t version = 0;
    std::string digest;
    std::string status; // active | archived
    std::optional<std::string> registered_by;
    double registered_at = 0;
    std::optional<std::string> description;
    std::optional<std::string> uri;
    nlohmann::json card = nlohmann::json::object(); // intended_use, limitations, ... from the pipeline
    std::map<std::string, std::string> tags;
    std::vector<std::string> aliases;
    // From the artifact and its lineage.
    std::string flavor;
    nlohmann::json signature;                  // the model's input/output schema, when the flavor keeps one
    std::optional<int64_t> execution_id;       // the execution that registered it
    std::optional<std::string> run_id;
    std::optional<int64_t> trained_by;         // the execution that made the artifact
    std::map<std::string, std::string> training_data; // the trainer's inputs: port -> digest
    std::map<std::string, double> training_metrics;   // what the trainer logged
    std::vector<Evaluation> evaluations;       // newest first
    std::vector<Decision> decisions;           // oldest first
    std::vector<ModelSignature> signatures;
};

struct ModelSummary {
    std::string name;
    int64_t versions = 0;
    int64_t latest = 0;
    double updated_at = 0;
    std::map<std::string, int64_t> aliases; // alias -> version
};

std::vector<ModelSummary> list_models(store::Database& db);
// The versions of `name`, newest first (without evaluations, decisions and signatures).
std::vector<ModelVersion> list_versions(store::Database& db, const std::string& name);

// "NAME:VERSION": how every message, audit object and card names a version.
std::string version_label(const std::string& name, int64_t version);
// A metric value in messages and cards: six significant digits.
std::string metric_text(double value);

// "NAME" (newest active version), "NAME:VERSION" or "NAME@ALIAS" with everything the store knows
// about it. Throws RegistryError naming what was not found, with near names.
ModelVersion load_version(store::Database& db, const std::string& reference);
// The latest metric values of an execution (a cached one: of the execution it reused).
std::map<std::string, double> execution_metrics(store::Database& db, int64_t execution_id);

// The version NAME@ALIAS points at, if any.
std::optional<int64_t> alias_holder(store::Database& db, const std::string& name, const std::string& alias);

// Checks an alias name: letters, digits, '-', '_'; not a version ("3", "v3") nor "latest".
void check_alias_name(const std::string& alias);

// Points NAME@ALIAS at a version without a policy (developer). Refused when a promotion policy
// guards that alias: then only `promote` moves it; and, with `require_signed`
// (trust.require_signed_models), when the version has no valid signature by a trusted key.
void set_alias(govern::Governance& governance, const std::string& name, const std::string& alias, int64_t version,
               bool require_signed = false);
void delete_alias(govern::Governance& governance, const std::string& name, const std::string& alias);

void set_tag(govern::Governance& governance, const std::string& reference, const std::string& key,
             const std::string& value);
void set_description(govern::Governance& governance, const std::string& reference, const std::string& text);
// Archives a version (admin); refused while an alias points at it. `restore` makes it active again.
void set_status(govern::Governance& governance, const std::string& reference, bool archived);

// An approver's decision on a version, with a reason. Four-eyes: whoever registered the version
// cannot decide on it. A later decision by the same identity replaces the earlier one.
void decide(govern::Governance& governance, const std::string& reference, bool approve, const std::string& reason);

// Signs the version's artifact digest with `key` (developer) and records it.
ModelSignature sign_version(govern::Governance& governance, const std::string& reference, const govern::SigningKey& key);

// Whether a signature of the version is by a trusted key, verifies, and the artifact's bytes
// still hash to the digest signed. Empty when so; else why not.
std::string signature_problem(store::Database& db, const std::filesystem::path& root, const ModelVersion& version);

// The version as JSON, for --json output and model cards.
nlohmann::json version_json(const ModelVersion& version);

} // namespace trellis::registry
