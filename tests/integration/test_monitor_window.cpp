// `trellis monitor window` through the real binary: a server logs real requests, the window sums
// them up and writes them as CSV, and that CSV feeds monitor.drift against the training data in
// a pipeline, which is how a window is checked for drift until `trellis monitor` runs it itself.
#include "run_trellis.hpp"
#include "serve_helpers.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using namespace trellis::testing;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("monitor window: a served endpoint's log as a summary, as CSV, and as drift input", "[monitor]") {
    Sandbox sandbox;
    register_version(sandbox, 42);
    REQUIRE(sandbox.run("models alias cancer@champion 1").exit_code == 0);
    sandbox.write("deploy.yaml", R"(server:
  threads: 2
endpoints:
  cancer:
    model: cancer@champion
)");
    {
        const Server server = start_server(sandbox, "deploy.yaml");
        ServerGuard guard(server);
        for (int i = 0; i < 3; ++i)
            REQUIRE(curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), matrix_request(4)).status == 200);
        REQUIRE(guard.stop() == 0); // the log is written by the time the server has exited
    }

    const auto summary = sandbox.run("monitor window cancer --json --csv window.csv");
    INFO(summary.out << summary.err);
    REQUIRE(summary.exit_code == 0);
    const json parsed = json::parse(summary.out);
    CHECK(parsed.at("rows") == 12);
    CHECK(parsed.at("records") == 3);
    CHECK(parsed.at("skipped_lines") == 0);
    CHECK(parsed.at("versions") == json{{"1", 12}});
    CHECK(parsed.at("variants") == json{{"primary", 12}});
    CHECK(parsed.at("inputs").size() == 30);

    const std::string csv = read_file(sandbox.dir() / "window.csv");
    CHECK(csv.rfind("request_id,time,version,variant,", 0) == 0);
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 13);
    CHECK_THAT(csv, Catch::Contains("\nreq-1,"));

    const auto text = sandbox.run("monitor window cancer --last 5 --since 1h");
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::StartsWith("endpoint cancer: 5 rows from 2 records, "));
    CHECK_THAT(text.out, Catch::Contains("versions: 1 (5 rows)"));
    CHECK(sandbox.run("monitor window cancer --version 9").out.rfind("endpoint cancer: 0 rows from 0 records\n", 0) == 0);

    // The window as the current table of a drift check against the data the model learned from.
    sandbox.write("drift.lua", R"(pipeline { name = "drift" }
local reference = stage "data.csv" { path = ")" + breast_cancer_csv() + R"(" }
local window = stage "data.csv" { path = "window.csv" }
stage "monitor.drift" { reference = reference.table, current = window.table }
)");
    const auto drift = sandbox.run("run drift.lua");
    INFO(drift.out << drift.err);
    REQUIRE(drift.exit_code == 0);
    CHECK_THAT(drift.out, Catch::Contains("monitor.drift"));

    // Bad input is named.
    const auto missing = sandbox.run("monitor window nope");
    CHECK(missing.exit_code == 2);
    CHECK_THAT(missing.err, Catch::Contains("no prediction log for endpoint 'nope'"));
    const auto bad_time = sandbox.run("monitor window cancer --since yesterday");
    CHECK(bad_time.exit_code == 2);
    CHECK_THAT(bad_time.err, Catch::Contains("--since: 'yesterday' is not a time"));
    sandbox.write(".trellis/predictions/cancer/2099-01-01.jsonl", "{\"torn");
    const auto torn = sandbox.run("monitor window cancer");
    CHECK(torn.exit_code == 0);
    CHECK_THAT(torn.err, Catch::Contains("2099-01-01.jsonl:1: an unfinished last line"));
    CHECK_THAT(torn.out, Catch::StartsWith("endpoint cancer: 12 rows"));
}
