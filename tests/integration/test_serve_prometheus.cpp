// `trellis serve`'s /metrics scraped by a real Prometheus (the Debian package's /usr/bin/prometheus),
// started here on a private port with a private TSDB folder and a 1 s scrape interval: after some
// infer requests, Prometheus's query API must hold the request counters with the right labels and
// values, the latency histogram's buckets, and up == 1 (then 0 once trellis has stopped). Where
// Prometheus is not installed or cannot start, the test reports "skipped: <why>", which ctest
// shows as skipped (its own executable, see tests/CMakeLists.txt).
#include "serve_helpers.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmath>
#include <map>
#include <set>

using namespace trellis::testing;
using nlohmann::json;

namespace {

// The Debian package's binary; TRELLIS_TEST_PROMETHEUS names another (or a missing one, to see the skip).
const std::string prometheus_binary = std::getenv("TRELLIS_TEST_PROMETHEUS") ? std::getenv("TRELLIS_TEST_PROMETHEUS")
                                                                              : "/usr/bin/prometheus";

// A port nothing listens on now (Prometheus is told to listen there; a clash is retried).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t size = sizeof address;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0)
        port = ntohs(address.sin_port);
    ::close(fd);
    return port;
}

// A Prometheus process in its own process group, stopped (SIGTERM, then SIGKILL) when destroyed.
class Prometheus {
public:
    Prometheus(const Sandbox& sandbox, int target_port) : sandbox_(sandbox) {
        sandbox.write("prometheus.yml", "global:\n"
                                        "  scrape_interval: 1s\n"
                                        "  scrape_timeout: 1s\n"
                                        "  evaluation_interval: 1s\n"
                                        "scrape_configs:\n"
                                        "  - job_name: trellis\n"
                                        "    static_configs:\n"
                                        "      - targets: ['127.0.0.1:" +
                                            std::to_string(target_port) + "']\n");
        log_ = sandbox.dir() / "prometheus.log";
    }
    ~Prometheus() { stop(); }

    // Starts it and waits until /-/ready answers; "" when ready, otherwise why not.
    std::string start() {
        std::string why;
        for (int attempt = 0; attempt < 3; ++attempt) {
            port_ = free_port();
            const std::vector<std::string> args = {
                prometheus_binary,
                "--config.file=" + (sandbox_.dir() / "prometheus.yml").string(),
                "--storage.tsdb.path=" + (sandbox_.dir() / "tsdb").string(),
                "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                "--log.level=info",
            };
            pid_ = spawn(args);
            if (pid_ < 0) return "cannot start " + prometheus_binary + ": " + std::strerror(errno);
            for (int i = 0; i < 600; ++i) {
                int status = 0;
                if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                    pid_ = -1;
                    break;
                }
                if (curl(sandbox_, "GET", url("/-/ready"), std::nullopt, "-m 2").status == 200) return "";
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            const std::string log = read_file(log_);
            why = "prometheus did not become ready: " + log.substr(log.size() > 600 ? log.size() - 600 : 0);
            stop();
            if (log.find("address already in use") == std::string::npos) break;
        }
        return why;
    }

    // Stops it; its exit code (128 + signal when it had to be killed), -1 when not running.
    int stop() {
        if (pid_ < 0) return -1;
        ::kill(pid_, SIGTERM);
        int status = 0;
        bool exited = false;
        for (int i = 0; i < 400 && !exited; ++i) {
            exited = ::waitpid(pid_, &status, WNOHANG) == pid_;
            if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ::kill(-pid_, SIGKILL);
        if (!exited) ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
    std::string log() const { return read_file(log_); }

    // An instant query's result vector (throws when Prometheus does not answer with success).
    json query(const std::string& expression) const {
        const Reply reply = curl(sandbox_, "GET", url("/api/v1/query"), std::nullopt,
                                 "-m 10 -G --data-urlencode " + quote("query=" + expression));
        if (reply.status != 200) throw std::runtime_error("query " + expression + ": HTTP " + std::to_string(reply.status) + " " + reply.body);
        const json answer = json::parse(reply.body);
        if (answer.at("status") != "success") throw std::runtime_error("query " + expression + ": " + reply.body);
        return answer.at("data").at("result");
    }

    // The value of a query that gives one series, NaN when it gives none (not scraped yet).
    double value(const std::string& expression) const {
        const json result = query(expression);
        if (result.empty()) return std::nan("");
        return std::stod(result.at(0).at("value").at(1).get<std::string>());
    }

private:
    pid_t spawn(const std::vector<std::string>& args) {
        std::vector<std::string> text = args;
        std::vector<char*> argv;
        for (auto& item : text) argv.push_back(item.data());
        argv.push_back(nullptr);
        const std::string dir = sandbox_.dir().string(), log = log_.string();
        const pid_t pid = ::fork();
        if (pid != 0) return pid;
        ::setpgid(0, 0);
        if (::chdir(dir.c_str()) != 0) ::_exit(127);
        const int in = ::open("/dev/null", O_RDONLY);
        const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || out < 0) ::_exit(127);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }

    const Sandbox& sandbox_;
    fs::path log_;
    pid_t pid_ = -1;
    int port_ = 0;
};

// Waits until `value()` equals `wanted` (Prometheus scrapes each second); the last value seen.
template <class Value>
double wait_for_value(Value value, double wanted, std::chrono::seconds limit = std::chrono::seconds(40)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    double seen = value();
    while (seen != wanted && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        seen = value();
    }
    return seen;
}

} // namespace

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
