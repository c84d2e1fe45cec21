// The governance primitives in-process: Ed25519 keys and signatures, the audit log's chain and
// its verdicts, tokens (hashing, expiry, revocation), roles, and promotion policies' parsing.
#include "govern/access.hpp"
#include "govern/audit_log.hpp"
#include "govern/ed25519.hpp"
#include "govern/tokens.hpp"
#include "registry/model_registry.hpp"
#include "registry/promotion.hpp"
#include "store/metadata_store.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace trellis;
using nlohmann::json;

namespace {

std::string flip_hex_digit(std::string hex, size_t at) {
    hex[at] = hex[at] == '0' ? '1' : '0';
    return hex;
}

// Appends `count` entries in one transaction each, as the registry does.
void append_entries(store::Database& db, const govern::SigningKey& key, int count) {
    for (int i = 0; i < count; ++i) {
        store::Transaction transaction(db);
        govern::append_audit(db, key, "alice", "model.tag", "churn:" + std::to_string(i + 1), nullptr,
                             {{"stage", "prod"}}, 1000.0 + i);
        transaction.commit();
    }
}

} // namespace

TEST_CASE("ed25519: a signature verifies with its key only, and not for another message") {
    const auto key = govern::SigningKey::generate();
    const auto other = govern::SigningKey::generate();
    const std::string signature = key.sign("seq:1 hash:abc");
    CHECK(signature.size() == 128);
    CHECK(govern::is_public_key_hex(key.public_hex()));
    CHECK(govern::verify_signature(key.public_hex(), "seq:1 hash:abc", signature));
    CHECK_FALSE(govern::verify_signature(key.public_hex(), "seq:1 hash:abd", signature));
    CHECK_FALSE(govern::verify_signature(other.public_hex(), "seq:1 hash:abc", signature));
    CHECK_FALSE(govern::verify_signature(key.public_hex(), "seq:1 hash:abc", flip_hex_digit(signature, 10)));
    CHECK_FALSE(govern::verify_signature(key.public_hex(), "seq:1 hash:abc", "not hex"));
    CHECK_FALSE(govern::verify_signature("zz", "seq:1 hash:abc", signature));
    CHECK(govern::key_id(key.public_hex()).size() == 16);
    CHECK(govern::key_id(key.public_hex()) != govern::key_id(other.public_hex()));
}

TEST_CASE("ed25519: keys round-trip through PEM files, private ones readable by their owner only") {
    test::TempDir dir;
    const auto key = govern::SigningKey::generate();
    key.save(dir / "release.pem", true);
    struct stat info {};
    REQUIRE(::stat((dir / "release.pem").c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    const auto loaded = govern::SigningKey::load(dir / "release.pem");
    CHECK(loaded.public_hex() == key.public_hex());
    CHECK(govern::verify_signature(key.public_hex(), "m", loaded.sign("m")));
    CHECK(govern::public_key_hex_from_pem(key.public_pem()) == key.public_hex());
    CHECK(govern::read_public_key_hex(dir / "release.pem") == key.public_hex());
    // An existing key is never replaced by an exclusive save.
    CHECK_THROWS_AS(govern::SigningKey::generate().save(dir / "release.pem", true), govern::KeyError);
    CHECK(govern::SigningKey::load(dir / "release.pem").public_hex() == key.public_hex());
    const auto junk = dir.write("junk.pem", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n");
    CHECK_THROWS_WITH(govern::SigningKey::load(junk), Catch::Contains("junk.pem"));
    CHECK_THROWS_AS(govern::SigningKey::load(dir / "missing.pem"), govern::KeyError);
}

TEST_CASE("audit log: an intact chain verifies, and each kind of tampering is caught at the first bad entry") {
    test::TempDir dir;
    store::MetadataStore metadata(dir.path());
    auto& db = metadata.db();
    const auto key = govern::SigningKey::generate();
    append_entries(db, key, 5);
    REQUIRE(govern::verify_audit(db, key.public_hex()).ok());
    CHECK(govern::verify_audit(db, key.public_hex()).entries == 5);
    const auto entries = govern::read_audit(db, {});
    REQUIRE(entries.size() == 5);
    CHECK(entries[0].prev_hash != entries[1].prev_hash);
    CHECK(entries[1].prev_hash == entries[0].hash);

    SECTION("an edited row") {
        db.exec("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3");
        const auto verdict = govern::verify_audit(db, key.public_hex());
        CHECK(verdict.first_bad == 3);
        CHECK_THAT(verdict.problem, Catch::Contains("edited"));
    }
    SECTION("a deleted row") {
        db.exec("DELETE FROM audit_log WHERE seq = 2");
        const auto verdict = govern::verify_audit(db, key.public_hex());
        CHECK(verdict.first_bad == 2);
        CHECK_THAT(verdict.problem, Catch::Contains("missing"));
    }
    SECTION("the last row deleted") {
        db.exec("DELETE FROM audit_log WHERE seq = 5");
        const auto verdict = govern::verify_audit(db, key.public_hex());
        CHECK(verdict.first_bad == 5);
        CHECK_THAT(verdict.problem, Catch::Contains("deleted from the end"));
    }
    SECTION("the whole chain recomputed and re-signed with another key") {
        const auto forger = govern::SigningKey::generate();
        db.exec("DELETE FROM audit_log");
        db.exec("DELETE FROM audit_head");
        append_entries(db, forger, 5);
        CHECK(govern::verify_audit(db, forger.public_hex()).ok()); // consistent in itself
        const auto verdict = govern::verify_audit(db, key.public_hex());
        CHECK(verdict.first_bad == 1);
        CHECK_THAT(verdict.problem, Catch::Contains("signature does not verify"));
    }
    SECTION("a wrong key given to verify") {
        CHECK_FALSE(govern::verify_audit(db, govern::SigningKey::generate().public_hex()).ok());
    }
}

TEST_CASE("audit log: filters by actor, object prefix, action prefix, time and count") {
    test::TempDir dir;
    store::MetadataStore metadata(dir.path());
    auto& db = metadata.db();
    const auto key = govern::SigningKey::generate();
    append_entries(db, key, 3);
    {
        store::Transaction transaction(db);
        govern::append_audit(db, key, "bob", "alias.promote", "fraud@champion", nullptr, {{"version", 2}}, 2000);
        transaction.commit();
    }
    govern::AuditFilter by_actor;
    by_actor.actor = "bob";
    CHECK(govern::read_audit(db, by_actor).size() == 1);
    govern::AuditFilter by_object;
    by_object.object = "churn*";
    CHECK(govern::read_audit(db, by_object).size() == 3);
    govern::AuditFilter by_action;
    by_action.action = "alias.*";
    REQUIRE(govern::read_audit(db, by_action).size() == 1);
    CHECK(govern::read_audit(db, by_action)[0].object == "fraud@champion");
    govern::AuditFilter by_time;
    by_time.since = 1001;
    by_time.until = 1002;
    CHECK(govern::read_audit(db, by_time).size() == 2);
    govern::AuditFilter newest;
    newest.limit = 2;
    const auto last_two = govern::read_audit(db, newest);
    REQUIRE(last_two.size() == 2);
    CHECK(last_two.back().seq == 4);
    const json line = govern::to_json(last_two.back());
    CHECK(line.at("actor") == "bob");
    CHECK(line.at("after").at("version") == 2);
}

TEST_CASE("tokens: stored as a hash, shown once, refused when unknown, revoked or expired") {
    test::TempDir dir;
    store::MetadataStore metadata(dir.path());
    auto& db = metadata.db();
    govern::Governance admin(db, dir.path(), std::nullopt, 1000); // the store folder's owner
    REQUIRE(admin.who().role == govern::Role::Admin);
    const auto made = govern::create_token(admin, "bob", govern::Role::Approver, 5000);
    CHECK_THAT(made.token, Catch::StartsWith("trellis_" + made.row.id + "_"));
    auto stored = db.prepare("SELECT count(*) FROM tokens WHERE hash LIKE ?");
    stored.bind(1, "%" + made.token.substr(made.token.rfind('_') + 1) + "%");
    REQUIRE(stored.step());
    CHECK(stored.int64(0) == 0); // the secret is nowhere in the table

    CHECK(govern::authenticate_token(db, made.token, 2000).identity == "bob");
    govern::Governance bob(db, dir.path(), made.token, 2000);
    CHECK(bob.who().name == "bob");
    CHECK(bob.who().role == govern::Role::Approver);
    CHECK_THROWS_AS(bob.require(govern::Role::Admin, "create tokens"), govern::AccessDenied);

    CHECK_THROWS_AS(govern::authenticate_token(db, made.token, 6000), govern::AccessDenied); // expired
    CHECK_THROWS_AS(govern::authenticate_token(db, made.token + "x", 2000), govern::AccessDenied);
    CHECK_THROWS_AS(govern::authenticate_token(db, "trellis_00000000_" + std::string(64, 'a'), 2000),
                    govern::AccessDenied);
    CHECK_THROWS_AS(govern::authenticate_token(db, "hello", 2000), govern::AccessDenied);
    govern::revoke_token(admin, made.row.id);
    CHECK_THROWS_WITH(govern::authenticate_token(db, made.token, 2000), Catch::Contains("revoked"));

    // What decides 401 against 403 over HTTP: a token refused, or a role too weak.
    const auto reason_of = [](auto&& attempt) {
        try {
            attempt();
        } catch (const govern::AccessDenied& e) {
            return e.reason();
        }
        FAIL("no AccessDenied");
        return govern::AccessDenied::Reason::Forbidden;
    };
    using Reason = govern::AccessDenied::Reason;
    CHECK(reason_of([&] { govern::authenticate_token(db, made.token, 2000); }) == Reason::Unauthenticated);   // revoked
    CHECK(reason_of([&] { govern::authenticate_token(db, made.token, 6000); }) == Reason::Unauthenticated);   // expired too
    CHECK(reason_of([&] { govern::authenticate_token(db, "hello", 2000); }) == Reason::Unauthenticated);
    CHECK(reason_of([&] { bob.require(govern::Role::Admin, "create tokens"); }) == Reason::Forbidden);

    // Every change and both of bob's refusals are in the audit log, which verifies.
    govern::AuditFilter denied;
    denied.action = "access.denied";
    CHECK(govern::read_audit(db, denied).size() == 2);
    CHECK(govern::verify_audit(db, admin.key().public_hex()).ok());
}

TEST_CASE("promotion policies: parse and print, and bad ones name the key at fault") {
    const auto policy = registry::parse_policy(json::parse(
        R"({"metrics": {"roc_auc": ">= 0.95", "log_loss": "< 0.3"}, "beat_current": {"metric": "roc_auc", "by": 0.01},
            "approvals": {"count": 2, "role": "admin"}, "require_signature": true})"));
    REQUIRE(policy.metrics.size() == 2);
    CHECK(policy.beat_current->by == Approx(0.01));
    CHECK(policy.beat_current->maximize);
    CHECK(policy.approvals == 2);
    CHECK(policy.approver_role == govern::Role::Admin);
    CHECK(policy.require_signature);
    CHECK(registry::parse_policy(registry::policy_json(policy)).approvals == 2);
    CHECK(registry::parse_policy(json::parse(R"({"approvals": 1})")).approver_role == govern::Role::Approver);

    const auto refused = [](const char* text) {
        try {
            registry::parse_policy(json::parse(text));
        } catch (const registry::RegistryError& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    CHECK_THAT(refused(R"({"metric": {}})"), Catch::Contains("metric"));
    CHECK_THAT(refused(R"({"metrics": {"auc": "about 0.9"}})"), Catch::Contains("metrics.auc"));
    CHECK_THAT(refused(R"({"metrics": {"auc": ">= x"}})"), Catch::Contains("needs a number"));
    CHECK_THAT(refused(R"({"beat_current": {"metric": "auc", "by": -1}})"), Catch::Contains("beat_current.by"));
    CHECK_THAT(refused(R"({"beat_current": {"metric": "auc", "direction": "up"}})"), Catch::Contains("direction"));
    CHECK_THAT(refused(R"({"approvals": {"count": 1, "role": "developer"}})"), Catch::Contains("approvals.role"));
    CHECK_THAT(refused(R"({"approvals": 99})"), Catch::Contains("0 to 20"));
    CHECK_THAT(refused(R"({"require_signature": "yes"})"), Catch::Contains("require_signature"));
}

TEST_CASE("aliases: names that read as versions or 'latest' are refused") {
    CHECK_NOTHROW(registry::check_alias_name("champion"));
    CHECK_NOTHROW(registry::check_alias_name("canary-2"));
    CHECK_THROWS_AS(registry::check_alias_name("3"), registry::RegistryError);
    CHECK_THROWS_AS(registry::check_alias_name("v3"), registry::RegistryError);
    CHECK_THROWS_AS(registry::check_alias_name("latest"), registry::RegistryError);
    CHECK_THROWS_AS(registry::check_alias_name(""), registry::RegistryError);
    CHECK_THROWS_AS(registry::check_alias_name("a b"), registry::RegistryError);
}
