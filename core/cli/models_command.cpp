// `trellis models ...`: the model registry on the command line (list, versions, show, alias,
// promote, archive, restore, approve, reject, tag, describe, card, policy).
#include "cli/governance_commands.hpp"

#include "cli/exit_codes.hpp"
#include "cli/governance_view.hpp"
#include "cli/store_view.hpp"
#include "registry/model_card.hpp"
#include "registry/model_registry.hpp"
#include "registry/promotion.hpp"
#include "store/clock.hpp"
#include "util/json_text.hpp"

#include <fstream>
#include <vector>
#include <filesystem>
#include <set>
#include <cstring>
#include <iostream>
#include <sstream>

namespace trellis::cli {
namespace {

using nlohmann::json;

struct ModelsArgs {
    std::string reference;
    std::string second;
    std::string alias;
    std::string reason;
    std::string format = "md";
    std::string output;
    std::string expect_current; // models promote --expect-current VERSION|none
    bool json = false;
    bool remove = false;
};

std::pair<std::string, std::string> split_alias(const std::string& text) {
    const auto at = text.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == text.size())
        throw UsageError("'" + text + "': name a model alias as NAME@ALIAS, e.g. churn@champion");
    return {text.substr(0, at), text.substr(at + 1)};
}

std::string version_text(const registry::ModelVersion& version) {
    return registry::version_label(version.name, version.version);
}

std::string metrics_text(const std::map<std::string, double>& metrics, size_t at_most = 4) {
    std::string out;
    size_t shown = 0;
    for (const auto& [name, value] : metrics) {
        if (shown++ == at_most) return out + " ...";
        out += (out.empty() ? "" : " ") + name + "=" + format_value(value);
    }
    return out.empty() ? "-" : out;
}

int list(CliContext& context, const ModelsArgs& args) {
    auto metadata = open_metadata(context);
    if (metadata) // a bad TRELLIS_TOKEN is refused here as by every other command
        govern::Governance(metadata->db(), context.settings().store_path(), token_from_environment(), store::unix_now());
    const auto models = metadata ? registry::list_models(metadata->db()) : std::vector<registry::ModelSummary>{};
    if (args.json) {
        json out = json::array();
        for (const auto& model : models)
            out.push_back({{"name", model.name}, {"versions", model.versions}, {"latest", model.latest},
                           {"updated_at", model.updated_at}, {"aliases", model.aliases}});
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }
    if (models.empty()) {
        std::cout << "no models are registered\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {{"NAME", "VERSIONS", "LATEST", "UPDATED", "ALIASES"}};
    for (const auto& model : models) {
        std::string aliases;
        for (const auto& [alias, version] : model.aliases)
            aliases += (aliases.empty() ? "" : ", ") + alias + "=" + std::to_string(version);
        rows.push_back({model.name, std::to_string(model.versions), std::to_string(model.latest),
                        local_time(model.updated_at), aliases.empty() ? "-" : aliases});
    }
    print_columns(std::cout, rows);
    return exit_ok;
}

int versions(CliContext& context, const ModelsArgs& args) {
    auto store = open_governed(context, false);
    // `versions churn:3` or `versions churn@champion` means the model churn.
    const std::string name = args.reference.substr(0, args.reference.find_first_of(":@"));
    const auto found = registry::list_versions(store.db(), name);
    if (args.json) {
        json out = json::array();
        for (const auto& version : found) out.push_back(registry::version_json(version));
        std::cout << core::dump_json(out, 2) << "\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows = {{"VERSION", "STATUS", "REGISTERED", "BY", "FLAVOR", "RUN", "ALIASES"}};
    for (const auto& version : found) {
        std::string aliases;
        for (const auto& alias : version.aliases) aliases += (aliases.empty() ? "" : ", ") + alias;
        rows.push_back({std::to_string(version.version), version.status, local_time(version.registered_at),
                        version.registered_by.value_or("-"), version.flavor.empty() ? "-" : version.flavor,
                        version.run_id.value_or("-"), aliases.empty() ? "-" : aliases});
    }
    print_columns(std::cout, rows);
    return exit_ok;
}

int show(CliContext& context, const ModelsArgs& args) {
    auto store = open_governed(context, false);
    const auto version = registry::load_version(store.db(), args.reference);
    if (args.json) {
        std::cout << core::dump_json(registry::version_json(version), 2) << "\n";
        return exit_ok;
    }
    std::cout << "model " << version_text(version) << " (" << version.status << ")\n";
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"artifact:", version.digest});
    rows.push_back({"flavor:", version.flavor.empty() ? "-" : version.flavor});
    rows.push_back({"registered:", local_time(version.registered_at) + " by " + version.registered_by.value_or("?")});
    if (version.run_id) rows.push_back({"run:", *version.run_id + (version.execution_id ? " (execution " +
                                                                        std::to_string(*version.execution_id) + ")" : "")});
    if (version.description) rows.push_back({"description:", *version.description});
    std::string aliases;
    for (const auto& alias : version.aliases) aliases += (aliases.empty() ? "" : ", ") + alias;
    rows.push_back({"aliases:", aliases.empty() ? "-" : aliases});
    for (const auto& [key, value] : version.tags) rows.push_back({"tag " + key + ":", value});
    if (version.uri) rows.push_back({"uri:", *version.uri});
    std::string data;
    for (const auto& [port, digest] : version.training_data) data += (data.empty() ? "" : ", ") + port + " " + digest.substr(0, 12);
    rows.push_back({"trained on:", data.empty() ? "-" : data});
    print_columns(std::cout, rows, "  ");
    if (!version.evaluations.empty()) {
        std::cout << "\nevaluations:\n";
        std::vector<std::vector<std::string>> table = {{"RUN", "STAGE", "DATA", "METRICS"}};
        for (const auto& evaluation : version.evaluations) {
            std::string on;
            for (const auto& [port, digest] : evaluation.data) on += (on.empty() ? "" : ", ") + port + " " + digest.substr(0, 12);
            table.push_back({evaluation.run_id, evaluation.stage_id, on.empty() ? "-" : on, metrics_text(evaluation.metrics)});
        }
        print_columns(std::cout, table, "  ");
    }
    std::cout << "\napprovals:" << (version.decisions.empty() ? " none\n" : "\n");
    for (const auto& decision : version.decisions)
        std::cout << "  " << decision.decision << " by " << decision.identity << " (" << decision.role << ") "
                  << local_time(decision.at) << ": " << decision.reason << "\n";
    std::cout << "signatures:" << (version.signatures.empty() ? " none\n" : "\n");
    for (const auto& signature : version.signatures)
        std::cout << "  key " << signature.key_id << " by " << signature.signed_by << " " << local_time(signature.signed_at) << "\n";
    return exit_ok;
}

// --json of a command that changed a version: the version as it is now.
void print_version_json(GovernedStore& store, const std::string& label) {
    std::cout << core::dump_json(registry::version_json(registry::load_version(store.db(), label)), 2) << "\n";
}

// NAME:VERSION of a reference, resolved before a change that could make it name another version.
std::string resolved_label(GovernedStore& store, const std::string& reference) {
    const auto version = registry::load_version(store.db(), reference);
    return registry::version_label(version.name, version.version);
}

int alias(CliContext& context, const ModelsArgs& args) {
    const auto [name, alias_name] = split_alias(args.reference);
    auto store = open_governed(context, false);
    if (args.remove) {
        if (!args.second.empty()) throw UsageError("models alias --delete takes no version");
        registry::delete_alias(store.gov(), name, alias_name);
        if (args.json) std::cout << core::dump_json({{"name", name}, {"alias", alias_name}, {"deleted", true}}, 2) << "\n";
        else std::cout << "deleted " << name << "@" << alias_name << "\n";
        return exit_ok;
    }
    if (args.second.empty()) {
        const auto version = registry::load_version(store.db(), args.reference);
        if (args.json) print_version_json(store, args.reference);
        else std::cout << version_text(version) << "\n";
        return exit_ok;
    }
    std::string text = args.second;
    if (!text.empty() && (text[0] == 'v' || text[0] == 'V')) text.erase(0, 1);
    int64_t number = 0;
    try {
        size_t used = 0;
        number = std::stoll(text, &used);
        if (used != text.size() || number <= 0) throw std::invalid_argument(text);
    } catch (const std::exception&) {
        throw UsageError("models alias " + args.reference + ": '" + args.second + "' is not a version number");
    }
    registry::set_alias(store.gov(), name, alias_name, number, context.settings().require_signed_models());
    if (args.json) print_version_json(store, registry::version_label(name, number));
    else std::cout << name << "@" << alias_name << " -> " << name << ":" << number << "\n";
    return exit_ok;
}

int promote(CliContext& context, const ModelsArgs& args) {
    if (args.alias.empty()) throw UsageError("models promote: give --alias, e.g. --alias champion");
    auto store = open_governed(context, false);
    registry::PromotionOptions options;
    options.require_signed_models = context.settings().require_signed_models();
    if (args.expect_current == "none") {
        options.expected_holder = std::optional<int64_t>();
    } else if (!args.expect_current.empty()) {
        std::string text = args.expect_current;
        if (text[0] == 'v' || text[0] == 'V') text.erase(0, 1);
        try {
            size_t used = 0;
            const long long number = std::stoll(text, &used);
            if (used != text.size() || number <= 0) throw std::invalid_argument(text);
            options.expected_holder = std::optional<int64_t>(number);
        } catch (const std::exception&) {
            throw UsageError("models promote --expect-current " + args.expect_current + ": a version number, or none");
        }
    }
    const auto outcome = registry::promote(store.gov(), args.reference, args.alias, options);
    if (args.json) {
        json checks = json::array();
        for (const auto& check : outcome.checks)
            checks.push_back({{"rule", check.rule}, {"passed", check.passed}, {"detail", check.detail}});
        std::cout << core::dump_json({{"model", outcome.name}, {"version", outcome.version}, {"alias", outcome.alias},
                                      {"previous", outcome.previous ? json(*outcome.previous) : json()},
                                      {"promoted", outcome.promoted}, {"checks", checks}},
                                     2)
                  << "\n";
    } else {
        for (const auto& check : outcome.checks)
            std::cout << (check.passed ? "  pass  " : "  FAIL  ") << check.rule << ": " << check.detail << "\n";
        if (outcome.promoted)
            std::cout << "promoted " << outcome.name << ":" << outcome.version << " to " << outcome.name << "@"
                      << outcome.alias
                      << (outcome.previous ? " (was version " + std::to_string(*outcome.previous) + ")" : "") << "\n";
    }
    if (!outcome.promoted) {
        std::cerr << "trellis: error: " << outcome.refusal() << "\n";
        return exit_run_failed;
    }
    return exit_ok;
}

int status(CliContext& context, const ModelsArgs& args, bool archived) {
    auto store = open_governed(context, false);
    const std::string label = resolved_label(store, args.reference);
    registry::set_status(store.gov(), label, archived);
    if (args.json) print_version_json(store, label);
    else std::cout << (archived ? "archived " : "restored ") << label << "\n";
    return exit_ok;
}

int decide(CliContext& context, const ModelsArgs& args, bool approve) {
    auto store = open_governed(context, false);
    const std::string label = resolved_label(store, args.reference);
    registry::decide(store.gov(), label, approve, args.reason);
    if (args.json) {
        print_version_json(store, label);
        return exit_ok;
    }
    std::cout << (approve ? "approved " : "rejected ") << args.reference << " as " << store.gov().who().name << " ("
              << govern::to_string(store.gov().who().role) << ")\n";
    return exit_ok;
}

int tag(CliContext& context, const ModelsArgs& args) {
    const auto equals = args.second.find('=');
    if (equals == std::string::npos || equals == 0) throw UsageError("models tag: expected KEY=VALUE, e.g. team=risk");
    auto store = open_governed(context, false);
    const std::string label = resolved_label(store, args.reference);
    registry::set_tag(store.gov(), label, args.second.substr(0, equals), args.second.substr(equals + 1));
    if (args.json) print_version_json(store, label);
    else std::cout << "tagged " << label << " " << args.second << "\n";
    return exit_ok;
}

int describe(CliContext& context, const ModelsArgs& args) {
    auto store = open_governed(context, false);
    const std::string label = resolved_label(store, args.reference);
    registry::set_description(store.gov(), label, args.second);
    if (args.json) print_version_json(store, label);
    else std::cout << "described " << label << "\n";
    return exit_ok;
}

int card(CliContext& context, const ModelsArgs& args) {
    if (args.format != "md" && args.format != "json") throw UsageError("models card --format: md or json");
    auto store = open_governed(context, false);
    const auto version = registry::load_version(store.db(), args.reference);
    const json document = registry::model_card_json(store.db(), context.settings().store_path(), version);
    const std::string text = args.format == "json" ? core::dump_json(document, 2) + "\n" : registry::model_card_markdown(document);
    if (args.output.empty()) {
        std::cout << text;
        return exit_ok;
    }
    std::ofstream out(args.output);
    out << text;
    if (!out) throw UsageError("models card --output " + args.output + ": cannot write it: " + std::strerror(errno));
    std::cout << "wrote the model card of " << version_text(version) << " to " << args.output << "\n";
    return exit_ok;
}

json read_policy_file(const std::string& path) {
    const std::string what = "models policy set: " + (path == "-" ? std::string("standard input") : path);
    std::stringstream text;
    if (path == "-") {
        text << std::cin.rdbuf();
    } else {
        std::error_code error;
        if (std::filesystem::is_directory(path, error)) throw UsageError(what + ": a folder, not a policy file");
        std::ifstream in(path);
        if (!in) throw UsageError(what + ": cannot read it: " + std::strerror(errno));
        text << in.rdbuf();
    }
    if (text.str().find_first_not_of(" \t\r\n") == std::string::npos) throw UsageError(what + ": empty");
    // A key given twice would silently keep only its last rules: refused, naming it.
    std::vector<std::set<std::string>> keys;
    std::string duplicate;
    const json::parser_callback_t refuse_duplicates = [&](int, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        else if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
        else if (event == json::parse_event_t::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
            duplicate = parsed.get<std::string>();
        return true;
    };
    json document;
    try {
        document = json::parse(text.str(), refuse_duplicates);
    } catch (const json::parse_error& e) {
        throw UsageError(what + ": not valid JSON (" + e.what() + ")");
    }
    if (!duplicate.empty()) throw UsageError(what + ": the key '" + duplicate + "' is given twice");
    return document;
}

int policy(CliContext& context, const std::string& verb, const ModelsArgs& args) {
    auto store = open_governed(context, verb == "set");
    if (verb == "show") {
        std::vector<registry::PolicyRow> rows = registry::list_policies(store.db());
        if (!args.reference.empty()) {
            const auto [name, alias_name] = split_alias(args.reference);
            std::erase_if(rows, [&](const auto& row) { return row.name != name || row.alias != alias_name; });
            if (rows.empty()) throw UsageError(args.reference + " has no promotion policy");
        }
        json out = json::array();
        for (const auto& row : rows)
            out.push_back({{"model", row.name}, {"alias", row.alias}, {"set_by", row.set_by}, {"set_at", row.set_at},
                           {"policy", registry::policy_json(row.policy)}});
        if (args.json) {
            std::cout << core::dump_json(out, 2) << "\n";
        } else if (rows.empty()) {
            std::cout << "no promotion policies (any developer may move any alias)\n";
        } else {
            for (const auto& row : rows)
                std::cout << row.name << "@" << row.alias << " (set by " << row.set_by << " " << local_time(row.set_at)
                          << "): " << core::dump_json(registry::policy_json(row.policy), -1) << "\n";
        }
        return exit_ok;
    }
    const auto [name, alias_name] = split_alias(args.reference);
    if (verb == "remove") {
        registry::remove_policy(store.gov(), name, alias_name);
        std::cout << "removed the promotion policy of " << args.reference << "\n";
        return exit_ok;
    }
    const auto parsed = registry::parse_policy(read_policy_file(args.second));
    registry::set_policy(store.gov(), name, alias_name, parsed);
    std::cout << "set the promotion policy of " << args.reference << ": " << core::dump_json(registry::policy_json(parsed), -1)
              << "\n";
    return exit_ok;
}

} // namespace

void add_models_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto* models = app.add_subcommand("models", "The model registry: versions, aliases, promotion, approvals, cards");
    models->require_subcommand(1);
    auto bind = [&action, context](CLI::App* command, std::shared_ptr<ModelsArgs> args,
                                   std::function<int(CliContext&, const ModelsArgs&)> run) {
        command->callback([=, &action] {
            action = [=] { return with_governance_errors([&] { return run(context(), *args); }); };
        });
    };
    auto reference_command = [&](const std::string& name, const std::string& help, bool with_json) {
        auto args = std::make_shared<ModelsArgs>();
        auto* command = models->add_subcommand(name, help);
        command->add_option("MODEL", args->reference, "NAME, NAME:VERSION or NAME@ALIAS")->required();
        if (with_json) command->add_flag("--json", args->json, "Print JSON");
        return std::make_pair(command, args);
    };

    {
        auto args = std::make_shared<ModelsArgs>();
        auto* command = models->add_subcommand("list", "Registered models with their versions and aliases");
        command->add_flag("--json", args->json, "Print JSON");
        bind(command, args, list);
    }
    {
        auto args = std::make_shared<ModelsArgs>();
        auto* command = models->add_subcommand("versions", "The versions of a model, newest first");
        command->add_option("NAME", args->reference, "Model name")->required();
        command->add_flag("--json", args->json, "Print JSON");
        bind(command, args, versions);
    }
    {
        auto [command, args] = reference_command("show", "One version: lineage, evaluations, approvals, signatures", true);
        bind(command, args, show);
    }
    {
        auto args = std::make_shared<ModelsArgs>();
        auto* command = models->add_subcommand("alias", "Show, set or delete NAME@ALIAS (without a policy)");
        command->add_option("ALIAS", args->reference, "NAME@ALIAS, e.g. churn@challenger")->required();
        command->add_option("VERSION", args->second, "Version to point it at (omit to show it)");
        command->add_flag("--delete", args->remove, "Delete the alias");
        command->add_flag("--json", args->json, "Print JSON");
        bind(command, args, alias);
    }
    {
        auto [command, args] = reference_command("promote", "Move an alias to a version through its promotion policy", true);
        command->add_option("--alias", args->alias, "The alias to move, e.g. champion")->required();
        command->add_option("--expect-current", args->expect_current,
                            "Only if the alias still points at this version ('none': at no version); else fail");
        bind(command, args, promote);
    }
    {
        auto [command, args] = reference_command("archive", "Archive a version (admin)", true);
        bind(command, args, [](CliContext& c, const ModelsArgs& a) { return status(c, a, true); });
    }
    {
        auto [command, args] = reference_command("restore", "Make an archived version active again (admin)", true);
        bind(command, args, [](CliContext& c, const ModelsArgs& a) { return status(c, a, false); });
    }
    {
        auto [command, args] = reference_command("approve", "Approve a version (approver; not its registrant)", true);
        command->add_option("--reason", args->reason, "Why (recorded in the audit log)")->required();
        bind(command, args, [](CliContext& c, const ModelsArgs& a) { return decide(c, a, true); });
    }
    {
        auto [command, args] = reference_command("reject", "Reject a version (approver; not its registrant)", true);
        command->add_option("--reason", args->reason, "Why (recorded in the audit log)")->required();
        bind(command, args, [](CliContext& c, const ModelsArgs& a) { return decide(c, a, false); });
    }
    {
        auto [command, args] = reference_command("tag", "Set a tag on a version", true);
        command->add_option("KEY=VALUE", args->second, "The tag")->required();
        bind(command, args, tag);
    }
    {
        auto [command, args] = reference_command("describe", "Set a version's description", true);
        command->add_option("TEXT", args->second, "The description")->required();
        bind(command, args, describe);
    }
    {
        auto [command, args] = reference_command("card", "The model card of a version", false);
        command->add_option("--format", args->format, "md (default) or json");
        command->add_option("-o,--output", args->output, "Write it to this file");
        bind(command, args, card);
    }
    auto* policies = models->add_subcommand("policy", "Promotion policies: rules an alias's promotions must pass");
    policies->require_subcommand(1);
    {
        auto args = std::make_shared<ModelsArgs>();
        auto* command = policies->add_subcommand("set", "Set the policy of NAME@ALIAS from a JSON file (admin)");
        command->add_option("ALIAS", args->reference, "NAME@ALIAS")->required();
        command->add_option("FILE", args->second, "The policy as JSON ('-': standard input)")->required();
        bind(command, args, [](CliContext& c, const ModelsArgs& a) { return policy(c, "set", a); });
    }
    {
        auto args = std::make_shared<ModelsArgs>();
        auto* command = policies->add_subcommand("show", "Show the policies (of one alias)");
        command->add_option("ALIAS", args->reference, "NAME@ALIAS");
        command->add_flag("--json", args->json, "Print JSON");
        bind(command, args, [](CliContext& c, const ModelsArgs& a) { return policy(c, "show", a); });
    }
    {
        auto args = std::make_shared<ModelsArgs>();
        auto* command = policies->add_subcommand("remove", "Remove the policy of NAME@ALIAS (admin)");
        command->add_option("ALIAS", args->reference, "NAME@ALIAS")->required();
        bind(command, args, [](CliContext& c, const ModelsArgs& a) { return policy(c, "remove", a); });
    }
}

} // namespace trellis::cli
