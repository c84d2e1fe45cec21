// `trellis check`: whether the store is whole. Runs SQLite's integrity check, verifies every stored
// object against its digest, and checks that every artifact the metadata says is stored is there.
// For operators after a crash, a full disk or a copy between machines; read-only.
#include "cli/exit_codes.hpp"
#include "cli/store_commands.hpp"
#include "store/artifact_store.hpp"
#include "store/metadata_store.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>
#include <set>

namespace trellis::cli {
namespace {

struct CheckArgs {
    bool json = false;
    bool quick = false;
};

int check_command(CliContext& context, const CheckArgs& args) {
    const auto root = context.settings().store_path();
    if (!std::filesystem::exists(store::MetadataStore::database_path(root)))
        throw UsageError(root.string() + ": no trellis store here (no metadata.db)");
    store::MetadataStore metadata(root);
    store::ArtifactStore artifacts(root);
    std::vector<std::string> problems;
    for (const auto& problem : metadata.integrity_problems()) problems.push_back("metadata.db: " + problem);

    // Every object whole: its bytes still hash to its name.
    size_t verified = 0;
    const auto present = artifacts.list();
    if (!args.quick) {
        for (const auto& digest : present) {
            try {
                artifacts.get(digest, true);
                ++verified;
            } catch (const std::exception& e) {
                problems.push_back(e.what());
            }
        }
    }
    // Every artifact the metadata says is stored has its object.
    const std::set<std::string> on_disk(present.begin(), present.end());
    size_t recorded = 0;
    auto query = metadata.db().prepare("SELECT digest FROM artifacts WHERE removed_at IS NULL");
    while (query.step()) {
        ++recorded;
        const std::string digest = query.text(0);
        if (!on_disk.count(digest))
            problems.push_back("artifact " + digest + " is recorded but its object is missing (" +
                               store::ArtifactStore::object_name(digest) + ")");
    }

    if (args.json) {
        std::cout << nlohmann::json{{"store", root.string()},
                                    {"ok", problems.empty()},
                                    {"objects", present.size()},
                                    {"verified", verified},
                                    {"recorded_artifacts", recorded},
                                    {"problems", problems}}
                         .dump(2)
                  << "\n";
    } else {
        for (const auto& problem : problems) std::cout << "problem: " << problem << "\n";
        std::cout << root.string() << ": " << (problems.empty() ? "ok" : std::to_string(problems.size()) + " problem(s)")
                  << " (metadata integrity checked, " << recorded << " recorded artifacts, " << present.size()
                  << " objects, " << (args.quick ? std::string("digests not verified (--quick)") : std::to_string(verified) + " verified")
                  << ")\n";
    }
    return problems.empty() ? exit_ok : exit_run_failed;
}

} // namespace

void add_check_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto args = std::make_shared<CheckArgs>();
    auto* check = app.add_subcommand("check", "Check that the store is whole: metadata integrity and every object's digest");
    check->add_flag("--json", args->json, "Print the result as JSON");
    check->add_flag("--quick", args->quick, "Skip re-hashing the objects (check only that they exist)");
    check->callback([=, &action] { action = [=] { return check_command(context(), *args); }; });
}

} // namespace trellis::cli
