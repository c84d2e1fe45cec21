// The command line's conventions: --version, --help, exit codes, configuration precedence.
#include "run_trellis.hpp"

#include <catch2/catch.hpp>

using trellis::testing::Result;
using trellis::testing::Sandbox;

TEST_CASE("trellis --version prints the version and the plugin API") {
    Sandbox sandbox;
    const Result result = sandbox.run("--version");
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::StartsWith("trellis ") && Catch::Contains("(plugin API 1.3)"));
}

TEST_CASE("trellis --help works on every subcommand") {
    Sandbox sandbox;
    for (const std::string command : {"", "plugins ", "plugins list ", "plugins info ", "config ", "config show "}) {
        const Result result = sandbox.run(command + "--help");
        INFO(command);
        CHECK(result.exit_code == 0);
        CHECK_THAT(result.out, Catch::Contains("Usage") || Catch::Contains("USAGE") || Catch::Contains("Options"));
    }
    CHECK_THAT(sandbox.run("--help").out, Catch::Contains("Exit codes: 0 ok, 1 run failed, 2 usage or bad input"));
}

TEST_CASE("usage errors exit 2") {
    Sandbox sandbox;
    CHECK(sandbox.run("").exit_code == 2);
    CHECK(sandbox.run("no-such-command").exit_code == 2);
    CHECK(sandbox.run("plugins list --no-such-flag").exit_code == 2);
    CHECK(sandbox.run("plugins info").exit_code == 2);
    const Result bad_level = sandbox.run("--log-level loud config show");
    CHECK(bad_level.exit_code == 2);
    CHECK_THAT(bad_level.err, Catch::Contains("--log-level: key 'log.level': 'loud' is not a log level"));
}

TEST_CASE("configuration precedence: defaults < config file < environment < flags") {
    Sandbox sandbox;
    auto show = [&](const std::string& args, const std::string& env = "") {
        const Result result = sandbox.run(args + " config show --json", env);
        INFO(result.err);
        REQUIRE(result.exit_code == 0);
        return result.json();
    };
    CHECK(show("").at("log.level").at("source") == "default");
    CHECK(show("").at("store.path").at("value") == ".trellis");

    sandbox.write("trellis.ini", "[log]\nlevel = warn\n[store]\npath = my-store\n[run]\njobs = 7\n");
    auto from_file = show("");
    CHECK(from_file.at("log.level").at("value") == "warn");
    CHECK(from_file.at("run.jobs").at("value") == "7");
    CHECK(from_file.at("store.path").at("value") == (sandbox.dir() / "my-store").string()); // relative to the file

    auto from_env = show("", "TRELLIS_LOG_LEVEL=error TRELLIS_JOBS=3");
    CHECK(from_env.at("log.level").at("value") == "error");
    CHECK(from_env.at("log.level").at("source") == "TRELLIS_LOG_LEVEL");
    CHECK(from_env.at("run.jobs").at("value") == "3");
    CHECK(from_env.at("store.path").at("source") == (sandbox.dir() / "trellis.ini").string());

    auto from_flag = show("--log-level debug", "TRELLIS_LOG_LEVEL=error");
    CHECK(from_flag.at("log.level").at("value") == "debug");
    CHECK(from_flag.at("log.level").at("source") == "--log-level");
}

TEST_CASE("plugin folders from flags, environment, config file and install are searched in that order") {
    Sandbox sandbox;
    sandbox.write("trellis.json", R"({"plugins": {"path": ["from-file-1", "from-file-2"]}})");
    const Result result = sandbox.run("--plugin-path /from/flag config show --json", "TRELLIS_PLUGIN_PATH=/env/a:/env/b");
    REQUIRE(result.exit_code == 0);
    const std::string path = result.json().at("plugins.path").at("value");
    const std::string expected_start = "/from/flag:/env/a:/env/b:" + (sandbox.dir() / "from-file-1").string() + ":" +
                                       (sandbox.dir() / "from-file-2").string() + ":";
    CHECK_THAT(path, Catch::StartsWith(expected_start));
    CHECK_THAT(path, Catch::EndsWith("lib/trellis/plugins"));
}

TEST_CASE("config files in ini, json and xml are read, and unknown keys and bad values name file and key") {
    Sandbox sandbox;
    sandbox.write("trellis.xml", "<trellis><log><level>trace</level></log></trellis>");
    auto xml = sandbox.run("config show --json");
    REQUIRE(xml.exit_code == 0);
    CHECK(xml.json().at("log.level").at("value") == "trace");

    sandbox.write("bad.ini", "[plugins]\npth = x\n");
    const Result unknown = sandbox.run("--config bad.ini config show");
    CHECK(unknown.exit_code == 2);
    CHECK_THAT(unknown.err, Catch::Contains("bad.ini: unknown key 'plugins.pth'"));

    sandbox.write("jobs.json", R"({"run": {"jobs": "many"}})");
    const Result bad_value = sandbox.run("--config jobs.json config show");
    CHECK(bad_value.exit_code == 2);
    CHECK_THAT(bad_value.err, Catch::Contains("jobs.json: key 'run.jobs': 'many' is not a whole number from 1 to 1024"));

    sandbox.write("broken.json", "{\"log\": ");
    const Result unparsable = sandbox.run("--config broken.json config show");
    CHECK(unparsable.exit_code == 2);
    CHECK_THAT(unparsable.err, Catch::Contains("broken.json"));

    const Result missing = sandbox.run("--config nope.ini config show");
    CHECK(missing.exit_code == 2);
    CHECK_THAT(missing.err, Catch::Contains("nope.ini: config file does not exist"));

    const Result bad_env = sandbox.run("config show", "TRELLIS_SCAN_TIMEOUT=-1");
    CHECK(bad_env.exit_code == 2);
    CHECK_THAT(bad_env.err, Catch::Contains("TRELLIS_SCAN_TIMEOUT: key 'plugins.scan_timeout'"));
}

TEST_CASE("NO_COLOR and a non-terminal give plain log lines without escape codes") {
    Sandbox sandbox;
    const Result result = sandbox.run("--plugin-path " FIXTURE_DIR " plugins list", "NO_COLOR=1");
    CHECK(result.err.find('\x1b') == std::string::npos);
    CHECK_THAT(result.err, Catch::Contains("WARN") || Catch::Contains("warn"));
}

TEST_CASE("the -q, --quiet flag keeps warnings and drops debug and info lines") {
    Sandbox sandbox;
    const std::string missing = " --plugin-path /nonexistent/trellis-plugins";
    const Result loud = sandbox.run("--log-level debug" + missing + " plugins list");
    CHECK_THAT(loud.err, Catch::Contains("debug"));
    const Result quiet = sandbox.run("--log-level debug -q" + missing + " plugins list");
    CHECK(quiet.exit_code == 0);
    CHECK_THAT(quiet.err, !Catch::Contains("debug"));
    CHECK_THAT(quiet.err, Catch::Contains("plugin folder /nonexistent/trellis-plugins does not exist"));
}
