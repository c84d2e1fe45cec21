// `trellis gc`: deletes stored objects nothing needs any more.
//
// An object is needed when
//   - an execution of a kept run read or wrote it (an event). A run is kept when it started
//     within the retention window (--keep, default 30 days), is still running, or is the newest
//     succeeded run of its pipeline (so the latest results stay reusable from the cache);
//   - its artifact was recorded within the retention window (created_at);
//   - a registered model is that artifact (models table), whatever its age.
// Everything else with an artifacts row goes: the object file is deleted and the row is kept,
// with removed_at set, so lineage still shows the history ("removed by gc"). The row is marked
// before the file is deleted, so a gc killed half way leaves files that the next gc finishes.
//
// Besides: an object file with no artifacts row (a writer killed between storing the object and
// recording it) is an orphan and goes once it is older than an hour; so do files in tmp/ older
// than an hour; a row whose object file is gone is marked removed.
//
// The caller holds the store lock exclusive (StoreLock, store_lock.hpp) while it deletes, so no
// run is between storing an object and recording it; a dry run changes nothing and needs no lock.
#pragma once

#include "store/artifact_store.hpp"
#include "store/sqlite.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trellis::store {

struct GcOptions {
    double keep = 30 * 86400.0;  // seconds: the retention window
    double orphan_age = 3600;    // seconds: orphans and tmp/ files younger than this stay
    bool dry_run = false;
    double now = 0; // Unix seconds; 0: the current time
};

struct GcObject {
    std::string digest;
    std::string type;                    // the artifact's type; "orphan" for an object with no row
    uint64_t size = 0;                   // bytes of the object file
    std::optional<double> created_at;    // when the artifact was recorded (not for orphans)
    std::optional<std::string> last_run; // the newest run that read or wrote it
    std::optional<double> last_run_started_at;
};

struct GcReport {
    bool dry_run = false;
    double cutoff = 0;                // runs started before this (Unix seconds) may go
    std::vector<GcObject> removed;    // artifacts whose objects were (or would be) deleted
    std::vector<GcObject> orphans;    // object files without an artifacts row, older than an hour
    size_t temporaries = 0;           // stale files in tmp/
    uint64_t temporary_bytes = 0;
    std::vector<std::string> missing; // rows whose object file was already gone, marked removed
    size_t kept = 0;                  // objects kept
    uint64_t kept_bytes = 0;
    size_t kept_runs = 0;             // runs whose objects were kept
    std::vector<std::string> failures; // objects that could not be deleted, with the reason

    uint64_t removed_bytes() const; // removed + orphans + temporaries
};

// Works out what is not needed and, unless options.dry_run, deletes it.
GcReport collect_garbage(Database& db, ArtifactStore& objects, const GcOptions& options);

} // namespace trellis::store
