// API tokens: made by an admin for an identity and a role, shown once, stored as a SHA-256 hash.
// A token reads "trellis_<id>_<secret>": the id is public (lists, audit), the secret is 32
// random bytes. The CLI takes it from TRELLIS_TOKEN (the HTTP server, when
// there is one, as a bearer token).
#pragma once

#include "govern/access.hpp"
#include "store/sqlite.hpp"

#include <optional>
#include <string>
#include <vector>

namespace trellis::govern {

struct TokenRow {
    std::string id;
    std::string identity;
    Role role = Role::Viewer;
    std::string created_by;
    double created_at = 0;
    double expires_at = 0;
    std::optional<double> revoked_at;
};

struct NewToken {
    TokenRow row;
    std::string token; // the whole token: shown once, never stored
};

// Makes a token for `identity` with `role`, audited. Admin only (so no role is above the maker's).
NewToken create_token(Governance& governance, const std::string& identity, Role role, double expires_at);
// Revokes token `id`, audited. Admin only. Throws std::invalid_argument (not AccessDenied) when
// there is no such token.
void revoke_token(Governance& governance, const std::string& id);
std::vector<TokenRow> list_tokens(store::Database& db);

// The token whose hash matches `token`; throws AccessDenied with the reason when it is malformed,
// unknown, revoked or expired at `now`.
TokenRow authenticate_token(store::Database& db, const std::string& token, double now);

} // namespace trellis::govern
