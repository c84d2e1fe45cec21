#include "govern/access.hpp"

#include "govern/audit_log.hpp"
#include "govern/store_key.hpp"
#include "govern/tokens.hpp"

#include <algorithm>
#include <cstdlib>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace trellis::govern {

namespace {

std::string user_of(uid_t uid) {
    struct passwd entry {};
    struct passwd* found = nullptr;
    char buffer[4096];
    if (getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found) return found->pw_name;
    return "uid-" + std::to_string(uid);
}

} // namespace

std::string to_string(Role role) {
    switch (role) {
    case Role::Viewer: return "viewer";
    case Role::Developer: return "developer";
    case Role::Approver: return "approver";
    case Role::Admin: return "admin";
    }
    return "viewer";
}

std::optional<Role> parse_role(const std::string& name) {
    for (Role role : {Role::Viewer, Role::Developer, Role::Approver, Role::Admin})
        if (to_string(role) == name) return role;
    return std::nullopt;
}

// Never $USER: whoever runs trellis sets it, and would choose who they are.
std::string os_user_name() { return user_of(geteuid()); }

std::optional<std::string> store_owner_name(const std::filesystem::path& root) {
    struct stat info {};
    if (::stat(root.c_str(), &info) != 0) return std::nullopt;
    return user_of(info.st_uid);
}

Governance::Governance(store::Database& db, std::filesystem::path root, const std::optional<std::string>& token,
                       double now)
    : db_(db), root_(std::move(root)), now_(now) {
    if (token && !token->empty()) {
        const TokenRow row = authenticate_token(db_, *token, now_);
        // A grant to the token's identity can lower what the token may do, never raise it: an
        // admin demotes a token's holder without revoking it, and no grant turns a viewer's token
        // into more.
        Role role = row.role;
        auto granted = db_.prepare("SELECT role FROM roles WHERE identity = ?");
        granted.bind(1, row.identity);
        if (granted.step()) role = std::min(role, parse_role(granted.text(0)).value_or(Role::Viewer));
        who_ = {row.identity, role, "token " + row.id};
        return;
    }
    who_.name = os_user_name();
    who_.role = role_of(who_.name);
    who_.via = store_owner_name(root_) == who_.name ? "store owner" : "OS user";
}

Role Governance::role_of(const std::string& name) {
    if (store_owner_name(root_) == name) return Role::Admin;
    auto query = db_.prepare("SELECT role FROM roles WHERE identity = ?");
    query.bind(1, name);
    if (query.step()) return parse_role(query.text(0)).value_or(Role::Viewer);
    return Role::Developer;
}

const SigningKey& Governance::key() {
    if (!key_) key_ = store_signing_key(root_);
    return *key_;
}

void Governance::require(Role needed, const std::string& what) {
    if (who_.role >= needed) return;
    const std::string message = who_.name + " (" + to_string(who_.role) + ", via " + who_.via + ") may not " + what +
                                ": that needs role " + to_string(needed) + " or higher";
    {
        store::Transaction transaction(db_);
        audit("access.denied", what, nullptr, {{"role", to_string(who_.role)}, {"needs", to_string(needed)}});
        transaction.commit();
    }
    throw AccessDenied(message);
}

void Governance::audit(const std::string& action, const std::string& object, const nlohmann::json& before,
                       const nlohmann::json& after) {
    append_audit(db_, key(), who_.name, action, object, before, after, now_);
}

} // namespace trellis::govern
