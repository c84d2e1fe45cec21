// `trellis tokens|roles|audit|keys|sign|verify`: who may act, the audit log, and signatures.
#include "cli/governance_commands.hpp"

#include "cli/exit_codes.hpp"
#include "cli/governance_view.hpp"
#include "cli/store_view.hpp"
#include "govern/audit_coverage.hpp"
#include "govern/audit_log.hpp"
#include "govern/file_signature.hpp"
#include "govern/store_key.hpp"
#include "govern/tokens.hpp"
#include "util/atomic_file.hpp"
#include "registry/model_registry.hpp"
#include "util/duration.hpp"
#include "util/json_text.hpp"

#include <ctime>
#include <fstream>
#include <iostream>

namespace trellis::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Args {
    std::string first;
    std::string second;
    std::string role;
    std::string expires = "90d";
    std::string name;
    std::string key;
    std::string dir;
    std::string actor, object, action, since, until;
    size_t limit = 0;
    bool json = false;
};

// "30d", "12h" from now, or a date "2027-01-31" (UTC midnight), as Unix seconds.
double parse_time_limit(const std::string& text, double now, const std::string& flag, bool future) {
    if (auto seconds = core::parse_duration(text)) return future ? now + *seconds : now - *seconds;
    for (const char* format : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"}) {
        std::tm tm{};
        const char* end = strptime(text.c_str(), format, &tm);
        if (end && *end == '\0') return static_cast<double>(timegm(&tm)); // the whole text, nothing after it
    }
    throw UsageError(flag + " " + text + ": give a duration (30d, 12h, 90m) or a date (2027-01-31)");
}

// An identity for a role or a token: a user or account name, not free text.
void check_identity_name(const std::string& name, const std::string& what) {
    if (name.empty() || name.size() > 100 || name.find_first_of(" \t\n:@") != std::string::npos)
        throw UsageError(what + " '" + name + "': use a name without spaces, ':' or '@' (at most 100 characters)");
}

// ---- tokens

int tokens_create(CliContext& context, const Args& args) {
    const auto role = govern::parse_role(args.role);
    if (!role) throw UsageError("tokens create --role " + args.role + ": viewer, developer, approver or admin");
    auto store = open_governed(context, true);
    const double expires = parse_time_limit(args.expires, store.gov().now(), "--expires", true);
    if (expires <= store.gov().now()) throw UsageError("tokens create --expires " + args.expires + ": that is in the past");
    if (expires > store.gov().now() + 10 * 366 * 86400.0)
        throw UsageError("tokens create --expires " + args.expires + ": at most 10 years; make a new token when it ends");
    const std::string identity = args.name.empty() ? "token-" + args.role : args.name;
    const auto made = govern::create_token(store.gov(), identity, *role, expires);
    if (args.json) {
        std::cout << core::dump_json({{"id", made.row.id}, {"identity", identity}, {"role", args.role},
                                      {"expires_at", expires}, {"token", made.token}}, 2)
                  << "\n";
    } else {
        std::cout << made.token << "\n";
        std::cerr << "token " << made.row.id << " for " << identity << " (" << args.role << "), expires "
                  << local_time(expires) << ". It is shown only now: keep it secret. Use it as TRELLIS_TOKEN.\n";
    }
    return exit_ok;
}

int tokens_list(CliContext& context, const Args& args) {
    auto store = open_governed(context, false);
    store.gov().require(govern::Role::Admin, "list tokens");
    const auto tokens = govern::list_tokens(store.db());
    if (args.json) {
        json out = json::array();
        for (const auto& token : tokens)
            out.push_back({{"id", token.id}, {"identity", token.identity}, {"role", govern::to_string(token.role)},
                           {"created_by", token.created_by}, {"created_at", token.created_at},
                           {"expires_at", token.expires_at},
                           {"revoked_at", token.revoked_at ? json(*token.revoked_at) : json()}});
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {{"ID", "IDENTITY", "ROLE", "CREATED", "BY", "EXPIRES", "STATE"}};
    for (const auto& token : tokens)
        rows.push_back({token.id, token.identity, govern::to_string(token.role), local_time(token.created_at),
                        token.created_by, local_time(token.expires_at),
                        token.revoked_at ? "revoked" : token.expires_at <= store.gov().now() ? "expired" : "active"});
    print_columns(std::cout, rows);
    return exit_ok;
}

int tokens_revoke(CliContext& context, const Args& args) {
    // A whole token pasted in stands for its id; its secret is never repeated back.
    std::string id = args.first;
    if (id.rfind("trellis_", 0) == 0) id = id.substr(8, id.find('_', 8) - 8);
    if (id.size() != 8 || id.find_first_not_of("0123456789abcdef") != std::string::npos)
        throw UsageError("tokens revoke: give a token id, 8 hex digits (see trellis tokens list)");
    auto store = open_governed(context, false);
    govern::revoke_token(store.gov(), id);
    std::cout << "revoked token " << id << "\n";
    return exit_ok;
}

// ---- roles

int roles_list(CliContext& context, const Args& args) {
    auto store = open_governed(context, false);
    json out = json::array();
    std::vector<std::vector<std::string>> rows = {{"IDENTITY", "ROLE", "GRANTED BY", "WHEN"}};
    if (auto owner = govern::store_owner_name(context.settings().store_path())) {
        out.push_back({{"identity", *owner}, {"role", "admin"}, {"granted_by", "store owner"}});
        rows.push_back({*owner, "admin", "(owns the store folder)", "-"});
    }
    auto query = store.db().prepare("SELECT identity, role, granted_by, granted_at FROM roles ORDER BY identity");
    while (query.step()) {
        out.push_back({{"identity", query.text(0)}, {"role", query.text(1)}, {"granted_by", query.text(2)},
                       {"granted_at", query.real(3)}});
        rows.push_back({query.text(0), query.text(1), query.text(2), local_time(query.real(3))});
    }
    if (args.json) std::cout << core::dump_json(out, 2) << "\n";
    else {
        print_columns(std::cout, rows);
        std::cout << "(anyone else: developer; you are " << store.gov().who().name << ", "
                  << govern::to_string(store.gov().who().role) << ", via " << store.gov().who().via << ")\n";
    }
    return exit_ok;
}

int roles_set(CliContext& context, const Args& args, bool grant) {
    auto store = open_governed(context, true);
    auto& gov = store.gov();
    gov.require(govern::Role::Admin, std::string(grant ? "grant" : "revoke") + " roles");
    check_identity_name(args.first, std::string("roles ") + (grant ? "grant" : "revoke"));
    if (govern::store_owner_name(context.settings().store_path()) == args.first)
        throw UsageError(args.first + " owns the store folder and is always admin");
    std::optional<govern::Role> role;
    if (grant) {
        role = govern::parse_role(args.second);
        if (!role) throw UsageError("roles grant: '" + args.second + "' is not a role (viewer, developer, approver, admin)");
    }
    store::Transaction transaction(store.db());
    auto current = store.db().prepare("SELECT role FROM roles WHERE identity = ?");
    current.bind(1, args.first);
    const json before = current.step() ? json({{"role", current.text(0)}}) : json();
    if (grant) {
        auto upsert = store.db().prepare("INSERT OR REPLACE INTO roles (identity, role, granted_by, granted_at) "
                                         "VALUES (?, ?, ?, ?)");
        upsert.bind(1, args.first).bind(2, args.second).bind(3, gov.who().name).bind(4, gov.now());
        upsert.run();
    } else {
        if (before.is_null()) throw UsageError(args.first + " has no role granted (it is a developer by default)");
        auto remove = store.db().prepare("DELETE FROM roles WHERE identity = ?");
        remove.bind(1, args.first);
        remove.run();
    }
    gov.audit(grant ? "role.grant" : "role.revoke", "identity " + args.first, before,
              grant ? json({{"role", args.second}}) : json());
    transaction.commit();
    std::cout << args.first << " is " << (grant ? args.second : "a developer (the default)") << "\n";
    return exit_ok;
}

// ---- audit

int audit_log(CliContext& context, const Args& args) {
    auto store = open_governed(context, false);
    govern::AuditFilter filter;
    if (!args.actor.empty()) filter.actor = args.actor;
    if (!args.object.empty()) filter.object = args.object;
    if (!args.action.empty()) filter.action = args.action;
    if (!args.since.empty()) filter.since = parse_time_limit(args.since, store.gov().now(), "--since", false);
    if (!args.until.empty()) filter.until = parse_time_limit(args.until, store.gov().now(), "--until", false);
    filter.limit = args.limit;
    const auto entries = govern::read_audit(store.db(), filter);
    if (args.json) {
        // JSON lines: one entry a line, for compliance tools.
        for (const auto& entry : entries) std::cout << core::dump_json(govern::to_json(entry), -1) << "\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {{"SEQ", "WHEN", "ACTOR", "ACTION", "OBJECT", "CHANGE"}};
    for (const auto& entry : entries) {
        std::string change = entry.before.is_null() ? "" : core::dump_json(entry.before, -1) + " -> ";
        change += entry.after.is_null() ? "(gone)" : core::dump_json(entry.after, -1);
        if (change.size() > 120) change = change.substr(0, 117) + "...";
        rows.push_back({std::to_string(entry.seq), local_time(entry.at, true), entry.actor, entry.action, entry.object, change});
    }
    print_columns(std::cout, rows);
    return exit_ok;
}

int audit_verify(CliContext& context, const Args& args) {
    auto store = open_governed(context, false);
    const auto root = context.settings().store_path();
    std::string public_hex;
    const fs::path key_file = args.key.empty() ? govern::store_public_key_path(root) : fs::path(args.key);
    std::error_code error;
    if (!fs::exists(key_file, error)) {
        if (args.key.empty() && govern::read_audit(store.db(), {}).empty()) {
            // No key was ever made, so nothing was audited: then nothing governed may exist either.
            if (const auto problem = govern::audit_coverage_problem(store.db()); !problem.empty()) {
                std::cerr << "trellis: error: audit log tampered with: the log and the store key are gone, but " << problem
                          << "\n";
                return exit_run_failed;
            }
            std::cout << "the audit log is empty\n";
            return exit_ok;
        }
        throw UsageError(args.key.empty() ? key_file.string() + ": the store's public key is missing; pass the one you kept with --key"
                                          : "audit verify --key " + args.key + ": no such file");
    }
    public_hex = govern::read_public_key_hex(key_file);
    const auto verdict = govern::verify_audit(store.db(), public_hex);
    // The head, to keep outside the store: a later verify that finds fewer entries, or another
    // hash at this seq, shows the log was cut or rewritten by someone holding the key.
    const json head = verdict.head_seq ? json({{"seq", *verdict.head_seq}, {"hash", verdict.head_hash}}) : json();
    if (args.json) {
        std::cout << core::dump_json({{"ok", verdict.ok()}, {"entries", verdict.entries},
                                      {"first_bad", verdict.first_bad ? json(*verdict.first_bad) : json()},
                                      {"problem", verdict.problem}, {"key", govern::key_id(public_hex)}, {"head", head}},
                                     2)
                  << "\n";
    } else if (verdict.ok()) {
        std::cout << "audit log intact: " << verdict.entries << " entries, chain and signatures verify with store key "
                  << govern::key_id(public_hex) << ", and every governed row is accounted for"
                  << (head.is_null() ? "" : "; head " + std::to_string(head["seq"].get<int64_t>()) + " " +
                                                head["hash"].get<std::string>().substr(0, 16))
                  << "\n";
    }
    if (!verdict.ok()) {
        std::cerr << "trellis: error: audit log tampered with: " << verdict.problem
                  << (args.key.empty() ? "" : " (checked with key " + govern::key_id(public_hex) + " from " + args.key + ")")
                  << "\n";
        return exit_run_failed;
    }
    return exit_ok;
}

// ---- keys

fs::path private_key_file(const CliContext& context, const std::string& key) {
    if (key.find('/') != std::string::npos || key.ends_with(".pem")) return key;
    return context.settings().key_dir() / (key + ".pem");
}

int keys_generate(CliContext& context, const Args& args) {
    const std::string& name = args.first;
    if (name.empty() || name.find('/') != std::string::npos || name.front() == '.')
        throw UsageError("keys generate: '" + name + "' is not a key name (no '/', not starting with '.')");
    const fs::path dir = args.dir.empty() ? context.settings().key_dir() : fs::path(args.dir);
    std::error_code error;
    const bool created = fs::create_directories(dir, error);
    if (error) throw UsageError(dir.string() + ": cannot create the key folder: " + error.message());
    // A folder of private keys is its owner's alone, but only one this command made: an existing
    // folder (--dir .) keeps the permissions it has.
    if (created) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, error);
    const auto key = govern::SigningKey::generate();
    key.save(dir / (name + ".pem"), true);
    try {
        core::write_file_atomically(dir / (name + ".pub"), key.public_pem(), 0644, false);
    } catch (const std::runtime_error& e) {
        throw UsageError(e.what());
    }
    std::cout << "key " << govern::key_id(key.public_hex()) << ": private " << (dir / (name + ".pem")).string()
              << ", public " << (dir / (name + ".pub")).string() << "\n";
    std::cout << "give the .pub file to whoever verifies; they run: trellis keys trust " << name << ".pub\n";
    return exit_ok;
}

int keys_list(CliContext& context, const Args& args) {
    json out = {{"local", json::array()}, {"trusted", json::array()}};
    const fs::path dir = context.settings().key_dir();
    std::error_code error;
    std::vector<std::vector<std::string>> local = {{"NAME", "KEY", "FILE"}};
    for (const auto& entry : fs::directory_iterator(dir, error)) {
        if (entry.path().extension() != ".pem") continue;
        try {
            const auto key = govern::SigningKey::load(entry.path());
            out["local"].push_back({{"name", entry.path().stem().string()}, {"key", govern::key_id(key.public_hex())},
                                    {"file", entry.path().string()}});
            local.push_back({entry.path().stem().string(), govern::key_id(key.public_hex()), entry.path().string()});
        } catch (const govern::KeyError&) {
        }
    }
    std::vector<std::vector<std::string>> trusted = {{"KEY", "NAME", "ADDED BY", "WHEN"}};
    if (auto metadata = open_metadata(context)) {
        // A bad TRELLIS_TOKEN is refused here as by every other command.
        govern::Governance(metadata->db(), context.settings().store_path(), token_from_environment(), unix_now());
        auto query = metadata->db().prepare("SELECT key_id, name, added_by, added_at, public_key FROM trusted_keys ORDER BY added_at");
        while (query.step()) {
            out["trusted"].push_back({{"key", query.text(0)}, {"name", query.text(1)}, {"added_by", query.text(2)},
                                      {"added_at", query.real(3)}, {"public_key", query.text(4)}});
            trusted.push_back({query.text(0), query.text(1), query.text(2), local_time(query.real(3))});
        }
    }
    if (args.json) {
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }
    std::cout << "signing keys in " << dir.string() << ":\n";
    if (local.size() == 1) std::cout << "  none (trellis keys generate NAME)\n";
    else print_columns(std::cout, local, "  ");
    std::cout << "keys trusted by this store:\n";
    if (trusted.size() == 1) std::cout << "  none (trellis keys trust FILE.pub)\n";
    else print_columns(std::cout, trusted, "  ");
    return exit_ok;
}

int keys_trust(CliContext& context, const Args& args, bool trust) {
    auto store = open_governed(context, true);
    auto& gov = store.gov();
    gov.require(govern::Role::Admin, trust ? "trust keys" : "distrust keys");
    if (trust) {
        std::error_code error;
        if (!govern::is_public_key_hex(args.first) && !fs::exists(args.first, error))
            throw UsageError("keys trust " + args.first + ": neither a key file nor a public key of 64 hex digits");
        const std::string public_hex = govern::is_public_key_hex(args.first) ? args.first
                                                                             : govern::read_public_key_hex(args.first);
        const std::string id = govern::key_id(public_hex);
        const std::string name = args.name.empty() ? fs::path(args.first).stem().string() : args.name;
        store::Transaction transaction(store.db());
        auto existing = store.db().prepare("SELECT 1 FROM trusted_keys WHERE key_id = ?");
        existing.bind(1, id);
        if (existing.step()) throw UsageError("key " + id + " is trusted already");
        auto insert = store.db().prepare("INSERT INTO trusted_keys (key_id, name, public_key, added_by, added_at) "
                                         "VALUES (?, ?, ?, ?, ?)");
        insert.bind(1, id).bind(2, name).bind(3, public_hex).bind(4, gov.who().name).bind(5, gov.now());
        insert.run();
        gov.audit("key.trust", "key " + id, nullptr, {{"name", name}, {"public_key", public_hex}});
        transaction.commit();
        std::cout << "trusting key " << id << " (" << name << ")\n";
        return exit_ok;
    }
    store::Transaction transaction(store.db());
    auto existing = store.db().prepare("SELECT name, public_key FROM trusted_keys WHERE key_id = ?");
    existing.bind(1, args.first);
    if (!existing.step()) throw UsageError("key " + args.first + " is not trusted (see trellis keys list)");
    const json before = {{"name", existing.text(0)}, {"public_key", existing.text(1)}};
    auto remove = store.db().prepare("DELETE FROM trusted_keys WHERE key_id = ?");
    remove.bind(1, args.first);
    remove.run();
    gov.audit("key.distrust", "key " + args.first, before, nullptr);
    transaction.commit();
    std::cout << "no longer trusting key " << args.first << "\n";
    return exit_ok;
}

// ---- sign and verify

// A TARGET that is a file, or reads like one (a path, a .so): a missing file is then reported as
// such, not looked up as a model.
bool names_file(const std::string& text) {
    std::error_code error;
    if (fs::is_regular_file(text, error)) return true;
    const bool looks_like_path = text.find('/') != std::string::npos || fs::path(text).extension() == ".so";
    if (looks_like_path) throw UsageError(text + ": no such file");
    return false;
}

int sign(CliContext& context, const Args& args) {
    if (args.key.empty()) throw UsageError("sign: give --key NAME (a key from trellis keys generate) or --key FILE.pem");
    const auto key = govern::SigningKey::load(private_key_file(context, args.key));
    if (names_file(args.first)) {
        // The signer is who is acting: the token's identity when TRELLIS_TOKEN is set.
        std::string signer = govern::os_user_name();
        if (auto token = token_from_environment()) {
            auto metadata = open_metadata(context);
            if (!metadata) throw UsageError("sign: TRELLIS_TOKEN is set but there is no store to check it against");
            signer = govern::Governance(metadata->db(), context.settings().store_path(), token, unix_now()).who().name;
        }
        const auto signature = govern::sign_file(args.first, key, signer, unix_now());
        std::cout << "signed " << args.first << " (sha256 " << signature.sha256.substr(0, 12) << ") with key "
                  << signature.key_id << ": " << govern::signature_path(args.first).string() << "\n";
        return exit_ok;
    }
    auto store = open_governed(context, false);
    const auto signature = registry::sign_version(store.gov(), args.first, key);
    std::cout << "signed model " << args.first << " (sha256 " << signature.sha256.substr(0, 12) << ") with key "
              << signature.key_id << "\n";
    return exit_ok;
}

int verify(CliContext& context, const Args& args) {
    const auto root = context.settings().store_path();
    std::string problem;
    std::string what = args.first;
    if (names_file(args.first)) {
        problem = govern::file_signature_problem(args.first, trusted_public_keys(root));
    } else {
        auto store = open_governed(context, false);
        const auto version = registry::load_version(store.db(), args.first);
        what = "model " + registry::version_label(version.name, version.version);
        problem = registry::signature_problem(store.db(), root, version);
    }
    if (args.json) std::cout << core::dump_json({{"subject", what}, {"ok", problem.empty()}, {"problem", problem}}, 2) << "\n";
    if (!problem.empty()) {
        std::cerr << "trellis: error: " << what << ": " << problem << "\n";
        return exit_run_failed;
    }
    if (!args.json) std::cout << what << ": signed by a trusted key, unchanged since\n";
    return exit_ok;
}

} // namespace

void add_governance_commands(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    add_models_command(app, context, action);
    auto bind = [&action, context](CLI::App* command, std::shared_ptr<Args> args,
                                   std::function<int(CliContext&, const Args&)> run) {
        command->callback([=, &action] {
            action = [=] { return with_governance_errors([&] { return run(context(), *args); }); };
        });
    };
    auto make = [](CLI::App* parent, const std::string& name, const std::string& help) {
        auto args = std::make_shared<Args>();
        return std::make_pair(parent->add_subcommand(name, help), args);
    };

    auto* tokens = app.add_subcommand("tokens", "API tokens: act as an identity and role with TRELLIS_TOKEN (admin)");
    tokens->require_subcommand(1);
    {
        auto [command, args] = make(tokens, "create", "Make a token; it is printed once");
        command->add_option("--role", args->role, "viewer, developer, approver or admin")->required();
        command->add_option("--expires", args->expires, "Lifetime (30d, 12h) or a date (2027-01-31); default 90d");
        command->add_option("--name", args->name, "The identity it acts as (default token-ROLE)");
        command->add_flag("--json", args->json, "Print JSON");
        bind(command, args, tokens_create);
    }
    {
        auto [command, args] = make(tokens, "list", "The tokens (never their secrets)");
        command->add_flag("--json", args->json, "Print JSON");
        bind(command, args, tokens_list);
    }
    {
        auto [command, args] = make(tokens, "revoke", "Revoke a token");
        command->add_option("ID", args->first, "Its id (trellis tokens list)")->required();
        bind(command, args, tokens_revoke);
    }

    auto* roles = app.add_subcommand("roles", "Who has which role: viewer, developer, approver, admin");
    roles->require_subcommand(1);
    {
        auto [command, args] = make(roles, "list", "The granted roles");
        command->add_flag("--json", args->json, "Print JSON");
        bind(command, args, roles_list);
    }
    {
        auto [command, args] = make(roles, "grant", "Give an identity (OS user or token name) a role (admin)");
        command->add_option("IDENTITY", args->first, "OS user or token identity")->required();
        command->add_option("ROLE", args->second, "viewer, developer, approver or admin")->required();
        bind(command, args, [](CliContext& c, const Args& a) { return roles_set(c, a, true); });
    }
    {
        auto [command, args] = make(roles, "revoke", "Take a granted role back (admin)");
        command->add_option("IDENTITY", args->first, "OS user or token identity")->required();
        bind(command, args, [](CliContext& c, const Args& a) { return roles_set(c, a, false); });
    }

    auto* audit = app.add_subcommand("audit", "The tamper-evident audit log");
    audit->require_subcommand(1);
    {
        auto [command, args] = make(audit, "log", "Entries, oldest first; --json prints JSON lines");
        command->add_option("--actor", args->actor, "Only this identity's");
        command->add_option("--object", args->object, "Only this object's (a trailing * matches a prefix: churn*)");
        command->add_option("--action", args->action, "Only this action (alias.*, model.register, ...)");
        command->add_option("--since", args->since, "From this long ago (7d) or this date");
        command->add_option("--until", args->until, "Up to this long ago or this date");
        command->add_option("-n,--limit", args->limit, "Only the newest N")->check(CLI::Range(size_t{1}, size_t{1} << 40));
        command->add_flag("--json", args->json, "JSON lines, for compliance tools");
        bind(command, args, audit_log);
    }
    {
        auto [command, args] = make(audit, "verify", "Check the hash chain and signatures; report the first bad entry");
        command->add_option("--key", args->key, "The store's public key, as you kept it (default <store>/keys/store.pub)");
        command->add_flag("--json", args->json, "Print JSON");
        bind(command, args, audit_verify);
    }

    auto* keys = app.add_subcommand("keys", "Ed25519 signing keys, and which keys the store trusts");
    keys->require_subcommand(1);
    {
        auto [command, args] = make(keys, "generate", "Make a signing key pair (NAME.pem, NAME.pub)");
        command->add_option("NAME", args->first, "Key name, e.g. release")->required();
        command->add_option("--dir", args->dir, "Folder (default keys.dir: ~/.config/trellis/keys)");
        bind(command, args, keys_generate);
    }
    {
        auto [command, args] = make(keys, "list", "Your signing keys and the store's trusted keys");
        command->add_flag("--json", args->json, "Print JSON");
        bind(command, args, keys_list);
    }
    {
        auto [command, args] = make(keys, "trust", "Trust a public key (a .pub file or 64 hex digits) (admin)");
        command->add_option("KEY", args->first, "FILE.pub or hex")->required();
        command->add_option("--name", args->name, "What to call it (default: the file's name)");
        bind(command, args, [](CliContext& c, const Args& a) { return keys_trust(c, a, true); });
    }
    {
        auto [command, args] = make(keys, "distrust", "Stop trusting a key (admin)");
        command->add_option("KEY_ID", args->first, "Its id (trellis keys list)")->required();
        bind(command, args, [](CliContext& c, const Args& a) { return keys_trust(c, a, false); });
    }
    {
        auto [command, args] = make(&app, "sign", "Sign a file (a plugin .so: writes FILE.sig) or a model version");
        command->add_option("TARGET", args->first, "A file, or NAME:VERSION / NAME@ALIAS")->required();
        command->add_option("--key", args->key, "Key name (in keys.dir) or a .pem file")->required();
        bind(command, args, sign);
    }
    {
        auto [command, args] = make(&app, "verify", "Check a file's or model version's signature against trusted keys");
        command->add_option("TARGET", args->first, "A file, or NAME:VERSION / NAME@ALIAS")->required();
        command->add_flag("--json", args->json, "Print JSON");
        bind(command, args, verify);
    }
}

} // namespace trellis::cli
