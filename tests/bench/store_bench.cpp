// Store benchmark driver for scripts/bench-store: times the real store code in-process and prints
// one "key=value ..." line per measurement for the script to parse. Not a test; asserts no time.
//
//   trellis_store_bench metrics DIR [batches] [points] [full|normal]
//       Opens a MetadataStore in DIR (created; must not hold a store yet), begins a run, and records
//       `batches` executions (default 1000) of `points` metric points each (default 1000), each in
//       its own transaction, as RunRecorder's writer commits a batch. Prints points per second.
//       `normal` switches the connection to PRAGMA synchronous = NORMAL (no fsync per commit in WAL
//       mode) to show what the store's FULL costs; the store itself always uses FULL.
//   trellis_store_bench artifact DIR [bytes]
//       Builds a trellis Table of 8 float64 columns serialising to about `bytes` (default 1 GiB),
//       then times ArtifactStore::put into DIR (a new object: write, hash, fsync, rename), get
//       (map + SHA-256 verify), and a full read of the mapped bytes; and, for reference, SHA-256 of
//       the bytes alone (the floor of both put and get). Leaves the object in place and prints its
//       path, so the script can time `cp` of the same bytes.
#include "store/artifact_store.hpp"
#include "store/digest.hpp"
#include "store/metadata_store.hpp"
#include "store/sqlite.hpp"

#include <trellis/artifacts.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using trellis::store::ArtifactStore;
using trellis::store::MetadataStore;

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Seconds on a monotonic clock.
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

uint64_t parse_count(const char* text, const char* what) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || value == 0) throw std::runtime_error(std::string("bad ") + what + ": " + text);
    return value;
}

void refuse_existing_store(const fs::path& dir) {
    if (fs::exists(MetadataStore::database_path(dir)) || fs::exists(dir / "objects"))
        throw std::runtime_error(dir.string() + " holds a store already; give an empty or new folder");
}

int bench_metrics(const fs::path& dir, uint64_t batches, uint64_t points, const std::string& synchronous) {
    refuse_existing_store(dir);
    MetadataStore store(dir);
    if (synchronous == "normal") store.db().exec("PRAGMA synchronous = NORMAL");

    trellis::store::RunRow run;
    run.id = "bench-metrics";
    run.pipeline = "bench";
    run.script = (dir / "bench.lua").string();
    run.started_at = unix_now();
    run.host = "bench";
    run.pid = ::getpid();
    run.trellis_version = TRELLIS_VERSION;
    store.begin_run(run);

    // Four metric names, steps counting up, as a training loop logs loss and friends.
    static const char* const names[] = {"loss", "accuracy", "learning_rate", "grad_norm"};
    trellis::store::ExecutionRecord record;
    record.execution.run_id = run.id;
    record.execution.stage_name = "test.track";
    record.execution.plugin_name = "fixture-exec";
    record.execution.plugin_version = "1.0.0";
    record.execution.config = {{"steps", points}};
    record.execution.attempts = 1;
    record.execution.host = run.host;
    record.execution.pid = run.pid;
    record.end.status = "succeeded";
    record.end.attempts = 1;
    record.end.params = {{"optimizer", "sgd"}, {"rate", 0.1}};
    record.end.metrics.resize(points);

    int64_t step = 0;
    const double start = now();
    for (uint64_t batch = 0; batch < batches; ++batch) {
        // Building the batch is part of what a caller pays, so it is inside the timing.
        const double at = unix_now();
        record.execution.stage_id = "track_";
        record.execution.stage_id += std::to_string(batch);
        record.execution.started_at = at;
        record.end.ended_at = at;
        for (uint64_t i = 0; i < points; ++i, ++step)
            record.end.metrics[i] = {names[i % 4], 1.0 / static_cast<double>(step + 1), step / 4, at};
        // One transaction per batch, as RunRecorder's writer thread commits (synchronous = FULL:
        // each commit is fsync'ed).
        trellis::store::Transaction transaction(store.db());
        store.record_execution(record);
        transaction.commit();
    }
    const double seconds = now() - start;

    auto count = store.db().prepare("SELECT count(*) FROM metrics WHERE run_id = ?");
    count.bind(1, run.id);
    count.step();
    const auto stored = static_cast<uint64_t>(count.int64(0));
    if (stored != batches * points) {
        std::fprintf(stderr, "trellis_store_bench: expected %llu metric rows, found %llu\n",
                     static_cast<unsigned long long>(batches * points), static_cast<unsigned long long>(stored));
        return 1;
    }
    std::printf("metrics synchronous=%s batches=%llu points_per_batch=%llu points=%llu seconds=%.6f "
                "points_per_s=%.0f\n",
                synchronous.c_str(), static_cast<unsigned long long>(batches), static_cast<unsigned long long>(points),
                static_cast<unsigned long long>(stored), seconds, static_cast<double>(stored) / seconds);
    return 0;
}

// A serialised table of 8 float64 columns, `bytes` in all (rounded down to whole rows).
std::vector<uint8_t> make_table_bytes(uint64_t bytes) {
    constexpr size_t columns = 8;
    const size_t rows = static_cast<size_t>(bytes / (columns * sizeof(double)));
    trellis::Table table;
    for (size_t c = 0; c < columns; ++c) {
        std::string name = "x"; // not "x" + to_string(c): GCC 12 warns (-Wrestrict) on it wrongly
        name += std::to_string(c);
        trellis::Column column(name, trellis::ColumnType::Float64);
        column.reserve(rows);
        // Distinct values per column and run-dependent nothing: the bytes (and digest) are the
        // same in every run, which is fine since each run puts into a new store.
        for (size_t i = 0; i < rows; ++i) column.append_float(static_cast<double>(i) * 0.5 + static_cast<double>(c));
        table.add_column(std::move(column));
    }
    return trellis::serialize(table);
}

int bench_artifact(const fs::path& dir, uint64_t bytes) {
    refuse_existing_store(dir);
    double start = now();
    const std::vector<uint8_t> blob = make_table_bytes(bytes);
    const double build_seconds = now() - start;
    const double gb = static_cast<double>(blob.size()) / 1e9;

    ArtifactStore store(dir);
    start = now();
    const auto put = store.put(blob);
    const double put_seconds = now() - start;
    if (put.existed) {
        std::fprintf(stderr, "trellis_store_bench: the object existed already; the put was not a new object\n");
        return 1;
    }

    start = now();
    const auto object = store.get(put.digest); // map + verify
    const double get_seconds = now() - start;

    // A full read of the mapped bytes (already faulted in by the verification): what using every
    // value of the table costs after get().
    start = now();
    uint64_t sum = 0;
    const auto mapped = object->bytes();
    const auto* words = reinterpret_cast<const uint64_t*>(mapped.data());
    for (size_t i = 0; i < mapped.size() / 8; ++i) sum += words[i];
    const double read_seconds = now() - start;

    // get() without verification, then a full read: mapping and faulting the pages in, no hash.
    start = now();
    const auto unverified = store.get(put.digest, false);
    const auto bytes2 = unverified->bytes();
    const auto* words2 = reinterpret_cast<const uint64_t*>(bytes2.data());
    uint64_t sum2 = 0;
    for (size_t i = 0; i < bytes2.size() / 8; ++i) sum2 += words2[i];
    const double map_read_seconds = now() - start;
    if (sum != sum2) {
        std::fprintf(stderr, "trellis_store_bench: two reads of the same object disagree\n");
        return 1;
    }

    // SHA-256 alone, from memory: what put (which hashes while writing) and get cannot go below.
    start = now();
    const std::string digest = trellis::store::sha256_hex(std::span<const uint8_t>(blob));
    const double hash_seconds = now() - start;
    if (digest != put.digest) {
        std::fprintf(stderr, "trellis_store_bench: put named the object %s, but its SHA-256 is %s\n",
                     put.digest.c_str(), digest.c_str());
        return 1;
    }

    std::printf("artifact bytes=%zu build_seconds=%.6f put_seconds=%.6f get_seconds=%.6f read_seconds=%.6f "
                "map_read_seconds=%.6f hash_seconds=%.6f put_gbps=%.3f get_gbps=%.3f checksum=%llu object=%s\n",
                blob.size(), build_seconds, put_seconds, get_seconds, read_seconds, map_read_seconds, hash_seconds,
                gb / put_seconds, gb / get_seconds, static_cast<unsigned long long>(sum % 1000),
                (dir / ArtifactStore::object_name(put.digest)).c_str());
    return 0;
}

int usage() {
    std::fprintf(stderr, "usage: trellis_store_bench metrics DIR [batches] [points] [full|normal]\n"
                         "       trellis_store_bench artifact DIR [bytes]\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    try {
        if (argc < 3) return usage();
        const std::string mode = argv[1];
        const fs::path dir = argv[2];
        if (mode == "metrics" && argc <= 6) {
            const std::string synchronous = argc > 5 ? argv[5] : "full";
            if (synchronous != "full" && synchronous != "normal") return usage();
            return bench_metrics(dir, argc > 3 ? parse_count(argv[3], "batches") : 1000,
                                 argc > 4 ? parse_count(argv[4], "points") : 1000, synchronous);
        }
        if (mode == "artifact" && argc <= 4)
            return bench_artifact(dir, argc > 3 ? parse_count(argv[3], "bytes") : uint64_t{1} << 30);
        return usage();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "trellis_store_bench: %s\n", e.what());
        return 1;
    }
}
