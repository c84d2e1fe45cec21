// One HTTP/1.1 server for every trellis endpoint (Boost.Beast's "advanced server" pattern): a
// fixed pool of threads running one io_context, one session per connection, limits set on the
// parser before anything is read, a timeout on every read (slowloris), a cap on open connections
// and on requests being worked on (503 with Retry-After), and a graceful drain for SIGTERM.
// Handlers are plain functions from a request to a response; they run on the pool's threads.
#pragma once

#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace trellis::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;

struct ServerLimits {
    size_t max_body_bytes = 1 << 20;           // larger bodies get 413
    size_t max_header_bytes = 8 * 1024;        // larger headers get 431
    std::chrono::milliseconds read_timeout{10'000};  // a request must arrive whole within this
    std::chrono::milliseconds idle_timeout{60'000};  // a kept-alive connection waits this long
    size_t max_connections = 20'000;           // more get 503 and are closed
    size_t max_in_flight = 4'096;              // more requests being worked on get 503
};

struct ServerOptions {
    std::string address = "127.0.0.1";
    unsigned short port = 8080; // 0: any free port (see HttpServer::port)
    unsigned threads = 0;       // 0: one per core
    ServerLimits limits;
};

// Paths a handler answers even when the server is overloaded (health checks, metrics).
using ExemptPath = std::function<bool(const std::string& target)>;
using Handler = std::function<Response(const Request&)>;

// Counters the server keeps about itself, read by /metrics.
struct ServerCounters {
    std::atomic<int64_t> open_connections{0};
    std::atomic<int64_t> in_flight{0};
    std::atomic<int64_t> refused_overloaded{0}; // 503s for too many connections or requests
};

class HttpServer {
public:
    // Binds and listens (throws std::runtime_error naming the address when it cannot), but does
    // not serve until start().
    HttpServer(ServerOptions options, Handler handler, ExemptPath exempt);
    ~HttpServer();

    // Starts the thread pool.
    void start();
    // The port actually bound (useful with port 0).
    unsigned short port() const;
    const ServerCounters& counters() const;
    // Stops accepting (connections the kernel has already completed are still taken); responses
    // after this ask clients to close their connections.
    void stop_accepting();
    // Waits until no request is being worked on, at most `limit`; true when none is left. After
    // stop_accepting(), waits until every connection has closed: each answers the request it has
    // (sent before the drain or arriving on a connection accepted before it), kept-alive
    // connections waiting for a next request are closed at once, and new ones that have sent
    // nothing get read_timeout to send their request. False when a request was still being read
    // or answered at `limit`.
    bool wait_idle(std::chrono::milliseconds limit);
    // Closes every connection and joins the threads.
    void stop();

    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // The listener, pool and sessions (http_server.cpp); public only so the sessions can name it.
    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// A response with `status`, a content type and a body, keep-alive as the request asked.
Response make_response(const Request& request, beast_http::status status, std::string body,
                       const char* content_type = "application/json");

} // namespace trellis::http
