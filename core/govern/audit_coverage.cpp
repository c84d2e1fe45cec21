#include "govern/audit_coverage.hpp"

#include "govern/audit_log.hpp"

#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

namespace trellis::govern {

namespace {

using nlohmann::json;

// The audit entries by object, oldest first.
class AuditIndex {
public:
    explicit AuditIndex(std::vector<AuditEntry> entries) : entries_(std::move(entries)) {
        for (const auto& entry : entries_) by_object_[entry.object].push_back(&entry);
    }

    // The newest entry on `object` whose action is one of `actions`.
    const AuditEntry* latest(const std::string& object, const std::set<std::string>& actions) const {
        auto it = by_object_.find(object);
        if (it == by_object_.end()) return nullptr;
        for (auto entry = it->second.rbegin(); entry != it->second.rend(); ++entry)
            if (actions.count((*entry)->action)) return *entry;
        return nullptr;
    }

    // Every entry on `object` with `action`.
    std::vector<const AuditEntry*> all(const std::string& object, const std::string& action) const {
        std::vector<const AuditEntry*> out;
        if (auto it = by_object_.find(object); it != by_object_.end())
            for (const auto* entry : it->second)
                if (entry->action == action) out.push_back(entry);
        return out;
    }

    const std::vector<AuditEntry>& entries() const { return entries_; }

    // The first object whose newest entry among `changes` says it exists (is not `removed_by`)
    // but which is not among `present`: a row deleted beside trellis.
    std::optional<std::string> deleted_object(const std::set<std::string>& changes, const std::string& removed_by,
                                              const std::set<std::string>& present) const {
        for (const auto& [object, entries] : by_object_) {
            const auto* last = latest(object, changes);
            if (last && last->action != removed_by && !present.count(object)) return object;
        }
        return std::nullopt;
    }

private:
    std::vector<AuditEntry> entries_;
    std::map<std::string, std::vector<const AuditEntry*>> by_object_;
};

json field(const AuditEntry& entry, const char* key) {
    return entry.after.is_object() && entry.after.contains(key) ? entry.after[key] : json();
}

const std::string unaccounted = " without an audit entry (changed beside trellis)";

// The tags of a version as a JSON object, from its rows.
json tags_of(store::Database& db, const std::string& name, int64_t version) {
    auto query = db.prepare("SELECT key, value FROM model_tags WHERE name = ? AND version = ?");
    query.bind(1, name).bind(2, version);
    json out = json::object();
    while (query.step()) out[query.text(0)] = query.text(1);
    return out;
}

std::string check_models(store::Database& db, const AuditIndex& audit) {
    auto query = db.prepare("SELECT name, version, artifact_digest, status, registered_by, description FROM models "
                            "WHERE registered_by IS NOT NULL ORDER BY name, version");
    while (query.step()) {
        const std::string object = query.text(0) + ":" + std::to_string(query.int64(1));
        bool registered = false;
        for (const auto* entry : audit.all(object, "model.register"))
            registered = registered || (field(*entry, "artifact") == query.text(2) && entry->actor == query.text(4));
        // The registrant matters: four-eyes keeps them from approving.
        if (!registered)
            return "model " + object + " is registered with artifact " + query.text(2).substr(0, 12) + " by " +
                   query.text(4) + unaccounted;
        const auto* edit = audit.latest(object, {"model.tag", "model.describe"}); // each records both, after
        const json tags = edit && edit->after.contains("tags") ? edit->after["tags"] : json::object();
        if (tags != tags_of(db, query.text(0), query.int64(1)))
            return "the tags of model " + object + " were changed" + unaccounted;
        const json description = edit && edit->after.contains("description") ? edit->after["description"] : json();
        if (description != (query.is_null(5) ? json() : json(query.text(5))))
            return "the description of model " + object + " was changed" + unaccounted;
        const auto* status = audit.latest(object, {"model.archive", "model.restore"});
        const std::string audited = status ? field(*status, "status").get<std::string>() : "active";
        if (audited != query.text(3))
            return "model " + object + " is " + query.text(3) + ", but the audit log has it " + audited +
                   ": it was changed" + unaccounted;
    }
    return {};
}

std::string check_aliases(store::Database& db, const AuditIndex& audit) {
    static const std::set<std::string> moves = {"alias.set", "alias.promote", "alias.delete"};
    std::set<std::string> present;
    auto query = db.prepare("SELECT name, alias, version FROM model_aliases ORDER BY name, alias");
    while (query.step()) {
        const std::string object = query.text(0) + "@" + query.text(1);
        present.insert(object);
        const auto* last = audit.latest(object, moves);
        if (!last || last->action == "alias.delete" || field(*last, "version") != json(query.int64(2)))
            return object + " points at version " + std::to_string(query.int64(2)) +
                   (last && last->action != "alias.delete"
                        ? ", but the audit log last moved it to " + field(*last, "version").dump() + ": it was moved"
                        : "") +
                   unaccounted;
    }
    if (const auto deleted = audit.deleted_object(moves, "alias.delete", present)) return *deleted + " was deleted" + unaccounted;
    return {};
}

std::string check_policies(store::Database& db, const AuditIndex& audit) {
    static const std::set<std::string> changes = {"policy.set", "policy.remove"};
    std::set<std::string> present;
    auto query = db.prepare("SELECT name, alias, policy FROM promotion_policies ORDER BY name, alias");
    while (query.step()) {
        const std::string object = query.text(0) + "@" + query.text(1);
        present.insert(object);
        const auto* last = audit.latest(object, changes);
        if (!last || last->action != "policy.set" || last->after != json::parse(query.text(2), nullptr, false))
            return "the promotion policy of " + object + " was set" + unaccounted;
    }
    if (const auto deleted = audit.deleted_object(changes, "policy.remove", present))
        return "the promotion policy of " + *deleted + " was removed" + unaccounted;
    return {};
}

// Decisions both ways: a row without its entry (an approval inserted, a role raised) and an entry
// without its row (a rejection deleted) each change what a promotion counts.
std::string check_approvals(store::Database& db, const AuditIndex& audit) {
    using Decision = std::tuple<std::string, std::string, std::string, std::string, std::string>; // object, who, decision, reason, role
    std::multiset<Decision> rows, logged;
    auto query = db.prepare("SELECT name, version, identity, decision, reason, role FROM approvals ORDER BY id");
    while (query.step())
        rows.insert({query.text(0) + ":" + std::to_string(query.int64(1)), query.text(2), query.text(3), query.text(4),
                     query.text(5)});
    for (const auto& entry : audit.entries())
        if (entry.action == "approval.approve" || entry.action == "approval.reject")
            logged.insert({entry.object, entry.actor, entry.action == "approval.approve" ? "approved" : "rejected",
                           field(entry, "reason").is_string() ? field(entry, "reason").get<std::string>() : "",
                           field(entry, "role").is_string() ? field(entry, "role").get<std::string>() : ""});
    for (const auto& row : rows)
        if (rows.count(row) > logged.count(row))
            return "the decision '" + std::get<2>(row) + "' by " + std::get<1>(row) + " (" + std::get<4>(row) + ") on " +
                   std::get<0>(row) + " was recorded" + unaccounted;
    for (const auto& entry : logged)
        if (logged.count(entry) > rows.count(entry))
            return "the decision '" + std::get<2>(entry) + "' by " + std::get<1>(entry) + " on " + std::get<0>(entry) +
                   " was deleted" + unaccounted;
    return {};
}

std::string check_roles(store::Database& db, const AuditIndex& audit) {
    static const std::set<std::string> changes = {"role.grant", "role.revoke"};
    std::set<std::string> present;
    auto query = db.prepare("SELECT identity, role FROM roles ORDER BY identity");
    while (query.step()) {
        const std::string object = "identity " + query.text(0);
        present.insert(object);
        const auto* last = audit.latest(object, changes);
        if (!last || last->action != "role.grant" || field(*last, "role") != query.text(1))
            return query.text(0) + " was given role " + query.text(1) + unaccounted;
    }
    if (const auto deleted = audit.deleted_object(changes, "role.revoke", present))
        return "the role of " + deleted->substr(9) + " was revoked" + unaccounted; // after "identity "
    return {};
}

std::string check_tokens(store::Database& db, const AuditIndex& audit) {
    auto query = db.prepare("SELECT id, identity, role, expires_at, revoked_at, hash FROM tokens ORDER BY id");
    while (query.step()) {
        const std::string object = "token " + query.text(0);
        const auto made = audit.all(object, "token.create");
        if (made.size() != 1 || field(*made[0], "identity") != query.text(1) || field(*made[0], "role") != query.text(2) ||
            field(*made[0], "expires_at") != json(query.real(3)) || field(*made[0], "hash") != query.text(5))
            return "token " + query.text(0) + " (" + query.text(1) + ", " + query.text(2) + ") was made or changed" + unaccounted;
        const bool revoked_in_log = !audit.all(object, "token.revoke").empty();
        if (revoked_in_log && query.is_null(4)) return "token " + query.text(0) + " was un-revoked" + unaccounted;
        if (!revoked_in_log && !query.is_null(4)) return "token " + query.text(0) + " was revoked" + unaccounted;
    }
    return {};
}

std::string check_trusted_keys(store::Database& db, const AuditIndex& audit) {
    static const std::set<std::string> changes = {"key.trust", "key.distrust"};
    std::set<std::string> present;
    auto query = db.prepare("SELECT key_id, public_key FROM trusted_keys ORDER BY key_id");
    while (query.step()) {
        const std::string object = "key " + query.text(0);
        present.insert(object);
        const auto* last = audit.latest(object, changes);
        if (!last || last->action != "key.trust" || field(*last, "public_key") != query.text(1))
            return "key " + query.text(0) + " was trusted" + unaccounted;
    }
    if (const auto deleted = audit.deleted_object(changes, "key.distrust", present))
        return *deleted + " was distrusted" + unaccounted;
    return {};
}

std::string check_signatures(store::Database& db, const AuditIndex& audit) {
    std::set<std::pair<std::string, std::string>> present; // object, key
    auto query = db.prepare("SELECT name, version, key_id, sha256 FROM model_signatures ORDER BY name, version, key_id");
    while (query.step()) {
        const std::string object = query.text(0) + ":" + std::to_string(query.int64(1));
        present.insert({object, query.text(2)});
        bool found = false;
        for (const auto* entry : audit.all(object, "model.sign"))
            found = found || (field(*entry, "key") == query.text(2) && field(*entry, "sha256") == query.text(3));
        if (!found) return "the signature of " + object + " by key " + query.text(2) + " was recorded" + unaccounted;
    }
    for (const auto& entry : audit.entries())
        if (entry.action == "model.sign" && field(entry, "key").is_string() &&
            !present.count({entry.object, field(entry, "key").get<std::string>()}))
            return "the signature of " + entry.object + " by key " + field(entry, "key").get<std::string>() +
                   " was deleted" + unaccounted;
    return {};
}

} // namespace

std::string audit_coverage_problem(store::Database& db) { return audit_coverage_problem(db, read_audit(db, {})); }

std::string audit_coverage_problem(store::Database& db, std::vector<AuditEntry> entries) {
    const AuditIndex audit(std::move(entries));
    for (auto check : {check_models, check_aliases, check_policies, check_approvals, check_roles, check_tokens,
                       check_trusted_keys, check_signatures})
        if (std::string problem = check(db, audit); !problem.empty()) return problem;
    return {};
}

} // namespace trellis::govern
