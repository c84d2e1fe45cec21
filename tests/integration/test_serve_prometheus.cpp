// `trellis serve`'s /metrics scraped by a real Prometheus (the Debian package's /usr/bin/prometheus),
// started here on a private port with a private TSDB folder and a 1 s scrape interval: after some
// infer requests, Prometheus's query API must hold the request counters with the right labels and
// values, the latency histogram's buckets, and up == 1 (then 0 once trellis has stopped). Where
// Prometheus is not installed or cannot start, the test reports "skipped: <why>", which ctest
// shows as skipped (its own executable, see tests/CMakeLists.txt).
#include "prometheus_server.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmath>
#include <map>
#include <set>

using namespace trellis::testing;
using nlohmann::json;


TEST_CASE("serve prometheus: a real Prometheus scrapes the request counters, the latency histogram and up",
          "[serve][prometheus]") {
    if (::access(prometheus_binary.c_str(), X_OK) != 0) {
        WARN("skipped: " << prometheus_binary << " is not installed (Debian package prometheus)");
        return;
    }
    Sandbox sandbox;
    register_version(sandbox, 42);
    REQUIRE(sandbox.run("models alias cancer@champion 1").exit_code == 0);
    sandbox.write("deploy.yaml", "endpoints:\n  cancer:\n    model: cancer@champion\n");
    const Server server = start_server(sandbox, "deploy.yaml");
    ServerGuard guard(server);
    const std::string target = "127.0.0.1:" + std::to_string(server.port);

    Prometheus prometheus(sandbox, server.port);
    if (const std::string why = prometheus.start(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    INFO("prometheus log:\n" << prometheus.log().substr(0, 4000));

    // Seven good requests of different sizes and two the protocol refuses.
    constexpr int good = 7, bad = 2;
    for (int i = 0; i < good; ++i)
        REQUIRE(curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), matrix_request(1 + 20 * i)).status == 200);
    for (int i = 0; i < bad; ++i)
        REQUIRE(curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), "{\"inputs\": [").status == 400);

    // The counters, as Prometheus has them once it scraped after the requests. Other labels
    // (version, variant) are summed over: the endpoint and the code are what is asserted.
    const std::string ok = "sum(trellis_requests_total{job=\"trellis\",endpoint=\"cancer\",code=\"200\"})";
    CHECK(wait_for_value([&] { return prometheus.value(ok); }, good) == good);
    CHECK(prometheus.value("sum(trellis_requests_total{job=\"trellis\",endpoint=\"cancer\",code=\"400\"})") == bad);
    CHECK(prometheus.value("sum(trellis_requests_total{endpoint=\"cancer\"})") == good + bad);
    const json series = prometheus.query("trellis_requests_total{endpoint=\"cancer\"}");
    REQUIRE(series.size() >= 2);
    std::set<std::string> codes;
    for (const auto& one : series) {
        const json& labels = one.at("metric");
        INFO(labels.dump());
        CHECK(labels.at("job") == "trellis");
        CHECK(labels.at("instance") == target);
        CHECK(labels.at("version") == "1");
        codes.insert(labels.at("code").get<std::string>());
    }
    CHECK(codes == std::set<std::string>{"200", "400"});

    // The latency histogram: every bucket /metrics exposes is in Prometheus, cumulative, the +Inf
    // bucket and the count equal to the requests, and a quantile can be computed from it.
    std::set<std::string> exposed;
    {
        std::istringstream lines(curl(sandbox, "GET", server.url("/metrics")).body);
        std::string line;
        while (std::getline(lines, line))
            if (line.rfind("trellis_request_duration_seconds_bucket{", 0) == 0 &&
                line.find("endpoint=\"cancer\"") != std::string::npos) {
                const auto le = line.find("le=\"") + 4;
                exposed.insert(line.substr(le, line.find('"', le) - le));
            }
    }
    REQUIRE(exposed.size() >= 2);
    REQUIRE(exposed.count("+Inf") == 1);
    const json buckets = prometheus.query("sum by (le) (trellis_request_duration_seconds_bucket{endpoint=\"cancer\"})");
    CHECK(buckets.size() == exposed.size());
    std::map<double, double> cumulative; // upper bound -> requests at or below it
    for (const auto& bucket : buckets) {
        const std::string le = bucket.at("metric").at("le");
        cumulative[le == "+Inf" ? INFINITY : std::stod(le)] = std::stod(bucket.at("value").at(1).get<std::string>());
    }
    double previous = 0;
    for (const auto& [bound, count] : cumulative) {
        INFO("le " << bound);
        CHECK(count >= previous);
        previous = count;
    }
    CHECK(cumulative[INFINITY] == good + bad);
    CHECK(prometheus.value("sum(trellis_request_duration_seconds_count{endpoint=\"cancer\"})") == good + bad);
    CHECK(prometheus.value("sum(trellis_request_duration_seconds_sum{endpoint=\"cancer\"})") > 0);
    const double p99 = prometheus.value(
        "histogram_quantile(0.99, sum by (le) (trellis_request_duration_seconds_bucket{endpoint=\"cancer\"}))");
    CHECK(std::isfinite(p99));
    CHECK(p99 > 0);
    // The server's own gauges and counters are there too.
    CHECK(prometheus.value("trellis_http_open_connections{job=\"trellis\"}") >= 1); // the scrape's own
    CHECK(prometheus.value("trellis_http_overload_refusals_total{job=\"trellis\"}") == 0);

    // up is 1 while trellis answers, and 0 once it has stopped.
    CHECK(prometheus.value("up{job=\"trellis\",instance=\"" + target + "\"}") == 1);
    CHECK(guard.stop() == 0);
    CHECK(wait_for_value([&] { return prometheus.value("up{job=\"trellis\"}"); }, 0) == 0);
    CHECK(prometheus.stop() == 0);
}
