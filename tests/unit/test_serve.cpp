// The serving parts that need no server: deployment files (defaults, every problem with its
// line), V2 request decoding (both tensor layouts, every refusal naming the field), and the
// refusal of model bytes that would run code when read.
#include "serve/deployment_file.hpp"
#include "serve/inference_protocol.hpp"
#include "serve/served_model.hpp"

#include <catch2/catch.hpp>

using namespace trellis;
using namespace trellis::serve;

TEST_CASE("deployment file: defaults, durations and limits are read", "[serve]") {
    const auto spec = parse_deployment("server:\n  port: 9000\n  reload_interval: 500ms\n  limits:\n"
                                       "    max_body_bytes: 1024\n    idle_timeout: 2m\nendpoints:\n"
                                       "  a: {model: churn@champion}\n  b:\n    model: churn:3\n",
                                       "d.yaml");
    CHECK(spec.server.address == "127.0.0.1");
    CHECK(spec.server.port == 9000);
    CHECK(spec.reload_interval == std::chrono::milliseconds(500));
    CHECK(spec.server.limits.max_body_bytes == 1024);
    CHECK(spec.server.limits.idle_timeout == std::chrono::minutes(2));
    REQUIRE(spec.endpoints.size() == 2);
    CHECK(spec.endpoints[0].name == "a");
    CHECK(spec.endpoints[1].model == "churn:3");
    CHECK(spec.endpoints[1].line == 9);
}

TEST_CASE("deployment file: every problem is reported with its line", "[serve]") {
    try {
        parse_deployment("server:\n  port: 99999\n  limits:\n    read_timeout: soon\nendpoints:\n"
                         "  a: {model: churn@}\n  b: {modle: x}\nextra: 1\n",
                         "d.yaml");
        FAIL("no error");
    } catch (const DeploymentError& e) {
        const auto& problems = e.problems();
        REQUIRE(problems.size() == 6);
        CHECK_THAT(e.what(), Catch::Contains("d.yaml:2: server.port must be a whole number from 0 to 65535"));
        CHECK_THAT(e.what(), Catch::Contains("d.yaml:4: server.limits.read_timeout must be a duration"));
        CHECK_THAT(e.what(), Catch::Contains("d.yaml:6: endpoint 'a': model 'churn@' must name"));
        CHECK_THAT(e.what(), Catch::Contains("d.yaml:7: unknown key 'modle' in endpoint 'b' (did you mean model?)"));
        CHECK_THAT(e.what(), Catch::Contains("d.yaml:7: endpoint 'b' names no model"));
        CHECK_THAT(e.what(), Catch::Contains("d.yaml:8: unknown key 'extra'"));
    }
    CHECK_THROWS_WITH(parse_deployment("endpoints: [\n", "d.yaml"), Catch::Contains("not valid YAML"));
    CHECK_THROWS_WITH(parse_deployment("server: {}\n", "d.yaml"), Catch::Contains("has no 'endpoints'"));
}

namespace {

const std::vector<Field> fields{{"age", ColumnType::Int64}, {"income", ColumnType::Float64}};

} // namespace

TEST_CASE("V2 decoding: named tensors and one matrix give the same table", "[serve]") {
    const auto named = decode_infer_request(
        R"({"id":"r","inputs":[{"name":"income","shape":[2],"datatype":"FP64","data":[1.5,2.5]},
            {"name":"age","shape":[2,1],"datatype":"INT32","data":[[30],[40]]}]})",
        fields, 16);
    CHECK(named.id == "r");
    REQUIRE(named.features.num_rows() == 2);
    CHECK(named.features.column("age").int_at(1) == 40);
    CHECK(named.features.column("income").float_at(0) == 1.5);
    const auto matrix =
        decode_infer_request(R"({"inputs":[{"name":"x","shape":[2,2],"datatype":"INT64","data":[30,1,40,2]}]})", fields, 16);
    CHECK(matrix.features.column("age").int_at(1) == 40);
    CHECK(matrix.features.column("income").float_at(1) == 2.0);
}

TEST_CASE("V2 decoding: each refusal names the field", "[serve]") {
    const auto refused = [](const std::string& body) {
        try {
            decode_infer_request(body, fields, 8);
        } catch (const ProtocolError& e) {
            CHECK(e.status() == 400);
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    CHECK_THAT(refused("[1]"), Catch::Contains("JSON object"));
    CHECK_THAT(refused(R"({"inputs":[]})"), Catch::Contains("non-empty array"));
    CHECK_THAT(refused(R"({"inputs":[{"name":"x","shape":[2,2],"datatype":"INT64","data":[1,2,3]}]})"),
               Catch::Contains("has 3 elements but its shape holds 4"));
    CHECK_THAT(refused(R"({"inputs":[{"name":"age","shape":[1],"datatype":"INT64","data":[1]}]})"),
               Catch::Contains("no tensor 'income'"));
    CHECK_THAT(refused(R"({"inputs":[{"name":"age","shape":[1],"datatype":"FP32","data":[1.5]},
                                      {"name":"income","shape":[1],"datatype":"FP32","data":[1]}]})"),
               Catch::Contains("does not fit model input 'age'"));
    CHECK_THAT(refused(R"({"inputs":[{"name":"age","shape":[1],"datatype":"INT32","data":[3000000000]},
                                      {"name":"income","shape":[1],"datatype":"FP32","data":[1]}]})"),
               Catch::Contains("out of range for INT32"));
    CHECK_THAT(refused(R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1e39, 1]}]})"),
               Catch::Contains("not a finite FP32"));
    CHECK_THAT(refused(R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[null, 1]}]})"),
               Catch::Contains("data[0] is not a number"));
    CHECK_THAT(refused("{\"a\":[[[[[[[[[1]]]]]]]]]}"), Catch::Contains("deeper than the limit of 8"));
    CHECK_THAT(refused(R"({"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[]}]})"),
               Catch::Contains("non-negative"));
}

TEST_CASE("served models: bytes that run code when read are refused", "[serve]") {
    const std::vector<uint8_t> pickle{0x80, 0x04, 0x95, 0x10};
    CHECK_THAT(code_carrying_format(pickle), Catch::Contains("pickle"));
    const std::string yaml = "model: !!python/object/apply:os.system ['true']\n";
    CHECK_THAT(code_carrying_format(std::vector<uint8_t>(yaml.begin(), yaml.end())), Catch::Contains("YAML"));
    const std::string plain = "{\"weights\": [1, 2]}";
    CHECK(code_carrying_format(std::vector<uint8_t>(plain.begin(), plain.end())).empty());
}
