// `trellis serve` under attack and under load, through the real binary: 10,000 idle connections
// (bounded threads and memory, 503 with Retry-After past max_connections, recovery after), a
// slowloris client and idle connections cut off by the read and idle timeouts while normal
// clients are served, overload past max_in_flight (503 with Retry-After, health exempt, counted
// in /metrics), and SIGTERM during traffic (readiness 503, requests already sent answered, exit 0).
// The clients are raw HTTP/1.1 over POSIX sockets, so the tests see exactly what arrives.
#include "serve_helpers.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace trellis::testing;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

double seconds_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

// ---------------------------------------------------------------- a raw HTTP/1.1 client

// A connected socket to 127.0.0.1:port, or -1 with errno set (ECONNREFUSED, EMFILE, ...).
int open_connection(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        if (errno == EINTR) continue;
        const int error = errno;
        ::close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

// Closes with a reset instead of a FIN: the client side then keeps no TIME_WAIT entry, so 10,000
// closed connections do not hold 10,000 ephemeral ports for a minute (other tests need them).
void abort_connection(int fd) {
    const linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
}

std::string http_request(const std::string& method, const std::string& path, const std::string& body = "",
                         bool keep_alive = false) {
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!keep_alive) request += "Connection: close\r\n";
    if (!body.empty() || method == "POST")
        request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    return request + "\r\n" + body;
}

struct RawReply {
    int status = 0;                             // 0 until a whole status line and headers arrived
    std::map<std::string, std::string> headers; // names in lower case
    std::string body;
    size_t received = 0;     // bytes received in all
    bool complete = false;   // headers and the whole body (Content-Length) arrived
    bool closed = false;     // the server closed the connection (EOF)
    bool timed_out = false;  // nothing more arrived within the timeout
    int error = 0;           // errno of a failed read (ECONNRESET, ...)

    std::string header(const std::string& name) const {
        const auto found = headers.find(name);
        return found == headers.end() ? "" : found->second;
    }
    std::string describe() const {
        return "status " + std::to_string(status) + ", " + std::to_string(received) + " bytes, complete " +
               std::to_string(complete) + ", closed " + std::to_string(closed) + ", timed out " +
               std::to_string(timed_out) + ", error " + (error ? std::strerror(error) : "none");
    }
};

// Parses what arrived so far; true once a whole response is there.
bool parse_reply(const std::string& data, RawReply& reply) {
    const auto end = data.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    std::istringstream head(data.substr(0, end));
    std::string line;
    std::getline(head, line);
    if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) return false;
    reply.status = std::atoi(line.c_str() + 9);
    reply.headers.clear();
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        reply.headers[name] = value;
    }
    const size_t length = static_cast<size_t>(std::atoll(reply.header("content-length").c_str()));
    if (data.size() < end + 4 + length) return false;
    reply.body = data.substr(end + 4, length);
    return true;
}

// Reads one response; stops at its end, at EOF, at an error, or when nothing arrives for `timeout`.
RawReply read_reply(int fd, milliseconds timeout = milliseconds(30'000)) {
    RawReply reply;
    std::string data;
    char chunk[65536];
    for (;;) {
        pollfd waiting{fd, POLLIN, 0};
        const int ready = ::poll(&waiting, 1, static_cast<int>(timeout.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) {
            reply.timed_out = true;
            return reply;
        }
        const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            reply.error = errno;
            return reply;
        }
        if (got == 0) {
            reply.closed = true;
            return reply;
        }
        data.append(chunk, static_cast<size_t>(got));
        reply.received = data.size();
        if (parse_reply(data, reply)) {
            reply.complete = true;
            return reply;
        }
    }
}

// One request on a new connection (Connection: close).
RawReply round_trip(int port, const std::string& request, milliseconds timeout = milliseconds(30'000)) {
    const int fd = open_connection(port);
    if (fd < 0) {
        RawReply refused;
        refused.error = errno;
        return refused;
    }
    RawReply reply;
    if (!send_all(fd, request)) reply.error = errno;
    else reply = read_reply(fd, timeout);
    ::close(fd);
    return reply;
}

// ---------------------------------------------------------------- the server process and its metrics

// A number from /proc/PID/status ("Threads", "VmRSS" in kB); -1 when missing.
long proc_status(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
    return -1;
}

// The value of an unlabelled series in Prometheus text (-1 when missing).
double metric(const std::string& text, const std::string& name) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line))
        if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
    return -1;
}

std::string metrics_of(int port) {
    const RawReply reply = round_trip(port, http_request("GET", "/metrics"));
    return reply.status == 200 ? reply.body : "";
}

// "200: 12, 503: 3".
std::string counts(const std::map<int, int>& by_status) {
    std::string out;
    for (const auto& [status, count] : by_status)
        out += (out.empty() ? "" : ", ") + std::to_string(status) + ": " + std::to_string(count);
    return out;
}

// Waits (up to `limit`) until `done()` holds; true when it did.
template <class Done>
bool wait_until(Done done, milliseconds limit) {
    const auto until = Clock::now() + limit;
    while (!done()) {
        if (Clock::now() >= until) return false;
        std::this_thread::sleep_for(milliseconds(50));
    }
    return true;
}

// Registers version 1 of "cancer" at champion and starts a server on `deployment`.
Server serve_cancer(const Sandbox& sandbox, const std::string& deployment) {
    register_version(sandbox, 42);
    REQUIRE(sandbox.run("models alias cancer@champion 1").exit_code == 0);
    sandbox.write("deploy.yaml", deployment + "endpoints:\n  cancer:\n    model: cancer@champion\n");
    return start_server(sandbox, "deploy.yaml");
}

} // namespace

TEST_CASE("serve load: ten thousand idle connections leave health and infer answering with bounded threads and memory",
          "[serve][load]") {
    constexpr int idle_count = 10'000;
    constexpr int spare = 10; // max_connections - idle_count
    constexpr int extra = 40; // connections past the 10,000: `spare` of them fit, the rest are refused
    rlimit files{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &files) == 0);
    INFO("RLIMIT_NOFILE hard limit " << files.rlim_max);
    REQUIRE(files.rlim_max >= static_cast<rlim_t>(idle_count + extra + 200));
    files.rlim_cur = files.rlim_max; // the server, started below, inherits it
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &files) == 0);

    Sandbox sandbox;
    const Server server = serve_cancer(sandbox, "server:\n  threads: 4\n  limits:\n    max_connections: " +
                                                    std::to_string(idle_count + spare) + "\n");
    ServerGuard guard(server);
    const pid_t pid = server.process.pid;
    const std::string infer = http_request("POST", "/v2/models/cancer/infer", matrix_request(3));
    REQUIRE(round_trip(server.port, infer).status == 200);
    const long threads_before = proc_status(pid, "Threads");
    const long rss_before = proc_status(pid, "VmRSS");
    REQUIRE(threads_before > 0);

    std::vector<int> idle;
    idle.reserve(idle_count);
    const auto close_idle = [&] {
        for (int fd : idle) abort_connection(fd);
        idle.clear();
    };
    struct CloseAtEnd {
        std::function<void()> close;
        ~CloseAtEnd() { close(); }
    } close_at_end{close_idle};
    const auto opening = Clock::now();
    for (int i = 0; i < idle_count; ++i) {
        const int fd = open_connection(server.port);
        if (fd < 0) FAIL("connection " << i << " failed: " << std::strerror(errno));
        idle.push_back(fd);
    }
    // The server has accepted them all once it counts them (/metrics' own connection is one more).
    double open_now = 0;
    const bool all_open = wait_until(
        [&] { return (open_now = metric(metrics_of(server.port), "trellis_http_open_connections")) >= idle_count; },
        milliseconds(30'000));
    INFO("open connections counted by the server: " << open_now << " after "
                                                     << seconds_between(opening, Clock::now()) << " s");
    REQUIRE(all_open);

    // While they are open: health and an infer through curl, and the server's threads and memory.
    CHECK(curl(sandbox, "GET", server.url("/v2/health/live")).status == 200);
    CHECK(curl(sandbox, "GET", server.url("/v2/health/ready")).status == 200);
    const auto inferred = curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), matrix_request(3));
    CHECK(inferred.status == 200);
    const long threads_during = proc_status(pid, "Threads");
    const long rss_during = proc_status(pid, "VmRSS");
    // A fixed pool: no thread per connection. Beside the 4 configured threads the process has its
    // main thread, the reload thread and sanitizer threads; those are all in threads_before.
    CHECK(threads_during <= threads_before + 2);
    CHECK(threads_during <= 4 + 12);
    // Memory: in the ASan Debug build the server starts at about 310 MB (the sanitizer's shadow
    // memory and the loaded plugins) and 10,000 idle connections add about 128 MB, 13 kB each (a
    // session, its socket and 8 kB read buffer, the sanitizer's redzones). 20 kB each, 200 MB in all,
    // leaves room for allocator slack but not for another buffer per connection; a Release build
    // needs far less.
    INFO("threads " << threads_before << " -> " << threads_during << ", VmRSS " << rss_before / 1024 << " MB -> "
                    << rss_during / 1024 << " MB");
    CHECK(rss_during - rss_before < 20 * idle_count);

    // Past max_connections: 503 with Retry-After, then closed. At most `spare` extra connections
    // still fit; they are answered 200 and kept alive, so they hold their places, and every other
    // one is refused, whatever the order the server accepts them in.
    std::vector<int> more;
    for (int i = 0; i < extra; ++i) {
        const int fd = open_connection(server.port);
        REQUIRE(fd >= 0);
        more.push_back(fd);
    }
    int refused = 0, served = 0;
    std::string order;
    for (int fd : more) {
        // Refused connections are answered without reading a request; the request is sent anyway,
        // as a real client would.
        send_all(fd, http_request("GET", "/v2/health/live", "", true));
        const RawReply reply = read_reply(fd, milliseconds(20'000));
        INFO(reply.describe());
        CHECK(reply.complete);
        order += std::to_string(reply.status) + " ";
        if (reply.status == 503) {
            ++refused;
            CHECK(reply.header("retry-after") == "1");
            CHECK_THAT(reply.body, Catch::Contains("too many open connections"));
            // ... and then closed by the server.
            const RawReply end = read_reply(fd, milliseconds(10'000));
            CHECK(end.received == 0);
            CHECK((end.closed || end.error != 0));
        } else {
            CHECK(reply.status == 200);
            ++served;
        }
    }
    INFO("extra connections answered, in order: " << order);
    CHECK(refused >= extra - spare);
    CHECK(served <= spare);
    CHECK(refused + served == extra);
    for (int fd : more) ::close(fd);
    // Every refusal is counted. Until the server has seen those closes, /metrics may be refused
    // itself: such a refusal is counted too.
    RawReply counted;
    for (int i = 0; i < 100 && counted.status != 200; ++i) {
        counted = round_trip(server.port, http_request("GET", "/metrics"));
        if (counted.status == 503) ++refused;
        if (counted.status != 200) std::this_thread::sleep_for(milliseconds(50));
    }
    REQUIRE(counted.status == 200);
    CHECK(metric(counted.body, "trellis_http_overload_refusals_total") == refused);

    // After closing them: the server counts them gone and serves as before.
    close_idle();
    const bool all_closed = wait_until(
        [&] { return (open_now = metric(metrics_of(server.port), "trellis_http_open_connections")) <= 1; },
        milliseconds(30'000));
    INFO("open connections after closing: " << open_now);
    CHECK(all_closed);
    CHECK(curl(sandbox, "POST", server.url("/v2/models/cancer/infer"), matrix_request(3)).status == 200);
    CHECK(curl(sandbox, "GET", server.url("/v2/health/ready")).status == 200);
    CHECK(proc_status(pid, "Threads") <= threads_before + 2);
    CHECK(guard.stop() == 0);
}

TEST_CASE("serve load: a slowloris client is cut off by the read timeout and idle connections by the idle timeout "
          "while normal clients are served",
          "[serve][load]") {
    Sandbox sandbox;
    // One thread: a server that gave a connection a thread could serve nobody else meanwhile.
    const Server server = serve_cancer(sandbox, "server:\n  threads: 1\n  limits:\n    read_timeout: 4s\n"
                                                "    idle_timeout: 5s\n");
    ServerGuard guard(server);
    const double read_timeout = 4, idle_timeout = 5;

    // The slowloris client: a request of 400 bytes, one byte every 100 ms (40 s if let be).
    const std::string trickle = "GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + std::string(340, 'a') +
                                "\r\nConnection: close\r\n\r\n";
    const int slow = open_connection(server.port);
    REQUIRE(slow >= 0);
    // An idle connection that never sends, and one that goes idle after a request.
    const auto silent_opened = Clock::now();
    const int silent = open_connection(server.port);
    REQUIRE(silent >= 0);
    const int kept = open_connection(server.port);
    REQUIRE(kept >= 0);
    REQUIRE(send_all(kept, http_request("GET", "/v2/health/live", "", true)));
    const RawReply first = read_reply(kept, milliseconds(20'000));
    REQUIRE(first.status == 200);
    REQUIRE(first.header("connection") != "close");
    const auto kept_idle_since = Clock::now();
    // Each watched on its own, so that the time of each close is seen when it happens.
    RawReply silent_end, kept_end;
    Clock::time_point silent_closed, kept_closed;
    std::thread silent_watch([&] {
        silent_end = read_reply(silent, milliseconds(20'000));
        silent_closed = Clock::now();
    });
    std::thread kept_watch([&] {
        kept_end = read_reply(kept, milliseconds(20'000));
        kept_closed = Clock::now();
    });

    Clock::time_point first_byte, cut_off;
    size_t bytes_sent = 0;
    RawReply slow_reply;
    std::thread slowloris([&] {
        first_byte = Clock::now();
        for (char c : trickle) {
            if (!send_all(slow, std::string_view(&c, 1))) break;
            ++bytes_sent;
            pollfd answer{slow, POLLIN, 0};
            if (::poll(&answer, 1, 100) > 0) break; // the server answered or closed
        }
        slow_reply = read_reply(slow, milliseconds(10'000));
        cut_off = Clock::now();
    });

    // Normal clients meanwhile (the slowloris is cut off no earlier than 4 s in).
    std::this_thread::sleep_for(milliseconds(300));
    std::vector<int> statuses;
    const auto normal_started = Clock::now();
    statuses.push_back(round_trip(server.port, http_request("GET", "/v2/health/live")).status);
    statuses.push_back(round_trip(server.port, http_request("POST", "/v2/models/cancer/infer", matrix_request(2))).status);
    statuses.push_back(curl(sandbox, "GET", server.url("/v2/health/ready")).status);
    const auto normal_done = Clock::now();

    // The idle connections: closed by the server after idle_timeout, not before.
    slowloris.join();
    silent_watch.join();
    kept_watch.join();
    const double silent_after = seconds_between(silent_opened, silent_closed);
    const double kept_after = seconds_between(kept_idle_since, kept_closed);
    ::close(slow);
    ::close(silent);
    ::close(kept);

    const double slow_after = seconds_between(first_byte, cut_off);
    INFO("slowloris: " << bytes_sent << " of " << trickle.size() << " bytes sent, cut off after " << slow_after
                       << " s; " << slow_reply.describe());
    CHECK(bytes_sent < trickle.size());
    // Cut off: a 408, or the connection closed (a reset too), and nothing else.
    CHECK((slow_reply.status == 408 || (slow_reply.received == 0 && (slow_reply.closed || slow_reply.error != 0))));
    CHECK(slow_after >= 0.9 * read_timeout);
    CHECK(slow_after <= read_timeout + 3);
    CHECK(statuses == std::vector<int>{200, 200, 200});
    // ... served while the slowloris was still holding its connection.
    CHECK(normal_done < cut_off);
    CHECK(seconds_between(normal_started, normal_done) < read_timeout);

    INFO("silent connection closed after " << silent_after << " s: " << silent_end.describe());
    INFO("kept-alive connection closed after " << kept_after << " s idle: " << kept_end.describe());
    CHECK(silent_end.received == 0);
    CHECK((silent_end.closed || silent_end.error != 0));
    CHECK(silent_after >= 0.9 * idle_timeout);
    CHECK(silent_after <= idle_timeout + 3);
    CHECK(kept_end.received == 0);
    CHECK((kept_end.closed || kept_end.error != 0));
    CHECK(kept_after >= 0.9 * idle_timeout);
    CHECK(kept_after <= idle_timeout + 3);

    CHECK(round_trip(server.port, http_request("GET", "/v2/health/live")).status == 200);
    CHECK(guard.stop() == 0);
}

TEST_CASE("serve load: past max_in_flight requests get 503 with Retry-After while health answers, then all succeed",
          "[serve][load]") {
    Sandbox sandbox;
    // Handlers run on the server's threads, so no more requests than threads are worked on at once
    // (beside responses still being written): max_in_flight below the thread count is what can be
    // exceeded. Not 1: a client sending one request after another could then be refused while the
    // server is still finishing the write of its previous response.
    const Server server =
        serve_cancer(sandbox, "server:\n  threads: 4\n  limits:\n    max_in_flight: 2\n    idle_timeout: 20s\n");
    ServerGuard guard(server);
    const std::string infer = http_request("POST", "/v2/models/cancer/infer", matrix_request(569)); // the whole data
    REQUIRE(round_trip(server.port, infer).status == 200);
    const double refusals_before = metric(metrics_of(server.port), "trellis_http_overload_refusals_total");
    REQUIRE(refusals_before == 0);

    constexpr int clients = 12, requests_each = 8;
    std::mutex mutex;
    std::map<int, int> statuses; // status -> count, 0 for no complete reply
    std::vector<std::string> problems;
    std::atomic<bool> loading{true};
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
        threads.emplace_back([&] {
            for (int r = 0; r < requests_each; ++r) {
                const RawReply reply = round_trip(server.port, infer);
                std::lock_guard lock(mutex);
                ++statuses[reply.complete ? reply.status : 0];
                if (!reply.complete) problems.push_back("infer: " + reply.describe());
                if (reply.status == 503) {
                    if (reply.header("retry-after") != "1") problems.push_back("a 503 without Retry-After: 1");
                    if (reply.body.find("overloaded") == std::string::npos) problems.push_back("503 body: " + reply.body);
                }
            }
        });
    // Health throughout, on connections of its own, while the load runs.
    std::map<int, int> health;
    std::thread prober([&] {
        while (loading) {
            const RawReply reply = round_trip(server.port, http_request("GET", "/v2/health/live"));
            {
                std::lock_guard lock(mutex);
                ++health[reply.complete ? reply.status : 0];
            }
            std::this_thread::sleep_for(milliseconds(20));
        }
    });
    for (auto& thread : threads) thread.join();
    loading = false;
    prober.join();

    INFO("infer statuses (0: no reply): " << counts(statuses));
    INFO("health statuses: " << counts(health));
    for (const auto& problem : problems) FAIL_CHECK(problem);
    CHECK(statuses[200] > 0);
    CHECK(statuses[503] > 0);
    CHECK(statuses[200] + statuses[503] == clients * requests_each);
    CHECK(health.size() == 1);
    CHECK(health[200] > 0);
    const std::string after = metrics_of(server.port);
    CHECK(metric(after, "trellis_http_overload_refusals_total") - refusals_before == statuses[503]);
    // Nothing is left being worked on but the /metrics request asking.
    CHECK(wait_until([&] { return metric(metrics_of(server.port), "trellis_http_requests_in_flight") == 1; },
                     milliseconds(10'000)));

    // The load is over: every request succeeds again.
    int succeeded = 0;
    std::string after_load;
    for (int i = 0; i < 10; ++i) {
        const RawReply reply = round_trip(server.port, infer);
        succeeded += reply.status == 200;
        after_load += std::to_string(reply.status) + " " + reply.body.substr(0, 80) + "\n";
    }
    INFO("after the load:\n" << after_load);
    CHECK(succeeded == 10);
    CHECK(guard.stop() == 0);
}

TEST_CASE("serve load: SIGTERM during traffic turns readiness 503, answers every request already sent, exits 0",
          "[serve][load]") {
    Sandbox sandbox;
    // One thread, so that at SIGTERM requests wait that have been sent but not yet started.
    const Server server =
        serve_cancer(sandbox, "server:\n  threads: 1\n  drain_timeout: 20s\n  limits:\n    read_timeout: 5s\n");
    ServerGuard guard(server);
    const std::string infer = http_request("POST", "/v2/models/cancer/infer", matrix_request(100));
    REQUIRE(round_trip(server.port, infer).status == 200);
    REQUIRE(round_trip(server.port, http_request("GET", "/v2/health/ready")).status == 200);

    struct Attempt {
        Clock::time_point connecting, connected, replied;
        bool refused = false; // connect() failed: the listener is closed
        RawReply reply;
    };
    constexpr int clients = 6;
    std::mutex mutex;
    std::vector<Attempt> attempts;
    std::atomic<bool> stop{false};
    std::atomic<int> answered{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
        threads.emplace_back([&] {
            while (!stop) {
                Attempt attempt;
                attempt.connecting = Clock::now();
                const int fd = open_connection(server.port);
                const int error = errno;
                attempt.connected = Clock::now();
                if (fd < 0) {
                    attempt.refused = error == ECONNREFUSED;
                    attempt.reply.error = error;
                } else {
                    if (!send_all(fd, infer)) attempt.reply.error = errno;
                    else attempt.reply = read_reply(fd, milliseconds(30'000));
                    ::close(fd);
                }
                attempt.replied = Clock::now();
                if (attempt.reply.status == 200) ++answered;
                std::lock_guard lock(mutex);
                attempts.push_back(attempt);
                if (attempt.refused) return; // the server is going away
            }
        });
    // Traffic is flowing; connections for the readiness probe are open before SIGTERM (new
    // connections are refused once the listener has closed).
    const bool flowing = wait_until([&] { return answered >= 20; }, milliseconds(60'000));
    std::vector<int> probes;
    for (int i = 0; i < 3; ++i) {
        probes.push_back(open_connection(server.port));
        REQUIRE(probes.back() >= 0);
    }
    const auto sigterm = Clock::now();
    ::kill(server.process.pid, SIGTERM);
    // Once the server says it is draining, readiness must say so (on the connection opened before).
    const bool logged =
        wait_until([&] { return read_file(server.process.err).find("readiness is now 503") != std::string::npos; },
                   milliseconds(20'000));
    // The log line comes just before readiness turns: should a probe still get 200, the next one
    // asks again.
    RawReply readiness;
    std::string probed;
    for (int fd : probes) {
        if (readiness.status != 503) {
            readiness = RawReply{};
            if (send_all(fd, http_request("GET", "/v2/health/ready"))) readiness = read_reply(fd, milliseconds(20'000));
            probed += readiness.describe() + "; ";
            if (readiness.status == 200) std::this_thread::sleep_for(milliseconds(100));
        }
        ::close(fd);
    }
    const Result exited = server.process.wait();
    guard.released();
    const auto gone = Clock::now();
    stop = true;
    for (auto& thread : threads) thread.join();

    REQUIRE(flowing);
    CHECK(logged);
    INFO("readiness during the drain: " << probed << readiness.body);
    CHECK(readiness.status == 503);
    CHECK(readiness.complete);
    CHECK(exited.exit_code == 0);
    CHECK(seconds_between(sigterm, gone) < 15); // drained, not cut off at the drain timeout
    CHECK_THAT(exited.err, !Catch::Contains("cut off"));

    // Connections made before SIGTERM carried requests the server had to answer: every one is a
    // complete 200, including those still waiting at SIGTERM. After SIGTERM a client may instead
    // find the listener closed (refused), or, connecting in the instant the listener closes,
    // have its connection reset before any byte of a reply; never a partial or failed reply.
    int before = 0, in_flight_at_sigterm = 0, after_ok = 0, after_refused = 0, after_reset = 0;
    for (const Attempt& attempt : attempts) {
        INFO("attempt connected " << seconds_between(sigterm, attempt.connected) << " s after SIGTERM, replied "
                                  << seconds_between(sigterm, attempt.replied) << " s after: " << attempt.reply.describe());
        if (attempt.connected < sigterm && !attempt.refused) {
            ++before;
            if (attempt.replied > sigterm) ++in_flight_at_sigterm;
            CHECK(attempt.reply.complete);
            CHECK(attempt.reply.status == 200);
        } else if (attempt.refused) {
            ++after_refused;
        } else if (attempt.reply.complete) {
            ++after_ok;
            CHECK(attempt.reply.status == 200);
        } else {
            ++after_reset;
            CHECK(attempt.reply.received == 0);
        }
    }
    INFO(before << " requests connected before SIGTERM (" << in_flight_at_sigterm << " in flight at SIGTERM), after: "
                << after_ok << " answered, " << after_refused << " refused, " << after_reset << " reset");
    CHECK(in_flight_at_sigterm >= 2);
    CHECK(before >= 20);
}
