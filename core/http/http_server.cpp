#include "http/http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>

#include <sys/resource.h>

#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

namespace trellis::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// 10,000 connections need 10,000 descriptors; the soft limit is often 1,024.
void raise_descriptor_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

std::string error_body(const std::string& message) {
    std::string body = "{\"error\":\"";
    for (char c : message) {
        if (c == '"' || c == '\\') body += '\\';
        body += c;
    }
    return body + "\"}";
}

} // namespace

Response make_response(const Request& request, beast_http::status status, std::string body, const char* content_type) {
    Response response{status, request.version()};
    response.set(beast_http::field::server, "trellis");
    response.set(beast_http::field::content_type, content_type);
    response.keep_alive(request.keep_alive());
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
}

namespace {
class Session;
}

struct HttpServer::Impl {
    ServerOptions options;
    Handler handler;
    ExemptPath exempt;
    // Every open session, registered once per connection rather than per request (declared
    // before io: sessions still queued in io leave this map when io destroys them). A drain looks
    // through it for the sessions waiting for a request.
    std::mutex sessions_mutex;
    std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
    asio::io_context io;
    tcp::acceptor acceptor;
    std::vector<std::thread> threads;
    ServerCounters counters;
    std::atomic<bool> draining{false};
    std::atomic<std::chrono::steady_clock::time_point> drain_started{};
    std::atomic<bool> accept_pending{false}; // an async_accept whose handler has not run yet
    std::atomic<bool> listener_closed{false};

    Impl(ServerOptions o, Handler h, ExemptPath e)
        : options(std::move(o)), handler(std::move(h)), exempt(std::move(e)),
          io(static_cast<int>(options.threads)), acceptor(asio::make_strand(io)) {}

    void accept();
    void start_session(tcp::socket socket);
    // While draining: closes the waiting sessions that have no request arriving (see
    // Session::close_if_idle).
    void close_idle_sessions();
    // Sessions waiting for the first byte of a request.
    size_t waiting_count();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket&& socket, HttpServer::Impl& server, bool refuse)
        : stream_(std::move(socket)), server_(server), refuse_(refuse) {
        ++server_.counters.open_connections;
    }
    ~Session() {
        {
            std::lock_guard lock(server_.sessions_mutex);
            server_.sessions.erase(this);
        }
        --server_.counters.open_connections;
    }

    // Whether the session waits for the first byte of a request (read from the drain's thread).
    bool waiting() const { return waiting_.load(); }

    // While draining, on the session's strand: a session waiting for a request with none arriving
    // is closed. One that has answered a request (kept alive) is closed at once; a new one, which
    // may have sent its first request just before the drain, gets read_timeout from the drain's
    // start for it to arrive. Bytes already on the socket are read and answered.
    void close_if_idle() {
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
            // Cancelled, not closed: a read that has just taken a request off the socket (its
            // handler not run yet) completes and the request is answered; otherwise the read
            // handler sees operation_aborted and closes.
            beast::error_code ignored;
            if (self->waiting_ && self->idle_while_draining()) self->stream_.socket().cancel(ignored);
        });
    }

    void run() {
        {
            std::lock_guard lock(server_.sessions_mutex);
            server_.sessions.emplace(this, weak_from_this());
        }
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
            if (self->refuse_) self->refuse_connection();
            else self->wait_for_request();
        });
    }

private:
    // Waits for the first byte of the next request with the idle timeout; the request itself
    // then has the read timeout, so a client trickling bytes cannot hold a connection forever.
    void wait_for_request() {
        if (buffer_.size() > 0) return read_request();
        // The session is registered (since run): a drain that started before is seen here, one
        // that starts after finds it and sends close_if_idle to this strand, which runs after.
        if (server_.draining.load() && idle_while_draining()) return close();
        waiting_ = true;
        stream_.expires_after(server_.options.limits.idle_timeout);
        stream_.async_read_some(buffer_.prepare(8192), [self = shared_from_this()](beast::error_code ec, size_t n) {
            self->waiting_ = false;
            if (ec) return self->close();
            self->buffer_.commit(n);
            self->read_request();
        });
    }

    bool idle_while_draining() {
        beast::error_code ec;
        if (stream_.socket().available(ec) > 0 && !ec) return false;
        return served_ > 0 || std::chrono::steady_clock::now() - server_.drain_started.load() >=
                                  server_.options.limits.read_timeout;
    }

    void read_request() {
        parser_.emplace();
        parser_->body_limit(server_.options.limits.max_body_bytes);
        parser_->header_limit(static_cast<uint32_t>(server_.options.limits.max_header_bytes));
        stream_.expires_after(server_.options.limits.read_timeout);
        beast_http::async_read(stream_, buffer_, *parser_,
                               [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == beast_http::error::end_of_stream) return close();
        if (ec) {
            Request bare;
            bare.version(11);
            bare.keep_alive(false);
            if (ec == beast_http::error::body_limit)
                return send_error(bare, beast_http::status::payload_too_large,
                                  "request body is larger than the limit of " +
                                      std::to_string(server_.options.limits.max_body_bytes) + " bytes");
            if (ec == beast_http::error::header_limit)
                return send_error(bare, beast_http::status::request_header_fields_too_large,
                                  "request headers are larger than the limit of " +
                                      std::to_string(server_.options.limits.max_header_bytes) + " bytes");
            if (ec == beast::error::timeout)
                return send_error(bare, beast_http::status::request_timeout, "the request did not arrive in time");
            if (ec == asio::error::eof || ec == beast_http::error::partial_message ||
                ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
                return close();
            return send_error(bare, beast_http::status::bad_request, "malformed HTTP request: " + ec.message());
        }
        Request request = parser_->release();
        const bool exempt = server_.exempt && server_.exempt(std::string(request.target()));
        const int64_t busy = ++server_.counters.in_flight;
        Response response;
        if (!exempt && busy > static_cast<int64_t>(server_.options.limits.max_in_flight)) {
            ++server_.counters.refused_overloaded;
            response = make_response(request, beast_http::status::service_unavailable,
                                     error_body("the server is overloaded; retry shortly"));
            response.set(beast_http::field::retry_after, "1");
        } else {
            try {
                response = server_.handler(request);
            } catch (const std::exception& e) {
                response = make_response(request, beast_http::status::internal_server_error,
                                         error_body(std::string("internal error: ") + e.what()));
            }
        }
        if (server_.draining.load()) response.keep_alive(false);
        write(std::move(response), true);
    }

    void send_error(const Request& request, beast_http::status status, const std::string& message) {
        ++server_.counters.in_flight; // write() ends it
        Response response = make_response(request, status, error_body(message));
        response.keep_alive(false);
        write(std::move(response), true);
    }

    void refuse_connection() {
        Request bare;
        bare.version(11);
        bare.keep_alive(false);
        Response response = make_response(bare, beast_http::status::service_unavailable,
                                          error_body("too many open connections; retry shortly"));
        response.set(beast_http::field::retry_after, "1");
        response.keep_alive(false);
        ++server_.counters.in_flight;
        write(std::move(response), true);
    }

    void write(Response response, bool counted) {
        response_ = std::move(response);
        stream_.expires_after(server_.options.limits.read_timeout);
        beast_http::async_write(stream_, response_, [self = shared_from_this(), counted](beast::error_code ec, size_t) {
            if (counted) --self->server_.counters.in_flight;
            ++self->served_;
            if (ec || !self->response_.keep_alive()) return self->close();
            self->wait_for_request();
        });
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.close();
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
    HttpServer::Impl& server_;
    Response response_;
    bool refuse_ = false;
    std::atomic<bool> waiting_{false}; // waiting for the first byte of a request
    int served_ = 0;       // responses written
};

} // namespace

void HttpServer::Impl::start_session(tcp::socket socket) {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    const bool full = counters.open_connections.load() >= static_cast<int64_t>(options.limits.max_connections);
    if (full) ++counters.refused_overloaded;
    std::make_shared<Session>(std::move(socket), *this, full)->run();
}

void HttpServer::Impl::accept() {
    accept_pending = true;
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
        // A connection accepted just before the listener closed is served like any other.
        if (!ec) start_session(std::move(socket));
        accept_pending = false;
        if (ec == asio::error::operation_aborted || !acceptor.is_open() || draining.load()) return;
        // Out of descriptors (EMFILE) or the like: keep accepting, the next one may succeed.
        accept();
    });
}

void HttpServer::Impl::close_idle_sessions() {
    // All of them, not only those waiting now: one about to wait has its close_if_idle run on its
    // strand after it has started to.
    std::vector<std::shared_ptr<Session>> open;
    {
        std::lock_guard lock(sessions_mutex);
        for (const auto& [pointer, session] : sessions)
            if (auto alive = session.lock()) open.push_back(std::move(alive));
    }
    for (const auto& session : open) session->close_if_idle();
}

size_t HttpServer::Impl::waiting_count() {
    std::lock_guard lock(sessions_mutex);
    size_t count = 0;
    for (const auto& [pointer, session] : sessions)
        if (auto alive = session.lock(); alive && alive->waiting()) ++count;
    return count;
}

HttpServer::HttpServer(ServerOptions options, Handler handler, ExemptPath exempt) {
    raise_descriptor_limit();
    if (options.threads == 0) options.threads = std::max(1u, std::thread::hardware_concurrency());
    impl_ = std::make_unique<Impl>(std::move(options), std::move(handler), std::move(exempt));
    const std::string where = impl_->options.address + ":" + std::to_string(impl_->options.port);
    beast::error_code ec;
    const auto address = asio::ip::make_address(impl_->options.address, ec);
    if (ec) throw std::runtime_error("cannot listen on " + where + ": '" + impl_->options.address + "' is not an IP address");
    const tcp::endpoint endpoint{address, impl_->options.port};
    auto& acceptor = impl_->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
    impl_->accept();
    for (unsigned i = 0; i < impl_->options.threads; ++i) impl_->threads.emplace_back([this] { impl_->io.run(); });
}

unsigned short HttpServer::port() const {
    beast::error_code ec;
    const auto endpoint = impl_->acceptor.local_endpoint(ec);
    return ec ? 0 : endpoint.port();
}

const ServerCounters& HttpServer::counters() const { return impl_->counters; }

void HttpServer::stop_accepting() {
    if (impl_->draining.load()) return;
    impl_->drain_started = std::chrono::steady_clock::now(); // before draining: sessions read it once they see draining
    impl_->draining = true;
    asio::post(impl_->acceptor.get_executor(), [this] {
        // Connections the kernel has completed already carry requests on their way: accept them
        // before closing, or closing the listener would reset them.
        beast::error_code ec;
        impl_->acceptor.non_blocking(true, ec);
        while (!ec) {
            tcp::socket socket(asio::make_strand(impl_->io));
            impl_->acceptor.accept(socket, ec);
            if (!ec) impl_->start_session(std::move(socket));
        }
        impl_->acceptor.close(ec);
        impl_->listener_closed = true;
    });
}

bool HttpServer::wait_idle(std::chrono::milliseconds limit) {
    using clock = std::chrono::steady_clock;
    const auto until = clock::now() + limit;
    auto& impl = *impl_;
    if (!impl.draining.load()) {
        while (impl.counters.in_flight.load() > 0) {
            if (clock::now() >= until) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return true;
    }
    // Draining: every connection answers the request it has (responses ask clients to close), and
    // connections waiting with no request arriving are closed (see Session::close_if_idle), the
    // kept-alive ones at once, new ones once they had read_timeout to send their request.
    impl.close_idle_sessions();
    bool new_ones_closed = false;
    for (;;) {
        const bool accepting = !impl.listener_closed.load() || impl.accept_pending.load();
        if (!accepting && impl.counters.open_connections.load() == 0) return true;
        const auto now = clock::now();
        if (!new_ones_closed && now - impl.drain_started.load() >= impl.options.limits.read_timeout) {
            impl.close_idle_sessions();
            new_ones_closed = true;
        }
        // Cut off: connections still reading or answering a request (not just waiting for one).
        if (now >= until)
            return impl.counters.in_flight.load() == 0 &&
                   impl.counters.open_connections.load() <= static_cast<int64_t>(impl.waiting_count());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

void HttpServer::stop() {
    if (!impl_) return;
    impl_->io.stop();
    for (auto& thread : impl_->threads)
        if (thread.joinable()) thread.join();
    impl_->threads.clear();
}

} // namespace trellis::http
