#include "govern/audit_log.hpp"

#include "govern/audit_coverage.hpp"

#include "store/digest.hpp"
#include "store/metadata_store.hpp"

namespace trellis::govern {

namespace {

const std::string genesis_hash(64, '0');

std::string head_message(int64_t seq, const std::string& hash) { return std::to_string(seq) + ":" + hash; }

nlohmann::json parse_or_text(const std::string& text) {
    auto value = nlohmann::json::parse(text, nullptr, false);
    // A row edited into something that is not JSON still hashes as what it says, so it is caught.
    return value.is_discarded() ? nlohmann::json("<not JSON> " + text) : value;
}

AuditEntry entry_from(store::Statement& row) {
    AuditEntry entry;
    entry.seq = row.int64(0);
    entry.at = row.real(1);
    entry.actor = row.text(2);
    entry.action = row.text(3);
    entry.object = row.text(4);
    entry.before = parse_or_text(row.text(5));
    entry.after = parse_or_text(row.text(6));
    entry.prev_hash = row.text(7);
    entry.hash = row.text(8);
    entry.signature = row.text(9);
    return entry;
}

constexpr const char* columns = "seq, at, actor, action, object, before, after, prev_hash, hash, signature";

// `pattern` matches `text` exactly, or as a prefix when it ends in '*'.
bool matches(const std::string& pattern, const std::string& text) {
    if (!pattern.empty() && pattern.back() == '*') return text.rfind(pattern.substr(0, pattern.size() - 1), 0) == 0;
    return pattern == text;
}

} // namespace

std::string audit_entry_hash(const AuditEntry& entry) {
    const nlohmann::json content = {{"seq", entry.seq},       {"at", entry.at},         {"actor", entry.actor},
                                    {"action", entry.action}, {"object", entry.object}, {"before", entry.before},
                                    {"after", entry.after},   {"prev_hash", entry.prev_hash}};
    return store::sha256_hex(store::canonical_json(content));
}

AuditEntry append_audit(store::Database& db, const SigningKey& key, const std::string& actor,
                        const std::string& action, const std::string& object, const nlohmann::json& before,
                        const nlohmann::json& after, double at) {
    if (sqlite3_get_autocommit(db.handle()))
        throw store::StoreError("internal: an audit entry must be written in the transaction of its change");
    AuditEntry entry;
    {
        auto last = db.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
        if (last.step()) {
            entry.seq = last.int64(0) + 1;
            entry.prev_hash = last.text(1);
        } else {
            entry.seq = 1;
            entry.prev_hash = genesis_hash;
        }
    }
    entry.at = at;
    entry.actor = actor;
    entry.action = action;
    entry.object = object;
    // Through canonical JSON and back, so the hash covers exactly what the row will hold.
    entry.before = nlohmann::json::parse(store::canonical_json(before));
    entry.after = nlohmann::json::parse(store::canonical_json(after));
    entry.hash = audit_entry_hash(entry);
    entry.signature = key.sign(entry.hash);
    auto insert = db.prepare(std::string("INSERT INTO audit_log (") + columns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, entry.seq)
        .bind(2, entry.at)
        .bind(3, entry.actor)
        .bind(4, entry.action)
        .bind(5, entry.object)
        .bind(6, store::canonical_json(entry.before))
        .bind(7, store::canonical_json(entry.after))
        .bind(8, entry.prev_hash)
        .bind(9, entry.hash)
        .bind(10, entry.signature);
    insert.run();
    auto head = db.prepare("INSERT OR REPLACE INTO audit_head (id, seq, hash, signature) VALUES (1, ?, ?, ?)");
    head.bind(1, entry.seq).bind(2, entry.hash).bind(3, key.sign(head_message(entry.seq, entry.hash)));
    head.run();
    return entry;
}

std::vector<AuditEntry> read_audit(store::Database& db, const AuditFilter& filter) {
    std::string sql = std::string("SELECT ") + columns + " FROM audit_log WHERE 1";
    if (filter.actor) sql += " AND actor = ?1";
    if (filter.since) sql += " AND at >= ?2";
    if (filter.until) sql += " AND at <= ?3";
    sql += " ORDER BY seq";
    auto query = db.prepare(sql);
    if (filter.actor) query.bind(1, *filter.actor);
    if (filter.since) query.bind(2, *filter.since);
    if (filter.until) query.bind(3, *filter.until);
    std::vector<AuditEntry> out;
    while (query.step()) {
        AuditEntry entry = entry_from(query);
        if (filter.object && !matches(*filter.object, entry.object)) continue;
        if (filter.action && !matches(*filter.action, entry.action)) continue;
        out.push_back(std::move(entry));
    }
    if (filter.limit && out.size() > filter.limit) out.erase(out.begin(), out.end() - static_cast<long>(filter.limit));
    return out;
}

AuditVerdict verify_audit(store::Database& db, const std::string& public_hex) {
    AuditVerdict verdict;
    auto bad = [&](int64_t seq, std::string problem) {
        verdict.first_bad = seq;
        verdict.problem = std::move(problem);
        return verdict;
    };
    auto query = db.prepare(std::string("SELECT ") + columns + " FROM audit_log ORDER BY seq");
    int64_t expected_seq = 1;
    std::string previous = genesis_hash;
    std::vector<AuditEntry> checked; // for the coverage check, which needs the whole log too
    while (query.step()) {
        const AuditEntry& entry = checked.emplace_back(entry_from(query));
        ++verdict.entries;
        if (entry.seq != expected_seq)
            return bad(expected_seq, entry.seq > expected_seq
                                         ? "entry " + std::to_string(expected_seq) + " is missing: the log goes from " +
                                               std::to_string(expected_seq - 1) + " to " + std::to_string(entry.seq) +
                                               " (deleted)"
                                         : "entry " + std::to_string(entry.seq) + " is out of order");
        if (entry.prev_hash != previous)
            return bad(entry.seq, "entry " + std::to_string(entry.seq) + " does not follow entry " +
                                      std::to_string(entry.seq - 1) +
                                      ": its link to the previous hash is broken (an entry inserted, deleted or "
                                      "reordered before it)");
        if (audit_entry_hash(entry) != entry.hash)
            return bad(entry.seq, "entry " + std::to_string(entry.seq) +
                                      ": its content does not match its hash (the row was edited)");
        if (!verify_signature(public_hex, entry.hash, entry.signature))
            return bad(entry.seq, "entry " + std::to_string(entry.seq) +
                                      ": its signature does not verify with the store key (the chain was recomputed "
                                      "or re-signed with another key)");
        previous = entry.hash;
        ++expected_seq;
    }
    const int64_t last = expected_seq - 1;
    if (last > 0) {
        verdict.head_seq = last;
        verdict.head_hash = previous;
    }
    auto head = db.prepare("SELECT seq, hash, signature FROM audit_head WHERE id = 1");
    if (!head.step()) {
        if (last == 0) { // an empty log: then the governed tables must be empty too
            verdict.problem = audit_coverage_problem(db, {});
            return verdict;
        }
        return bad(last, "the signed head is missing (deleted) while the log has " + std::to_string(last) + " entries");
    }
    const int64_t head_seq = head.int64(0);
    const std::string head_hash = head.text(1);
    if (!verify_signature(public_hex, head_message(head_seq, head_hash), head.text(2)))
        return bad(head_seq, "the signed head does not verify with the store key (rewritten)");
    if (head_seq > last)
        return bad(last + 1, "entries " + std::to_string(last + 1) + " to " + std::to_string(head_seq) +
                                 " are missing: the signed head is at " + std::to_string(head_seq) +
                                 " but the log ends at " + std::to_string(last) + " (deleted from the end)");
    if (head_seq < last)
        return bad(head_seq + 1, "entries after " + std::to_string(head_seq) +
                                     " are not covered by the signed head (appended without the store key, or the "
                                     "head was rolled back)");
    if (head_hash != previous)
        return bad(last, "entry " + std::to_string(last) + " does not match the signed head's hash");
    if (std::string problem = audit_coverage_problem(db, std::move(checked)); !problem.empty()) verdict.problem = problem;
    return verdict;
}

nlohmann::json to_json(const AuditEntry& entry) {
    return {{"seq", entry.seq},       {"at", entry.at},         {"actor", entry.actor},
            {"action", entry.action}, {"object", entry.object}, {"before", entry.before},
            {"after", entry.after},   {"prev_hash", entry.prev_hash}, {"hash", entry.hash},
            {"signature", entry.signature}};
}

} // namespace trellis::govern
