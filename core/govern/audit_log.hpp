// The audit log: every change to the registry, approvals, aliases, policies, roles, tokens and
// trusted keys, appended in the same transaction as the change (so there is no change without
// its entry), as a hash chain in the manner of Certificate Transparency and git. Each entry's hash
// covers its content and the previous entry's hash; the store key signs every hash and the head
// (the newest seq and hash). Editing, deleting, inserting or reordering rows breaks the chain;
// recomputing the chain to hide that needs the private key; cutting entries off the end means
// rewriting the signed head, which needs it too.
#pragma once

#include "govern/ed25519.hpp"
#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trellis::govern {

struct AuditEntry {
    int64_t seq = 0;
    double at = 0;
    std::string actor;
    std::string action;
    std::string object;
    nlohmann::json before; // null when the object did not exist
    nlohmann::json after;  // null when it no longer does
    std::string prev_hash;
    std::string hash;
    std::string signature;
};

// What an entry's hash covers: its canonical JSON without hash and signature.
std::string audit_entry_hash(const AuditEntry& entry);

// Appends an entry inside the caller's transaction (which must be open: the change and its entry
// commit together), signs it and the head with `key`. Returns the entry as written.
AuditEntry append_audit(store::Database& db, const SigningKey& key, const std::string& actor,
                        const std::string& action, const std::string& object, const nlohmann::json& before,
                        const nlohmann::json& after, double at);

struct AuditFilter {
    std::optional<std::string> actor;
    std::optional<std::string> object;  // exact, or a prefix ending in '*'
    std::optional<std::string> action;  // exact, or a prefix ending in '*'
    std::optional<double> since, until; // Unix seconds
    size_t limit = 0;                   // 0: all; else the newest `limit`
};

// Entries matching `filter`, oldest first.
std::vector<AuditEntry> read_audit(store::Database& db, const AuditFilter& filter);

struct AuditVerdict {
    int64_t entries = 0;                 // how many rows were checked
    std::optional<int64_t> first_bad;    // the seq of the first bad entry (or where one is missing)
    std::string problem;                 // what is wrong there; empty when the log is intact
    std::optional<int64_t> head_seq;     // the newest entry checked, and its hash: to keep elsewhere
    std::string head_hash;
    bool ok() const { return problem.empty(); }
};

// Checks the whole chain against `public_hex` (the store key's public half): sequence without
// gaps, each hash, each link, each signature, and the signed head. Stops at the first problem.
AuditVerdict verify_audit(store::Database& db, const std::string& public_hex);

nlohmann::json to_json(const AuditEntry& entry);

} // namespace trellis::govern
