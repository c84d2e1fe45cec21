// read_descriptor on C descriptors built here: one valid descriptor that round-trips every field,
// then one test per way a descriptor can be malformed, each checking the exact reason.
#include "plugin/descriptor_reader.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using trellis::core::DescriptorError;
using trellis::core::read_descriptor;

namespace {

int32_t run_noop(const trellis_host_api*, trellis_context*, trellis_error*) { return TRELLIS_OK; }
int32_t load_noop(const trellis_host_api*, trellis_context*, const uint8_t*, size_t, trellis_predictor**, trellis_error*) {
    return TRELLIS_OK;
}
int32_t predict_noop(const trellis_host_api*, trellis_context*, trellis_predictor*, const uint8_t*, size_t, trellis_buffer*,
                     trellis_error*) {
    return TRELLIS_OK;
}
void destroy_noop(trellis_predictor*) {}

int marker = 0; // something non-NULL to put in reserved slots

// A valid descriptor whose parts a test can break before calling get().
struct Fixture {
    std::vector<trellis_port> inputs = {
        {"train", TRELLIS_ARTIFACT_TABLE, 0, "training rows", {}},
        {"init", TRELLIS_ARTIFACT_MODEL, TRELLIS_PORT_OPTIONAL, nullptr, {}},
    };
    std::vector<trellis_port> outputs = {
        {"model", TRELLIS_ARTIFACT_MODEL, 0, "the fitted model", {}},
        {"score", TRELLIS_ARTIFACT_METRICS, 0, nullptr, {}},
    };
    std::vector<trellis_config_key> config = {
        {"epochs", TRELLIS_VALUE_INT, 0, "10", "passes over the data", {}},
        {"rate", TRELLIS_VALUE_FLOAT, 0, "0.5", nullptr, {}},
        {"target", TRELLIS_VALUE_STRING, 1, nullptr, "column to predict", {}},
        {"tags", TRELLIS_VALUE_STRING_LIST, 0, "[\"x\",\"y\"]", "", {}},
        {"verbose", TRELLIS_VALUE_BOOL, 0, "false", "say more", {}},
        {"extra", TRELLIS_VALUE_JSON, 0, "{\"a\":[1,2]}", "free-form", {}},
    };
    std::vector<trellis_stage_descriptor> stages;
    std::vector<trellis_flavor_descriptor> flavors;
    trellis_plugin_descriptor plugin{};

    Fixture() {
        trellis_stage_descriptor fit{};
        fit.kind = TRELLIS_STAGE_TRAIN;
        fit.name = "acme.fit";
        fit.description = "fits a model";
        fit.run = &run_noop;
        stages.push_back(fit);

        trellis_stage_descriptor gate{};
        gate.kind = TRELLIS_STAGE_GOVERN;
        gate.name = "acme.gate";
        gate.description = nullptr;
        gate.run = &run_noop;
        stages.push_back(gate);

        trellis_flavor_descriptor linear{};
        linear.name = "acme_linear";
        linear.description = "a linear model";
        linear.load = &load_noop;
        linear.predict = &predict_noop;
        linear.destroy = &destroy_noop;
        flavors.push_back(linear);

        plugin.struct_size = sizeof(trellis_plugin_descriptor);
        plugin.name = "acme-tools.v2";
        plugin.version = "1.2.3";
        plugin.vendor = "Acme";
        plugin.license = "MIT";
        plugin.description = "tools from Acme";
    }

    // Points the first stage at the port and config arrays and the plugin at its stages and
    // flavors; counts follow the vectors. Tests may change the result afterwards.
    const trellis_plugin_descriptor* get() {
        stages[0].inputs = inputs.data();
        stages[0].input_count = static_cast<uint32_t>(inputs.size());
        stages[0].outputs = outputs.data();
        stages[0].output_count = static_cast<uint32_t>(outputs.size());
        stages[0].config = config.data();
        stages[0].config_count = static_cast<uint32_t>(config.size());
        plugin.stages = stages.empty() ? nullptr : stages.data();
        plugin.stage_count = static_cast<uint32_t>(stages.size());
        plugin.flavors = flavors.empty() ? nullptr : flavors.data();
        plugin.flavor_count = static_cast<uint32_t>(flavors.size());
        return &plugin;
    }
};

std::string error_of(const trellis_plugin_descriptor* descriptor) {
    try {
        read_descriptor(descriptor, {1, 0});
    } catch (const DescriptorError& e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST_CASE("descriptor: a valid descriptor round-trips every field") {
    Fixture fixture;
    const auto manifest = read_descriptor(fixture.get(), {1, 7});

    CHECK(manifest.api_major == 1);
    CHECK(manifest.api_minor == 7);
    CHECK(manifest.name == "acme-tools.v2");
    CHECK(manifest.version == "1.2.3");
    CHECK(manifest.vendor == "Acme");
    CHECK(manifest.license == "MIT");
    CHECK(manifest.description == "tools from Acme");
    CHECK(manifest.kinds() == std::vector<std::string>{"train", "govern"});

    REQUIRE(manifest.stages.size() == 2);
    const auto& fit = manifest.stages[0];
    CHECK(fit.kind == "train");
    CHECK(fit.name == "acme.fit");
    CHECK(fit.description == "fits a model");

    REQUIRE(fit.inputs.size() == 2);
    CHECK(fit.inputs[0].name == "train");
    CHECK(fit.inputs[0].artifact_type == "table");
    CHECK_FALSE(fit.inputs[0].optional);
    CHECK(fit.inputs[0].doc == "training rows");
    CHECK(fit.inputs[1].name == "init");
    CHECK(fit.inputs[1].artifact_type == "model");
    CHECK(fit.inputs[1].optional);
    CHECK(fit.inputs[1].doc == "");

    REQUIRE(fit.outputs.size() == 2);
    CHECK(fit.outputs[0].name == "model");
    CHECK(fit.outputs[0].artifact_type == "model");
    CHECK_FALSE(fit.outputs[0].optional);
    CHECK(fit.outputs[0].doc == "the fitted model");
    CHECK(fit.outputs[1].name == "score");
    CHECK(fit.outputs[1].artifact_type == "metrics");

    REQUIRE(fit.config.size() == 6);
    CHECK(fit.config[0].key == "epochs");
    CHECK(fit.config[0].type == "int");
    CHECK_FALSE(fit.config[0].required);
    REQUIRE(fit.config[0].default_value.has_value());
    CHECK(*fit.config[0].default_value == nlohmann::json(10));
    CHECK(fit.config[0].doc == "passes over the data");
    CHECK(fit.config[1].key == "rate");
    CHECK(fit.config[1].type == "float");
    CHECK(*fit.config[1].default_value == nlohmann::json(0.5));
    CHECK(fit.config[1].doc == "");
    CHECK(fit.config[2].key == "target");
    CHECK(fit.config[2].type == "string");
    CHECK(fit.config[2].required);
    CHECK_FALSE(fit.config[2].default_value.has_value());
    CHECK(fit.config[2].doc == "column to predict");
    CHECK(fit.config[3].type == "string_list");
    CHECK(*fit.config[3].default_value == nlohmann::json({"x", "y"}));
    CHECK(fit.config[4].type == "bool");
    CHECK(*fit.config[4].default_value == nlohmann::json(false));
    CHECK(fit.config[5].type == "json");
    CHECK(*fit.config[5].default_value == nlohmann::json::parse(R"({"a":[1,2]})"));

    const auto& gate = manifest.stages[1];
    CHECK(gate.kind == "govern");
    CHECK(gate.name == "acme.gate");
    CHECK(gate.description == "");
    CHECK(gate.inputs.empty());
    CHECK(gate.outputs.empty());
    CHECK(gate.config.empty());
    CHECK(manifest.find_stage("acme.gate") == &gate);
    CHECK(manifest.find_stage("acme.nope") == nullptr);

    REQUIRE(manifest.flavors.size() == 1);
    CHECK(manifest.flavors[0].name == "acme_linear");
    CHECK(manifest.flavors[0].description == "a linear model");
}

TEST_CASE("descriptor: a plugin with only flavors, NULL optional texts and an integer float default is valid") {
    Fixture fixture;
    fixture.stages.clear();
    fixture.plugin.vendor = nullptr;
    fixture.plugin.license = nullptr;
    fixture.plugin.description = nullptr;
    const auto manifest = read_descriptor(fixture.get(), {1, 0});
    CHECK(manifest.stages.empty());
    CHECK(manifest.kinds().empty());
    CHECK(manifest.vendor == "");
    CHECK(manifest.license == "");
    CHECK(manifest.description == "");
    REQUIRE(manifest.flavors.size() == 1);

    Fixture integer_float;
    integer_float.config[1].default_json = "3";
    const auto with_int = read_descriptor(integer_float.get(), {1, 0});
    CHECK(*with_int.stages[0].config[1].default_value == nlohmann::json(3));
}

TEST_CASE("descriptor: NULL descriptor") {
    CHECK(error_of(nullptr) == "invalid descriptor: trellis_plugin_get_descriptor returned NULL");
}

TEST_CASE("descriptor: struct_size smaller than the host's struct") {
    Fixture fixture;
    fixture.plugin.struct_size = 16;
    CHECK(error_of(fixture.get()) == "invalid descriptor: struct_size 16 is smaller than " +
                                         std::to_string(sizeof(trellis_plugin_descriptor)));
}

TEST_CASE("descriptor: NULL plugin name") {
    Fixture fixture;
    fixture.plugin.name = nullptr;
    CHECK(error_of(fixture.get()) == "invalid descriptor: plugin name is NULL");
}

TEST_CASE("descriptor: empty plugin name") {
    Fixture fixture;
    fixture.plugin.name = "";
    CHECK(error_of(fixture.get()) == "invalid descriptor: plugin name is empty");
}

TEST_CASE("descriptor: plugin name with characters outside the pattern") {
    Fixture fixture;
    fixture.plugin.name = "Acme Tools";
    CHECK(error_of(fixture.get()) == "invalid descriptor: plugin name 'Acme Tools' must match [a-z0-9][a-z0-9_.-]*");
    fixture.plugin.name = "-acme";
    CHECK(error_of(fixture.get()) == "invalid descriptor: plugin name '-acme' must match [a-z0-9][a-z0-9_.-]*");
}

TEST_CASE("descriptor: empty and NULL version") {
    Fixture fixture;
    fixture.plugin.version = "";
    CHECK(error_of(fixture.get()) == "invalid descriptor: plugin 'acme-tools.v2': version is empty");
    fixture.plugin.version = nullptr;
    CHECK(error_of(fixture.get()) == "invalid descriptor: plugin 'acme-tools.v2': version is NULL");
}

TEST_CASE("descriptor: a description longer than 4096 bytes") {
    Fixture fixture;
    const std::string long_text(5000, 'x');
    fixture.plugin.description = long_text.c_str();
    CHECK(error_of(fixture.get()) == "invalid descriptor: plugin 'acme-tools.v2': description is longer than 4096");
}

TEST_CASE("descriptor: no stages and no flavors") {
    Fixture fixture;
    fixture.stages.clear();
    fixture.flavors.clear();
    CHECK(error_of(fixture.get()) == "invalid descriptor: plugin 'acme-tools.v2': provides no stage and no flavor");
}

TEST_CASE("descriptor: non-NULL reserved slot of the plugin") {
    Fixture fixture;
    fixture.plugin.reserved[15] = &marker;
    CHECK(error_of(fixture.get()) == "invalid descriptor: plugin 'acme-tools.v2': reserved field 15 is not NULL");
}

TEST_CASE("descriptor: stage kind 0 and 6 do not exist") {
    Fixture fixture;
    fixture.stages[0].kind = 0;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': unknown stage kind 0");
    fixture.stages[0].kind = 6;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': unknown stage kind 6");
}

TEST_CASE("descriptor: bad stage names") {
    Fixture fixture;
    fixture.stages[1].name = "Acme.Gate";
    CHECK(error_of(fixture.get()) ==
          "invalid descriptor: stage 'Acme.Gate': a stage name must be lower-case [a-z0-9_] parts joined by dots, like 'acme.train'");
    fixture.stages[1].name = "acme..gate";
    CHECK_THAT(error_of(fixture.get()), Catch::Contains("stage 'acme..gate': a stage name must be lower-case"));
    fixture.stages[1].name = "acme.";
    CHECK_THAT(error_of(fixture.get()), Catch::Contains("stage 'acme.': a stage name must be lower-case"));
    fixture.stages[1].name = "";
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage #2: name is empty");
    fixture.stages[1].name = nullptr;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage #2: name is NULL");
}

TEST_CASE("descriptor: duplicate stage name") {
    Fixture fixture;
    fixture.stages[1].name = "acme.fit";
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': declared twice");
}

TEST_CASE("descriptor: NULL run entry point") {
    Fixture fixture;
    fixture.stages[1].run = nullptr;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.gate': run entry point is NULL");
}

TEST_CASE("descriptor: non-NULL reserved slot of a stage") {
    Fixture fixture;
    fixture.stages[0].reserved[3] = &marker;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': reserved field 3 is not NULL");
}

static int32_t fingerprint_noop(const trellis_host_api*, trellis_context*, trellis_buffer*, int32_t*, trellis_error*) {
    return TRELLIS_OK;
}

TEST_CASE("descriptor: a fingerprint entry point is read from a 1.3 plugin and refused from an older one") {
    Fixture fixture;
    fixture.stages[0].fingerprint = &fingerprint_noop;
    const auto manifest = read_descriptor(fixture.get(), {1, 3});
    CHECK(manifest.stages[0].has_fingerprint);
    CHECK_FALSE(manifest.stages[1].has_fingerprint);
    // The manifest's JSON form (the scan cache) keeps it.
    CHECK(nlohmann::json(manifest).get<trellis::core::PluginManifest>().stages[0].has_fingerprint);
    // A 1.2 plugin had this slot as reserved[0]: anything there is garbage, not an entry point.
    try {
        read_descriptor(fixture.get(), {1, 2});
        FAIL("a 1.2 plugin's non-NULL fingerprint slot was accepted");
    } catch (const DescriptorError& e) {
        CHECK(std::string(e.what()) ==
              "invalid descriptor: stage 'acme.fit': reserved field 0 is not NULL (a fingerprint entry point needs API 1.3)");
    }
}

TEST_CASE("descriptor: port with an unknown artifact type") {
    Fixture fixture;
    fixture.inputs[0].artifact_type = 7;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': input 'train': unknown artifact type 7");
    fixture.inputs[0].artifact_type = 0;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': input 'train': unknown artifact type 0");
}

TEST_CASE("descriptor: port names must be identifiers") {
    Fixture fixture;
    fixture.outputs[1].name = "Score";
    CHECK(error_of(fixture.get()) ==
          "invalid descriptor: stage 'acme.fit': output #2: name 'Score' must match [a-z_][a-z0-9_]*");
    fixture.outputs[1].name = nullptr;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': output #2: name is NULL");
}

TEST_CASE("descriptor: duplicate port") {
    Fixture fixture;
    fixture.inputs[1].name = "train";
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': input 'train': declared twice");
    Fixture outputs;
    outputs.outputs[1].name = "model";
    CHECK(error_of(outputs.get()) == "invalid descriptor: stage 'acme.fit': output 'model': declared twice");
}

TEST_CASE("descriptor: an output cannot be optional") {
    Fixture fixture;
    fixture.outputs[0].flags = TRELLIS_PORT_OPTIONAL;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': output 'model': an output cannot be optional");
}

TEST_CASE("descriptor: unknown port flags") {
    Fixture fixture;
    fixture.inputs[0].flags = 4;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': input 'train': unknown flags 4");
    fixture.inputs[0].flags = TRELLIS_PORT_OPTIONAL | 2u;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': input 'train': unknown flags 3");
}

TEST_CASE("descriptor: config key with an unknown value type") {
    Fixture fixture;
    fixture.config[0].type = 7;
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': config key 'epochs': unknown value type 7");
}

TEST_CASE("descriptor: config key names must be identifiers") {
    Fixture fixture;
    fixture.config[1].key = "learning-rate";
    CHECK(error_of(fixture.get()) ==
          "invalid descriptor: stage 'acme.fit': config key #2: key 'learning-rate' must match [a-z_][a-z0-9_]*");
}

TEST_CASE("descriptor: duplicate config key") {
    Fixture fixture;
    fixture.config[4].key = "epochs";
    CHECK(error_of(fixture.get()) == "invalid descriptor: stage 'acme.fit': config key 'epochs': declared twice");
}

TEST_CASE("descriptor: default that is not JSON") {
    Fixture fixture;
    fixture.config[0].default_json = "ten";
    CHECK(error_of(fixture.get()) ==
          "invalid descriptor: stage 'acme.fit': config key 'epochs': default 'ten' is not valid JSON");
}

TEST_CASE("descriptor: default of the wrong type, for each type") {
    struct Case {
        size_t index;
        const char* default_json;
        const char* expected;
    };
    const Case cases[] = {
        {4, "1", "config key 'verbose': default 1 is not of type bool"},
        {0, "2.5", "config key 'epochs': default 2.5 is not of type int"},
        {0, "\"10\"", "config key 'epochs': default \"10\" is not of type int"},
        {1, "\"fast\"", "config key 'rate': default \"fast\" is not of type float"},
        {1, "true", "config key 'rate': default true is not of type float"},
        {3, "\"x\"", "config key 'tags': default \"x\" is not of type string_list"},
        {3, "[\"a\",1]", "config key 'tags': default [\"a\",1] is not of type string_list"},
    };
    for (const auto& c : cases) {
        DYNAMIC_SECTION(c.expected) {
            Fixture fixture;
            fixture.config[c.index].default_json = c.default_json;
            CHECK(error_of(fixture.get()) == std::string("invalid descriptor: stage 'acme.fit': ") + c.expected);
        }
    }
    SECTION("string") {
        Fixture fixture;
        trellis_config_key name{"label", TRELLIS_VALUE_STRING, 0, "3", nullptr, {}};
        fixture.config.push_back(name);
        CHECK(error_of(fixture.get()) ==
              "invalid descriptor: stage 'acme.fit': config key 'label': default 3 is not of type string");
    }
}

TEST_CASE("descriptor: an int default outside the signed 64-bit range is refused") {
    // TRELLIS_VALUE_INT is a signed 64-bit integer; 2^63 does not fit and would reach the plugin
    // through config_get_int as -2^63.
    Fixture fixture;
    fixture.config[0].default_json = "9223372036854775808";
    CHECK(error_of(fixture.get()) ==
          "invalid descriptor: stage 'acme.fit': config key 'epochs': default 9223372036854775808 is not of type int");
}

TEST_CASE("descriptor: a required key cannot have a default") {
    Fixture fixture;
    fixture.config[2].default_json = "\"y\"";
    CHECK(error_of(fixture.get()) ==
          "invalid descriptor: stage 'acme.fit': config key 'target': a required key cannot have a default");
}

TEST_CASE("descriptor: a count above zero with a NULL array") {
    Fixture fixture;
    fixture.get();
    fixture.stages[0].inputs = nullptr;
    CHECK(error_of(&fixture.plugin) == "invalid descriptor: stage 'acme.fit': input is NULL but its count is 2");

    Fixture config;
    config.get();
    config.stages[0].config = nullptr;
    CHECK(error_of(&config.plugin) == "invalid descriptor: stage 'acme.fit': config is NULL but its count is 6");

    Fixture stages;
    stages.get();
    stages.plugin.stages = nullptr;
    CHECK(error_of(&stages.plugin) == "invalid descriptor: plugin 'acme-tools.v2': stages is NULL but its count is 2");

    Fixture flavors;
    flavors.get();
    flavors.plugin.flavors = nullptr;
    CHECK(error_of(&flavors.plugin) == "invalid descriptor: plugin 'acme-tools.v2': flavors is NULL but its count is 1");
}

TEST_CASE("descriptor: a huge count is refused before anything is read") {
    Fixture fixture;
    fixture.get();
    fixture.plugin.stage_count = 0xFFFFFFFFu;
    CHECK(error_of(&fixture.plugin) ==
          "invalid descriptor: plugin 'acme-tools.v2': stages count 4294967295 is too large");

    Fixture outputs;
    outputs.get();
    outputs.stages[0].output_count = 100000;
    CHECK(error_of(&outputs.plugin) == "invalid descriptor: stage 'acme.fit': output count 100000 is too large");
}

TEST_CASE("descriptor: a flavor missing predict") {
    Fixture fixture;
    fixture.flavors[0].predict = nullptr;
    CHECK(error_of(fixture.get()) == "invalid descriptor: flavor 'acme_linear': load, predict and destroy are required");
}

TEST_CASE("descriptor: non-NULL reserved slot of a flavor") {
    Fixture fixture;
    fixture.flavors[0].reserved[0] = &marker;
    CHECK(error_of(fixture.get()) == "invalid descriptor: flavor 'acme_linear': reserved field 0 is not NULL");
}

TEST_CASE("descriptor: duplicate flavor") {
    Fixture fixture;
    fixture.flavors.push_back(fixture.flavors[0]);
    fixture.flavors[1].description = "another one";
    CHECK(error_of(fixture.get()) == "invalid descriptor: flavor 'acme_linear': declared twice");
}

TEST_CASE("descriptor: a port or config key with a reserved slot set, or text that is not UTF-8, is refused") {
    {
        Fixture f;
        f.inputs[0].reserved[2] = &marker;
        CHECK(error_of(f.get()) == "invalid descriptor: stage 'acme.fit': input 'train': reserved field 2 is not NULL");
    }
    {
        Fixture f;
        f.config[1].reserved[0] = &marker;
        CHECK(error_of(f.get()) == "invalid descriptor: stage 'acme.fit': config key 'rate': reserved field 0 is not NULL");
    }
    {
        Fixture f;
        f.plugin.vendor = "M\xfcller";
        CHECK(error_of(f.get()) == "invalid descriptor: plugin 'acme-tools.v2': vendor is not valid UTF-8");
    }
}
