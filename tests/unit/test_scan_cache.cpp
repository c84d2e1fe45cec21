// ScanCache and the ScanResult JSON it stores: round trips, stamp checks, damaged and foreign
// caches, pruning and atomic saves.
#include "plugin/api_version.hpp"
#include "plugin/scan_cache.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include <fcntl.h>
#include <sys/stat.h>

using trellis::core::FileStamp;
using trellis::core::ScanCache;
using trellis::core::ScanResult;
using trellis::test::TempDir;
namespace fs = std::filesystem;

namespace {

trellis::core::PluginManifest sample_manifest() {
    trellis::core::PluginManifest manifest;
    manifest.api_major = 1;
    manifest.api_minor = 0;
    manifest.name = "acme";
    manifest.version = "2.0.1";
    manifest.vendor = "Acme";
    manifest.license = "MIT";
    manifest.description = "tools";
    trellis::core::StageManifest stage;
    stage.kind = "data";
    stage.name = "acme.read";
    stage.description = "reads";
    stage.inputs.push_back({"in", "file", true, "a file"});
    stage.outputs.push_back({"table", "table", false, ""});
    stage.config.push_back({"path", "string", true, std::nullopt, "where"});
    stage.config.push_back({"limit", "int", false, nlohmann::json(100), ""});
    manifest.stages.push_back(stage);
    manifest.flavors.push_back({"acme_tree", "trees"});
    return manifest;
}

ScanResult good_result(const fs::path& path) {
    ScanResult result;
    result.path = path;
    result.stamp = *trellis::core::stamp_of(path);
    result.manifest = sample_manifest();
    return result;
}

ScanResult broken_result(const fs::path& path) {
    ScanResult result;
    result.path = path;
    result.stamp = *trellis::core::stamp_of(path);
    result.reason = "crashed while loading (signal 11)";
    return result;
}

std::vector<std::string> file_names(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

TEST_CASE("scan cache: stamp_of reads size and mtime, and nothing for a missing file") {
    TempDir dir;
    const auto file = dir.write("p.so", "12345");
    const timespec times[2] = {{1'600'000'000, 5}, {1'600'000'000, 123'456'789}}; // atime, mtime
    REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
    const auto stamp = trellis::core::stamp_of(file);
    REQUIRE(stamp.has_value());
    CHECK(stamp->size == 5);
    CHECK(stamp->mtime_ns == 1'600'000'000'123'456'789);
    CHECK_FALSE(trellis::core::stamp_of(dir / "missing.so").has_value());
}

TEST_CASE("scan cache: ScanResult JSON round-trips a good and a broken result") {
    TempDir dir;
    const auto good = good_result(dir.write("good.so", "ELF..."));
    const auto json = trellis::core::to_json(good);
    CHECK(json.at("path") == good.path.string());
    CHECK(json.at("size") == 6);
    CHECK_FALSE(json.contains("reason"));
    CHECK(json.at("manifest").at("api") == "1.0");
    const auto back = trellis::core::scan_result_from_json(json);
    CHECK(back.path == good.path);
    CHECK(back.stamp == good.stamp);
    REQUIRE(back.ok());
    CHECK(nlohmann::json(*back.manifest) == nlohmann::json(*good.manifest));

    const auto broken = broken_result(dir.write("bad.so", ""));
    const auto broken_json = trellis::core::to_json(broken);
    CHECK_FALSE(broken_json.contains("manifest"));
    const auto broken_back = trellis::core::scan_result_from_json(broken_json);
    CHECK_FALSE(broken_back.ok());
    CHECK(broken_back.reason == "crashed while loading (signal 11)");
    CHECK(broken_back.stamp == FileStamp{0, broken.stamp.mtime_ns});
}

TEST_CASE("scan cache: put, save and reload keep a good and a broken result") {
    TempDir dir;
    const auto good = good_result(dir.write("plugins/good.so", "good bytes"));
    const auto broken = broken_result(dir.write("plugins/bad.so", "bad"));
    const auto cache_file = dir / "cache/sub/plugin-registry.json";
    {
        ScanCache cache(cache_file);
        CHECK_FALSE(cache.find(good.path, good.stamp).has_value());
        cache.put(good);
        cache.put(broken);
        CHECK(cache.find(good.path, good.stamp).has_value());
        CHECK(cache.save() == std::nullopt);
    }
    REQUIRE(fs::exists(cache_file));
    const auto document = nlohmann::json::parse(std::ifstream(cache_file));
    CHECK(document.at("format") == 1);
    CHECK(document.at("host_api") == trellis::core::to_string(trellis::core::host_api_version()));
    CHECK(document.at("entries").size() == 2);

    ScanCache reloaded(cache_file);
    const auto found_good = reloaded.find(good.path, good.stamp);
    REQUIRE(found_good.has_value());
    REQUIRE(found_good->ok());
    CHECK(found_good->path == good.path);
    CHECK(found_good->manifest->name == "acme");
    CHECK(found_good->manifest->stages.at(0).config.at(1).default_value == nlohmann::json(100));
    CHECK(trellis::core::to_json(*found_good) == trellis::core::to_json(good));

    const auto found_broken = reloaded.find(broken.path, broken.stamp);
    REQUIRE(found_broken.has_value());
    CHECK_FALSE(found_broken->ok());
    CHECK(found_broken->reason == "crashed while loading (signal 11)");
}

TEST_CASE("scan cache: find misses when the size or the mtime differ") {
    TempDir dir;
    const auto good = good_result(dir.write("good.so", "good bytes"));
    ScanCache cache(dir / "cache.json");
    cache.put(good);
    CHECK(cache.find(good.path, good.stamp).has_value());
    CHECK_FALSE(cache.find(good.path, FileStamp{good.stamp.size + 1, good.stamp.mtime_ns}).has_value());
    CHECK_FALSE(cache.find(good.path, FileStamp{good.stamp.size, good.stamp.mtime_ns + 1}).has_value());
    CHECK_FALSE(cache.find(dir / "other.so", good.stamp).has_value());
}

TEST_CASE("scan cache: a missing, corrupt or foreign cache file is treated as empty") {
    TempDir dir;
    const auto good = good_result(dir.write("good.so", "good bytes"));
    const auto entry = trellis::core::to_json(good);
    const std::string host = trellis::core::to_string(trellis::core::host_api_version());

    SECTION("missing") {
        ScanCache cache(dir / "none.json");
        CHECK_FALSE(cache.find(good.path, good.stamp).has_value());
    }
    SECTION("not JSON") {
        ScanCache cache(dir.write("cache.json", "{\"format\": 1, \"entries\": [tru"));
        CHECK_FALSE(cache.find(good.path, good.stamp).has_value());
    }
    SECTION("JSON of the wrong shape") {
        ScanCache cache(dir.write("cache.json", "[1, 2, 3]"));
        CHECK_FALSE(cache.find(good.path, good.stamp).has_value());
    }
    SECTION("one damaged entry after a good one") {
        nlohmann::json document = {{"format", 1}, {"host_api", host}, {"entries", {entry, {{"path", 3}}}}};
        ScanCache cache(dir.write("cache.json", document.dump()));
        CHECK_FALSE(cache.find(good.path, good.stamp).has_value());
    }
    SECTION("written for another host API") {
        nlohmann::json document = {{"format", 1}, {"host_api", "2.0"}, {"entries", {entry}}};
        ScanCache cache(dir.write("cache.json", document.dump()));
        CHECK_FALSE(cache.find(good.path, good.stamp).has_value());
    }
    SECTION("another cache format") {
        nlohmann::json document = {{"format", 2}, {"host_api", host}, {"entries", {entry}}};
        ScanCache cache(dir.write("cache.json", document.dump()));
        CHECK_FALSE(cache.find(good.path, good.stamp).has_value());
    }
    SECTION("control: the same document for this host is read") {
        nlohmann::json document = {{"format", 1}, {"host_api", host}, {"trellis", TRELLIS_VERSION}, {"entries", {entry}}};
        ScanCache cache(dir.write("cache.json", document.dump()));
        CHECK(cache.find(good.path, good.stamp).has_value());
    }
    SECTION("a cache written by another trellis version") {
        nlohmann::json document = {{"format", 1}, {"host_api", host}, {"trellis", "0.0.1"}, {"entries", {entry}}};
        ScanCache cache(dir.write("cache.json", document.dump()));
        CHECK_FALSE(cache.find(good.path, good.stamp).has_value());
    }
}

TEST_CASE("scan cache: prune drops entries whose files are gone") {
    TempDir dir;
    const auto kept = good_result(dir.write("kept.so", "kept"));
    const auto gone = broken_result(dir.write("gone.so", "gone"));
    const auto cache_file = dir / "cache.json";
    {
        ScanCache cache(cache_file);
        cache.put(kept);
        cache.put(gone);
        REQUIRE(cache.save() == std::nullopt);
    }
    fs::remove(gone.path);
    {
        ScanCache cache(cache_file);
        cache.prune();
        CHECK(cache.find(kept.path, kept.stamp).has_value());
        CHECK_FALSE(cache.find(gone.path, gone.stamp).has_value());
        REQUIRE(cache.save() == std::nullopt);
    }
    const auto document = nlohmann::json::parse(std::ifstream(cache_file));
    REQUIRE(document.at("entries").size() == 1);
    CHECK(document.at("entries")[0].at("path") == kept.path.string());
}

TEST_CASE("scan cache: save is atomic and only writes when something changed") {
    TempDir dir;
    const auto good = good_result(dir.write("plugins/good.so", "good bytes"));
    const auto cache_dir = dir / "cache";
    const auto cache_file = cache_dir / "plugin-registry.json";

    ScanCache cache(cache_file);
    CHECK(cache.save() == std::nullopt);
    CHECK_FALSE(fs::exists(cache_file)); // nothing changed: nothing written

    cache.put(good);
    CHECK(cache.save() == std::nullopt);
    CHECK(file_names(cache_dir) == std::vector<std::string>{"plugin-registry.json"});

    // Overwriting an existing cache also leaves no temporary file behind.
    cache.put(broken_result(dir.write("plugins/bad.so", "")));
    CHECK(cache.save() == std::nullopt);
    CHECK(file_names(cache_dir) == std::vector<std::string>{"plugin-registry.json"});
    CHECK(nlohmann::json::parse(std::ifstream(cache_file)).at("entries").size() == 2);
}

TEST_CASE("scan cache: a cache that cannot be written returns a message instead of throwing") {
    TempDir dir;
    const auto good = good_result(dir.write("good.so", "good bytes"));
    dir.write("not-a-folder", "a file where the cache folder should be");
    ScanCache cache(dir / "not-a-folder/plugin-registry.json");
    cache.put(good);
    const auto problem = cache.save();
    REQUIRE(problem.has_value());
    CHECK_THAT(*problem, Catch::StartsWith("cannot write plugin cache " + (dir / "not-a-folder").string()));
    CHECK(file_names(dir.path()) == std::vector<std::string>{"good.so", "not-a-folder"});
}
