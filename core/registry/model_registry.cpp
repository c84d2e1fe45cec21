#include "registry/model_registry.hpp"

#include <cstdio>

#include "store/artifact_store.hpp"
#include "store/digest.hpp"
#include "store/lineage.hpp"
#include "store/metadata_store.hpp"
#include "store/run_queries.hpp"
#include "util/join.hpp"

#include <algorithm>
#include <cmath>

namespace trellis::registry {

namespace {

using govern::Role;

nlohmann::json parse_json(const std::string& text) {
    auto value = nlohmann::json::parse(text, nullptr, false);
    return value.is_discarded() ? nlohmann::json() : value;
}


// "NAME", "NAME:VERSION", "NAME@ALIAS" -> name and version, through the store's resolver.
std::pair<std::string, int64_t> resolve(store::Database& db, const std::string& reference) {
    if (reference.empty()) throw RegistryError("a model is named NAME, NAME:VERSION or NAME@ALIAS; got nothing");
    try {
        const auto target = store::resolve_artifact(db, reference);
        if (!target.model)
            throw RegistryError("'" + reference + "' is an artifact, not a registered model; name a model as NAME, "
                                "NAME:VERSION or NAME@ALIAS");
        return {target.model->name, target.model->version};
    } catch (const store::LookupError& e) {
        throw RegistryError(e.what());
    }
}

std::map<std::string, std::string> inputs_of(store::Database& db, int64_t execution_id) {
    auto query = db.prepare("SELECT port, artifact_digest FROM events WHERE execution_id = ? AND kind = 'input'");
    query.bind(1, execution_id);
    std::map<std::string, std::string> out;
    while (query.step()) out[query.text(0)] = query.text(1);
    return out;
}

void fill_lineage(store::Database& db, ModelVersion& version) {
    // The trainer: the first execution that output this artifact (not a cached copy of it).
    auto trainer = db.prepare("SELECT e.id FROM events ev JOIN executions e ON e.id = ev.execution_id "
                              "WHERE ev.kind = 'output' AND ev.artifact_digest = ? AND e.status = 'succeeded' "
                              "AND e.stage_name != 'registry.model' "
                              "ORDER BY e.id LIMIT 1");
    trainer.bind(1, version.digest);
    if (trainer.step()) {
        version.trained_by = trainer.int64(0);
        version.training_data = inputs_of(db, *version.trained_by);
        version.training_metrics = execution_metrics(db, *version.trained_by);
    }
    auto evaluations = db.prepare(
        "SELECT e.id, e.run_id, e.stage_id, e.stage_name, coalesce(e.ended_at, 0) FROM events ev "
        "JOIN executions e ON e.id = ev.execution_id WHERE ev.kind = 'input' AND ev.artifact_digest = ? "
        "AND e.status IN ('succeeded', 'cached') "
        // Only a plugin's stage judges a model: an inline Lua stage, a sweep's selector or a core
        // stage could log any number it likes, and a promotion policy would believe it.
        "AND e.plugin_name IS NOT NULL AND e.plugin_name != 'trellis' "
        "ORDER BY e.ended_at DESC, e.id DESC");
    evaluations.bind(1, version.digest);
    while (evaluations.step()) {
        Evaluation evaluation;
        evaluation.execution_id = evaluations.int64(0);
        evaluation.run_id = evaluations.text(1);
        evaluation.stage_id = evaluations.text(2);
        evaluation.stage_name = evaluations.text(3);
        evaluation.ended_at = evaluations.real(4);
        evaluation.metrics = execution_metrics(db, evaluation.execution_id);
        if (evaluation.metrics.empty()) continue; // used the model without judging it (an export)
        for (const auto& [port, digest] : inputs_of(db, evaluation.execution_id))
            if (digest != version.digest) evaluation.data[port] = digest;
        if (evaluation.data.empty()) continue; // judged on no data: not an evaluation
        version.evaluations.push_back(std::move(evaluation));
    }
}

ModelVersion read_version(store::Database& db, const std::string& name, int64_t number, bool details) {
    auto query = db.prepare("SELECT m.artifact_digest, m.status, m.registered_by, m.registered_at, m.description, "
                            "m.uri, m.card, m.execution_id, e.run_id, a.properties FROM models m "
                            "LEFT JOIN executions e ON e.id = m.execution_id "
                            "LEFT JOIN artifacts a ON a.digest = m.artifact_digest WHERE m.name = ? AND m.version = ?");
    query.bind(1, name).bind(2, number);
    if (!query.step()) throw RegistryError("model " + version_label(name, number) + " is not registered");
    ModelVersion version;
    version.name = name;
    version.version = number;
    version.digest = query.text(0);
    version.status = query.text(1);
    version.registered_by = query.optional_text(2);
    version.registered_at = query.real(3);
    version.description = query.optional_text(4);
    version.uri = query.optional_text(5);
    version.card = parse_json(query.text(6));
    if (!version.card.is_object()) version.card = nlohmann::json::object();
    version.execution_id = query.optional_int64(7);
    version.run_id = query.optional_text(8);
    const auto properties = parse_json(query.text(9));
    if (properties.is_object()) {
        version.flavor = properties.value("flavor", "");
        if (properties.contains("inputs")) version.signature = {{"inputs", properties["inputs"]}};
    }
    auto tags = db.prepare("SELECT key, value FROM model_tags WHERE name = ? AND version = ? ORDER BY key");
    tags.bind(1, name).bind(2, number);
    while (tags.step()) version.tags[tags.text(0)] = tags.text(1);
    auto aliases = db.prepare("SELECT alias FROM model_aliases WHERE name = ? AND version = ? ORDER BY alias");
    aliases.bind(1, name).bind(2, number);
    while (aliases.step()) version.aliases.push_back(aliases.text(0));
    if (!details) return version;

    fill_lineage(db, version);
    auto decisions = db.prepare("SELECT identity, role, decision, reason, at FROM approvals WHERE name = ? AND "
                                "version = ? ORDER BY id");
    decisions.bind(1, name).bind(2, number);
    while (decisions.step())
        version.decisions.push_back({decisions.text(0), decisions.text(1), decisions.text(2), decisions.text(3),
                                     decisions.real(4)});
    auto signatures = db.prepare("SELECT key_id, public_key, sha256, signature, signed_by, signed_at FROM "
                                 "model_signatures WHERE name = ? AND version = ? ORDER BY signed_at");
    signatures.bind(1, name).bind(2, number);
    while (signatures.step())
        version.signatures.push_back({signatures.text(0), signatures.text(1), signatures.text(2), signatures.text(3),
                                      signatures.text(4), signatures.real(5)});
    return version;
}

nlohmann::json brief(const ModelVersion& version) {
    nlohmann::json out = {{"status", version.status}, {"aliases", version.aliases}, {"tags", version.tags}};
    if (version.description) out["description"] = *version.description;
    return out;
}

void require_exists(store::Database& db, const std::string& name, int64_t version) {
    auto query = db.prepare("SELECT 1 FROM models WHERE name = ? AND version = ?");
    query.bind(1, name).bind(2, version);
    if (!query.step()) {
        resolve(db, name); // names the model when it does not exist at all
        throw RegistryError("model '" + name + "' has no version " + std::to_string(version));
    }
}

} // namespace

std::map<std::string, double> execution_metrics(store::Database& db, int64_t execution_id) {
    std::map<std::string, double> out;
    for (int hop = 0; hop < 2; ++hop) {
        // Per name, the row with the highest step (then the latest): the final value.
        auto query = db.prepare("SELECT name, value FROM metrics WHERE execution_id = ?1 AND value IS NOT NULL "
                                "ORDER BY name, step, logged_at, rowid");
        query.bind(1, execution_id);
        while (query.step()) out[query.text(0)] = query.real(1);
        if (!out.empty()) break;
        auto source = db.prepare("SELECT cached_from FROM executions WHERE id = ?");
        source.bind(1, execution_id);
        if (!source.step() || source.is_null(0)) break;
        execution_id = source.int64(0);
    }
    return out;
}

std::vector<ModelSummary> list_models(store::Database& db) {
    std::vector<ModelSummary> out;
    auto query = db.prepare("SELECT name, count(*), max(version), max(registered_at) FROM models GROUP BY name "
                            "ORDER BY name");
    while (query.step()) out.push_back({query.text(0), query.int64(1), query.int64(2), query.real(3), {}});
    auto aliases = db.prepare("SELECT name, alias, version FROM model_aliases ORDER BY name, alias");
    while (aliases.step())
        for (auto& model : out)
            if (model.name == aliases.text(0)) model.aliases[aliases.text(1)] = aliases.int64(2);
    return out;
}

std::vector<ModelVersion> list_versions(store::Database& db, const std::string& name) {
    auto query = db.prepare("SELECT version FROM models WHERE name = ? ORDER BY version DESC");
    query.bind(1, name);
    std::vector<int64_t> numbers;
    while (query.step()) numbers.push_back(query.int64(0));
    if (numbers.empty()) resolve(db, name); // throws, with near names
    std::vector<ModelVersion> out;
    for (int64_t number : numbers) out.push_back(read_version(db, name, number, false));
    return out;
}

ModelVersion load_version(store::Database& db, const std::string& reference) {
    const auto [name, number] = resolve(db, reference);
    return read_version(db, name, number, true);
}

void check_alias_name(const std::string& alias) {
    const bool allowed = !alias.empty() && alias.size() <= 64 && std::all_of(alias.begin(), alias.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
    if (!allowed) throw RegistryError("alias '" + alias + "': use letters, digits, '-' and '_' (at most 64)");
    const bool numeric = std::all_of(alias.begin() + ((alias[0] == 'v' || alias[0] == 'V') ? 1 : 0), alias.end(),
                                     [](char c) { return c >= '0' && c <= '9'; });
    if (numeric) throw RegistryError("alias '" + alias + "' would read as a version; choose a name such as champion");
    if (alias == "latest") throw RegistryError("alias 'latest' is reserved; choose a name such as champion");
}

std::optional<int64_t> alias_holder(store::Database& db, const std::string& name, const std::string& alias) {
    auto query = db.prepare("SELECT version FROM model_aliases WHERE name = ? AND alias = ?");
    query.bind(1, name).bind(2, alias);
    if (!query.step()) return std::nullopt;
    return query.int64(0);
}

void set_alias(govern::Governance& governance, const std::string& name, const std::string& alias, int64_t version,
               bool require_signed) {
    check_alias_name(alias);
    governance.require(Role::Developer, "set alias " + name + "@" + alias);
    auto& db = governance.db();
    store::Transaction transaction(db);
    require_exists(db, name, version);
    if (require_signed)
        if (const auto problem = signature_problem(db, governance.root(), load_version(db, version_label(name, version)));
            !problem.empty())
            throw RegistryError("not pointing " + name + "@" + alias + " at " + version_label(name, version) +
                                ": trust.require_signed_models is on and " + problem);
    auto policy = db.prepare("SELECT 1 FROM promotion_policies WHERE name = ? AND alias = ?");
    policy.bind(1, name).bind(2, alias);
    if (policy.step())
        throw RegistryError(name + "@" + alias + " is guarded by a promotion policy; move it with 'trellis models "
                            "promote " + version_label(name, version) + " --alias " + alias + "'");
    const auto candidate = read_version(db, name, version, false);
    if (candidate.status != "active")
        throw RegistryError("model " + version_label(name, version) + " is archived; restore it before pointing an alias at it");
    const std::optional<int64_t> before = alias_holder(db, name, alias);
    if (before == version) throw RegistryError(name + "@" + alias + " is already version " + std::to_string(version));
    auto upsert = db.prepare("INSERT OR REPLACE INTO model_aliases (name, alias, version, set_by, set_at) "
                             "VALUES (?, ?, ?, ?, ?)");
    upsert.bind(1, name).bind(2, alias).bind(3, version).bind(4, governance.who().name).bind(5, governance.now());
    upsert.run();
    governance.audit("alias.set", name + "@" + alias, before ? nlohmann::json({{"version", *before}}) : nlohmann::json(),
                     {{"version", version}});
    transaction.commit();
}

void delete_alias(govern::Governance& governance, const std::string& name, const std::string& alias) {
    governance.require(Role::Developer, "delete alias " + name + "@" + alias);
    auto& db = governance.db();
    {
        auto policy = db.prepare("SELECT 1 FROM promotion_policies WHERE name = ? AND alias = ?");
        policy.bind(1, name).bind(2, alias);
        if (policy.step()) governance.require(Role::Admin, "delete alias " + name + "@" + alias + ", which a policy guards");
    }
    store::Transaction transaction(db);
    const auto holder = alias_holder(db, name, alias);
    if (!holder) throw RegistryError("model '" + name + "' has no alias '" + alias + "'");
    const int64_t before = *holder;
    auto remove = db.prepare("DELETE FROM model_aliases WHERE name = ? AND alias = ?");
    remove.bind(1, name).bind(2, alias);
    remove.run();
    governance.audit("alias.delete", name + "@" + alias, {{"version", before}}, nullptr);
    transaction.commit();
}

void set_tag(govern::Governance& governance, const std::string& reference, const std::string& key,
             const std::string& value) {
    if (key.empty()) throw RegistryError("a tag needs a key");
    auto& db = governance.db();
    const auto [name, number] = resolve(db, reference);
    governance.require(Role::Developer, "tag " + version_label(name, number));
    store::Transaction transaction(db);
    const auto before = brief(read_version(db, name, number, false));
    auto upsert = db.prepare("INSERT OR REPLACE INTO model_tags (name, version, key, value) VALUES (?, ?, ?, ?)");
    upsert.bind(1, name).bind(2, number).bind(3, key).bind(4, value);
    upsert.run();
    governance.audit("model.tag", version_label(name, number), before, brief(read_version(db, name, number, false)));
    transaction.commit();
}

void set_description(govern::Governance& governance, const std::string& reference, const std::string& text) {
    auto& db = governance.db();
    const auto [name, number] = resolve(db, reference);
    governance.require(Role::Developer, "describe " + version_label(name, number));
    store::Transaction transaction(db);
    const auto before = brief(read_version(db, name, number, false));
    auto update = db.prepare("UPDATE models SET description = ? WHERE name = ? AND version = ?");
    update.bind(1, text).bind(2, name).bind(3, number);
    update.run();
    governance.audit("model.describe", version_label(name, number), before, brief(read_version(db, name, number, false)));
    transaction.commit();
}

void set_status(govern::Governance& governance, const std::string& reference, bool archived) {
    auto& db = governance.db();
    const auto [name, number] = resolve(db, reference);
    governance.require(Role::Admin, std::string(archived ? "archive " : "restore ") + version_label(name, number));
    store::Transaction transaction(db);
    const auto version = read_version(db, name, number, false);
    const std::string wanted = archived ? "archived" : "active";
    if (version.status == wanted) throw RegistryError("model " + version_label(name, number) + " is " + wanted + " already");
    if (archived && !version.aliases.empty())
        throw RegistryError("model " + version_label(name, number) + " is " + name + "@" + version.aliases.front() +
                            "; move or delete that alias before archiving it");
    auto update = db.prepare("UPDATE models SET status = ? WHERE name = ? AND version = ?");
    update.bind(1, wanted).bind(2, name).bind(3, number);
    update.run();
    governance.audit(archived ? "model.archive" : "model.restore", version_label(name, number), {{"status", version.status}},
                     {{"status", wanted}});
    transaction.commit();
}

void decide(govern::Governance& governance, const std::string& reference, bool approve, const std::string& reason) {
    auto& db = governance.db();
    const auto [name, number] = resolve(db, reference);
    const std::string what = std::string(approve ? "approve " : "reject ") + version_label(name, number);
    if (reason.empty()) throw RegistryError(what + ": give a --reason");
    governance.require(Role::Approver, what);
    const auto version = read_version(db, name, number, false);
    if (version.registered_by && *version.registered_by == governance.who().name) {
        {
            store::Transaction transaction(db);
            governance.audit("access.denied", what, nullptr, {{"rule", "four-eyes"}});
            transaction.commit();
        }
        throw govern::AccessDenied(governance.who().name + " registered " + version_label(name, number) +
                                   " and may not " + (approve ? "approve" : "reject") +
                                   " it (four-eyes: another approver must decide)");
    }
    if (approve && version.status != "active")
        throw RegistryError("model " + version_label(name, number) + " is archived; restore it before approving it");
    store::Transaction transaction(db);
    auto insert = db.prepare("INSERT INTO approvals (name, version, identity, role, decision, reason, at) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)");
    const std::string decision = approve ? "approved" : "rejected";
    insert.bind(1, name)
        .bind(2, number)
        .bind(3, governance.who().name)
        .bind(4, govern::to_string(governance.who().role))
        .bind(5, decision)
        .bind(6, reason)
        .bind(7, governance.now());
    insert.run();
    governance.audit(approve ? "approval.approve" : "approval.reject", version_label(name, number), nullptr,
                     {{"decision", decision}, {"reason", reason}, {"role", govern::to_string(governance.who().role)}});
    transaction.commit();
}

ModelSignature sign_version(govern::Governance& governance, const std::string& reference, const govern::SigningKey& key) {
    auto& db = governance.db();
    const auto [name, number] = resolve(db, reference);
    governance.require(Role::Developer, "sign " + version_label(name, number));
    const auto version = read_version(db, name, number, false);
    // Sign what is stored, not what the registry says: a damaged object is refused here.
    store::ArtifactStore artifacts(governance.root());
    artifacts.get(version.digest, true);
    ModelSignature signature;
    signature.public_key = key.public_hex();
    signature.key_id = govern::key_id(signature.public_key);
    signature.sha256 = version.digest;
    signature.signature = key.sign(version.digest);
    signature.signed_by = governance.who().name;
    signature.signed_at = governance.now();
    store::Transaction transaction(db);
    auto insert = db.prepare("INSERT OR REPLACE INTO model_signatures (name, version, key_id, public_key, sha256, "
                             "signature, signed_by, signed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, name)
        .bind(2, number)
        .bind(3, signature.key_id)
        .bind(4, signature.public_key)
        .bind(5, signature.sha256)
        .bind(6, signature.signature)
        .bind(7, signature.signed_by)
        .bind(8, signature.signed_at);
    insert.run();
    governance.audit("model.sign", version_label(name, number), nullptr, {{"key", signature.key_id}, {"sha256", version.digest}});
    transaction.commit();
    return signature;
}

std::string signature_problem(store::Database& db, const std::filesystem::path& root, const ModelVersion& version) {
    if (version.signatures.empty())
        return "it is not signed (trellis sign " + version_label(version.name, version.version) + " --key KEY)";
    std::string problem;
    for (const auto& signature : version.signatures) {
        auto trusted = db.prepare("SELECT 1 FROM trusted_keys WHERE key_id = ? AND public_key = ?");
        trusted.bind(1, signature.key_id).bind(2, signature.public_key);
        if (!trusted.step()) {
            problem = "it is signed by key " + signature.key_id + ", which is not trusted (trellis keys trust)";
            continue;
        }
        if (signature.sha256 != version.digest) {
            problem = "its signature by key " + signature.key_id + " is for other bytes (sha256 " +
                      signature.sha256.substr(0, 12) + ")";
            continue;
        }
        if (!govern::verify_signature(signature.public_key, signature.sha256, signature.signature)) {
            problem = "its signature by key " + signature.key_id + " does not verify";
            continue;
        }
        try {
            store::ArtifactStore(root).get(version.digest, true);
        } catch (const store::StoreError& e) {
            return "its bytes were altered or lost after signing: " + std::string(e.what());
        }
        return {};
    }
    return problem;
}

nlohmann::json version_json(const ModelVersion& version) {
    nlohmann::json out = {{"name", version.name},
                          {"version", version.version},
                          {"artifact", version.digest},
                          {"status", version.status},
                          {"registered_at", version.registered_at},
                          {"registered_by", version.registered_by ? nlohmann::json(*version.registered_by) : nullptr},
                          {"description", version.description ? nlohmann::json(*version.description) : nullptr},
                          {"uri", version.uri ? nlohmann::json(*version.uri) : nullptr},
                          {"flavor", version.flavor},
                          {"signature", version.signature},
                          {"card", version.card},
                          {"tags", version.tags},
                          {"aliases", version.aliases},
                          {"run", version.run_id ? nlohmann::json(*version.run_id) : nullptr},
                          {"execution", version.execution_id ? nlohmann::json(*version.execution_id) : nullptr},
                          {"trained_by", version.trained_by ? nlohmann::json(*version.trained_by) : nullptr},
                          {"training_data", version.training_data},
                          {"training_metrics", version.training_metrics}};
    nlohmann::json evaluations = nlohmann::json::array();
    for (const auto& e : version.evaluations)
        evaluations.push_back({{"execution", e.execution_id}, {"run", e.run_id}, {"stage", e.stage_id},
                               {"stage_name", e.stage_name}, {"ended_at", e.ended_at}, {"data", e.data},
                               {"metrics", e.metrics}});
    out["evaluations"] = evaluations;
    nlohmann::json decisions = nlohmann::json::array();
    for (const auto& d : version.decisions)
        decisions.push_back({{"identity", d.identity}, {"role", d.role}, {"decision", d.decision},
                             {"reason", d.reason}, {"at", d.at}});
    out["approvals"] = decisions;
    nlohmann::json signatures = nlohmann::json::array();
    for (const auto& s : version.signatures)
        signatures.push_back({{"key", s.key_id}, {"sha256", s.sha256}, {"signed_by", s.signed_by}, {"signed_at", s.signed_at}});
    out["signatures"] = signatures;
    return out;
}

std::string version_label(const std::string& name, int64_t version) { return name + ":" + std::to_string(version); }

std::string metric_text(double value) {
    char text[40];
    std::snprintf(text, sizeof text, "%.6g", value);
    return text;
}

} // namespace trellis::registry
