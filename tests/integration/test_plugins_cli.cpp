// `trellis plugins list/info` on the fixture plugins: every broken case reported with its exact
// reason, good plugins listed, and the host always survives.
#include "run_trellis.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <regex>

using trellis::testing::Result;
using trellis::testing::Sandbox;

namespace {

const std::string fixtures = FIXTURE_DIR;
const std::string fixtures_b = FIXTURE_DIR_B;

std::map<std::string, std::string> broken_by_file(const nlohmann::json& listing) {
    std::map<std::string, std::string> out;
    for (const auto& entry : listing.at("broken"))
        out[std::filesystem::path(entry.at("file").get<std::string>()).filename().string()] = entry.at("reason");
    return out;
}

// N from the debug line "scanning N plugin file(s)", or 0 if nothing was scanned.
int scanned_count(const std::string& log) {
    std::smatch match;
    return std::regex_search(log, match, std::regex("scanning ([0-9]+) plugin file")) ? std::stoi(match[1]) : 0;
}

nlohmann::json plugin_named(const nlohmann::json& listing, const std::string& name) {
    for (const auto& plugin : listing.at("plugins"))
        if (plugin.at("name") == name) return plugin;
    return nullptr;
}

} // namespace

TEST_CASE("plugins list reports every broken fixture with its exact reason and survives") {
    Sandbox sandbox;
    const Result result = sandbox.run("--plugin-path " + fixtures + " plugins list --json");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const auto broken = broken_by_file(result.json());

    CHECK(broken.at("empty.so") == "empty file");
    CHECK(broken.at("text_file.so") == "not a shared library (no ELF header)");
    CHECK(broken.at("no_descriptor.so") == "not a trellis plugin: no trellis_plugin_api_version symbol");
    CHECK(broken.at("wrong_major.so") ==
          "API version mismatch: plugin built for API 2.0, host supports API 1.3 (major must be 1)");
    CHECK(broken.at("newer_minor.so") ==
          "API version mismatch: plugin built for API 1.4, host supports API 1.3 (plugin needs a newer trellis)");
    CHECK(broken.at("missing_dependency.so") == "missing dependency library: libtrellis_fixture_dep.so");
    CHECK(broken.at("invalid_descriptor.so") == "invalid descriptor: stage 'fixture.bad_kind': unknown stage kind 9");
    CHECK(broken.at("throws_in_init.so") == "initialisation failed: license server unreachable");
    CHECK(broken.at("segfaults_on_load.so") == "crashed while loading (SIGSEGV: Segmentation fault)");
    CHECK(broken.at("aborts_on_load.so") == "crashed while loading (SIGABRT: Aborted)");
    CHECK(broken.at("hangs_on_load.so") == "hangs while loading: no answer within 2 s");
    // The version is read from the file before dlopen: this one's constructor would crash.
    CHECK(broken.at("wrong_major_crashes.so") ==
          "API version mismatch: plugin built for API 2.0, host supports API 1.3 (major must be 1)");
    // Closing the result pipe does not let a plugin hang the host past the timeout.
    CHECK(broken.at("closes_result_fd.so") == "hangs while loading: no answer within 2 s");
    CHECK(broken.at("bad_utf8.so") == "invalid descriptor: plugin 'fixture-bad-utf8': vendor is not valid UTF-8");
    CHECK(broken.size() == 14);
}

TEST_CASE("plugins list loads a good plugin of every stage kind, including one written in C") {
    Sandbox sandbox;
    const Result result = sandbox.run("--plugin-path " + fixtures + " plugins list --json");
    REQUIRE(result.exit_code == 0);
    const auto listing = result.json();
    for (const std::string kind : {"data", "train", "deploy", "monitor", "govern"}) {
        const auto plugin = plugin_named(listing, "fixture-" + kind);
        INFO(kind);
        REQUIRE(plugin != nullptr);
        CHECK(plugin.at("kinds") == nlohmann::json::array({kind}));
        CHECK(plugin.at("version") == "1.2.3");
        CHECK(std::filesystem::path(plugin.at("file").get<std::string>()).filename() == "fixture_" + kind + ".so");
    }
    const auto c_plugin = plugin_named(listing, "fixture-c");
    REQUIRE(c_plugin != nullptr);
    CHECK(c_plugin.at("stages") == nlohmann::json::array({"fixture.c_noop"}));
    CHECK(plugin_named(listing, "fixture-data").at("flavors") == nlohmann::json::array({"doubler"}));
    // A destructor that aborts does not matter: the library is never unloaded.
    CHECK(plugin_named(listing, "fixture-destructor-aborts") != nullptr);
}

TEST_CASE("a process a plugin forks while loading does not outlive the scan, nor hold it up") {
    Sandbox sandbox;
    const std::string dir = (sandbox.dir() / "plugins").string();
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(fixtures + "/forks_helper.so", dir + "/forks_helper.so");
    const auto pid_file = sandbox.dir() / "helper.pid";
    const Result result =
        sandbox.run("--plugin-path " + dir + " plugins list --json", "TRELLIS_FIXTURE_PID_FILE=" + pid_file.string());
    REQUIRE(result.exit_code == 0);
    CHECK(plugin_named(result.json(), "fixture-forks") != nullptr); // answered, not "hangs"
    REQUIRE(std::filesystem::exists(pid_file));
    const pid_t helper = std::stoi(trellis::testing::read_file(pid_file));
    // Killed means gone from /proc or a zombie: an orphan's zombie waits for PID 1 to reap it,
    // which some container inits never do, but it runs no code.
    auto dead = [&] {
        const std::string status = trellis::testing::read_file("/proc/" + std::to_string(helper) + "/status");
        return status.empty() || status.find("State:\tZ") != std::string::npos;
    };
    bool gone = false;
    for (int i = 0; i < 50 && !(gone = dead()); ++i) usleep(20'000);
    CHECK(gone);
}

TEST_CASE("plugins list prints a table with name, version, kinds and file, and the broken files") {
    Sandbox sandbox;
    const Result result = sandbox.run("--plugin-path " + fixtures + " plugins list");
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("NAME") && Catch::Contains("VERSION") && Catch::Contains("KINDS"));
    CHECK_THAT(result.out, Catch::Contains("fixture-train") && Catch::Contains(fixtures + "/fixture_train.so"));
    CHECK_THAT(result.out, Catch::Contains(fixtures + "/empty.so: empty file"));
    // Every broken file also gets one warning line on stderr naming the file and the reason.
    CHECK_THAT(result.err, Catch::Contains("plugin " + fixtures + "/segfaults_on_load.so: crashed while loading"));
}

TEST_CASE("a duplicate plugin name: the first on the path wins, with a warning naming both files") {
    Sandbox sandbox;
    const Result result = sandbox.run("--plugin-path " + fixtures + " --plugin-path " + fixtures_b + " plugins list --json");
    REQUIRE(result.exit_code == 0);
    const auto listing = result.json();
    CHECK(plugin_named(listing, "fixture-data").at("file") == fixtures + "/fixture_data.so");
    REQUIRE(listing.at("shadowed").size() == 1);
    CHECK(listing.at("shadowed")[0].at("file") == fixtures_b + "/duplicate_name.so");
    CHECK(listing.at("shadowed")[0].at("shadowed_by") == fixtures + "/fixture_data.so");
    CHECK_THAT(result.err, Catch::Contains(fixtures_b + "/duplicate_name.so: duplicate plugin name 'fixture-data', "
                                           "already provided by " + fixtures + "/fixture_data.so"));

    // Reversed order: the other file wins.
    const Result reversed = sandbox.run("--plugin-path " + fixtures_b + ":" + fixtures + " plugins list --json");
    CHECK(plugin_named(reversed.json(), "fixture-data").at("file") == fixtures_b + "/duplicate_name.so");
}

TEST_CASE("the scan cache: a warm start scans nothing, a changed file is scanned again") {
    Sandbox sandbox;
    const std::string dir = (sandbox.dir() / "plugins").string();
    std::filesystem::create_directories(dir);
    for (const char* name : {"fixture_data.so", "fixture_c.so", "segfaults_on_load.so", "hangs_on_load.so"})
        std::filesystem::copy_file(fixtures + "/" + name, dir + "/" + name);

    // The built-in plugin folder is on the search path too, so count relative to the cold scan.
    const Result cold = sandbox.run("--log-level debug --plugin-path " + dir + " plugins list --json");
    const int cold_scans = scanned_count(cold.err);
    CHECK(cold_scans >= 4);
    const Result warm = sandbox.run("--log-level debug --plugin-path " + dir + " plugins list --json");
    CHECK_THAT(warm.err, !Catch::Contains("scanning"));
    // Crashing and hanging files are remembered, not retried.
    CHECK(broken_by_file(warm.json()).at("hangs_on_load.so") == "hangs while loading: no answer within 2 s");
    CHECK(broken_by_file(warm.json()).at("segfaults_on_load.so") == "crashed while loading (SIGSEGV: Segmentation fault)");
    CHECK(warm.json() == cold.json());

    // Replace the crashing file with a good plugin: only it is scanned again, and now it loads.
    std::filesystem::copy_file(fixtures + "/fixture_train.so", dir + "/segfaults_on_load.so",
                               std::filesystem::copy_options::overwrite_existing);
    const Result changed = sandbox.run("--log-level debug --plugin-path " + dir + " plugins list --json");
    CHECK_THAT(changed.err, Catch::Contains("scanning 1 plugin file(s)"));
    CHECK(plugin_named(changed.json(), "fixture-train") != nullptr);

    // A longer timeout retries the file that hung, and only that one.
    const Result patient = sandbox.run("--log-level debug --plugin-path " + dir + " plugins list --json", "TRELLIS_SCAN_TIMEOUT=3");
    CHECK_THAT(patient.err, Catch::Contains("scanning 1 plugin file(s)"));
    CHECK(broken_by_file(patient.json()).at("hangs_on_load.so") == "hangs while loading: no answer within 3 s");

    const Result forced = sandbox.run("--log-level debug --rescan --plugin-path " + dir + " plugins list --json");
    CHECK(scanned_count(forced.err) == cold_scans);
}

TEST_CASE("plugins info shows stages, ports and config keys with types, defaults and docs") {
    Sandbox sandbox;
    const Result result = sandbox.run("--plugin-path " + fixtures + " plugins info fixture-data");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("fixture-data 1.2.3"));
    CHECK_THAT(result.out, Catch::Contains("stage fixture.data_echo (data)"));
    CHECK_THAT(result.out, Catch::Contains("in (report, optional): report to copy"));
    CHECK_THAT(result.out, Catch::Contains("stats (metrics): numbers seen in the config"));
    CHECK_THAT(result.out, Catch::Contains("name (string, required): who to greet"));
    CHECK_THAT(result.out, Catch::Contains("count (int, default 3): how many times"));
    CHECK_THAT(result.out, Catch::Contains("tags (string_list, default [\"a\",\"b\"]): labels"));
    CHECK_THAT(result.out, Catch::Contains("flavor doubler: predicts 2x"));

    // By stage name, and as JSON.
    const Result by_stage = sandbox.run("--plugin-path " + fixtures + " plugins info fixture.train_echo --json");
    REQUIRE(by_stage.exit_code == 0);
    const auto info = by_stage.json();
    CHECK(info.at("name") == "fixture-train");
    CHECK(info.at("stages")[0].at("config")[2].at("default") == 0.25);
}

TEST_CASE("plugins info on an unknown name exits 2 and suggests near names") {
    Sandbox sandbox;
    const Result result = sandbox.run("--plugin-path " + fixtures + " plugins info fixture-dta");
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("trellis: error: no plugin or stage named 'fixture-dta'; did you mean fixture-data"));
}

TEST_CASE("a missing plugin folder named by the user is warned about") {
    Sandbox sandbox;
    const Result result = sandbox.run("--plugin-path /nonexistent/trellis-plugins plugins list");
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.err, Catch::Contains("plugin folder /nonexistent/trellis-plugins does not exist"));
}
