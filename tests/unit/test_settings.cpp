// core::Settings: defaults, the three file formats, environment, flags, precedence, the plugin
// search path, error texts and config file discovery.
#include "config/settings.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <thread>

using trellis::core::ConfigError;
using trellis::core::find_config_file;
using trellis::core::Settings;
using trellis::test::TempDir;
namespace fs = std::filesystem;
using Paths = std::vector<fs::path>;

namespace {

const fs::path install_dir = "/opt/trellis/lib/trellis/plugins";

// A getenv that only knows `vars`.
auto fake_env(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    };
}

trellis::core::SettingValue described(const Settings& settings, const std::string& key) {
    for (const auto& [name, value] : settings.describe())
        if (name == key) return value;
    FAIL("describe() has no key " << key);
    return {};
}

template <class Action> std::string config_error(Action&& action) {
    try {
        action();
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

// Changes the working directory for one test.
class WorkingDirectory {
public:
    explicit WorkingDirectory(const fs::path& dir) : saved_(fs::current_path()) { fs::current_path(dir); }
    ~WorkingDirectory() { fs::current_path(saved_); }

private:
    fs::path saved_;
};

const char* const known_keys = "plugins.path, plugins.scan_timeout, cache.dir, store.path, log.level, run.jobs, "
                               "run.isolate, lua.memory_limit, lua.instruction_limit, lua.time_limit, keys.dir, "
                               "trust.require_signed_plugins, trust.require_signed_models";

} // namespace

TEST_CASE("settings: built-in defaults") {
    const Settings settings(install_dir);
    CHECK(settings.log_level() == "info");
    CHECK(settings.store_path() == fs::path(".trellis"));
    CHECK(settings.scan_timeout_seconds() == 10.0);
    CHECK(settings.jobs() == std::max(1u, std::thread::hardware_concurrency()));
    std::string cache;
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) cache = std::string(xdg) + "/trellis";
    else if (const char* home = std::getenv("HOME"); home && *home) cache = std::string(home) + "/.cache/trellis";
    else cache = ".trellis/cache";
    CHECK(settings.cache_dir() == fs::path(cache));
    CHECK(settings.plugin_search_path() == Paths{install_dir});
    CHECK(settings.explicit_plugin_dirs().empty());

    CHECK(described(settings, "log.level").source == "default");
    CHECK(described(settings, "run.jobs").source == "default");
    CHECK(described(settings, "plugins.path").value == install_dir.string());
    CHECK(described(settings, "plugins.path").source == "default");
    CHECK(Settings::known_keys() ==
          std::vector<std::string>{"plugins.path", "plugins.scan_timeout", "cache.dir", "store.path", "log.level",
                                   "run.jobs", "run.isolate", "lua.memory_limit", "lua.instruction_limit",
                                   "lua.time_limit", "keys.dir", "trust.require_signed_plugins",
                                   "trust.require_signed_models"});
}

TEST_CASE("settings: an .ini file sets values, names itself as the source and resolves relative paths") {
    TempDir dir;
    const auto file = dir.write("conf/trellis.ini", "[log]\n"
                                                    "level = debug\n"
                                                    "[run]\n"
                                                    "jobs = 3\n"
                                                    "[store]\n"
                                                    "path = ./data/../store\n"
                                                    "[plugins]\n"
                                                    "path = more-plugins:/abs/plugins\n"
                                                    "scan_timeout = 2.5\n"
                                                    "[cache]\n"
                                                    "dir = /var/cache/trellis\n");
    Settings settings(install_dir);
    settings.load_file(file);
    CHECK(settings.log_level() == "debug");
    CHECK(settings.jobs() == 3);
    CHECK(settings.store_path() == dir.path() / "conf/store");
    CHECK(settings.scan_timeout_seconds() == 2.5);
    CHECK(settings.cache_dir() == fs::path("/var/cache/trellis"));
    CHECK(settings.plugin_search_path() == Paths{dir.path() / "conf/more-plugins", "/abs/plugins", install_dir});
    CHECK(settings.explicit_plugin_dirs() == Paths{dir.path() / "conf/more-plugins", "/abs/plugins"});

    CHECK(described(settings, "log.level").source == file.string());
    CHECK(described(settings, "store.path").source == file.string());
    CHECK(described(settings, "store.path").value == (dir.path() / "conf/store").string());
    CHECK(described(settings, "plugins.path").source == "config file + default");
    CHECK(described(settings, "plugins.path").value ==
          (dir.path() / "conf/more-plugins").string() + ":/abs/plugins:" + install_dir.string());
}

TEST_CASE("settings: a .json file, with numbers and a list for plugins.path") {
    TempDir dir;
    const auto file = dir.write("trellis.json", R"({
        "log": {"level": "warn"},
        "run": {"jobs": 2},
        "store": {"path": "json-store"},
        "plugins": {"path": ["p1", "/abs/p2"], "scan_timeout": 30}
    })");
    Settings settings(install_dir);
    settings.load_file(file);
    CHECK(settings.log_level() == "warn");
    CHECK(settings.jobs() == 2);
    CHECK(settings.store_path() == dir.path() / "json-store");
    CHECK(settings.scan_timeout_seconds() == 30.0);
    CHECK(settings.plugin_search_path() == Paths{dir.path() / "p1", "/abs/p2", install_dir});
    CHECK(described(settings, "run.jobs").source == file.string());
}

TEST_CASE("settings: an .xml file under a <trellis> root") {
    TempDir dir;
    const auto file = dir.write("trellis.xml", "<?xml version=\"1.0\"?>\n"
                                               "<trellis>\n"
                                               "  <!-- where runs go -->\n"
                                               "  <store><path>/abs/xml-store</path></store>\n"
                                               "  <log><level>error</level></log>\n"
                                               "  <run><jobs>5</jobs></run>\n"
                                               "  <plugins><path>xml-plugins</path></plugins>\n"
                                               "</trellis>\n");
    Settings settings(install_dir);
    settings.load_file(file);
    CHECK(settings.log_level() == "error");
    CHECK(settings.jobs() == 5);
    CHECK(settings.store_path() == fs::path("/abs/xml-store"));
    CHECK(settings.plugin_search_path() == Paths{dir.path() / "xml-plugins", install_dir});
    CHECK(described(settings, "log.level").source == file.string());
}

TEST_CASE("settings: an .xml file with a comment before the <trellis> root is accepted") {
    TempDir dir;
    const auto file = dir.write("trellis.xml", "<?xml version=\"1.0\"?>\n"
                                               "<!-- project settings -->\n"
                                               "<trellis><log><level>debug</level></log></trellis>\n");
    Settings settings(install_dir);
    CHECK_NOTHROW(settings.load_file(file));
    CHECK(settings.log_level() == "debug");
}

TEST_CASE("settings: an .xml file whose root is not <trellis> is refused") {
    TempDir dir;
    const auto file = dir.write("trellis.xml", "<settings><log><level>debug</level></log></settings>\n");
    Settings settings(install_dir);
    CHECK(config_error([&] { settings.load_file(file); }) == file.string() + ": the root element must be <trellis>");
    CHECK(settings.log_level() == "info");
}

TEST_CASE("settings: an unknown file format and a malformed file name the file") {
    TempDir dir;
    const auto yaml = dir.write("trellis.yaml", "log:\n  level: debug\n");
    Settings settings(install_dir);
    CHECK(config_error([&] { settings.load_file(yaml); }) ==
          yaml.string() + ": unknown config format '.yaml' (use .ini, .json or .xml)");
    const auto json = dir.write("broken.json", "{\"log\": {\"level\": \n");
    CHECK_THAT(config_error([&] { settings.load_file(json); }), Catch::StartsWith(json.string() + ":"));
}

TEST_CASE("settings: environment variables are read through the injected getenv") {
    Settings settings(install_dir);
    settings.load_environment(fake_env({{"TRELLIS_LOG_LEVEL", "trace"},
                                        {"TRELLIS_JOBS", "7"},
                                        {"TRELLIS_STORE", "/env/store"},
                                        {"TRELLIS_SCAN_TIMEOUT", "0.5"},
                                        {"TRELLIS_CACHE_DIR", "env-cache"},
                                        {"TRELLIS_PLUGIN_PATH", "/e1::/e2"},
                                        {"UNRELATED", "x"}}));
    CHECK(settings.log_level() == "trace");
    CHECK(settings.jobs() == 7);
    CHECK(settings.store_path() == fs::path("/env/store"));
    CHECK(settings.scan_timeout_seconds() == 0.5);
    CHECK(settings.cache_dir() == fs::path("env-cache")); // no file to be relative to: kept as given
    CHECK(settings.plugin_search_path() == Paths{"/e1", "/e2", install_dir});
    CHECK(described(settings, "log.level").source == "TRELLIS_LOG_LEVEL");
    CHECK(described(settings, "run.jobs").source == "TRELLIS_JOBS");
    CHECK(described(settings, "store.path").source == "TRELLIS_STORE");
    CHECK(described(settings, "plugins.path").source == "TRELLIS_PLUGIN_PATH + default");
}

TEST_CASE("settings: an empty environment variable is ignored") {
    Settings settings(install_dir);
    settings.load_environment(fake_env({{"TRELLIS_LOG_LEVEL", ""}, {"TRELLIS_JOBS", ""}}));
    CHECK(settings.log_level() == "info");
    CHECK(described(settings, "log.level").source == "default");
}

TEST_CASE("settings: set_from_flag records the flag as the source") {
    Settings settings(install_dir);
    settings.set_from_flag("log.level", "critical", "--log-level");
    settings.set_from_flag("store.path", "flag-store", "--store");
    CHECK(settings.log_level() == "critical");
    CHECK(settings.store_path() == fs::path("flag-store"));
    CHECK(described(settings, "log.level").source == "--log-level");
    CHECK(described(settings, "store.path").source == "--store");
}

TEST_CASE("settings: precedence is defaults < file < environment < flags") {
    TempDir dir;
    const auto file = dir.write("trellis.ini", "[log]\nlevel = debug\n[run]\njobs = 3\n[store]\npath = file-store\n");
    Settings settings(install_dir);
    settings.load_file(file);
    CHECK(settings.log_level() == "debug");
    CHECK(settings.jobs() == 3);
    CHECK(settings.store_path() == dir.path() / "file-store");

    settings.load_environment(fake_env({{"TRELLIS_LOG_LEVEL", "trace"}, {"TRELLIS_JOBS", "7"}}));
    CHECK(settings.log_level() == "trace");
    CHECK(settings.jobs() == 7);
    CHECK(settings.store_path() == dir.path() / "file-store"); // not in the environment: the file's value stays
    CHECK(described(settings, "store.path").source == file.string());

    settings.set_from_flag("log.level", "error", "--log-level");
    settings.set_from_flag("store.path", "/flag/store", "--store");
    CHECK(settings.log_level() == "error");
    CHECK(settings.jobs() == 7);
    CHECK(settings.store_path() == fs::path("/flag/store"));
    CHECK(described(settings, "log.level").source == "--log-level");
    CHECK(described(settings, "run.jobs").source == "TRELLIS_JOBS");
    CHECK(described(settings, "store.path").source == "--store");
}

TEST_CASE("settings: plugin folders are searched flags, environment, file, installation") {
    TempDir dir;
    const auto file = dir.write("trellis.ini", "[plugins]\npath = from-file\n");
    Settings settings(install_dir);
    // Loaded in the order main() uses; the search order does not depend on it.
    settings.load_file(file);
    settings.load_environment(fake_env({{"TRELLIS_PLUGIN_PATH", "/env/a:/env/b"}}));
    settings.add_flag_plugin_dirs({"/flag/a:/flag/b", "/flag/c"});
    CHECK(settings.plugin_search_path() ==
          Paths{"/flag/a", "/flag/b", "/flag/c", "/env/a", "/env/b", dir.path() / "from-file", install_dir});
    CHECK(settings.explicit_plugin_dirs() ==
          Paths{"/flag/a", "/flag/b", "/flag/c", "/env/a", "/env/b", dir.path() / "from-file"});
    CHECK(described(settings, "plugins.path").source == "--plugin-path + TRELLIS_PLUGIN_PATH + config file + default");
}

TEST_CASE("settings: plugins.path from a config file whose relative path starts with TRELLIS_ counts as the file's") {
    TempDir dir;
    dir.write("TRELLIS_conf/trellis.ini", "[plugins]\npath = from-file\n");
    WorkingDirectory cwd(dir.path());
    Settings settings(install_dir);
    settings.load_file("TRELLIS_conf/trellis.ini");
    settings.load_environment(fake_env({{"TRELLIS_PLUGIN_PATH", "/env/a"}}));
    CHECK(settings.explicit_plugin_dirs() == Paths{"/env/a", fs::absolute("TRELLIS_conf") / "from-file"});
    CHECK(described(settings, "plugins.path").source == "TRELLIS_PLUGIN_PATH + config file + default");
}

TEST_CASE("settings: an unknown key names the file and the key") {
    TempDir dir;
    const auto file = dir.write("trellis.ini", "[log]\ncolour = always\n");
    Settings settings(install_dir);
    CHECK(config_error([&] { settings.load_file(file); }) ==
          file.string() + ": unknown key 'log.colour' (known keys: " + known_keys + ")");
    CHECK(config_error([&] { settings.set_from_flag("run.job", "2", "--jobs"); }) ==
          std::string("--jobs: unknown key 'run.job' (known keys: ") + known_keys + ")");
}

TEST_CASE("settings: invalid values name the source and the key") {
    TempDir dir;
    Settings settings(install_dir);
    SECTION("run.jobs 0 from the environment") {
        CHECK(config_error([&] { settings.load_environment(fake_env({{"TRELLIS_JOBS", "0"}})); }) ==
              "TRELLIS_JOBS: key 'run.jobs': '0' is not a whole number from 1 to 1024");
    }
    SECTION("run.jobs x from a file") {
        const auto file = dir.write("trellis.ini", "[run]\njobs = x\n");
        CHECK(config_error([&] { settings.load_file(file); }) ==
              file.string() + ": key 'run.jobs': 'x' is not a whole number from 1 to 1024");
    }
    SECTION("run.jobs -2 and 1.5") {
        CHECK(config_error([&] { settings.set_from_flag("run.jobs", "-2", "--jobs"); }) ==
              "--jobs: key 'run.jobs': '-2' is not a whole number from 1 to 1024");
        CHECK(config_error([&] { settings.set_from_flag("run.jobs", "1.5", "--jobs"); }) ==
              "--jobs: key 'run.jobs': '1.5' is not a whole number from 1 to 1024");
    }
    SECTION("plugins.scan_timeout -1") {
        const auto file = dir.write("trellis.json", R"({"plugins": {"scan_timeout": -1}})");
        CHECK(config_error([&] { settings.load_file(file); }) ==
              file.string() + ": key 'plugins.scan_timeout': '-1' is not a number of seconds from 0.1 to 86400");
        CHECK(config_error([&] { settings.load_environment(fake_env({{"TRELLIS_SCAN_TIMEOUT", "5s"}})); }) ==
              "TRELLIS_SCAN_TIMEOUT: key 'plugins.scan_timeout': '5s' is not a number of seconds from 0.1 to 86400");
    }
    SECTION("log.level loud") {
        CHECK(config_error([&] { settings.set_from_flag("log.level", "loud", "--log-level"); }) ==
              "--log-level: key 'log.level': 'loud' is not a log level "
              "(trace, debug, info, warn, error, critical, off)");
    }
    // A refused value leaves the previous one in place.
    CHECK(settings.log_level() == "info");
    CHECK(settings.jobs() == std::max(1u, std::thread::hardware_concurrency()));
    CHECK(settings.scan_timeout_seconds() == 10.0);
}

TEST_CASE("settings: find_config_file") {
    TempDir dir;
    SECTION("an explicit file that does not exist throws") {
        const auto missing = dir / "missing.ini";
        CHECK(config_error([&] { find_config_file(missing, nullptr, dir.path()); }) ==
              missing.string() + ": config file does not exist");
    }
    SECTION("an explicit file wins over the environment and the folder") {
        const auto chosen = dir.write("custom.json", "{}");
        const auto from_env = dir.write("env.ini", "");
        dir.write("trellis.ini", "");
        CHECK(find_config_file(chosen, from_env.c_str(), dir.path()) == chosen);
    }
    SECTION("TRELLIS_CONFIG wins over the folder") {
        const auto from_env = dir.write("env.ini", "");
        dir.write("trellis.ini", "");
        CHECK(find_config_file(std::nullopt, from_env.c_str(), dir.path()) == from_env);
    }
    SECTION("TRELLIS_CONFIG naming a missing file throws") {
        const auto missing = (dir / "gone.ini").string();
        CHECK(config_error([&] { find_config_file(std::nullopt, missing.c_str(), dir.path()); }) ==
              "TRELLIS_CONFIG: config file '" + missing + "' does not exist");
    }
    SECTION("trellis.ini before trellis.json before trellis.xml") {
        dir.write("trellis.xml", "<trellis/>");
        CHECK(find_config_file(std::nullopt, nullptr, dir.path()) == dir / "trellis.xml");
        dir.write("trellis.json", "{}");
        CHECK(find_config_file(std::nullopt, nullptr, dir.path()) == dir / "trellis.json");
        dir.write("trellis.ini", "");
        CHECK(find_config_file(std::nullopt, "", dir.path()) == dir / "trellis.ini");
    }
    SECTION("no file anywhere") {
        CHECK_FALSE(find_config_file(std::nullopt, nullptr, dir.path()).has_value());
        CHECK_FALSE(find_config_file(std::nullopt, "", dir.path()).has_value());
    }
}

TEST_CASE("settings: scan timeouts too small to load anything, and non-decimal numbers, are refused") {
    trellis::core::Settings settings("/install/plugins");
    for (const char* value : {"1e-9", "0", "0x10", " 5", "nan"}) {
        INFO(value);
        CHECK_THROWS_AS(settings.set_from_flag("plugins.scan_timeout", value, "--flag"), trellis::core::ConfigError);
    }
    for (const char* value : {"4x", " 4", "0x4", "\xc3\xa9"}) {
        INFO(value);
        CHECK_THROWS_AS(settings.set_from_flag("run.jobs", value, "--flag"), trellis::core::ConfigError);
    }
    settings.set_from_flag("plugins.scan_timeout", "0.5", "--flag");
    CHECK(settings.scan_timeout_seconds() == 0.5);
}
