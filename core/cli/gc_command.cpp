// `trellis gc`: deletes stored objects that no kept run and no registered model needs.
#include "cli/store_commands.hpp"

#include "cli/exit_codes.hpp"
#include "cli/store_view.hpp"
#include "store/garbage_collector.hpp"
#include "store/lineage.hpp"
#include "store/store_lock.hpp"
#include "util/duration.hpp"
#include "util/json_text.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

namespace trellis::cli {
namespace {

using nlohmann::json;

struct GcArgs {
    bool dry_run = false;
    std::string keep = "30d";
    bool json = false;
};

std::string plural(size_t count, const std::string& noun) {
    return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

json object_json(const store::GcObject& object) {
    return {{"digest", object.digest},
            {"type", object.type},
            {"size", object.size},
            {"created_at", json_number(object.created_at)},
            {"last_run", object.last_run ? json(*object.last_run) : json()},
            {"last_run_started_at", json_number(object.last_run_started_at)}};
}

void print_report(const store::GcReport& report) {
    if (!report.removed.empty() || !report.orphans.empty()) {
        std::vector<std::vector<std::string>> rows = {{"DIGEST", "TYPE", "SIZE", "RECORDED", "LAST RUN"}};
        for (const auto* list : {&report.removed, &report.orphans})
            for (const auto& object : *list)
                rows.push_back({store::short_digest(object.digest), object.type, format_bytes(object.size),
                                object.created_at ? local_time(*object.created_at) : "-",
                                object.last_run ? *object.last_run : "-"});
        print_columns(std::cout, rows);
        std::cout << "\n";
    }
    uint64_t artifact_bytes = 0, orphan_bytes = 0;
    for (const auto& object : report.removed) artifact_bytes += object.size;
    for (const auto& object : report.orphans) orphan_bytes += object.size;
    std::cout << (report.dry_run ? "would remove " : "removed ") << plural(report.removed.size(), "artifact") << " ("
              << format_bytes(artifact_bytes) << "), " << plural(report.orphans.size(), "orphaned object") << " ("
              << format_bytes(orphan_bytes) << ") and " << plural(report.temporaries, "temporary file") << " ("
              << format_bytes(report.temporary_bytes) << "): " << format_bytes(report.removed_bytes()) << " in all\n";
    std::cout << "kept " << plural(report.kept, "object") << " (" << format_bytes(report.kept_bytes) << "): those of "
              << plural(report.kept_runs, "run") << " (started since " << local_time(report.cutoff) << ", still running, "
              << "or the newest succeeded of their pipeline) and of registered models\n";
    if (!report.missing.empty())
        std::cout << (report.dry_run ? "would mark " : "marked ") << plural(report.missing.size(), "artifact")
                  << " removed whose object file was already gone\n";
    if (report.dry_run) std::cout << "dry run: nothing was deleted\n";
    for (const auto& failure : report.failures) std::cerr << "trellis: error: could not delete " << failure << "\n";
}

int collect(CliContext& context, const GcArgs& args) {
    const auto keep = core::parse_duration(args.keep);
    if (!keep)
        throw UsageError("--keep: '" + args.keep + "' is not a duration; use e.g. 30d, 12h, 90m, 2w or 0");
    const auto root = context.settings().store_path();
    auto metadata = open_metadata(context);
    store::GcReport report;
    report.dry_run = args.dry_run;
    report.cutoff = unix_now() - *keep;
    if (metadata) {
        // Deleting waits for running pipelines (they hold the lock shared) and keeps new ones out.
        std::unique_ptr<store::StoreLock> lock;
        if (!args.dry_run) {
            lock = std::make_unique<store::StoreLock>(root, store::StoreLock::Mode::Exclusive);
            metadata->reap_interrupted(); // runs that ended while we waited
        }
        store::ArtifactStore objects(root);
        store::GcOptions options;
        options.keep = *keep;
        options.dry_run = args.dry_run;
        report = store::collect_garbage(metadata->db(), objects, options);
    } else if (!args.json) {
        std::cout << "Nothing to collect: " << root.string() << " has no metadata store.\n";
        return exit_ok;
    }

    if (args.json) {
        json out = {{"dry_run", report.dry_run},
                    {"cutoff", report.cutoff},
                    {"removed", json::array()},
                    {"orphans", json::array()},
                    {"temporaries", report.temporaries},
                    {"temporary_bytes", report.temporary_bytes},
                    {"missing", report.missing},
                    {"removed_bytes", report.removed_bytes()},
                    {"kept", report.kept},
                    {"kept_bytes", report.kept_bytes},
                    {"kept_runs", report.kept_runs},
                    {"failures", report.failures}};
        for (const auto& object : report.removed) out["removed"].push_back(object_json(object));
        for (const auto& object : report.orphans) out["orphans"].push_back(object_json(object));
        std::cout << core::dump_json(out, 2) << "\n";
    } else {
        print_report(report);
    }
    return report.failures.empty() ? exit_ok : exit_run_failed;
}

} // namespace

void add_gc_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto args = std::make_shared<GcArgs>();
    auto* gc = app.add_subcommand("gc", "Delete stored artifacts that no recent run and no registered model needs");
    gc->add_flag("--dry-run", args->dry_run, "Only list what would be deleted");
    gc->add_option("--keep", args->keep,
                   "Keep the artifacts of runs started within this time: 30d (default), 12h, 90m, 2w, 0");
    gc->add_flag("--json", args->json, "Print JSON");
    gc->callback([=, &action] {
        action = [=] { return with_lookup_errors([&] { return collect(context(), *args); }); };
    });
}

} // namespace trellis::cli
