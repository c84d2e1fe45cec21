#include "govern/tokens.hpp"

#include "store/digest.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace trellis::govern {

namespace {

std::string random_hex(size_t bytes) {
    std::vector<uint8_t> raw(bytes);
    if (RAND_bytes(raw.data(), static_cast<int>(bytes)) != 1) throw std::runtime_error("cannot draw random bytes for a token");
    return store::to_hex(raw);
}

TokenRow token_from(store::Statement& row) {
    TokenRow token;
    token.id = row.text(0);
    token.identity = row.text(1);
    token.role = parse_role(row.text(2)).value_or(Role::Viewer);
    token.created_by = row.text(3);
    token.created_at = row.real(4);
    token.expires_at = row.real(5);
    token.revoked_at = row.optional_real(6);
    return token;
}

constexpr const char* columns = "id, identity, role, created_by, created_at, expires_at, revoked_at";

nlohmann::json describe(const TokenRow& token) {
    nlohmann::json out = {{"identity", token.identity}, {"role", to_string(token.role)}, {"expires_at", token.expires_at}};
    if (token.revoked_at) out["revoked_at"] = *token.revoked_at;
    return out;
}

} // namespace

NewToken create_token(Governance& governance, const std::string& identity, Role role, double expires_at) {
    governance.require(Role::Admin, "create tokens");
    if (identity.empty() || identity.size() > 100 || identity.find_first_of(" \t\n:@") != std::string::npos)
        throw std::invalid_argument("token identity '" + identity + "': use a name without spaces, ':' or '@'");
    if (expires_at <= governance.now()) throw std::invalid_argument("--expires: the token would expire at once");
    NewToken made;
    made.row.id = random_hex(4);
    made.row.identity = identity;
    made.row.role = role;
    made.row.created_by = governance.who().name;
    made.row.created_at = governance.now();
    made.row.expires_at = expires_at;
    made.token = "trellis_" + made.row.id + "_" + random_hex(32);
    store::Transaction transaction(governance.db());
    auto insert = governance.db().prepare("INSERT INTO tokens (id, identity, role, hash, created_by, created_at, "
                                          "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, made.row.id)
        .bind(2, identity)
        .bind(3, to_string(role))
        .bind(4, store::sha256_hex(made.token))
        .bind(5, made.row.created_by)
        .bind(6, made.row.created_at)
        .bind(7, expires_at);
    insert.run();
    // The hash is in the entry so that swapping it for a token one knows is caught (audit verify);
    // it reveals nothing of the secret.
    auto audited = describe(made.row);
    audited["hash"] = store::sha256_hex(made.token);
    governance.audit("token.create", "token " + made.row.id, nullptr, audited);
    transaction.commit();
    return made;
}

void revoke_token(Governance& governance, const std::string& id) {
    governance.require(Role::Admin, "revoke tokens");
    store::Transaction transaction(governance.db());
    auto query = governance.db().prepare(std::string("SELECT ") + columns + " FROM tokens WHERE id = ?");
    query.bind(1, id);
    if (!query.step()) throw std::invalid_argument("no token with id '" + id + "' (see trellis tokens list)");
    TokenRow token = token_from(query);
    if (token.revoked_at) throw std::invalid_argument("token " + id + " is revoked already");
    auto update = governance.db().prepare("UPDATE tokens SET revoked_at = ? WHERE id = ?");
    update.bind(1, governance.now()).bind(2, id);
    update.run();
    const auto before = describe(token);
    token.revoked_at = governance.now();
    governance.audit("token.revoke", "token " + id, before, describe(token));
    transaction.commit();
}

std::vector<TokenRow> list_tokens(store::Database& db) {
    auto query = db.prepare(std::string("SELECT ") + columns + " FROM tokens ORDER BY created_at, id");
    std::vector<TokenRow> out;
    while (query.step()) out.push_back(token_from(query));
    return out;
}

TokenRow authenticate_token(store::Database& db, const std::string& token, double now) {
    constexpr auto refused = AccessDenied::Reason::Unauthenticated;
    if (token.rfind("trellis_", 0) != 0 || token.size() != 8 + 8 + 1 + 64)
        throw AccessDenied("TRELLIS_TOKEN is not a trellis token (it should read trellis_<id>_<secret>)", refused);
    auto query = db.prepare(std::string("SELECT ") + columns + " FROM tokens WHERE hash = ?");
    query.bind(1, store::sha256_hex(token));
    if (!query.step()) throw AccessDenied("TRELLIS_TOKEN: unknown token (revoked and removed, or for another store)", refused);
    TokenRow row = token_from(query);
    if (row.revoked_at) throw AccessDenied("TRELLIS_TOKEN: token " + row.id + " was revoked", refused);
    if (row.expires_at <= now) throw AccessDenied("TRELLIS_TOKEN: token " + row.id + " has expired", refused);
    return row;
}

} // namespace trellis::govern
