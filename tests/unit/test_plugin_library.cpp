// Loading plugin files in-process: the file checks before dlopen, the dlopen error explanations,
// a good fixture's manifest and entry points, and the exact reason for each broken fixture.
// (The fixtures that crash or hang while loading are only ever loaded by the scanner's child.)
#include "plugin/plugin_library.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

using trellis::core::check_plugin_file;
using trellis::core::explain_dlopen_error;
using trellis::core::PluginLibrary;
using trellis::core::PluginLoadError;
using trellis::test::TempDir;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = FIXTURE_DIR;

template <class Action> std::string load_error(Action&& action) {
    try {
        action();
    } catch (const PluginLoadError& e) {
        return e.what();
    }
    return "(no error)";
}

std::string open_error(const std::string& file) {
    return load_error([&] { PluginLibrary::open(fixtures / file); });
}

} // namespace

TEST_CASE("plugin file check: a missing path") {
    TempDir dir;
    CHECK(load_error([&] { check_plugin_file(dir / "missing.so"); }) == "file does not exist");
}

TEST_CASE("plugin file check: a directory") {
    TempDir dir;
    fs::create_directory(dir / "folder.so");
    CHECK(load_error([&] { check_plugin_file(dir / "folder.so"); }) == "not a regular file");
}

TEST_CASE("plugin file check: an empty file") {
    TempDir dir;
    CHECK(load_error([&] { check_plugin_file(dir.write("empty.so", "")); }) == "empty file");
}

TEST_CASE("plugin file check: a text file") {
    TempDir dir;
    CHECK(load_error([&] { check_plugin_file(dir.write("text.so", "hello, I am not a library\n")); }) ==
          "not a shared library (no ELF header)");
}

TEST_CASE("plugin file check: a file shorter than the ELF magic") {
    TempDir dir;
    CHECK(load_error([&] { check_plugin_file(dir.write("tiny.so", "\x7f" "E")); }) ==
          "not a shared library (file too short)");
}

TEST_CASE("plugin file check: a file starting with the ELF magic passes") {
    TempDir dir;
    CHECK_NOTHROW(check_plugin_file(dir.write("elf.so", std::string("\x7f" "ELF\x02\x01\x01", 7))));
    CHECK_NOTHROW(check_plugin_file(fixtures / "fixture_data.so"));
}

TEST_CASE("dlopen errors: a missing dependency is named") {
    CHECK(explain_dlopen_error("/x/p.so: libfoo.so.1: cannot open shared object file: No such file or directory",
                               "/x/p.so") == "missing dependency library: libfoo.so.1");
    CHECK(explain_dlopen_error("libbar.so: cannot open shared object file: No such file or directory", "/x/p.so") ==
          "missing dependency library: libbar.so");
}

TEST_CASE("dlopen errors: the plugin itself not opening is not a missing dependency") {
    CHECK(explain_dlopen_error("/x/p.so: cannot open shared object file: Permission denied", "/x/p.so") ==
          "cannot be loaded: cannot open shared object file: Permission denied");
}

TEST_CASE("dlopen errors: an undefined symbol") {
    CHECK(explain_dlopen_error("/x/p.so: undefined symbol: _ZN3foo3barEv", "/x/p.so") ==
          "unresolved symbol _ZN3foo3barEv (built against another version of a library?)");
}

TEST_CASE("dlopen errors: an invalid ELF header") {
    CHECK(explain_dlopen_error("/x/p.so: invalid ELF header", "/x/p.so") ==
          "not a shared library (invalid ELF header)");
}

TEST_CASE("dlopen errors: another architecture") {
    CHECK(explain_dlopen_error("/x/p.so: wrong ELF class: ELFCLASS32", "/x/p.so") ==
          "built for another architecture: wrong ELF class: ELFCLASS32");
}

TEST_CASE("dlopen errors: anything else is passed on") {
    CHECK(explain_dlopen_error("/x/p.so: something unusual", "/x/p.so") == "cannot be loaded: something unusual");
}

TEST_CASE("plugin library: fixture_data.so loads with its full manifest") {
    const auto path = fixtures / "fixture_data.so";
    const auto plugin = PluginLibrary::open(path);
    REQUIRE(plugin);
    CHECK(plugin->path() == path);

    const auto& manifest = plugin->manifest();
    CHECK(manifest.api_major == TRELLIS_API_MAJOR);
    CHECK(manifest.api_minor == TRELLIS_API_MINOR);
    CHECK(manifest.name == "fixture-data");
    CHECK(manifest.version == "1.2.3");
    CHECK(manifest.vendor == "trellis tests");
    CHECK(manifest.license == "Apache-2.0");
    CHECK(manifest.description == "good fixture plugin");
    CHECK(manifest.kinds() == std::vector<std::string>{"data"});

    std::vector<std::string> stage_names;
    for (const auto& stage : manifest.stages) stage_names.push_back(stage.name);
    CHECK(stage_names == std::vector<std::string>{"fixture.data_echo", "fixture.throws", "fixture.throws_int",
                                                  "fixture.forgets_output", "fixture.wrong_output_type"});

    const auto* echo = manifest.find_stage("fixture.data_echo");
    REQUIRE(echo != nullptr);
    CHECK(echo->kind == "data");
    CHECK(echo->description == "copies its input report and counts things");
    REQUIRE(echo->inputs.size() == 1);
    CHECK(echo->inputs[0].name == "in");
    CHECK(echo->inputs[0].artifact_type == "report");
    CHECK(echo->inputs[0].optional);
    CHECK(echo->inputs[0].doc == "report to copy");
    REQUIRE(echo->outputs.size() == 2);
    CHECK(echo->outputs[0].name == "out");
    CHECK(echo->outputs[0].artifact_type == "report");
    CHECK(echo->outputs[1].name == "stats");
    CHECK(echo->outputs[1].artifact_type == "metrics");
    CHECK(echo->outputs[1].doc == "numbers seen in the config");

    REQUIRE(echo->config.size() == 6);
    CHECK(echo->config[0].key == "name");
    CHECK(echo->config[0].type == "string");
    CHECK(echo->config[0].required);
    CHECK_FALSE(echo->config[0].default_value.has_value());
    CHECK(echo->config[1].key == "count");
    CHECK(echo->config[1].type == "int");
    CHECK(echo->config[1].default_value == nlohmann::json(3));
    CHECK(echo->config[2].key == "ratio");
    CHECK(echo->config[2].default_value == nlohmann::json(0.25));
    CHECK(echo->config[3].key == "loud");
    CHECK(echo->config[3].default_value == nlohmann::json(false));
    CHECK(echo->config[4].key == "tags");
    CHECK(echo->config[4].type == "string_list");
    CHECK(echo->config[4].default_value == nlohmann::json({"a", "b"}));
    CHECK(echo->config[5].key == "extra");
    CHECK(echo->config[5].type == "json");
    CHECK(echo->config[5].default_value == nlohmann::json({{"k", 1}}));

    REQUIRE(manifest.flavors.size() == 1);
    CHECK(manifest.flavors[0].name == "doubler");
    CHECK(manifest.flavors[0].description == "predicts 2x");
}

TEST_CASE("plugin library: find_stage and find_flavor return the C entries") {
    const auto plugin = PluginLibrary::open(fixtures / "fixture_data.so");
    const auto* stage = plugin->find_stage("fixture.throws");
    REQUIRE(stage != nullptr);
    CHECK(std::string(stage->name) == "fixture.throws");
    CHECK(stage->kind == TRELLIS_STAGE_DATA);
    CHECK(stage->run != nullptr);
    CHECK(plugin->find_stage("fixture.nope") == nullptr);

    const auto* flavor = plugin->find_flavor("doubler");
    REQUIRE(flavor != nullptr);
    CHECK(std::string(flavor->name) == "doubler");
    CHECK(flavor->load != nullptr);
    CHECK(flavor->predict != nullptr);
    CHECK(flavor->destroy != nullptr);
    CHECK(plugin->find_flavor("linear") == nullptr);
    CHECK(plugin->descriptor().stage_count == 5);
}

TEST_CASE("plugin library: a plugin written in C loads") {
    const auto plugin = PluginLibrary::open(fixtures / "fixture_c.so");
    CHECK(plugin->manifest().name == "fixture-c");
    CHECK(plugin->manifest().version == "0.1.0");
    REQUIRE(plugin->manifest().stages.size() == 1);
    CHECK(plugin->manifest().stages[0].name == "fixture.c_noop");
    CHECK(plugin->manifest().stages[0].config.at(0).default_value == nlohmann::json("none"));
    CHECK(plugin->manifest().flavors.empty());
}

TEST_CASE("plugin library: broken fixtures are refused with their exact reason") {
    CHECK(open_error("wrong_major.so") ==
          "API version mismatch: plugin built for API 2.0, host supports API 1.3 (major must be 1)");
    CHECK(open_error("newer_minor.so") ==
          "API version mismatch: plugin built for API 1.4, host supports API 1.3 (plugin needs a newer trellis)");
    CHECK(open_error("no_descriptor.so") == "not a trellis plugin: no trellis_plugin_api_version symbol");
    CHECK(open_error("throws_in_init.so") == "initialisation failed: license server unreachable");
    CHECK(open_error("invalid_descriptor.so") == "invalid descriptor: stage 'fixture.bad_kind': unknown stage kind 9");
    CHECK(open_error("empty.so") == "empty file");
    CHECK(open_error("text_file.so") == "not a shared library (no ELF header)");
    CHECK(open_error("missing_dependency.so") == "missing dependency library: libtrellis_fixture_dep.so");
    CHECK(open_error("does_not_exist.so") == "file does not exist");
}

TEST_CASE("plugin library: a truncated plugin file is reported as such, before dlopen sees it") {
    TempDir dir;
    for (const uintmax_t size : {100u, 3000u, 9000u}) {
        const auto copy = dir / ("cut_" + std::to_string(size) + ".so");
        fs::copy_file(fs::path(FIXTURE_DIR) / "fixture_c.so", copy);
        fs::resize_file(copy, size);
        INFO(size);
        CHECK(load_error([&] { PluginLibrary::open(copy); }) ==
              "truncated or corrupt shared library (the file ends before its section tables)");
    }
}
