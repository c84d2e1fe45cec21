// trellis gc: what is kept (recent runs, running runs, the newest succeeded run of a pipeline,
// registered models), what goes (old unreferenced objects, old orphans, stale temporaries), that
// a dry run changes nothing, and that rows stay behind, marked removed.
#include "store/garbage_collector.hpp"

#include "store_rows.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

using trellis::test::StoreRows;
namespace store = trellis::store;
namespace fs = std::filesystem;

namespace {

constexpr double day = 86400;

std::string put(store::ArtifactStore& objects, const std::string& text) {
    return objects.put({reinterpret_cast<const uint8_t*>(text.data()), text.size()}).digest;
}

void age(const fs::path& file, std::chrono::hours hours) {
    fs::last_write_time(file, fs::file_time_type::clock::now() - hours);
}

std::vector<std::string> digests(const std::vector<store::GcObject>& objects) {
    std::vector<std::string> out;
    for (const auto& object : objects) out.push_back(object.digest);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> sorted(std::vector<std::string> items) {
    std::sort(items.begin(), items.end());
    return items;
}

struct Store {
    StoreRows rows;
    store::ArtifactStore objects{rows.root()};
    double now = StoreRows::now();
    std::string old_output, old_model, newest_of_q, failed_output, recent_output, running_output, unused_row,
        old_orphan, young_orphan, missing;

    // The one execution of `run`, writing `digest` as an artifact recorded at `created_at`.
    void wrote(const std::string& run, const std::string& digest, const std::string& type, double created_at) {
        rows.artifact(digest, type, created_at, 7);
        rows.output(rows.execution(run, "stage-" + digest.substr(0, 6), "succeeded"), "out", digest);
    }

    Store() {
        rows.run("p-old", "p", "succeeded", now - 60 * day, now - 60 * day + 5);
        rows.run("q-old", "q", "succeeded", now - 45 * day, now - 45 * day + 5);
        rows.run("q-failed", "q", "failed", now - 40 * day, now - 40 * day + 5);
        rows.run("p-recent", "p", "succeeded", now - 1 * day, now - 1 * day + 5);
        rows.run("s-running", "s", "running", now - 90 * day);

        old_output = put(objects, "p-old output");
        old_model = put(objects, "p-old model");
        newest_of_q = put(objects, "q-old output");
        failed_output = put(objects, "q-failed output");
        recent_output = put(objects, "p-recent output");
        running_output = put(objects, "s-running output");
        unused_row = put(objects, "recorded long ago, never used");
        old_orphan = put(objects, "stored, never recorded, long ago");
        young_orphan = put(objects, "stored, being recorded right now");
        missing = StoreRows::digest("dead");

        wrote("p-old", old_output, "table", now - 60 * day);
        wrote("p-old", old_model, "model", now - 60 * day);
        rows.model("cancer", 1, old_model);
        wrote("q-old", newest_of_q, "table", now - 45 * day);
        wrote("q-failed", failed_output, "table", now - 40 * day);
        wrote("p-recent", recent_output, "table", now - 1 * day);
        wrote("s-running", running_output, "table", now - 90 * day);
        rows.artifact(unused_row, "table", now - 100 * day);
        rows.artifact(missing, "table", now - 100 * day); // its file is gone

        age(rows.root() / store::ArtifactStore::object_name(old_orphan), std::chrono::hours(2));
        std::ofstream(rows.root() / "tmp" / "stale-write") << "half an object";
        age(rows.root() / "tmp" / "stale-write", std::chrono::hours(3));
        std::ofstream(rows.root() / "tmp" / "live-write") << "being written";
    }

    bool stored(const std::string& digest) { return objects.contains(digest); }
};

} // namespace

TEST_CASE("gc keeps what recent, running and newest runs and models need, and removes the rest", "[store_cli]") {
    Store s;
    store::GcOptions options;
    options.now = s.now;
    const auto report = store::collect_garbage(s.rows.db(), s.objects, options);

    CHECK(digests(report.removed) == sorted({s.old_output, s.failed_output, s.unused_row}));
    CHECK(digests(report.orphans) == std::vector<std::string>{s.old_orphan});
    CHECK(report.missing == std::vector<std::string>{s.missing});
    CHECK(report.temporaries == 1);
    CHECK(report.kept == 5); // model, newest of q, recent, running, young orphan
    CHECK(report.kept_runs == 3); // p-recent, q-old (newest succeeded of q), s-running
    CHECK(report.failures.empty());
    for (const auto& object : report.removed) CHECK(object.size > 0);
    const auto failed = std::find_if(report.removed.begin(), report.removed.end(),
                                     [&](const auto& object) { return object.digest == s.failed_output; });
    REQUIRE(failed != report.removed.end());
    CHECK(failed->last_run == "q-failed");
    CHECK(report.removed_bytes() > 0);

    for (const auto& gone : {s.old_output, s.failed_output, s.unused_row, s.old_orphan}) CHECK_FALSE(s.stored(gone));
    for (const auto& kept : {s.old_model, s.newest_of_q, s.recent_output, s.running_output, s.young_orphan})
        CHECK(s.stored(kept));
    // Rows stay, marked, so lineage still shows them.
    REQUIRE(s.rows.removed_at(s.old_output));
    CHECK(*s.rows.removed_at(s.old_output) == Approx(s.now));
    CHECK(s.rows.removed_at(s.missing));
    CHECK_FALSE(s.rows.removed_at(s.old_model));
    CHECK_FALSE(fs::exists(s.rows.root() / "tmp" / "stale-write"));
    CHECK(fs::exists(s.rows.root() / "tmp" / "live-write"));

    // A second pass finds nothing more.
    const auto again = store::collect_garbage(s.rows.db(), s.objects, options);
    CHECK(again.removed.empty());
    CHECK(again.orphans.empty());
    CHECK(again.missing.empty());
    CHECK(again.kept == 5);
}

TEST_CASE("a gc dry run reports the same and deletes nothing", "[store_cli]") {
    Store s;
    store::GcOptions options;
    options.now = s.now;
    options.dry_run = true;
    const auto report = store::collect_garbage(s.rows.db(), s.objects, options);
    CHECK(report.dry_run);
    CHECK(digests(report.removed) == sorted({s.old_output, s.failed_output, s.unused_row}));
    CHECK(digests(report.orphans) == std::vector<std::string>{s.old_orphan});
    CHECK(report.temporaries == 1);
    CHECK(report.missing.size() == 1);

    for (const auto& digest : {s.old_output, s.failed_output, s.unused_row, s.old_orphan}) CHECK(s.stored(digest));
    CHECK_FALSE(s.rows.removed_at(s.old_output));
    CHECK_FALSE(s.rows.removed_at(s.missing));
    CHECK(fs::exists(s.rows.root() / "tmp" / "stale-write"));
}

TEST_CASE("gc retention: a longer window keeps more, 0 keeps only the protected ones", "[store_cli]") {
    Store s;
    store::GcOptions options;
    options.now = s.now;
    options.dry_run = true;

    options.keep = 70 * day;
    CHECK(digests(store::collect_garbage(s.rows.db(), s.objects, options).removed) ==
          std::vector<std::string>{s.unused_row});

    options.keep = 0; // runs of no age: the running one, and the newest succeeded of each pipeline, stay
    const auto report = store::collect_garbage(s.rows.db(), s.objects, options);
    CHECK(digests(report.removed) == sorted({s.old_output, s.failed_output, s.unused_row}));
    CHECK(report.kept_runs == 3);
}

TEST_CASE("gc keeps an object a kept run reads, and restores the mark of one stored again", "[store_cli]") {
    Store s;
    // The recent run read the old run's output; and the unused row's object was marked removed by
    // a gc that was killed before deleting it, then a recent run wrote the same bytes again.
    const auto reader = s.rows.execution("p-recent", "reader", "succeeded");
    s.rows.input(reader, "in", s.old_output);
    s.rows.output(reader, "out", s.unused_row);
    s.rows.db().exec("UPDATE artifacts SET removed_at = 1 WHERE digest = '" + s.unused_row + "'");

    store::GcOptions options;
    options.now = s.now;
    const auto report = store::collect_garbage(s.rows.db(), s.objects, options);
    CHECK(digests(report.removed) == std::vector<std::string>{s.failed_output});
    CHECK(s.stored(s.old_output));
    CHECK(s.stored(s.unused_row));
    CHECK_FALSE(s.rows.removed_at(s.unused_row));
}
