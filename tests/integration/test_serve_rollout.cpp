// Rollouts through the real binary: a canary's share set, promoted and rolled back with
// `trellis rollout` and the admin endpoint (roles, tokens, audit), sticky A/B assignment, a shadow
// whose answers reach the prediction log only, version policies with versions in the path, a
// rollout from 0 to 100% and a reload to a corrupt version under continuous traffic with no
// failed request, and batched prediction answering as unbatched does.
#include "serve_helpers.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace trellis::testing;
using nlohmann::json;

namespace {

const fs::path traffic_script = fs::path(__FILE__).parent_path() / "serve_traffic.py";

// Traffic from serve_traffic.py; run() blocks, start() runs it on a thread until stop().
class Traffic {
public:
    Traffic(const Sandbox& sandbox, const Server& server, std::string options, std::string name = "traffic")
        : sandbox_(sandbox), name_(std::move(name)) {
        sandbox.write(name_ + ".body", matrix_request(1));
        command_ = "python3 " + quote(traffic_script.string()) + " --port " + std::to_string(server.port) + " --body " +
                   quote((sandbox.dir() / (name_ + ".body")).string()) + " --out " + quote(out().string()) + " " +
                   std::move(options);
    }
    ~Traffic() {
        if (thread_.joinable()) stop();
    }
    json run() {
        REQUIRE(std::system(command_.c_str()) == 0);
        return json::parse(read_file(out()));
    }
    void start() {
        const fs::path started = sandbox_.dir() / (name_ + ".started");
        command_ += " --until " + quote(stop_file().string()) + " --started " + quote(started.string());
        thread_ = std::thread([this] { code_ = std::system(command_.c_str()); });
        for (int i = 0; i < 600 && !fs::exists(started); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        REQUIRE(fs::exists(started));
    }
    json stop() {
        sandbox_.write(name_ + ".stop", "");
        thread_.join();
        REQUIRE(code_ == 0);
        return json::parse(read_file(out()));
    }

private:
    fs::path out() const { return sandbox_.dir() / (name_ + ".json"); }
    fs::path stop_file() const { return sandbox_.dir() / (name_ + ".stop"); }
    const Sandbox& sandbox_;
    std::string name_;
    std::string command_;
    std::thread thread_;
    int code_ = -1;
};

int count_of(const json& counts, const std::string& key) { return counts.contains(key) ? counts.at(key).get<int>() : 0; }

// Polls `done` every 100 ms for up to 20 s.
template <typename Done>
bool eventually(Done done) {
    for (int i = 0; i < 200; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

std::string served_version(const Sandbox& sandbox, const Server& server, const std::string& path = "/v2/models/cancer/infer") {
    const Reply reply = curl(sandbox, "POST", server.url(path), matrix_request(1));
    if (reply.status != 200) return "status " + std::to_string(reply.status);
    return reply.parsed().at("model_version").get<std::string>();
}

// Every prediction log record of the endpoint.
std::vector<json> prediction_log(const Sandbox& sandbox, const std::string& endpoint = "cancer") {
    std::vector<json> records;
    const fs::path folder = sandbox.dir() / ".trellis" / "predictions" / endpoint;
    if (!fs::exists(folder)) return records;
    for (const auto& file : fs::directory_iterator(folder)) {
        std::ifstream in(file.path());
        std::string line;
        while (std::getline(in, line)) records.push_back(json::parse(line));
    }
    return records;
}

const char* plain_deployment = R"(server:
  reload_interval: 200ms
endpoints:
  cancer:
    model: cancer@champion
)";

} // namespace

TEST_CASE("serve rollout: split, promote and rollback by command and admin endpoint, with roles and audit",
          "[serve][rollout]") {
    Sandbox sandbox;
    register_version(sandbox, 42);
    register_version(sandbox, 7);
    REQUIRE(sandbox.run("models alias cancer@champion 1").exit_code == 0);
    sandbox.write("deploy.yaml", plain_deployment);
    const Server server = start_server(sandbox, "deploy.yaml");
    ServerGuard guard(server);

    // A developer may not change traffic; the refusal is audited.
    const std::string developer = make_token(sandbox, "developer");
    const auto refused = sandbox.run("rollout split cancer 50 --model cancer:2", "TRELLIS_TOKEN=" + developer);
    CHECK(refused.exit_code == 4);
    CHECK_THAT(refused.err, Catch::Contains("needs role approver"));
    CHECK_THAT(sandbox.run("rollout split cancer 50 --model cancer:9").err, Catch::Contains("no version 9"));
    CHECK(sandbox.run("rollout split cancer 101 --model cancer:2").exit_code == 2);
    REQUIRE(sandbox.run("models archive cancer:2").exit_code == 0);
    CHECK_THAT(sandbox.run("rollout split cancer 50 --model cancer:2").err, Catch::Contains("cancer:2 is archived"));
    REQUIRE(sandbox.run("models restore cancer:2").exit_code == 0);

    // 50% to version 2: both versions answer, each about half the time.
    const auto split = sandbox.run("rollout split cancer 50 --model cancer:2");
    INFO(split.out << split.err);
    REQUIRE(split.exit_code == 0);
    CHECK(eventually([&] { return served_version(sandbox, server) == "2"; }));
    const json half = Traffic(sandbox, server, "--threads 2 --requests 100").run();
    CHECK(half.at("failed") == 0);
    CHECK(count_of(half.at("versions"), "1") > 60);
    CHECK(count_of(half.at("versions"), "2") > 60);
    CHECK(count_of(half.at("variants"), "canary") == count_of(half.at("versions"), "2"));

    // Promote: version 2 takes everything. Rollback: undoes the promote.
    REQUIRE(sandbox.run("rollout promote cancer").exit_code == 0);
    const json promoted = [&] {
        eventually([&] { return Traffic(sandbox, server, "--threads 1 --requests 20").run().at("versions").size() == 1; });
        return Traffic(sandbox, server, "--threads 2 --requests 50").run();
    }();
    CHECK(promoted.at("versions") == json{{"2", 100}});
    const auto status = sandbox.run("rollout status cancer --json");
    REQUIRE(status.exit_code == 0);
    CHECK(status.json().at(0).at("primary_model") == "cancer:2");
    CHECK(status.json().at(0).at("percent") == 0);
    REQUIRE(sandbox.run("rollout rollback cancer").exit_code == 0);
    CHECK(eventually([&] { return served_version(sandbox, server) == "1"; }));
    CHECK(Traffic(sandbox, server, "--threads 2 --requests 50").run().at("versions") == json{{"1", 100}});
    CHECK_THAT(sandbox.run("rollout rollback cancer").err, Catch::Contains("nothing to roll back"));

    // The admin endpoint: no token 401, a developer's 403, an approver's applies at once.
    const std::string admin_url = server.url("/v2/admin/endpoints/cancer/rollout");
    const std::string body = R"({"action": "split", "percent": 100, "model": "cancer:2"})";
    const Reply anonymous = curl(sandbox, "POST", admin_url, body);
    CHECK(anonymous.status == 401);
    CHECK(curl(sandbox, "POST", admin_url, body, "-H 'Authorization: Bearer trellis_nope_nope'").status == 401);
    CHECK(curl(sandbox, "POST", admin_url, body, "-H 'Authorization: Bearer " + developer + "'").status == 403);
    // A revoked approver's token is no longer anyone's: 401, not 403.
    const auto made = sandbox.run("tokens create --name leaver --role approver --json");
    REQUIRE(made.exit_code == 0);
    const std::string revoked = made.json().at("token");
    REQUIRE(sandbox.run("tokens revoke " + revoked.substr(8, 8)).exit_code == 0);
    CHECK(curl(sandbox, "POST", admin_url, body, "-H 'Authorization: Bearer " + revoked + "'").status == 401);
    const std::string approver = make_token(sandbox, "approver");
    const std::string auth = "-H 'Authorization: Bearer " + approver + "'";
    CHECK(curl(sandbox, "POST", admin_url, R"({"action": "split"})", auth).status == 400);
    CHECK(curl(sandbox, "POST", admin_url, R"({"action": "explode"})", auth).status == 400);
    const Reply applied = curl(sandbox, "POST", admin_url, body, auth);
    INFO(applied.body);
    REQUIRE(applied.status == 200);
    CHECK(applied.parsed().at("percent") == 100);
    CHECK(applied.parsed().at("canary").at("version") == 2);
    CHECK(served_version(sandbox, server) == "2"); // no reload interval to wait for
    const Reply shown = curl(sandbox, "GET", admin_url, std::nullopt, auth);
    CHECK(shown.status == 200);
    CHECK(shown.parsed().at("stored").at("set_by") == "ops-approver");
    CHECK(guard.stop() == 0);

    const auto log = sandbox.run("audit log --object 'endpoint cancer' --json");
    REQUIRE(log.exit_code == 0);
    for (const char* action : {"rollout.split", "rollout.promote", "rollout.rollback", "serve.route", "serve.switch"})
        CHECK_THAT(log.out, Catch::Contains(action));
    CHECK_THAT(sandbox.run("audit log --json").out, Catch::Contains("access.denied"));
    CHECK(sandbox.run("audit verify").exit_code == 0);

    // The stored canary cannot be served any more: starting fails, naming the rollout, not the
    // deployment file's line (which names only the champion). `timeout` in case it starts anyway.
    damage_model_bytes(sandbox, "cancer:2");
    const auto refused_start = sandbox.run("serve deploy.yaml --port 0", "timeout -s KILL 60");
    INFO(refused_start.err);
    CHECK(refused_start.exit_code != 0);
    CHECK(refused_start.exit_code != 128 + SIGKILL);
    CHECK_THAT(refused_start.err, Catch::Contains("endpoint 'cancer': the canary cancer:2 comes from the rollout state "
                                                  "last set by ops-approver"));
    CHECK_THAT(refused_start.err, !Catch::Contains("deploy.yaml:"));

    // Clearing the rollout (an approver's change, audited) hands the endpoint back to the file.
    CHECK(sandbox.run("rollout clear cancer", "TRELLIS_TOKEN=" + developer).exit_code == 4);
    const auto cleared = sandbox.run("rollout clear cancer");
    INFO(cleared.out << cleared.err);
    REQUIRE(cleared.exit_code == 0);
    CHECK_THAT(sandbox.run("rollout status cancer").out, Catch::Contains("has no rollout"));
    CHECK_THAT(sandbox.run("rollout clear cancer").err, Catch::Contains("has no rollout in the store"));
    const Server again = start_server(sandbox, "deploy.yaml", "again");
    ServerGuard guard_again(again);
    CHECK(served_version(sandbox, again) == "1");
    CHECK(guard_again.stop() == 0);
    CHECK_THAT(sandbox.run("audit log --object 'endpoint cancer' --json").out, Catch::Contains("rollout.clear"));
}

TEST_CASE("serve rollout: an A/B split is sticky by header, a shadow answers into the prediction log only",
          "[serve][rollout]") {
    Sandbox sandbox;
    register_version(sandbox, 42);
    register_version(sandbox, 7);
    register_version(sandbox, 9);
    sandbox.write("deploy.yaml", R"(server:
  reload_interval: 200ms
prediction_log:
  sample: 1
endpoints:
  cancer:
    model: cancer:1
    canary: {model: cancer:2, percent: 50, sticky: {header: X-User-Id}}
    shadow: {model: cancer:3}
)");
    const Server server = start_server(sandbox, "deploy.yaml");
    ServerGuard guard(server);
    const json traffic = Traffic(sandbox, server, "--threads 2 --requests 100 --key-header X-User-Id --keys 20").run();
    CHECK(traffic.at("failed") == 0);
    CHECK(traffic.at("by_key").size() == 20);
    int canary_users = 0;
    for (const auto& [key, seen] : traffic.at("by_key").items()) {
        INFO(key << " saw " << seen.dump());
        CHECK(seen.size() == 1); // the same user always sees the same variant
        canary_users += seen.at(0) == "canary";
    }
    CHECK(canary_users > 2);
    CHECK(canary_users < 18);
    CHECK(count_of(traffic.at("versions"), "3") == 0); // the shadow never answers

    // Every answered request is logged once, and the shadow's answer beside it, same request id.
    std::vector<json> records;
    CHECK(eventually([&] {
        records = prediction_log(sandbox);
        return records.size() == 400;
    }));
    std::map<std::string, std::set<std::string>> variants_by_request;
    for (const auto& record : records) {
        variants_by_request[record.at("request_id")].insert(record.at("variant").get<std::string>());
        CHECK(record.at("inputs").size() == 30);
        CHECK(record.at("outputs").size() >= 1);
        if (record.at("variant") == "shadow") CHECK(record.at("version") == 3);
    }
    // The test's requests all carry id req-1; the log still tells the variants apart.
    CHECK(variants_by_request.at("req-1") == std::set<std::string>{"primary", "canary", "shadow"});
    const std::string metrics = curl(sandbox, "GET", server.url("/metrics")).body;
    CHECK_THAT(metrics, Catch::Contains("variant=\"shadow\",code=\"200\"} 200"));
    CHECK_THAT(metrics, Catch::Contains("trellis_prediction_log_records_total 400"));
    CHECK_THAT(metrics, Catch::Contains("trellis_prediction_log_dropped_total 0"));
    CHECK(guard.stop() == 0);
}

TEST_CASE("serve rollout: a version policy serves each version at its path and picks new versions up",
          "[serve][rollout]") {
    Sandbox sandbox;
    register_version(sandbox, 42);
    register_version(sandbox, 7);
    sandbox.write("deploy.yaml", R"(server:
  reload_interval: 200ms
prediction_log:
  sample: 0
endpoints:
  cancer:
    model: cancer:1
    versions: {latest: 2}
)");
    const Server server = start_server(sandbox, "deploy.yaml");
    ServerGuard guard(server);
    CHECK(served_version(sandbox, server) == "1");
    CHECK(served_version(sandbox, server, "/v2/models/cancer/versions/1/infer") == "1");
    CHECK(served_version(sandbox, server, "/v2/models/cancer/versions/2/infer") == "2");
    const Reply missing = curl(sandbox, "POST", server.url("/v2/models/cancer/versions/3/infer"), matrix_request(1));
    CHECK(missing.status == 404);
    CHECK_THAT(missing.body, Catch::Contains("served versions: 1, 2"));
    CHECK(curl(sandbox, "GET", server.url("/v2/models/cancer")).parsed().at("versions") == json{"1", "2"});
    CHECK(curl(sandbox, "GET", server.url("/v2/models/cancer/versions/2/ready")).status == 200);
    // The id is echoed in X-Request-Id: one that would split the response's headers is refused.
    json split_id = json::parse(matrix_request(1));
    split_id["id"] = "x\r\nSet-Cookie: a=b";
    const Reply injected = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), split_id.dump());
    CHECK(injected.status == 400);
    CHECK_THAT(injected.body, Catch::Contains("id must not hold control characters"));

    register_version(sandbox, 9); // latest 2 is now 2 and 3; the primary (1) stays
    CHECK(eventually([&] { return served_version(sandbox, server, "/v2/models/cancer/versions/3/infer") == "3"; }));
    CHECK(curl(sandbox, "GET", server.url("/v2/models/cancer")).parsed().at("versions") == json{"1", "2", "3"});
    CHECK(served_version(sandbox, server) == "1");
    CHECK(prediction_log(sandbox).empty()); // sample: 0
    CHECK(guard.stop() == 0);
}

TEST_CASE("serve rollout: 0 to 100 percent and a corrupt version under continuous traffic fail no request",
          "[serve][rollout]") {
    Sandbox sandbox;
    register_version(sandbox, 42);
    register_version(sandbox, 7);
    register_version(sandbox, 9);
    REQUIRE(sandbox.run("models alias cancer@champion 1").exit_code == 0);
    sandbox.write("deploy.yaml", R"(server:
  reload_interval: 100ms
prediction_log:
  sample: 0.1
endpoints:
  cancer:
    model: cancer@champion
)");
    const Server server = start_server(sandbox, "deploy.yaml");
    ServerGuard guard(server);
    Traffic traffic(sandbox, server, "--threads 4");
    traffic.start();
    for (int percent : {0, 10, 25, 50, 75, 100}) {
        REQUIRE(sandbox.run("rollout split cancer " + std::to_string(percent) + " --model cancer:2").exit_code == 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
    }
    REQUIRE(sandbox.run("rollout promote cancer").exit_code == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));

    // Version 3's bytes are damaged; pointing the champion at it and promoting must fail to load and
    // leave version 2 serving, with traffic going on.
    const auto originals = damage_model_bytes(sandbox, "cancer:3");
    REQUIRE(sandbox.run("rollout promote cancer --model cancer:3").exit_code == 0);
    CHECK(eventually([&] {
        return curl(sandbox, "GET", server.url("/metrics")).body.find("trellis_model_load_failures_total{endpoint=\"cancer\"} 1") !=
               std::string::npos;
    }));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const json result = traffic.stop();
    INFO(result.dump());
    CHECK(result.at("failed") == 0);
    CHECK(count_of(result.at("versions"), "1") > 0);
    CHECK(count_of(result.at("versions"), "2") > 0);
    CHECK(count_of(result.at("versions"), "3") == 0);
    CHECK(served_version(sandbox, server) == "2");
    CHECK(curl(sandbox, "GET", server.url("/v2/health/ready")).status == 200);

    // It is tried again after ten reload intervals (1 s here), then after 2 s, 4 s...: failing
    // again is not counted again; once the object is restored, version 3 takes over.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK_THAT(curl(sandbox, "GET", server.url("/metrics")).body,
               Catch::Contains("trellis_model_load_failures_total{endpoint=\"cancer\"} 1\n"));
    CHECK(served_version(sandbox, server) == "2");
    restore_files(originals);
    CHECK(eventually([&] { return served_version(sandbox, server) == "3"; }));
    CHECK(guard.stop() == 0);
    // Failed at once, then after 1 s (and perhaps 3 s, on a slow machine): a retry every reload
    // interval would have made it some twenty attempts.
    const std::string err = read_file(server.process.err);
    const auto at = err.find("cancer:3 loads now, after ");
    REQUIRE(at != std::string::npos);
    const int attempts = std::atoi(err.c_str() + at + 26);
    CHECK(attempts >= 2);
    CHECK(attempts <= 3);
    const auto audit = sandbox.run("audit log --object 'endpoint cancer' --json");
    CHECK_THAT(audit.out, Catch::Contains("serve.load_failed"));
    CHECK_THAT(audit.out, Catch::Contains("serve.switch"));
}

TEST_CASE("serve rollout: batched requests get the answers they get unbatched", "[serve][rollout]") {
    Sandbox sandbox;
    register_version(sandbox, 42);
    sandbox.write("plain.yaml", "endpoints:\n  cancer:\n    model: cancer:1\n");
    sandbox.write("batched.yaml", R"(server:
  threads: 8
endpoints:
  cancer:
    model: cancer:1
    batching: {max_batch_size: 16, max_delay: 5ms}
)");
    std::vector<std::string> bodies;
    for (size_t rows : {1, 3, 1, 7, 2}) bodies.push_back(matrix_request(rows));
    const auto answers = [&](const std::string& file) {
        const Server server = start_server(sandbox, file, file);
        ServerGuard guard(server);
        std::vector<std::string> outputs(bodies.size() * 4);
        std::vector<std::thread> clients;
        for (size_t i = 0; i < outputs.size(); ++i)
            clients.emplace_back([&, i] {
                const std::string name = "b" + std::to_string(i);
                sandbox.write(name + ".json", bodies[i % bodies.size()]);
                const std::string command = "curl -s -m 20 -X POST -H 'Content-Type: application/json' --data-binary @" +
                                            quote((sandbox.dir() / (name + ".json")).string()) + " " +
                                            quote(server.url("/v2/models/cancer/infer")) + " > " +
                                            quote((sandbox.dir() / (name + ".out")).string());
                std::system(command.c_str());
                outputs[i] = read_file(sandbox.dir() / (name + ".out"));
            });
        for (auto& client : clients) client.join();
        CHECK(guard.stop() == 0);
        return outputs;
    };
    const auto plain = answers("plain.yaml");
    const auto batched = answers("batched.yaml");
    for (size_t i = 0; i < plain.size(); ++i) {
        INFO(i << ": " << plain[i] << "\n" << batched[i]);
        REQUIRE_NOTHROW(json::parse(batched[i]));
        CHECK(json::parse(plain[i]).at("outputs") == json::parse(batched[i]).at("outputs"));
    }
}
