// A real Prometheus (the Debian package's /usr/bin/prometheus) for tests: started on a private port
// with a private TSDB folder and a 1 s scrape interval of one target, queried through its HTTP API,
// stopped when destroyed. TRELLIS_TEST_PROMETHEUS names another binary (or a missing one, to see
// the tests skip).
#pragma once

#include "serve_helpers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <thread>

namespace trellis::testing {


// The Debian package's binary; TRELLIS_TEST_PROMETHEUS names another (or a missing one, to see the skip).
inline const std::string prometheus_binary = std::getenv("TRELLIS_TEST_PROMETHEUS") ? std::getenv("TRELLIS_TEST_PROMETHEUS")
                                                                              : "/usr/bin/prometheus";

// A port nothing listens on now (Prometheus is told to listen there; a clash is retried).
inline int free_port() {
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
    Prometheus(const Sandbox& sandbox, int target_port) : sandbox_(sandbox), target_port_(target_port) {
        log_ = sandbox.dir() / "prometheus.log";
        write_config();
    }
    // Has Prometheus evaluate the rules in `file` (in the sandbox) too; before start().
    void add_rule_file(const std::string& file) {
        rule_files_.push_back(file);
        write_config();
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
    nlohmann::json query(const std::string& expression) const {
        const Reply reply = curl(sandbox_, "GET", url("/api/v1/query"), std::nullopt,
                                 "-m 10 -G --data-urlencode " + quote("query=" + expression));
        if (reply.status != 200) throw std::runtime_error("query " + expression + ": HTTP " + std::to_string(reply.status) + " " + reply.body);
        const nlohmann::json answer = nlohmann::json::parse(reply.body);
        if (answer.at("status") != "success") throw std::runtime_error("query " + expression + ": " + reply.body);
        return answer.at("data").at("result");
    }

    // The value of a query that gives one series, NaN when it gives none (not scraped yet).
    double value(const std::string& expression) const {
        const nlohmann::json result = query(expression);
        if (result.empty()) return std::nan("");
        return std::stod(result.at(0).at("value").at(1).get<std::string>());
    }

private:
    void write_config() const {
        std::string config = "global:\n"
                             "  scrape_interval: 1s\n"
                             "  scrape_timeout: 1s\n"
                             "  evaluation_interval: 1s\n";
        if (!rule_files_.empty()) config += "rule_files:\n";
        for (const auto& file : rule_files_) config += "  - " + (sandbox_.dir() / file).string() + "\n";
        config += "scrape_configs:\n"
                  "  - job_name: trellis\n"
                  "    static_configs:\n"
                  "      - targets: ['127.0.0.1:" +
                  std::to_string(target_port_) + "']\n";
        sandbox_.write("prometheus.yml", config);
    }

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
    int target_port_ = 0;
    std::vector<std::string> rule_files_;
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

} // namespace trellis::testing
