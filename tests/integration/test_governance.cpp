// The model registry and governance through the real binary: two promotions of one alias at once
// (exactly one wins, the audit chain stays intact), every way of tampering with the audit log
// caught by `audit verify` at the first bad entry (including a chain recomputed without the store
// key, a wiped log, and a tail cut off behind an older signed head), signed plugins under trust.require_signed_plugins (an altered, unsigned or untrusted .so
// refused while a good one still loads), approvals with four-eyes, roles and tokens (viewer,
// revoked, expired), promotion policies (metric thresholds, beat the current holder, required
// signature, approval counts), model cards, and NAME@ALIAS everywhere a model is named.
//
// Every test starts from a copy of one store holding two versions of breast_cancer (train.linear
// on the breast cancer data with a heavy and a light l2, each evaluated on the same test split),
// trained once per process.
#include "store_helpers.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <functional>

using namespace trellis::testing;
using nlohmann::json;

namespace {

const std::string model_name = "breast_cancer";

std::string breast_cancer_csv() {
    return (fs::path(EXAMPLES_DIR) / ".." / ".." / "tests" / "data" / "breast_cancer.csv").lexically_normal().string();
}

const std::string intended_use = "Second opinion for pathologists reading fine needle aspirates";
const std::string limitations = "Trained on 569 Wisconsin cases only; not validated on other populations";

// load -> split -> train.linear (l2 from --set) -> train.evaluate on the test split -> deploy.export.
std::string pipeline_script() {
    return R"(pipeline { name = "governed", model_card = { intended_use = ")" + intended_use +
           R"(", limitations = ")" + limitations + R"(" } }
local P = params { l2 = 1.0 }
local data = stage "data.csv" { id = "load", path = ")" +
           breast_cancer_csv() + R"(" }
local split = stage "data.split" { table = data.table, seed = 7, stratify = "malignant" }
local model = stage "train.linear" { id = "train", train = split.train, target = "malignant",
                                     objective = "logistic", l2 = P.l2 }
local evaluation = stage "train.evaluate" { id = "evaluate", model = model.model, data = split.test,
                                            target = "malignant" }
stage "deploy.export" { id = "export", model = model.model, metrics = evaluation.metrics,
                        registry = ".trellis/registry", name = ")" +
           model_name + R"(" }
)";
}

// The store every test copies: version 1 with l2 = 1000 (a weak model), version 2 with l2 = 0.1.
const Sandbox& template_store() {
    static const Sandbox sandbox;
    static bool trained = false;
    if (!trained) {
        sandbox.write("governed.lua", pipeline_script());
        for (const std::string l2 : {"1000", "0.1"}) {
            const auto run = sandbox.run("-q run governed.lua --set l2=" + l2);
            if (run.exit_code != 0) throw std::runtime_error("training the template store failed:\n" + run.out + run.err);
        }
        trained = true;
    }
    return sandbox;
}

// A sandbox holding a copy of the template store, in .trellis (the default store folder).
struct Governed {
    Sandbox sandbox;
    Governed() {
        fs::copy(template_store().dir() / ".trellis", sandbox.dir() / ".trellis", fs::copy_options::recursive);
        sandbox.write("governed.lua", pipeline_script());
    }
    Result run(const std::string& args, const std::string& env = "") const { return sandbox.run(args, env); }
    fs::path store() const { return sandbox.dir() / ".trellis"; }
    fs::path db() const { return store() / "metadata.db"; }
};

std::string as(const std::string& token) { return "TRELLIS_TOKEN=" + token; }

// `models show REF --json`, required to succeed.
json show(const Sandbox& sandbox, const std::string& reference, const std::string& env = "") {
    const auto result = sandbox.run("models show " + reference + " --json", env);
    INFO("models show " << reference << ": " << result.err);
    REQUIRE(result.exit_code == 0);
    return result.json();
}

// The version NAME@ALIAS points at, or 0 when `models show` does not find it.
int64_t alias_version(const Sandbox& sandbox, const std::string& alias) {
    const auto result = sandbox.run("models show " + model_name + "@" + alias + " --json");
    if (result.exit_code != 0) return 0;
    return result.json().at("version").get<int64_t>();
}

struct Token {
    std::string id, token;
};

// A token for `identity` with `role`, made by the store owner (admin).
Token make_token(const Sandbox& sandbox, const std::string& identity, const std::string& role,
                 const std::string& expires = "") {
    const auto made = sandbox.run("tokens create --name " + identity + " --role " + role +
                                  (expires.empty() ? "" : " --expires " + expires) + " --json");
    INFO(made.out << made.err);
    REQUIRE(made.exit_code == 0);
    const json document = made.json();
    return {document.at("id").get<std::string>(), document.at("token").get<std::string>()};
}

// Sets the promotion policy of breast_cancer@ALIAS (as the store owner, an admin).
void set_policy(const Sandbox& sandbox, const std::string& alias, const json& policy) {
    sandbox.write("policy.json", policy.dump());
    const auto set = sandbox.run("models policy set " + model_name + "@" + alias + " policy.json");
    INFO(policy.dump() << "\n" << set.out << set.err);
    REQUIRE(set.exit_code == 0);
}

// `audit log --json [filters]`: one JSON document a line.
std::vector<json> audit_entries(const Sandbox& sandbox, const std::string& filters = "") {
    const auto log = sandbox.run("audit log --json " + filters);
    INFO(log.err);
    REQUIRE(log.exit_code == 0);
    std::vector<json> out;
    std::istringstream lines(log.out);
    std::string line;
    while (std::getline(lines, line)) {
        INFO("audit log line: " << line);
        REQUIRE_NOTHROW(out.push_back(json::parse(line)));
    }
    return out;
}

// The metric `name` of the newest evaluation of `version` (from models show --json).
double metric_of(const json& version, const std::string& name) {
    REQUIRE_FALSE(version.at("evaluations").empty());
    return version.at("evaluations").at(0).at("metrics").at(name).get<double>();
}

// A row of audit_log as stored ("at" read as the REAL it is, not as text, so hashes can be
// recomputed exactly).
struct AuditRow {
    int64_t seq = 0;
    double at = 0;
    std::string actor, action, object, before, after, prev_hash, hash;
};

std::vector<AuditRow> read_audit_rows(const fs::path& database) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(database.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    REQUIRE(sqlite3_prepare_v2(db,
                               "SELECT seq, at, actor, action, object, before, after, prev_hash, hash FROM audit_log "
                               "ORDER BY seq",
                               -1, &statement, nullptr) == SQLITE_OK);
    std::vector<AuditRow> rows;
    auto text = [&](int column) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(statement, column))); };
    while (sqlite3_step(statement) == SQLITE_ROW)
        rows.push_back({sqlite3_column_int64(statement, 0), sqlite3_column_double(statement, 1), text(2), text(3),
                        text(4), text(5), text(6), text(7), text(8)});
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return rows;
}

// An entry's hash as documented (core/govern/audit_log.hpp): SHA-256 of the canonical JSON (keys
// sorted, no spaces) of the entry without hash and signature, prev_hash included.
std::string entry_hash(const AuditRow& row) {
    const json content = {{"seq", row.seq},       {"at", row.at},         {"actor", row.actor},
                          {"action", row.action}, {"object", row.object}, {"before", json::parse(row.before)},
                          {"after", json::parse(row.after)}, {"prev_hash", row.prev_hash}};
    return sha256_text(content.dump());
}

// Flips one byte in the middle of `file`.
void flip_byte(const fs::path& file) {
    std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(io);
    const auto size = static_cast<std::streamoff>(fs::file_size(file));
    io.seekg(size / 2);
    char byte = 0;
    io.get(byte);
    io.seekp(size / 2);
    io.put(static_cast<char>(byte ^ 0x01));
    REQUIRE(io);
}

std::map<std::string, std::string> broken_by_file(const json& listing) {
    std::map<std::string, std::string> out;
    for (const auto& entry : listing.at("broken"))
        out[fs::path(entry.at("file").get<std::string>()).filename().string()] = entry.at("reason");
    return out;
}

bool lists_plugin(const json& listing, const std::string& name) {
    for (const auto& plugin : listing.at("plugins"))
        if (plugin.at("name") == name) return true;
    return false;
}

} // namespace

// ---------------------------------------------------------------- concurrent promotions

TEST_CASE("two promotions of one version to one alias at once: exactly one wins, every round",
          "[governance]") {
    Governed g;
    // A policy guards the alias, so the whole policy check races, not just the move.
    set_policy(g.sandbox, "champion", {{"metrics", {{"accuracy", ">= 0.5"}}}});
    constexpr int rounds = 20;
    for (int round = 1; round <= rounds; ++round) {
        const int version = round % 2 == 1 ? 1 : 2; // the alias moves 1 -> 2 -> 1 ...
        const auto args = words("models promote " + model_name + ":" + std::to_string(version) + " --alias champion");
        const auto first = start_trellis(g.sandbox, args, "promote-a");
        const auto second = start_trellis(g.sandbox, args, "promote-b");
        const Result a = first.wait(), b = second.wait();
        INFO("round " << round << "\nA: exit " << a.exit_code << "\n" << a.out << a.err << "\nB: exit " << b.exit_code
                      << "\n" << b.out << b.err);
        REQUIRE((a.exit_code == 0) + (b.exit_code == 0) == 1);
        const Result& winner = a.exit_code == 0 ? a : b;
        const Result& loser = a.exit_code == 0 ? b : a;
        CHECK_THAT(winner.out, Catch::Contains("promoted " + model_name + ":" + std::to_string(version) + " to " +
                                               model_name + "@champion"));
        // The loser saw the winner's result: the alias is already there (not a lock error).
        CHECK_THAT(loser.err, Catch::Contains("trellis: error") && Catch::Contains("already"));
        CHECK_THAT(loser.err, !Catch::Contains("locked") && !Catch::Contains("busy"));
    }

    const auto verify = g.run("audit verify");
    INFO(verify.out << verify.err);
    CHECK(verify.exit_code == 0);
    CHECK_THAT(verify.out, Catch::Contains("audit log intact"));
    const json champion = show(g.sandbox, model_name + "@champion");
    CHECK(champion.at("version") == 2); // round 20's
    CHECK(champion.at("aliases") == json::array({"champion"}));

    // One promotion per round in the audit log, each from the previous round's holder.
    const auto promotions = audit_entries(g.sandbox, "--action alias.promote --object " + model_name + "@champion");
    REQUIRE(promotions.size() == rounds);
    for (int round = 1; round <= rounds; ++round) {
        const json& entry = promotions[static_cast<size_t>(round - 1)];
        INFO("round " << round << ": " << entry.dump());
        CHECK(entry.at("object") == model_name + "@champion");
        CHECK(entry.at("after").at("version") == (round % 2 == 1 ? 1 : 2));
        if (round == 1) CHECK(entry.at("before").is_null());
        else CHECK(entry.at("before").at("version") == (round % 2 == 1 ? 2 : 1));
    }

    // Two different versions at once under beat_current: whichever goes second is checked against
    // the first's result, so the better one (2) always ends up holding the alias.
    set_policy(g.sandbox, "best", {{"beat_current", {{"metric", "log_loss"}, {"direction", "minimize"}}}});
    for (int round = 1; round <= 3; ++round) {
        const auto weak = start_trellis(g.sandbox, words("models promote " + model_name + ":1 --alias best"), "weak");
        const auto strong = start_trellis(g.sandbox, words("models promote " + model_name + ":2 --alias best"), "strong");
        const Result w = weak.wait(), s = strong.wait();
        INFO("round " << round << "\nv1: exit " << w.exit_code << "\n" << w.out << w.err << "\nv2: exit " << s.exit_code
                      << "\n" << s.out << s.err);
        CHECK(s.exit_code == 0);
        if (w.exit_code != 0) CHECK_THAT(w.err, Catch::Contains("beat"));
        CHECK(alias_version(g.sandbox, "best") == 2);
        REQUIRE(g.run("models alias " + model_name + "@best --delete").exit_code == 0);
    }
    CHECK(g.run("audit verify").exit_code == 0);
}

// ---------------------------------------------------------------- audit log tampering

TEST_CASE("audit verify catches every kind of tampering at the first bad entry", "[governance]") {
    Governed g;
    // Some history beyond the two registrations: a token, a policy, a promotion, an approval.
    const auto bob = make_token(g.sandbox, "bob", "approver");
    set_policy(g.sandbox, "champion", {{"metrics", {{"roc_auc", ">= 0.5"}}}});
    // The signed head as it was before the promotion: a copy an attacker could have kept.
    const auto saved_head = SqliteDb(g.db()).query("SELECT seq, hash, signature FROM audit_head");
    REQUIRE(saved_head.size() == 1);
    REQUIRE(g.run("models promote " + model_name + ":2 --alias champion").exit_code == 0);
    REQUIRE(g.run("models approve " + model_name + ":2 --reason looks-good", as(bob.token)).exit_code == 0);
    REQUIRE(g.run("models tag " + model_name + ":2 team=pathology").exit_code == 0);

    const auto rows = read_audit_rows(g.db());
    const int64_t n = static_cast<int64_t>(rows.size());
    REQUIRE(n >= 6);
    {
        const auto intact = g.run("audit verify --json");
        INFO(intact.out << intact.err);
        REQUIRE(intact.exit_code == 0);
        CHECK(intact.json().at("ok") == true);
        CHECK(intact.json().at("first_bad").is_null());
        CHECK(intact.json().at("entries") == n);
    }
    for (int64_t i = 0; i < n; ++i) CHECK(rows[static_cast<size_t>(i)].seq == i + 1);
    // The documented hash is the one stored (else (f) below would prove nothing).
    for (const auto& row : rows) CHECK(entry_hash(row) == row.hash);
    const int64_t middle = n / 2;

    // Runs `check` on a fresh copy of the store, tampered with by `tamper`, and expects `audit
    // verify` to fail naming entry `first_bad`.
    auto expect_caught = [&](const std::string& what, int64_t first_bad, const std::function<void(SqliteDb&)>& tamper) {
        INFO("tampering: " << what);
        Sandbox copy;
        fs::copy(g.store(), copy.dir() / ".trellis", fs::copy_options::recursive);
        {
            SqliteDb db(copy.dir() / ".trellis" / "metadata.db", false);
            tamper(db);
        }
        const auto text = copy.run("audit verify");
        INFO(text.out << text.err);
        CHECK(text.exit_code != 0);
        CHECK_THAT(text.err, Catch::Contains("entry " + std::to_string(first_bad)) ||
                                 Catch::Contains("entries " + std::to_string(first_bad)));
        CHECK_THAT(text.out, !Catch::Contains("intact"));
        const auto as_json = copy.run("audit verify --json");
        INFO(as_json.out << as_json.err);
        CHECK(as_json.exit_code != 0);
        REQUIRE_NOTHROW(as_json.json());
        CHECK(as_json.json().at("ok") == false);
        CHECK(as_json.json().at("first_bad") == first_bad);
        CHECK_FALSE(as_json.json().at("problem").get<std::string>().empty());
    };
    const std::string m = std::to_string(middle);

    { // (a) one column of a middle row edited
        expect_caught("edit actor", middle, [&](SqliteDb& db) {
            db.query("UPDATE audit_log SET actor = 'mallory' WHERE seq = " + m);
        });
        expect_caught("edit after", middle, [&](SqliteDb& db) {
            db.query("UPDATE audit_log SET after = '{\"version\":99}' WHERE seq = " + m);
        });
    }
    { // (b) a middle row deleted
        expect_caught("delete", middle, [&](SqliteDb& db) { db.query("DELETE FROM audit_log WHERE seq = " + m); });
    }
    { // (c) a fabricated row inserted
        // In the middle: the later rows move up one, the new row links to its predecessor and
        // hashes right, but nobody without the store key can sign it.
        expect_caught("insert in the middle", middle, [&](SqliteDb& db) {
            db.query("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= " + m);
            db.query("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000");
            AuditRow fake;
            fake.seq = middle;
            fake.at = rows[static_cast<size_t>(middle - 1)].at;
            fake.actor = "mallory";
            fake.action = "approval.approve";
            fake.object = model_name + ":1";
            fake.before = "null";
            fake.after = R"({"decision":"approved","reason":"trust me","role":"approver"})";
            fake.prev_hash = rows[static_cast<size_t>(middle - 2)].hash;
            fake.hash = entry_hash(fake);
            // Its time and signature are those of the entry it pushed up (now at middle + 1).
            db.query("INSERT INTO audit_log (seq, at, actor, action, object, before, after, prev_hash, hash, signature) "
                     "SELECT ?1, at, ?2, ?3, ?4, ?5, ?6, ?7, ?8, signature FROM audit_log WHERE seq = ?9",
                     {m, fake.actor, fake.action, fake.object, fake.before, fake.after, fake.prev_hash, fake.hash,
                      std::to_string(middle + 1)});
        });
        // At the end, linked and hashed right, with another entry's signature.
        expect_caught("append", n + 1, [&](SqliteDb& db) {
            AuditRow fake = rows.back();
            fake.seq = n + 1;
            fake.actor = "mallory";
            fake.prev_hash = rows.back().hash;
            fake.hash = entry_hash(fake);
            db.query("INSERT INTO audit_log (seq, at, actor, action, object, before, after, prev_hash, hash, signature) "
                     "SELECT ?1, at, ?2, action, object, before, after, ?3, ?4, signature FROM audit_log WHERE seq = ?5",
                     {std::to_string(n + 1), fake.actor, fake.prev_hash, fake.hash, std::to_string(n)});
        });
    }
    { // (d) two rows reordered
        expect_caught("swap", middle, [&](SqliteDb& db) {
            const std::string next = std::to_string(middle + 1);
            const std::string cols = "at, actor, action, object, before, after, prev_hash, hash, signature";
            db.query("CREATE TEMP TABLE saved AS SELECT seq, " + cols + " FROM audit_log WHERE seq IN (" + m + ", " +
                     next + ")");
            db.query("UPDATE audit_log SET (" + cols + ") = (SELECT " + cols + " FROM saved WHERE saved.seq = " + next +
                     ") WHERE seq = " + m);
            db.query("UPDATE audit_log SET (" + cols + ") = (SELECT " + cols + " FROM saved WHERE saved.seq = " + m +
                     ") WHERE seq = " + next);
        });
    }
    { // (e) the last row deleted
        expect_caught("truncate", n, [&](SqliteDb& db) {
            db.query("DELETE FROM audit_log WHERE seq = " + std::to_string(n));
        });
    }
    { // (f) an edit with the whole chain recomputed, without the store key
        expect_caught("recompute", middle, [&](SqliteDb& db) {
            auto forged = rows;
            forged[static_cast<size_t>(middle - 1)].actor = "mallory";
            std::string previous = forged[static_cast<size_t>(middle - 2)].hash;
            for (size_t i = static_cast<size_t>(middle - 1); i < forged.size(); ++i) {
                forged[i].prev_hash = previous;
                forged[i].hash = entry_hash(forged[i]);
                previous = forged[i].hash;
                db.query("UPDATE audit_log SET actor = ?1, prev_hash = ?2, hash = ?3 WHERE seq = " +
                             std::to_string(forged[i].seq),
                         {forged[i].actor, forged[i].prev_hash, forged[i].hash});
            }
            db.query("UPDATE audit_head SET seq = ?1, hash = ?2", {std::to_string(n), previous});
        });
    }
    // Tampering that leaves no bad entry to point at: `audit verify` fails all the same, and
    // if it names an entry, it is the first one missing.
    auto expect_caught_whole = [&](const std::string& what, int64_t first_missing,
                                   const std::function<void(SqliteDb&)>& tamper) {
        INFO("tampering: " << what);
        Sandbox copy;
        fs::copy(g.store(), copy.dir() / ".trellis", fs::copy_options::recursive);
        {
            SqliteDb db(copy.dir() / ".trellis" / "metadata.db", false);
            tamper(db);
        }
        const auto verdict = copy.run("audit verify --json");
        INFO(verdict.out << verdict.err);
        CHECK(verdict.exit_code != 0);
        CHECK_THAT(verdict.err, Catch::Contains("tampered"));
        REQUIRE_NOTHROW(verdict.json());
        CHECK(verdict.json().at("ok") == false);
        CHECK_FALSE(verdict.json().at("problem").get<std::string>().empty());
        if (!verdict.json().at("first_bad").is_null()) CHECK(verdict.json().at("first_bad") == first_missing);
    };
    { // (g) every row deleted, and the signed head with them
        // The registry still holds two versions, an alias, a token and a policy, all made
        // through audited changes: an empty log is a wiped one, not an intact one.
        expect_caught_whole("wipe", 1, [&](SqliteDb& db) {
            db.query("DELETE FROM audit_log");
            db.query("DELETE FROM audit_head");
        });
    }
    { // (h) the entries after an older head cut off, and that head (validly signed) put back
        // The promotion, approval and tag they recorded are still in the registry.
        const std::string kept_seq = *saved_head[0][0];
        expect_caught_whole("roll back", std::stoll(kept_seq) + 1, [&](SqliteDb& db) {
            db.query("DELETE FROM audit_log WHERE seq > " + kept_seq);
            db.query("UPDATE audit_head SET seq = ?1, hash = ?2, signature = ?3",
                     {kept_seq, *saved_head[0][1], *saved_head[0][2]});
        });
    }
    { // verify --key checks against a public key kept elsewhere
        fs::copy_file(g.store() / "keys" / "store.pub", g.sandbox.dir() / "kept.pub");
        const auto kept = g.run("audit verify --key kept.pub");
        INFO(kept.out << kept.err);
        CHECK(kept.exit_code == 0);
        REQUIRE(g.run("keys generate other --dir keys").exit_code == 0);
        const auto other = g.run("audit verify --key keys/other.pub --json");
        INFO(other.out << other.err);
        CHECK(other.exit_code != 0);
        CHECK(other.json().at("first_bad") == 1);
    }
}

TEST_CASE("audit log prints JSON lines and filters by actor and action", "[governance]") {
    Governed g;
    const auto bob = make_token(g.sandbox, "bob", "approver");
    REQUIRE(g.run("models approve " + model_name + ":2 --reason fine", as(bob.token)).exit_code == 0);
    REQUIRE(g.run("models promote " + model_name + ":2 --alias champion").exit_code == 0);
    const std::string owner = show(g.sandbox, model_name + ":2").at("registered_by");

    const auto all = audit_entries(g.sandbox);
    REQUIRE(all.size() >= 5);
    for (size_t i = 0; i < all.size(); ++i) {
        CHECK(all[i].at("seq") == i + 1);
        for (const char* key : {"at", "actor", "action", "object", "before", "after", "prev_hash", "hash", "signature"})
            CHECK(all[i].contains(key));
    }
    CHECK(all[0].at("action") == "model.register");
    CHECK(all[0].at("object") == model_name + ":1");
    CHECK(all[0].at("actor") == owner);

    const auto by_bob = audit_entries(g.sandbox, "--actor bob");
    REQUIRE(by_bob.size() == 1);
    CHECK(by_bob[0].at("action") == "approval.approve");
    CHECK(by_bob[0].at("object") == model_name + ":2");

    const auto registrations = audit_entries(g.sandbox, "--action model.register");
    REQUIRE(registrations.size() == 2);
    for (const auto& entry : registrations) CHECK(entry.at("action") == "model.register");
    CHECK(registrations[1].at("object") == model_name + ":2");

    const auto by_owner = audit_entries(g.sandbox, "--actor " + owner + " --action " + quote("alias.*"));
    REQUIRE(by_owner.size() == 1);
    CHECK(by_owner[0].at("action") == "alias.promote");
    CHECK(by_owner[0].at("object") == model_name + "@champion");

    CHECK(audit_entries(g.sandbox, "--actor nobody").empty());

    const auto table = g.run("audit log");
    REQUIRE(table.exit_code == 0);
    CHECK_THAT(table.out, Catch::Contains("SEQ") && Catch::Contains("ACTOR") && Catch::Contains("approval.approve"));
}

// ---------------------------------------------------------------- plugins and signing

TEST_CASE("require_signed_plugins: signed plugins load, altered, unsigned and untrusted ones are refused",
          "[governance]") {
    Sandbox sandbox;
    const fs::path plugins = sandbox.dir() / "plugins";
    fs::create_directories(plugins);
    for (const std::string file : {"fixture_data.so", "fixture_train.so", "fixture_deploy.so", "fixture_monitor.so"})
        fs::copy_file(fs::path(FIXTURE_DIR) / file, plugins / file);
    const std::string list = "--plugin-path " + plugins.string() + " plugins list --json";
    const std::string required = "TRELLIS_REQUIRE_SIGNED_PLUGINS=true";

    // Without the setting, all four load.
    {
        const auto plain = sandbox.run(list);
        INFO(plain.err);
        REQUIRE(plain.exit_code == 0);
        for (const std::string name : {"fixture-data", "fixture-train", "fixture-deploy", "fixture-monitor"})
            CHECK(lists_plugin(plain.json(), name));
    }

    REQUIRE(sandbox.run("keys generate release --dir keys").exit_code == 0);
    REQUIRE(fs::exists(sandbox.dir() / "keys" / "release.pem"));
    REQUIRE(fs::exists(sandbox.dir() / "keys" / "release.pub"));
    const auto trust = sandbox.run("keys trust keys/release.pub");
    INFO(trust.out << trust.err);
    REQUIRE(trust.exit_code == 0);
    for (const std::string file : {"fixture_data.so", "fixture_train.so"}) {
        const auto signed_ = sandbox.run("sign plugins/" + file + " --key keys/release.pem");
        INFO(signed_.out << signed_.err);
        REQUIRE(signed_.exit_code == 0);
        CHECK(fs::exists(plugins / (file + ".sig")));
    }
    // fixture_deploy.so is signed by a key the store does not trust; fixture_monitor.so not at all.
    REQUIRE(sandbox.run("keys generate rogue --dir keys").exit_code == 0);
    REQUIRE(sandbox.run("sign plugins/fixture_deploy.so --key keys/rogue.pem").exit_code == 0);

    auto check_listing = [&](const std::string& env, bool data_altered) {
        const auto result = sandbox.run(list, env);
        INFO(env << "\n" << result.out << result.err);
        REQUIRE(result.exit_code == 0); // the host stays healthy
        const json listing = result.json();
        const auto broken = broken_by_file(listing);
        CHECK(lists_plugin(listing, "fixture-train"));
        CHECK(lists_plugin(listing, "fixture-data") == !data_altered);
        CHECK_FALSE(lists_plugin(listing, "fixture-deploy"));
        CHECK_FALSE(lists_plugin(listing, "fixture-monitor"));
        REQUIRE(broken.count("fixture_deploy.so"));
        CHECK_THAT(broken.at("fixture_deploy.so"), Catch::Contains("refused") && Catch::Contains("not trusted"));
        REQUIRE(broken.count("fixture_monitor.so"));
        CHECK_THAT(broken.at("fixture_monitor.so"), Catch::Contains("refused") && Catch::Contains("unsigned"));
        CHECK_FALSE(broken.count("fixture_train.so"));
        if (data_altered) {
            REQUIRE(broken.count("fixture_data.so"));
            CHECK_THAT(broken.at("fixture_data.so"), Catch::Contains("refused") && Catch::Contains("changed"));
        } else {
            CHECK_FALSE(broken.count("fixture_data.so"));
        }
    };

    { // through the environment
        check_listing(required, false);
    }
    { // through the config file
        sandbox.write("trellis.ini", "[trust]\nrequire_signed_plugins = true\n");
        check_listing("", false);
        fs::remove(sandbox.dir() / "trellis.ini");
    }
    { // a byte of a signed .so flipped
        const auto before = sandbox.run("verify plugins/fixture_data.so");
        INFO(before.out << before.err);
        CHECK(before.exit_code == 0);
        flip_byte(plugins / "fixture_data.so");
        check_listing(required, true);
        const auto after = sandbox.run("verify plugins/fixture_data.so");
        INFO(after.out << after.err);
        CHECK(after.exit_code != 0);
        CHECK_THAT(after.err, Catch::Contains("fixture_data.so") && Catch::Contains("changed"));
        // The untouched one still verifies.
        CHECK(sandbox.run("verify plugins/fixture_train.so").exit_code == 0);
    }
    { // verify refuses an unsigned file and an untrusted signer
        const auto unsigned_ = sandbox.run("verify plugins/fixture_monitor.so");
        CHECK(unsigned_.exit_code != 0);
        CHECK_THAT(unsigned_.err, Catch::Contains("fixture_monitor.so"));
        const auto untrusted = sandbox.run("verify plugins/fixture_deploy.so");
        CHECK(untrusted.exit_code != 0);
        CHECK_THAT(untrusted.err, Catch::Contains("not trusted"));
    }
}

// ---------------------------------------------------------------- approvals, roles, tokens

TEST_CASE("approvals: four-eyes, approver tokens, viewers, revoked and expired tokens", "[governance]") {
    Governed g;
    const std::string version = model_name + ":2";
    const std::string owner = show(g.sandbox, version).at("registered_by");
    REQUIRE_FALSE(owner.empty());

    // The store owner is admin, but registered the version: four-eyes refuses.
    const auto own = g.run("models approve " + version + " --reason mine");
    INFO(own.out << own.err);
    CHECK(own.exit_code == 4);
    CHECK_THAT(own.err, Catch::Contains("four-eyes"));
    CHECK(show(g.sandbox, version).at("approvals").empty());

    const auto bob = make_token(g.sandbox, "bob", "approver");
    const auto approved = g.run("models approve " + version + " --reason reviewed", as(bob.token));
    INFO(approved.out << approved.err);
    CHECK(approved.exit_code == 0);
    const json approvals = show(g.sandbox, version).at("approvals");
    REQUIRE(approvals.size() == 1);
    CHECK(approvals[0].at("identity") == "bob");
    CHECK(approvals[0].at("role") == "approver");
    CHECK(approvals[0].at("decision") == "approved");
    CHECK(approvals[0].at("reason") == "reviewed");

    const auto carol = make_token(g.sandbox, "carol", "viewer");
    const auto viewer_approves = g.run("models approve " + version + " --reason please", as(carol.token));
    INFO(viewer_approves.out << viewer_approves.err);
    CHECK(viewer_approves.exit_code == 4);
    CHECK_THAT(viewer_approves.err, Catch::Contains("carol") && Catch::Contains("approver"));
    const auto viewer_promotes = g.run("models promote " + version + " --alias champion", as(carol.token));
    INFO(viewer_promotes.out << viewer_promotes.err);
    CHECK(viewer_promotes.exit_code == 4);
    CHECK_THAT(viewer_promotes.err, Catch::Contains("carol") && Catch::Contains("developer"));
    CHECK(alias_version(g.sandbox, "champion") == 0);
    // A viewer may still look.
    CHECK(g.run("models show " + version + " --json", as(carol.token)).exit_code == 0);

    const auto denied = audit_entries(g.sandbox, "--action access.denied");
    int by_carol = 0, four_eyes = 0;
    for (const auto& entry : denied) {
        if (entry.at("actor") == "carol") ++by_carol;
        if (entry.at("actor") == owner && entry.at("object").get<std::string>().find(version) != std::string::npos)
            ++four_eyes;
    }
    CHECK(by_carol == 2);
    CHECK(four_eyes == 1);

    { // a revoked token is refused
        const auto dave = make_token(g.sandbox, "dave", "approver");
        REQUIRE(g.run("models reject " + model_name + ":1 --reason weak", as(dave.token)).exit_code == 0);
        const auto revoke = g.run("tokens revoke " + dave.id);
        INFO(revoke.out << revoke.err);
        REQUIRE(revoke.exit_code == 0);
        const auto refused = g.run("models approve " + version + " --reason again", as(dave.token));
        INFO(refused.out << refused.err);
        CHECK(refused.exit_code == 4);
        CHECK_THAT(refused.err, Catch::Contains("revoked"));
        CHECK(show(g.sandbox, version).at("approvals").size() == 1);
    }
    { // an expired token is refused
        const auto erin = make_token(g.sandbox, "erin", "approver", "1s");
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        const auto refused = g.run("models approve " + version + " --reason late", as(erin.token));
        INFO(refused.out << refused.err);
        CHECK(refused.exit_code == 4);
        CHECK_THAT(refused.err, Catch::Contains("expired"));
        CHECK(show(g.sandbox, version).at("approvals").size() == 1);
    }
    { // a token that was never made is refused
        const auto refused =
            g.run("models approve " + version + " --reason forged", as("trellis_00000000_" + std::string(64, 'a')));
        CHECK(refused.exit_code == 4);
        CHECK_THAT(refused.err, Catch::Contains("unknown token"));
    }
    { // only an admin makes tokens and sets policies
        const auto made = g.run("tokens create --name mallory --role admin", as(bob.token));
        CHECK(made.exit_code == 4);
        CHECK_THAT(made.err, Catch::Contains("admin"));
        g.sandbox.write("policy.json", R"({"approvals": 0})");
        const auto policy = g.run("models policy set " + model_name + "@champion policy.json", as(bob.token));
        CHECK(policy.exit_code == 4);
        CHECK_THAT(policy.err, Catch::Contains("admin"));
        const auto listed = g.run("models policy show --json");
        REQUIRE(listed.exit_code == 0);
        CHECK(listed.json().empty());
    }
}

// ---------------------------------------------------------------- promotion policies

TEST_CASE("promotion policies: thresholds, beat the champion, signatures, approvals", "[governance]") {
    Governed g;
    // Version 1 (l2 = 1000) is champion before any policy exists.
    const auto first = g.run("models promote " + model_name + ":1 --alias champion");
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    REQUIRE(alias_version(g.sandbox, "champion") == 1);
    const json v1 = show(g.sandbox, model_name + ":1");
    const json v2 = show(g.sandbox, model_name + ":2");
    // Both were evaluated on the same test split.
    REQUIRE(v1.at("evaluations").at(0).at("data") == v2.at("evaluations").at(0).at("data"));

    // Promoting version 2 is refused by the rule named `rule`: the alias stays at 1, and the
    // refusal is audited.
    auto expect_refused = [&](const std::string& rule, const std::string& env = "") {
        const auto refused = g.run("models promote " + model_name + ":2 --alias champion", env);
        INFO(refused.out << refused.err);
        CHECK(refused.exit_code != 0);
        CHECK(refused.exit_code != 4);
        CHECK_THAT(refused.err, Catch::Contains("trellis: error") && Catch::Contains(rule));
        CHECK(alias_version(g.sandbox, "champion") == 1);
        // The newest audit entry is the refusal.
        const auto newest = audit_entries(g.sandbox, "-n 1");
        REQUIRE(newest.size() == 1);
        CHECK(newest[0].at("action") == "promotion.refuse");
        CHECK(newest[0].at("object") == model_name + "@champion");
        CHECK(newest[0].at("after").at("candidate") == 2);
    };
    auto expect_promoted = [&](const std::string& env = "") {
        const auto promoted = g.run("models promote " + model_name + ":2 --alias champion", env);
        INFO(promoted.out << promoted.err);
        CHECK(promoted.exit_code == 0);
        CHECK(alias_version(g.sandbox, "champion") == 2);
    };

    SECTION("(a) a metric threshold the candidate fails") {
        const double accuracy = metric_of(v2, "accuracy");
        set_policy(g.sandbox, "champion", {{"metrics", {{"accuracy", ">= " + std::to_string(accuracy + 0.001)}}}});
        expect_refused("metric accuracy");
        // The policy shows as set.
        const auto policy = g.run("models policy show " + model_name + "@champion --json");
        REQUIRE(policy.exit_code == 0);
        CHECK(policy.json().at(0).at("policy").contains("metrics"));
        // While a policy guards it, the alias cannot be moved around it either.
        const auto sidestep = g.run("models alias " + model_name + "@champion 2");
        CHECK(sidestep.exit_code != 0);
        CHECK(alias_version(g.sandbox, "champion") == 1);
        // A threshold it meets lets it through.
        set_policy(g.sandbox, "champion", {{"metrics", {{"accuracy", ">= " + std::to_string(accuracy - 0.001)}}}});
        expect_promoted();
    }
    SECTION("(b) beat_current: by a margin on the same evaluation data") {
        const double margin = metric_of(v1, "log_loss") - metric_of(v2, "log_loss");
        REQUIRE(margin > 0.01); // l2 = 0.1 fits far better than l2 = 1000
        set_policy(g.sandbox, "champion",
                   {{"beat_current", {{"metric", "log_loss"}, {"direction", "minimize"}, {"by", margin + 0.01}}}});
        expect_refused("beat");
        set_policy(g.sandbox, "champion",
                   {{"beat_current", {{"metric", "log_loss"}, {"direction", "minimize"}, {"by", margin / 2}}}});
        expect_promoted();
        // Version 1 does not beat version 2 back.
        set_policy(g.sandbox, "champion", {{"beat_current", {{"metric", "log_loss"}, {"direction", "minimize"}}}});
        const auto back = g.run("models promote " + model_name + ":1 --alias champion");
        CHECK(back.exit_code != 0);
        CHECK(alias_version(g.sandbox, "champion") == 2);
    }
    SECTION("(c) require_signature: refused unsigned or by an untrusted key, allowed once signed") {
        set_policy(g.sandbox, "champion", {{"require_signature", true}});
        expect_refused("sign");
        REQUIRE(g.run("keys generate release --dir keys").exit_code == 0);
        REQUIRE(g.run("keys generate rogue --dir keys").exit_code == 0);
        REQUIRE(g.run("keys trust keys/release.pub").exit_code == 0);
        const auto rogue = g.run("sign " + model_name + ":2 --key keys/rogue.pem");
        INFO(rogue.out << rogue.err);
        REQUIRE(rogue.exit_code == 0);
        expect_refused("not trusted");
        CHECK(g.run("verify " + model_name + ":2").exit_code != 0);
        const auto signed_ = g.run("sign " + model_name + ":2 --key keys/release.pem");
        INFO(signed_.out << signed_.err);
        REQUIRE(signed_.exit_code == 0);
        const auto verify = g.run("verify " + model_name + ":2");
        INFO(verify.out << verify.err);
        CHECK(verify.exit_code == 0);
        CHECK(show(g.sandbox, model_name + ":2").at("signatures").size() == 2);
        expect_promoted();
    }
    SECTION("(d) approvals: refused until enough approvers approved") {
        set_policy(g.sandbox, "champion", {{"approvals", 2}});
        expect_refused("approval");
        const auto bob = make_token(g.sandbox, "bob", "approver");
        const auto frank = make_token(g.sandbox, "frank", "approver");
        REQUIRE(g.run("models approve " + model_name + ":2 --reason ok", as(bob.token)).exit_code == 0);
        expect_refused("approval");
        // The same approver again does not count twice.
        REQUIRE(g.run("models approve " + model_name + ":2 --reason still-ok", as(bob.token)).exit_code == 0);
        expect_refused("approval");
        // A rejection blocks it; the same approver's later approval replaces the rejection.
        REQUIRE(g.run("models reject " + model_name + ":2 --reason not-yet", as(frank.token)).exit_code == 0);
        expect_refused("rejected by frank");
        REQUIRE(g.run("models approve " + model_name + ":2 --reason ok-now", as(frank.token)).exit_code == 0);
        expect_promoted();
    }
    // Whatever was refused and allowed, the chain is intact.
    const auto verify = g.run("audit verify");
    INFO(verify.out << verify.err);
    CHECK(verify.exit_code == 0);
}

// ---------------------------------------------------------------- model cards and aliases

TEST_CASE("models card: the declared intended use and limitations, training data, metrics, approvals",
          "[governance]") {
    Governed g;
    const auto bob = make_token(g.sandbox, "bob", "approver");
    REQUIRE(g.run("models approve " + model_name + ":2 --reason validated-on-holdout", as(bob.token)).exit_code == 0);
    const json v2 = show(g.sandbox, model_name + ":2");

    const auto md = g.run("models card " + model_name + ":2 --format md");
    INFO(md.out << md.err);
    REQUIRE(md.exit_code == 0);
    CHECK_THAT(md.out, Catch::Contains("# Model card: " + model_name + ":2"));
    CHECK_THAT(md.out, Catch::Contains("## Intended use") && Catch::Contains(intended_use));
    CHECK_THAT(md.out, Catch::Contains("## Limitations") && Catch::Contains(limitations));
    CHECK_THAT(md.out, Catch::Contains("## Training data"));
    CHECK_THAT(md.out, Catch::Contains(v2.at("training_data").begin()->get<std::string>().substr(0, 12)));
    CHECK_THAT(md.out, Catch::Contains("## Evaluation") && Catch::Contains("roc_auc") && Catch::Contains("accuracy"));
    CHECK_THAT(md.out, Catch::Contains("## Approvals") && Catch::Contains("bob") &&
                           Catch::Contains("validated-on-holdout"));

    const auto as_json = g.run("models card " + model_name + ":2 --format json");
    INFO(as_json.out << as_json.err);
    REQUIRE(as_json.exit_code == 0);
    json card;
    REQUIRE_NOTHROW(card = as_json.json());
    CHECK(card.at("name") == model_name);
    CHECK(card.at("version") == 2);
    CHECK(card.at("card").at("intended_use") == intended_use);
    CHECK(card.at("card").at("limitations") == limitations);
    REQUIRE_FALSE(card.at("evaluations").empty());
    CHECK(card.at("evaluations").at(0).at("metrics").at("accuracy").get<double>() == metric_of(v2, "accuracy"));
    CHECK(card.at("evaluations").at(0).at("metrics").contains("roc_auc"));
    // Lineage: the run, the execution that trained it, and the training table.
    CHECK(card.at("run").is_string());
    CHECK(card.at("run") == v2.at("run"));
    CHECK(card.at("trained_by").is_number());
    CHECK(card.at("training_data") == v2.at("training_data"));
    CHECK_FALSE(card.at("training_data").empty());
    REQUIRE(card.at("approvals").size() == 1);
    CHECK(card.at("approvals").at(0).at("identity") == "bob");

    // Version 1 was trained with another l2: its card says so.
    const auto v1_card = g.run("models card " + model_name + ":1 --format json");
    REQUIRE(v1_card.exit_code == 0);
    CHECK(v1_card.json().at("params").at("l2") == 1000);
    CHECK(card.at("params").at("l2") == 0.1);

    const auto written = g.run("models card " + model_name + ":2 --format md -o card.md");
    CHECK(written.exit_code == 0);
    CHECK_THAT(read_file(g.sandbox.dir() / "card.md"), Catch::Contains(intended_use));
    CHECK(g.run("models card " + model_name + ":2 --format pdf").exit_code == 2);
}

TEST_CASE("NAME@ALIAS names the version the alias points at", "[governance]") {
    Governed g;
    REQUIRE(g.run("models promote " + model_name + ":1 --alias champion").exit_code == 0);
    REQUIRE(g.run("models promote " + model_name + ":2 --alias challenger").exit_code == 0);
    const std::string champion = model_name + "@champion";

    const json shown = show(g.sandbox, champion);
    CHECK(shown.at("version") == 1);
    CHECK(shown.at("artifact") == show(g.sandbox, model_name + ":1").at("artifact"));
    CHECK(show(g.sandbox, model_name + "@challenger").at("version") == 2);

    const auto alias = g.run("models alias " + champion);
    INFO(alias.out << alias.err);
    CHECK(alias.exit_code == 0);
    CHECK_THAT(alias.out, Catch::Contains(model_name + ":1"));

    const auto lineage = g.run("lineage " + champion + " --json");
    INFO(lineage.out << lineage.err);
    REQUIRE(lineage.exit_code == 0);
    CHECK(lineage.json().at("root").at("digest") == shown.at("artifact"));
    CHECK(lineage.json().at("root").at("model").at("version") == 1);

    const auto card = g.run("models card " + champion + " --format json");
    REQUIRE(card.exit_code == 0);
    CHECK(card.json().at("version") == 1);
    CHECK(card.json().at("aliases") == json::array({"champion"}));

    // Moving the alias moves what the name means.
    REQUIRE(g.run("models promote " + model_name + ":2 --alias champion").exit_code == 0);
    CHECK(show(g.sandbox, champion).at("version") == 2);
    CHECK(g.run("lineage " + champion + " --json").json().at("root").at("model").at("version") == 2);

    const auto missing = g.run("models show " + model_name + "@nobody --json");
    CHECK(missing.exit_code == 2);
    CHECK_THAT(missing.err, Catch::Contains("nobody"));
}

TEST_CASE("signed plugins: an isolated stage of a signed plugin runs under trust.require_signed_plugins",
          "[governance]") {
    Sandbox sandbox;
    // The built-in data.csv, copied and signed; the installation's own copies stay unsigned and
    // are refused, the signed copy comes first on the search path.
    const fs::path installed = fs::path(TRELLIS_BINARY).parent_path().parent_path() / "lib" / "trellis" / "plugins";
    const fs::path plugins = sandbox.dir() / "signed-plugins";
    fs::create_directories(plugins);
    fs::copy_file(installed / "data_csv.so", plugins / "data_csv.so");
    REQUIRE(sandbox.run("keys generate release --dir keys").exit_code == 0);
    REQUIRE(sandbox.run("keys trust keys/release.pub").exit_code == 0);
    REQUIRE(sandbox.run("sign signed-plugins/data_csv.so --key keys/release.pem").exit_code == 0);
    sandbox.write("data.csv", "x,y\n1,2\n3,4\n");
    sandbox.write("load.lua", "stage \"data.csv\" { id = \"load\", path = \"data.csv\" }\n");
    const std::string env = "TRELLIS_REQUIRE_SIGNED_PLUGINS=true TRELLIS_ISOLATE='*'";
    const auto run = sandbox.run("--plugin-path signed-plugins run load.lua", env);
    INFO(run.out << run.err);
    CHECK(run.exit_code == 0);
    CHECK(stage_status(run, "load") == "succeeded");
    CHECK_THAT(run.err, Catch::Contains("refused (trust.require_signed_plugins): unsigned"));
}
