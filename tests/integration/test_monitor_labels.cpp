// Delayed labels through the real binary and server: posted over HTTP with a token (refused
// without one, or with a viewer's), given to `trellis monitor labels` as a file, and joined to the
// prediction log by request id and row in `trellis monitor window --labels`.
#include "run_trellis.hpp"
#include "serve_helpers.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using namespace trellis::testing;
using nlohmann::json;

TEST_CASE("monitor labels: posted to the server and from a file, joined to the window", "[monitor]") {
    Sandbox sandbox;
    register_version(sandbox, 42);
    REQUIRE(sandbox.run("models alias cancer@champion 1").exit_code == 0);
    sandbox.write("deploy.yaml", R"(server:
  threads: 2
endpoints:
  cancer:
    model: cancer@champion
)");
    const std::string developer = make_token(sandbox, "developer");
    const std::string viewer = make_token(sandbox, "viewer");
    const std::string as_developer = "-H 'Authorization: Bearer " + developer + "'";
    {
        const Server server = start_server(sandbox, "deploy.yaml");
        ServerGuard guard(server);
        for (int i = 0; i < 4; ++i)
            REQUIRE(curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), matrix_request(2, "r" + std::to_string(i), 2 * i))
                        .status == 200);
        const std::string url = server.url("/v2/models/cancer/labels");
        const std::string body = R"({"labels": [{"id": "r0", "label": [1, 0]}, {"id": "r1", "row": 1, "label": 1}]})";

        const auto anonymous = curl(sandbox, "POST", url, body);
        CHECK(anonymous.status == 401);
        CHECK_THAT(anonymous.body, Catch::Contains("posting labels needs a token"));
        const auto weak = curl(sandbox, "POST", url, body, "-H 'Authorization: Bearer " + viewer + "'");
        CHECK(weak.status == 403);
        CHECK_THAT(weak.body, Catch::Contains("post labels to endpoint cancer"));
        const auto bad = curl(sandbox, "POST", url, R"({"labels": [{"id": "r0", "label": null}]})", as_developer);
        CHECK(bad.status == 400);
        CHECK_THAT(bad.body, Catch::Contains("labels[0].label: must be a number, a string or true/false, not null"));
        CHECK(curl(sandbox, "GET", url, std::nullopt, as_developer).status == 405);
        CHECK(curl(sandbox, "POST", server.url("/v2/models/nope/labels"), body, as_developer).status == 404);

        const auto posted = curl(sandbox, "POST", url, body, as_developer);
        INFO(posted.body);
        REQUIRE(posted.status == 200);
        CHECK(posted.parsed().at("accepted") == 3);
        CHECK(posted.parsed().at("inserted") == 3);
        const auto metrics = curl(sandbox, "GET", server.url("/metrics"));
        CHECK_THAT(metrics.body, Catch::Contains("trellis_labels_received_total{endpoint=\"cancer\"} 3"));
        REQUIRE(guard.stop() == 0);
    }

    // A file: r1's first row, and a correction of r0's second row.
    sandbox.write("labels.csv", "request_id,row,label\nr1,0,0\nr0,1,1\n");
    const auto from_file = sandbox.run("monitor labels cancer labels.csv");
    INFO(from_file.out << from_file.err);
    REQUIRE(from_file.exit_code == 0);
    CHECK(from_file.out == "endpoint cancer: stored 2 labels from labels.csv (1 new, 1 replacing earlier ones)\n");

    const auto window = sandbox.run("monitor window cancer --labels --json --csv window.csv");
    INFO(window.out << window.err);
    REQUIRE(window.exit_code == 0);
    CHECK(window.json().at("rows") == 8);
    CHECK(window.json().at("labelled") == 4);
    CHECK(window.json().at("unlabelled") == 4);
    const std::string csv = read_file(sandbox.dir() / "window.csv");
    CHECK_THAT(csv, Catch::Contains(",label\n"));
    std::istringstream lines(csv);
    std::string line;
    std::vector<std::string> last_cells;
    while (std::getline(lines, line)) last_cells.push_back(line.substr(line.rfind(',') + 1));
    CHECK(last_cells == std::vector<std::string>{"label", "1", "1", "0", "1", "", "", "", ""});

    const auto text = sandbox.run("monitor window cancer --labels");
    CHECK_THAT(text.out, Catch::Contains("labels: 4 rows labelled, 4 still unlabelled"));

    // Bad files are named, and nothing is stored from them.
    sandbox.write("bad.csv", "request_id,label\nr2,1\nr3,\n");
    const auto bad = sandbox.run("monitor labels cancer bad.csv");
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.err, Catch::Contains("bad.csv:3: the label is empty"));
    CHECK(sandbox.run("monitor window cancer --labels --json").json().at("labelled") == 4);
    CHECK_THAT(sandbox.run("monitor labels cancer missing.csv").err, Catch::Contains("missing.csv: no such file"));

    // A viewer may read labels with the window but not add them.
    const auto refused = sandbox.run("monitor labels cancer labels.csv", "TRELLIS_TOKEN=" + viewer);
    CHECK(refused.exit_code == 4);
}
