// The built-in deploy.export plugin, loaded from the build's plugin folder and run through the host API.
#include "stage_run.hpp"
#include "temp_dir.hpp"

#include <trellis/artifacts.hpp>

#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <thread>

using trellis::test::StageRun;
using trellis::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Opened once: loading a plugin per test would only slow the tests down.
std::shared_ptr<trellis::core::PluginLibrary> export_plugin() {
    static const auto plugin =
        trellis::core::PluginLibrary::open(std::filesystem::path(BUILTIN_PLUGIN_DIR) / "deploy_export.so");
    return plugin;
}

// A model with a non-trivial signature and bytes, including a zero byte.
trellis::Model sample_model() {
    return trellis::Model{"linear",
                          {{"age", trellis::ColumnType::Int64}, {"income", trellis::ColumnType::Float64}},
                          {1, 2, 3, 4, 5, 0, 255}};
}

// A ready-to-invoke export of `model`; metrics are connected only when given.
std::unique_ptr<StageRun> make_export(const nlohmann::json& config, const trellis::Model& model,
                                      const trellis::Metrics* metrics = nullptr) {
    auto run = std::make_unique<StageRun>(export_plugin(), "deploy.export", config);
    run->set_input("model", trellis::ArtifactType::Model, trellis::serialize(model));
    if (metrics) run->set_input("metrics", trellis::ArtifactType::Metrics, trellis::serialize(*metrics));
    return run;
}

// Whole-file reads, to compare what the stage wrote byte for byte.
std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Whole-file reads as bytes, for the deserialisers.
std::vector<uint8_t> read_bytes(const fs::path& path) {
    const std::string text = read_text(path);
    return std::vector<uint8_t>(text.begin(), text.end());
}

// Names of the entries in `dir`, sorted, so tests can compare whole listings.
std::set<std::string> listing(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
    return names;
}

} // namespace

TEST_CASE("deploy.export writes versions 1, 2, 3 with model.trls and model.json") {
    TempDir dir;
    const fs::path registry = dir / "registry"; // does not exist yet: the stage creates it
    const trellis::Model model = sample_model();
    for (int version = 1; version <= 3; ++version) {
        auto run = make_export({{"registry", registry.string()}, {"name", "churn"}, {"description", "v\"1\"\n"}}, model);
        const auto outcome = run->invoke();
        REQUIRE(outcome.message == "");
        const auto exported = trellis::deserialize_directory(run->output("exported"));
        CHECK(fs::path(exported.path) == registry / "churn" / std::to_string(version));
        CHECK(listing(exported.path) == std::set<std::string>{"model.json", "model.trls"});

        const auto bytes = read_bytes(fs::path(exported.path) / "model.trls");
        CHECK(bytes == trellis::serialize(model));
        CHECK(trellis::deserialize_model(bytes) == model);

        const auto json = nlohmann::json::parse(read_text(fs::path(exported.path) / "model.json"));
        CHECK(json["name"] == "churn");
        CHECK(json["version"] == version);
        CHECK(json["flavor"] == "linear");
        CHECK(json["signature"] == nlohmann::json::parse(
                                       R"([{"name": "age", "type": "int"}, {"name": "income", "type": "float"}])"));
        CHECK_FALSE(json.contains("metrics"));
        CHECK(json["description"] == "v\"1\"\n");
        CHECK(json["model_file"] == "model.trls");
        CHECK(json["model_bytes"] == bytes.size());
        const std::string created = json["created_at"];
        CHECK(created.size() == 20);
        CHECK(created[10] == 'T');
        CHECK(created.back() == 'Z');
    }
    CHECK(listing(registry / "churn") == std::set<std::string>{"1", "2", "3"});
}

TEST_CASE("deploy.export continues after the highest version, ignoring other entries") {
    TempDir dir;
    fs::create_directories(dir / "reg" / "m" / "7");
    fs::create_directories(dir / "reg" / "m" / "notes");
    fs::create_directories(dir / "reg" / "m" / "012");
    dir.write("reg/m/99", "a file, not a version folder");
    auto run = make_export({{"registry", (dir / "reg").string()}, {"name", "m"}}, sample_model());
    REQUIRE(run->invoke().message == "");
    CHECK(trellis::deserialize_directory(run->output("exported")).path == (dir / "reg" / "m" / "8").string());
}

TEST_CASE("deploy.export records connected metrics in model.json") {
    TempDir dir;
    const trellis::Metrics metrics{{{"auc", 0.97}, {"log_loss", 0.125}, {"weird", std::nan("")}}};
    auto run = make_export({{"registry", dir.path().string()}, {"name", "m.v-1_x"}}, sample_model(), &metrics);
    REQUIRE(run->invoke().message == "");
    const auto json = nlohmann::json::parse(read_text(dir / "m.v-1_x/1/model.json"));
    CHECK(json["metrics"]["auc"].get<double>() == 0.97);
    CHECK(json["metrics"]["log_loss"].get<double>() == 0.125);
    CHECK(json["metrics"]["weird"].is_null());
    CHECK(json["description"] == "");
}

TEST_CASE("deploy.export: 8 exporters at once get versions 1..8 and leave no temporary folder") {
    TempDir dir;
    const nlohmann::json config = {{"registry", dir.path().string()}, {"name", "race"}};
    std::vector<std::unique_ptr<StageRun>> runs;
    std::vector<trellis::Model> models;
    for (int i = 0; i < 8; ++i) {
        trellis::Model model = sample_model();
        model.bytes.push_back(static_cast<uint8_t>(i)); // tell the models apart
        models.push_back(model);
        runs.push_back(make_export(config, model));
    }
    std::vector<trellis::core::StageOutcome> outcomes(8);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) threads.emplace_back([&, i] { outcomes[i] = runs[i]->invoke(); });
    for (auto& thread : threads) thread.join();

    std::set<std::string> paths;
    for (int i = 0; i < 8; ++i) {
        INFO("exporter " << i);
        REQUIRE(outcomes[i].message == "");
        const auto path = trellis::deserialize_directory(runs[i]->output("exported")).path;
        paths.insert(path);
        // Each version holds the model its exporter wrote, with the matching version in its JSON.
        CHECK(trellis::deserialize_model(read_bytes(fs::path(path) / "model.trls")) == models[i]);
        const auto json = nlohmann::json::parse(read_text(fs::path(path) / "model.json"));
        CHECK(std::to_string(json["version"].get<int>()) == fs::path(path).filename().string());
    }
    CHECK(paths.size() == 8);
    CHECK(listing(dir / "race") == std::set<std::string>{"1", "2", "3", "4", "5", "6", "7", "8"});
}

TEST_CASE("deploy.export refuses bad model names, naming them") {
    TempDir dir;
    for (const std::string name : {"", ".hidden", "-x", "a/b", "a..b", "..", "a b", "é", "x\\y"}) {
        INFO(name);
        auto run = make_export({{"registry", dir.path().string()}, {"name", name}}, sample_model());
        const auto outcome = run->invoke();
        CHECK(outcome.status == TRELLIS_ERR_INVALID);
        CHECK(outcome.message.find("name: '" + name + "' is not a valid model name") == 0);
    }
    CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("deploy.export: a registry path that is a file is a clear error") {
    TempDir dir;
    const auto file = dir.write("registry", "not a folder");
    auto run = make_export({{"registry", file.string()}, {"name", "m"}}, sample_model());
    const auto outcome = run->invoke();
    CHECK(outcome.status == TRELLIS_ERR_INVALID);
    CHECK(outcome.message == "registry: '" + file.string() + "' exists but is not a directory");

    // A path below a file is refused the same way, naming the file in the way.
    auto below = make_export({{"registry", (file / "sub").string()}, {"name", "m"}}, sample_model());
    const auto below_outcome = below->invoke();
    CHECK(below_outcome.status == TRELLIS_ERR_INVALID);
    CHECK(below_outcome.message == "registry: '" + file.string() + "' exists but is not a directory");
}

TEST_CASE("deploy.export: an entry in the way of the next version makes it try the one after") {
    TempDir dir;
    dir.write("reg/m/1", "a stray file where version 1 would go");
    auto run = make_export({{"registry", (dir / "reg").string()}, {"name", "m"}}, sample_model());
    REQUIRE(run->invoke().message == "");
    CHECK(trellis::deserialize_directory(run->output("exported")).path == (dir / "reg" / "m" / "2").string());
    CHECK(nlohmann::json::parse(read_text(dir / "reg/m/2/model.json"))["version"] == 2);
    CHECK(read_text(dir / "reg/m/1") == "a stray file where version 1 would go");
    CHECK(listing(dir / "reg" / "m") == std::set<std::string>{"1", "2"});
}
