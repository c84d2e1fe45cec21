// A private PostgreSQL server for the data.sql tests: a fresh cluster in a temporary folder
// (initdb), started on a free port of 127.0.0.1 with its socket in that folder, and stopped and
// removed when the test process ends, including after failed tests. As root (here and in CI)
// the server runs as the `postgres` user, since initdb and postgres refuse root. Where it cannot
// start (no binaries, no user to run as), skip_reason() says why, and tests report themselves
// skipped with it instead of passing.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace trellis::testing {

class PostgresServer {
public:
    static constexpr const char* admin_user = "trellis_admin";
    static constexpr const char* admin_password = "admin-Pw-4c1d";

    // The process's one server, started on first use.
    static PostgresServer& shared() {
        static PostgresServer server;
        return server;
    }

    bool ok() const { return skip_reason_.empty(); }
    const std::string& skip_reason() const { return skip_reason_; }
    int port() const { return port_; }

    // A libpq URI for `database` as `user`, without a password (the tests pass it separately).
    std::string url(const std::string& user, const std::string& database) const {
        return "postgresql://" + user + "@127.0.0.1:" + std::to_string(port_) + "/" + database;
    }

    // Runs `sql` (one or more statements) as the superuser in `database`; throws with the
    // server's message.
    void execute(const std::string& sql, const std::string& database = "postgres") const {
        PGconn* conn = connect_admin(database);
        PGresult* result = PQexec(conn, sql.c_str());
        const ExecStatusType status = PQresultStatus(result);
        const std::string message = PQresultErrorMessage(result);
        PQclear(result);
        PQfinish(conn);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            throw std::runtime_error("SQL failed on the test server: " + message + " in: " + sql);
    }

    // The first column of the first row of `sql` as the superuser in `database`.
    std::string scalar(const std::string& sql, const std::string& database = "postgres") const {
        PGconn* conn = connect_admin(database);
        PGresult* result = PQexec(conn, sql.c_str());
        std::string value;
        const bool good = PQresultStatus(result) == PGRES_TUPLES_OK;
        const std::string message = PQresultErrorMessage(result);
        if (good && PQntuples(result) > 0 && !PQgetisnull(result, 0, 0)) value = PQgetvalue(result, 0, 0);
        PQclear(result);
        PQfinish(conn);
        if (!good) throw std::runtime_error("SQL failed on the test server: " + message + " in: " + sql);
        return value;
    }

    // A new database with a LOGIN role `user` (password `password`) that may read it.
    void create_database(const std::string& database, const std::string& user, const std::string& password) const {
        execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + user + "') THEN CREATE ROLE " +
                user + " LOGIN PASSWORD '" + password + "'; END IF; END $$");
        execute("DROP DATABASE IF EXISTS " + database);
        execute("CREATE DATABASE " + database);
        execute("GRANT CONNECT ON DATABASE " + database + " TO " + user);
        execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO " + user, database);
    }

    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;
    ~PostgresServer() { stop(); }

private:
    PostgresServer() {
        try {
            start();
        } catch (const std::exception& e) {
            skip_reason_ = e.what();
            stop();
        }
    }

    // Where initdb and postgres live: TRELLIS_PG_BIN, else Debian's newest /usr/lib/postgresql/N/bin.
    static std::optional<std::filesystem::path> find_binaries() {
        if (const char* dir = std::getenv("TRELLIS_PG_BIN"); dir && *dir) {
            if (std::filesystem::exists(std::filesystem::path(dir) / "initdb")) return std::filesystem::path(dir);
            return std::nullopt;
        }
        std::optional<std::filesystem::path> best;
        int best_version = -1;
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
            const auto bin = entry.path() / "bin";
            if (!std::filesystem::exists(bin / "initdb") || !std::filesystem::exists(bin / "postgres")) continue;
            const int version = std::atoi(entry.path().filename().c_str());
            if (version > best_version) best_version = version, best = bin;
        }
        return best;
    }

    static int free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof address;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
            if (fd >= 0) ::close(fd);
            throw std::runtime_error("cannot find a free TCP port on 127.0.0.1");
        }
        ::close(fd);
        return ntohs(address.sin_port);
    }

    // Starts `argv` as the server's user with output to `log`; returns its pid. The child gets
    // SIGINT (PostgreSQL's fast shutdown) if this process dies without stopping it, so a crashed
    // test run leaves no server behind.
    pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) const {
        std::vector<char*> args;
        std::vector<std::string> copy = argv;
        for (auto& arg : copy) args.push_back(arg.data());
        args.push_back(nullptr);
        const std::string log_path = log.string();
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
        if (pid == 0) {
            ::setpgid(0, 0);
            const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            const int in = ::open("/dev/null", O_RDONLY);
            if (out < 0 || in < 0) ::_exit(126);
            ::dup2(in, 0);
            ::dup2(out, 1);
            ::dup2(out, 2);
            if (run_as_) {
                if (::setgroups(0, nullptr) != 0 || ::setgid(run_as_->second) != 0 || ::setuid(run_as_->first) != 0)
                    ::_exit(125);
            }
            ::prctl(PR_SET_PDEATHSIG, SIGINT); // after setuid, which would clear it
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        return pid;
    }

    static std::string tail(const std::filesystem::path& file) {
        std::ifstream in(file);
        std::stringstream text;
        text << in.rdbuf();
        std::string all = text.str();
        if (all.size() > 600) all = "..." + all.substr(all.size() - 600);
        for (char& c : all)
            if (c == '\n') c = ' ';
        return all;
    }

    void run_to_end(const std::vector<std::string>& argv, const std::string& what) const {
        const auto log = dir_ / (what + ".log");
        const pid_t pid = spawn(argv, log);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error(what + " failed (" + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                                     "): " + tail(log));
    }

    void start() {
        const auto bin = find_binaries();
        if (!bin) throw std::runtime_error("no PostgreSQL server binaries (initdb, postgres) in TRELLIS_PG_BIN or /usr/lib/postgresql/*/bin");
        std::string pattern = (std::filesystem::temp_directory_path() / "trellis-pg-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = pattern;
        if (::geteuid() == 0) {
            const passwd* user = ::getpwnam("postgres");
            if (!user) throw std::runtime_error("running as root, and there is no 'postgres' user to run the server as");
            run_as_ = std::make_pair(user->pw_uid, user->pw_gid);
            if (::chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0)
                throw std::runtime_error("cannot give " + dir_.string() + " to the postgres user");
        }
        ::chmod(dir_.c_str(), 0700);
        const auto password_file = dir_ / "admin-password";
        std::ofstream(password_file) << admin_password << "\n";
        if (run_as_ && ::chown(password_file.c_str(), run_as_->first, run_as_->second) != 0)
            throw std::runtime_error("cannot give the password file to the postgres user");

        run_to_end({(*bin / "initdb").string(), "-D", (dir_ / "data").string(), "-U", admin_user,
                    "--pwfile=" + password_file.string(), "-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"},
                   "initdb");
        std::filesystem::remove(password_file);

        for (int attempt = 0; attempt < 3; ++attempt) {
            port_ = free_port();
            server_pid_ = spawn({(*bin / "postgres").string(), "-D", (dir_ / "data").string(), "-p", std::to_string(port_),
                                 "-k", dir_.string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                                 "full_page_writes=off", "-c", "max_connections=40"},
                                dir_ / "server.log");
            if (wait_until_ready()) return;
            stop_server(); // the port may have been taken meanwhile: try another
        }
        throw std::runtime_error("the PostgreSQL test server did not start: " + tail(dir_ / "server.log"));
    }

    // Waits up to 30 s for the server to accept connections; false if it exited first.
    bool wait_until_ready() {
        const std::string port = std::to_string(port_);
        const char* keys[] = {"host", "port", "dbname", "connect_timeout", nullptr};
        const char* values[] = {"127.0.0.1", port.c_str(), "postgres", "2", nullptr};
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(server_pid_, &status, WNOHANG) == server_pid_) {
                server_pid_ = -1;
                return false;
            }
            if (PQpingParams(keys, values, 0) == PQPING_OK) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

    PGconn* connect_admin(const std::string& database) const {
        const std::string port = std::to_string(port_);
        const char* keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout", nullptr};
        const char* values[] = {"127.0.0.1", port.c_str(), database.c_str(), admin_user, admin_password, "10", nullptr};
        PGconn* conn = PQconnectdbParams(keys, values, 0);
        if (PQstatus(conn) != CONNECTION_OK) {
            const std::string message = PQerrorMessage(conn);
            PQfinish(conn);
            throw std::runtime_error("cannot connect to the test server: " + message);
        }
        return conn;
    }

    // Fast shutdown (SIGINT), waiting up to 30 s before killing it. The server is gone when it
    // has exited and removed postmaster.pid, its last act; the pid alone is not enough, since
    // another part of the process may have reaped it already.
    void stop_server() {
        if (server_pid_ <= 0) return;
        ::kill(server_pid_, SIGINT);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        const auto pid_file = dir_ / "data" / "postmaster.pid";
        for (;;) {
            int status = 0;
            const pid_t waited = ::waitpid(server_pid_, &status, WNOHANG);
            const bool exited = waited == server_pid_ || (waited < 0 && ::kill(server_pid_, 0) != 0);
            if (exited && !std::filesystem::exists(pid_file)) break;
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(-server_pid_, SIGKILL);
                ::waitpid(server_pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        server_pid_ = -1;
    }

    void stop() {
        stop_server();
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    std::filesystem::path dir_;
    std::optional<std::pair<uid_t, gid_t>> run_as_;
    int port_ = 0;
    pid_t server_pid_ = -1;
    std::string skip_reason_;
};

} // namespace trellis::testing
