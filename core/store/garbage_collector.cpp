#include "store/garbage_collector.hpp"

#include "store/clock.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <sys/stat.h>

namespace trellis::store {

namespace {

// Modification time (Unix seconds) and size of a file, or nothing when it is not there.
std::optional<std::pair<double, uint64_t>> file_stat(const std::filesystem::path& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) return std::nullopt;
    return std::make_pair(static_cast<double>(info.st_mtim.tv_sec) + static_cast<double>(info.st_mtim.tv_nsec) * 1e-9,
                          static_cast<uint64_t>(info.st_size));
}

// The runs whose objects are kept (see the header): ?1 is the cutoff.
constexpr const char* kept_runs_cte =
    "WITH kept_runs(id) AS ("
    "  SELECT id FROM runs WHERE started_at >= ?1 OR status = 'running'"
    "  UNION"
    "  SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY pipeline ORDER BY started_at DESC, id DESC) AS rn"
    "                  FROM runs WHERE status = 'succeeded') WHERE rn = 1) ";

struct Row {
    std::string type;
    double created_at = 0;
    bool removed = false;
};

} // namespace

uint64_t GcReport::removed_bytes() const {
    uint64_t total = temporary_bytes;
    for (const auto& object : removed) total += object.size;
    for (const auto& object : orphans) total += object.size;
    return total;
}

GcReport collect_garbage(Database& db, ArtifactStore& objects, const GcOptions& options) {
    GcReport report;
    report.dry_run = options.dry_run;
    const double now = options.now > 0 ? options.now : unix_now();
    report.cutoff = now - options.keep;

    auto runs = db.prepare(std::string(kept_runs_cte) + "SELECT COUNT(*) FROM kept_runs");
    runs.bind(1, report.cutoff);
    if (runs.step()) report.kept_runs = static_cast<size_t>(runs.int64(0));

    std::set<std::string> needed;
    auto needed_query = db.prepare(std::string(kept_runs_cte) +
                                   "SELECT ev.artifact_digest FROM events ev JOIN executions e ON e.id = ev.execution_id "
                                   "  WHERE e.run_id IN (SELECT id FROM kept_runs) "
                                   "UNION SELECT artifact_digest FROM models "
                                   "UNION SELECT digest FROM artifacts WHERE created_at >= ?1");
    needed_query.bind(1, report.cutoff);
    while (needed_query.step()) needed.insert(needed_query.text(0));

    std::map<std::string, Row> rows;
    auto rows_query = db.prepare("SELECT digest, type, created_at, removed_at IS NOT NULL FROM artifacts");
    while (rows_query.step())
        rows[rows_query.text(0)] = Row{rows_query.text(1), rows_query.real(2), rows_query.int64(3) != 0};

    // The newest run that read or wrote each artifact, for the report.
    std::map<std::string, std::pair<std::string, double>> last_use;
    auto use_query = db.prepare("SELECT ev.artifact_digest, r.id, MAX(r.started_at) FROM events ev "
                                "JOIN executions e ON e.id = ev.execution_id JOIN runs r ON r.id = e.run_id "
                                "GROUP BY ev.artifact_digest");
    while (use_query.step()) last_use[use_query.text(0)] = {use_query.text(1), use_query.real(2)};

    const auto present_list = objects.list();
    const std::set<std::string> present(present_list.begin(), present_list.end());
    std::vector<std::string> restored; // marked removed, yet the object is there and needed
    for (const auto& digest : present) {
        const auto stat = file_stat(objects.root() / ArtifactStore::object_name(digest));
        const uint64_t size = stat ? stat->second : objects.size_of(digest).value_or(0);
        const auto row = rows.find(digest);
        if (row == rows.end()) {
            const double age = stat ? now - stat->first : 0;
            if (age >= options.orphan_age)
                report.orphans.push_back(GcObject{digest, "orphan", size, std::nullopt, std::nullopt, std::nullopt});
            else {
                ++report.kept; // being written: its row may not be committed yet
                report.kept_bytes += size;
            }
            continue;
        }
        if (needed.count(digest)) {
            ++report.kept;
            report.kept_bytes += size;
            if (row->second.removed) restored.push_back(digest);
            continue;
        }
        GcObject object{digest, row->second.type, size, row->second.created_at, std::nullopt, std::nullopt};
        if (const auto use = last_use.find(digest); use != last_use.end()) {
            object.last_run = use->second.first;
            object.last_run_started_at = use->second.second;
        }
        report.removed.push_back(std::move(object));
    }
    for (const auto& [digest, row] : rows)
        if (!row.removed && !present.count(digest)) report.missing.push_back(digest);

    // tmp/ files older than the orphan age.
    std::error_code ec;
    for (std::filesystem::directory_iterator it(objects.root() / "tmp", ec), end; !ec && it != end; it.increment(ec))
        if (const auto stat = file_stat(it->path());
            stat && !it->is_directory(ec) && now - stat->first >= options.orphan_age) {
            ++report.temporaries;
            report.temporary_bytes += stat->second;
        }

    if (options.dry_run) return report;

    {
        Transaction transaction(db);
        auto mark = db.prepare("UPDATE artifacts SET removed_at = COALESCE(removed_at, ?2) WHERE digest = ?1");
        std::vector<std::string> marked = report.missing;
        for (const auto& object : report.removed) marked.push_back(object.digest);
        for (const auto& digest : marked) {
            mark.reset();
            mark.bind(1, digest).bind(2, now);
            mark.run();
        }
        auto unmark = db.prepare("UPDATE artifacts SET removed_at = NULL WHERE digest = ?1");
        for (const auto& digest : restored) {
            unmark.reset();
            unmark.bind(1, digest);
            unmark.run();
        }
        transaction.commit();
    }
    for (const auto* list : {&report.removed, &report.orphans})
        for (const auto& object : *list) try {
                objects.remove(object.digest);
            } catch (const std::exception& e) {
                report.failures.push_back(object.digest + ": " + e.what());
            }
    report.temporaries = objects.remove_stale_temporaries(std::chrono::seconds(static_cast<int64_t>(options.orphan_age)));
    return report;
}

} // namespace trellis::store
