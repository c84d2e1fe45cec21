// Who is acting and what they may do. An identity is the OS user running trellis, or, when
// TRELLIS_TOKEN holds an API token, the identity that token was made for. Roles are ordered:
// viewer < developer < approver < admin, each allowed what the ones below it are
// (docs/governance.md lists the actions). An OS user's role is the one granted in the store; the
// store folder's owner is always admin (whoever owns the files could edit them anyway); anyone
// else without a grant is a developer, as on a shared workstation. A token acts with the role it
// was made with, lowered by a grant to its identity if there is one. An action refused for want of a
// role is audited too.
#pragma once

#include "govern/ed25519.hpp"
#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace trellis::govern {

enum class Role { Viewer = 0, Developer = 1, Approver = 2, Admin = 3 };

std::string to_string(Role role);
// nullopt for a name that is not a role.
std::optional<Role> parse_role(const std::string& name);

struct Identity {
    std::string name;
    Role role = Role::Viewer;
    std::string via; // "OS user", "store owner", "token 1a2b3c4d"
};

// An action refused: one line naming who, the action and the role it needs, or why a token is
// not accepted at all. HTTP answers the first 403 and the second 401.
class AccessDenied : public std::runtime_error {
public:
    enum class Reason { Forbidden, Unauthenticated };
    explicit AccessDenied(const std::string& message, Reason reason = Reason::Forbidden)
        : std::runtime_error(message), reason_(reason) {}
    Reason reason() const noexcept { return reason_; }

private:
    Reason reason_;
};

// The OS user this process runs as (getpwuid of the effective uid; $USER when that fails).
std::string os_user_name();
// The name of the store folder's owner, if it exists.
std::optional<std::string> store_owner_name(const std::filesystem::path& root);

// The store's governance tables and audit log, as one identity sees them.
class Governance {
public:
    // Resolves who is acting: `token` (TRELLIS_TOKEN's value) if given, else the OS user. Throws
    // AccessDenied for a token that is unknown, expired or revoked.
    Governance(store::Database& db, std::filesystem::path root, const std::optional<std::string>& token, double now);

    const Identity& who() const { return who_; }
    store::Database& db() { return db_; }
    const std::filesystem::path& root() const { return root_; }
    double now() const { return now_; }
    // The store key (made on first use).
    const SigningKey& key();

    // Throws AccessDenied (after auditing the refusal) unless who() has at least `needed`.
    // `what` says the action, e.g. "approve churn:3".
    void require(Role needed, const std::string& what);
    // Appends an entry by who() inside the caller's open transaction.
    void audit(const std::string& action, const std::string& object, const nlohmann::json& before,
               const nlohmann::json& after);

    // The role an OS user or token identity `name` has without a token: its grant, admin for the
    // store's owner, else developer.
    Role role_of(const std::string& name);

private:
    store::Database& db_;
    std::filesystem::path root_;
    double now_;
    Identity who_;
    std::optional<SigningKey> key_;
};

} // namespace trellis::govern
