// `trellis serve` through the real binary and real HTTP clients (curl and python's urllib): the
// Open Inference Protocol V2 endpoints, the protocol's errors for bad requests, the server's
// limits, hot reload when an alias moves (and a corrupt version that must not replace a good
// one), the audit entries, /metrics, deployment file errors with file:line, and SIGTERM.
#include "serve_helpers.hpp"

#include <catch2/catch.hpp>

using namespace trellis::testing;
using nlohmann::json;

namespace {

const char* deployment = R"(# the test's deployment
server:
  reload_interval: 200ms
  limits:
    max_body_bytes: 65536
    max_json_depth: 8
endpoints:
  cancer:
    model: cancer@champion
)";

} // namespace

TEST_CASE("serve: V2 health, metadata and infer answer real clients, bad requests get the protocol's errors",
          "[serve]") {
    Sandbox sandbox;
    register_version(sandbox, 42);
    REQUIRE(sandbox.run("models alias cancer@champion 1").exit_code == 0);
    sandbox.write("deploy.yaml", deployment);
    const Server server = start_server(sandbox, "deploy.yaml");

    CHECK(curl(sandbox, "GET", server.url("/v2/health/live")).status == 200);
    CHECK(curl(sandbox, "GET", server.url("/v2/health/ready")).status == 200);
    CHECK(curl(sandbox, "GET", server.url("/v2")).parsed().at("name") == "trellis");
    const auto metadata = curl(sandbox, "GET", server.url("/v2/models/cancer"));
    REQUIRE(metadata.status == 200);
    CHECK(metadata.parsed().at("versions") == json::array({"1"}));
    REQUIRE(metadata.parsed().at("inputs").size() == 30);
    CHECK(metadata.parsed().at("inputs")[0].at("name") == "mean_radius");
    CHECK(curl(sandbox, "GET", server.url("/v2/models/cancer/versions/1/ready")).status == 200);

    // A [3, 30] matrix: one prediction per row, the request id echoed.
    const auto inferred = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), matrix_request(3));
    REQUIRE(inferred.status == 200);
    const auto answer = inferred.parsed();
    CHECK(answer.at("id") == "req-1");
    CHECK(answer.at("model_name") == "cancer");
    CHECK(answer.at("model_version") == "1");
    bool has_probability = false;
    for (const auto& output : answer.at("outputs")) {
        CHECK(output.at("shape") == json::array({3}));
        CHECK(output.at("data").size() == 3);
        has_probability = has_probability || output.at("name") == "probability";
    }
    CHECK(has_probability);

    // One tensor per input column, by name, through python's urllib, with a version in the path.
    json named = json::object({{"inputs", json::array()}, {"outputs", {{{"name", "prediction"}}}}});
    const json model_metadata = metadata.parsed();
    for (const auto& input : model_metadata.at("inputs"))
        named["inputs"].push_back({{"name", input.at("name")}, {"shape", {1}}, {"datatype", "FP64"}, {"data", {1.0}}});
    sandbox.write("request.json", named.dump());
    sandbox.write("client.py", "import json, sys, urllib.request\n"
                               "body = open('request.json', 'rb').read()\n"
                               "req = urllib.request.Request(sys.argv[1], data=body, headers={'Content-Type': 'application/json'})\n"
                               "answer = json.load(urllib.request.urlopen(req))\n"
                               "print(answer['outputs'][0]['name'], len(answer['outputs']), answer['outputs'][0]['data'][0])\n");
    const std::string python = "cd " + quote(sandbox.dir().string()) + " && python3 client.py " +
                               quote(server.url("/v2/models/cancer/versions/1/infer")) + " > py.out 2>&1";
    CHECK(std::system(python.c_str()) == 0);
    const auto printed = read_file(sandbox.dir() / "py.out");
    CHECK(printed.rfind("prediction 1 ", 0) == 0);

    SECTION("bad requests") {
        const auto error_of = [&](const Reply& reply) { return reply.parsed().at("error").get<std::string>(); };
        auto reply = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), "{\"inputs\": [");
        CHECK(reply.status == 400);
        CHECK_THAT(error_of(reply), Catch::Contains("not valid JSON"));
        reply = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"),
                     R"({"inputs":[{"name":"x","shape":[1,29],"datatype":"FP32","data":[[1,2]]}]})");
        CHECK(reply.status == 400);
        CHECK_THAT(error_of(reply), Catch::Contains("inputs[0]"));
        reply = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"),
                     R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[[1,2]]}]})");
        CHECK(reply.status == 400);
        CHECK_THAT(error_of(reply), Catch::Contains("30 features"));
        reply = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"),
                     R"({"inputs":[{"name":"mean_radius","shape":[1],"datatype":"BYTES","data":["a"]}]})");
        CHECK(reply.status == 400);
        reply = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"),
                     R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[1]}]})");
        CHECK(reply.status == 400);
        CHECK_THAT(error_of(reply), Catch::Contains("FP16"));
        // 1e999 is no FP64 number; JSON has no NaN, so python's NaN literal is not JSON either.
        std::string huge = matrix_request(1);
        huge.replace(huge.find("17.99"), 5, "1e999");
        reply = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), huge);
        CHECK(reply.status == 400);
        std::string nan = matrix_request(1);
        nan.replace(nan.find("17.99"), 5, "NaN");
        CHECK(curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), nan).status == 400);
        // Invalid UTF-8 in a string.
        reply = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), "{\"id\":\"\xff\xfe\",\"inputs\":[]}");
        INFO(reply.body);
        CHECK(reply.status == 400);
        reply = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), std::string(20, '[') + std::string(20, ']'));
        CHECK(reply.status == 400);
        CHECK_THAT(error_of(reply), Catch::Contains("deeper"));
        reply = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), std::string(100'000, ' '));
        CHECK(reply.status == 413);
        CHECK(curl(sandbox, "GET", server.url("/v2/models/cancer/infer")).status == 405);
        reply = curl(sandbox, "GET", server.url("/v2/models/nope"));
        CHECK(reply.status == 404);
        CHECK_THAT(error_of(reply), Catch::Contains("served: cancer"));
        CHECK(curl(sandbox, "GET", server.url("/v2/models/cancer/versions/7")).status == 404);
        // A Content-Length longer than the body: the server waits for the rest, then gives up.
        reply = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), std::string("{}"), "-H 'Content-Length: 100' -m 3");
        CHECK(reply.status != 200);
        // The server is still fine.
        CHECK(curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), matrix_request(1)).status == 200);
    }

    SECTION("metrics count the requests") {
        const auto metrics = curl(sandbox, "GET", server.url("/metrics"));
        REQUIRE(metrics.status == 200);
        CHECK_THAT(metrics.body, Catch::Contains("trellis_requests_total{endpoint=\"cancer\",version=\"1\",variant=\"primary\",code=\"200\"} 2"));
        CHECK_THAT(metrics.body, Catch::Contains("trellis_request_duration_seconds_count{endpoint=\"cancer\",version=\"1\",variant=\"primary\"} 2"));
        CHECK_THAT(metrics.body, Catch::Contains("trellis_http_open_connections"));
    }

    CHECK(stop_server(server) == 0);
}

TEST_CASE("serve: an alias that moves is followed, a corrupt version leaves the old one serving", "[serve]") {
    Sandbox sandbox;
    register_version(sandbox, 42);
    register_version(sandbox, 7);
    register_version(sandbox, 9);
    REQUIRE(sandbox.run("models alias cancer@champion 1").exit_code == 0);
    sandbox.write("deploy.yaml", deployment);
    const Server server = start_server(sandbox, "deploy.yaml");
    const auto served_version = [&]() -> std::string {
        const json answer = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), matrix_request(1)).parsed();
        return answer.at("model_version").get<std::string>();
    };
    CHECK(served_version() == "1");

    REQUIRE(sandbox.run("models alias cancer@champion 2").exit_code == 0);
    bool switched = false;
    for (int i = 0; i < 100 && !switched; ++i) {
        switched = served_version() == "2";
        if (!switched) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(switched);

    // Version 3's stored bytes are damaged: the switch must fail and version 2 keep serving.
    damage_model_bytes(sandbox, "cancer:3");
    REQUIRE(sandbox.run("models alias cancer@champion 3").exit_code == 0);
    bool counted = false;
    for (int i = 0; i < 100 && !counted; ++i) {
        counted = curl(sandbox, "GET", server.url("/metrics")).body.find("trellis_model_load_failures_total{endpoint=\"cancer\"}") !=
                  std::string::npos;
        if (!counted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(counted);
    CHECK(served_version() == "2");
    CHECK(curl(sandbox, "GET", server.url("/v2/health/ready")).status == 200);
    CHECK(stop_server(server) == 0);

    const auto log = sandbox.run("audit log --object 'endpoint cancer' --json");
    REQUIRE(log.exit_code == 0);
    CHECK_THAT(log.out, Catch::Contains("serve.load"));
    CHECK_THAT(log.out, Catch::Contains("serve.switch"));
    CHECK_THAT(log.out, Catch::Contains("serve.load_failed"));
    CHECK(sandbox.run("audit verify").exit_code == 0);
}

TEST_CASE("serve: a bad deployment file is refused whole, each problem with file:line", "[serve]") {
    Sandbox sandbox;
    sandbox.write("bad.yaml", "server:\n  prot: 8080\n  threads: many\nendpoints:\n  cancer:\n    model: cancer\n");
    const auto checked = sandbox.run("serve bad.yaml --check");
    CHECK(checked.exit_code == 2);
    CHECK_THAT(checked.err, Catch::Contains("bad.yaml:2: unknown key 'prot' in server (did you mean port?)"));
    CHECK_THAT(checked.err, Catch::Contains("bad.yaml:3: server.threads must be a whole number"));
    CHECK_THAT(checked.err, Catch::Contains("bad.yaml:6: endpoint 'cancer': model 'cancer' must name"));
    sandbox.write("broken.yaml", "endpoints:\n  cancer: [\n");
    const auto broken = sandbox.run("serve broken.yaml --check");
    CHECK(broken.exit_code == 2);
    CHECK_THAT(broken.err, Catch::Contains("broken.yaml:"));
    CHECK_THAT(broken.err, Catch::Contains("not valid YAML"));
    // A model that is not registered stops the server before it listens.
    register_version(sandbox, 42);
    sandbox.write("missing.yaml", "endpoints:\n  cancer:\n    model: cancer@nowhere\n");
    const auto missing = sandbox.run("serve missing.yaml --port 0");
    CHECK(missing.exit_code == 2);
    CHECK_THAT(missing.err, Catch::Contains("missing.yaml:2: endpoint 'cancer'"));
}
