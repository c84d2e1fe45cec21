#include "postgres_reader.hpp"

#include "connection_target.hpp"
#include "pg_binary.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <poll.h>

namespace data_sql {
namespace {

using Clock = std::chrono::steady_clock;

// libpq's messages span lines ("...failed: Connection refused\n\tIs the server running...");
// the stage's error is one line. The password is blanked out too, although libpq does not
// quote it: a message must never carry it, whatever a future libpq says.
std::string one_line(std::string text, const std::string& password) {
    if (password.size() >= 3)
        for (auto at = text.find(password); at != std::string::npos; at = text.find(password, at))
            text.replace(at, password.size(), "***");
    std::string out;
    bool space = false;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == '\t') {
            space = true;
            continue;
        }
        if (space && !out.empty()) out += out.back() == ':' || out.back() == '.' ? " " : "; ";
        space = false;
        out += c;
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
    return out;
}

struct ClearResult {
    void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ClearResult>;

// What stops a wait early: the run's cancellation (during run), or nothing (fingerprints, which
// have their own statement timeout).
using StopCheck = std::function<bool()>;

class Session {
public:
    Session(const PostgresSource& source, StopCheck stop) : source_(source), stop_(std::move(stop)) {
        target_ = describe_postgres_target(source.conninfo);
        try {
            connect();
        } catch (...) { // a constructor that throws runs no destructor
            PQfinish(conn_);
            throw;
        }
    }
    ~Session() {
        if (conn_) PQfinish(conn_);
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    const std::string& target() const { return target_; }
    PGconn* conn() const { return conn_; }

    // Sends with `send` (a PQsend* call) and returns the command's last result, which must have
    // status `wanted`; otherwise throws the server's message. `what` names the command in it;
    // `position_shift` is subtracted from the reported error position (text we put before the
    // user's query).
    Result run(const std::function<int(PGconn*)>& send, ExecStatusType wanted, const std::string& what,
               int position_shift = 0) {
        if (!send(conn_)) throw std::runtime_error(what + " could not be sent to " + target_ + ": " + message());
        // Every result is read, so the connection is ready for the next command; an error is
        // kept over whatever follows it.
        Result last;
        for (;;) {
            wait_readable();
            Result next(PQgetResult(conn_));
            if (!next) break;
            if (!last || PQresultStatus(last.get()) != PGRES_FATAL_ERROR) last = std::move(next);
        }
        if (!last) throw std::runtime_error(what + ": no result from " + target_);
        if (PQresultStatus(last.get()) != wanted) throw std::invalid_argument(error_text(last.get(), what, position_shift));
        return last;
    }

    Result exec(const std::string& sql, ExecStatusType wanted, const std::string& what) {
        return run([&](PGconn* c) { return PQsendQueryParams(c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0); },
                   wanted, what);
    }

    std::string message() const { return one_line(PQerrorMessage(conn_), source_.password); }

private:
    void connect() {
        const std::string timeout = std::to_string(source_.connect_timeout);
        // Entries before the expanded dbname are defaults the url may override; entries after
        // it override the url: client_encoding, since the Table holds UTF-8, and the password.
        std::vector<const char*> keys = {"connect_timeout", "dbname", "fallback_application_name", "client_encoding"};
        std::vector<const char*> values = {timeout.c_str(), source_.conninfo.c_str(), "trellis data.sql", "UTF8"};
        if (!source_.password.empty()) {
            keys.push_back("password");
            values.push_back(source_.password.c_str());
        }
        keys.push_back(nullptr);
        values.push_back(nullptr);
        conn_ = PQconnectStartParams(keys.data(), values.data(), 1);
        if (!conn_) throw std::runtime_error("cannot connect to " + target_ + ": out of memory");
        if (PQstatus(conn_) == CONNECTION_BAD) throw std::runtime_error("cannot connect to " + target_ + ": " + message());
        // libpq's connect_timeout applies only to its blocking connect; here the deadline is ours,
        // so that a dead host or a firewall that drops packets never hangs the stage.
        const auto deadline = Clock::now() + std::chrono::seconds(source_.connect_timeout);
        PostgresPollingStatusType state = PGRES_POLLING_WRITING;
        while (state != PGRES_POLLING_OK) {
            if (state == PGRES_POLLING_FAILED) throw std::runtime_error("cannot connect to " + target_ + ": " + message());
            for (;;) {
                if (stop_ && stop_()) throw trellis::Cancelled();
                if (Clock::now() >= deadline)
                    throw std::runtime_error("cannot connect to " + target_ + ": no answer within " + timeout +
                                             " s (connect_timeout)");
                pollfd fd{PQsocket(conn_), static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
                if (fd.fd < 0 || ::poll(&fd, 1, 100) != 0) break;
            }
            state = PQconnectPoll(conn_);
        }
    }

    // Waits until a whole result is in, checking for cancellation every 100 ms; a cancelled
    // wait asks the server to stop the query and throws Cancelled.
    void wait_readable() {
        while (PQisBusy(conn_)) {
            if (stop_ && stop_()) {
                if (PGcancel* cancel = PQgetCancel(conn_)) {
                    char ignored[256];
                    PQcancel(cancel, ignored, sizeof ignored);
                    PQfreeCancel(cancel);
                }
                throw trellis::Cancelled();
            }
            pollfd fd{PQsocket(conn_), POLLIN, 0};
            if (fd.fd < 0) throw std::runtime_error("lost the connection to " + target_ + ": " + message());
            if (::poll(&fd, 1, 100) > 0 && !PQconsumeInput(conn_))
                throw std::runtime_error("lost the connection to " + target_ + ": " + message());
        }
    }

    std::string error_text(const PGresult* result, const std::string& what, int position_shift) const {
        const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
        std::string text = what + " failed on " + target_ + ": " +
                           one_line(primary ? primary : PQresultErrorMessage(result), source_.password);
        if (const char* position = PQresultErrorField(result, PG_DIAG_STATEMENT_POSITION)) {
            const int at = std::atoi(position) - position_shift;
            if (at > 0) text += " (at character " + std::to_string(at) + ")";
        }
        if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL))
            text += "; " + one_line(detail, source_.password);
        if (const char* hint = PQresultErrorField(result, PG_DIAG_MESSAGE_HINT))
            text += "; hint: " + one_line(hint, source_.password);
        return text;
    }

    const PostgresSource& source_;
    StopCheck stop_;
    std::string target_;
    PGconn* conn_ = nullptr;
};

// Text values for PostgreSQL's parameter input: the server infers each $n's type from the
// query and parses the text as that type, exactly as it would a literal, but never as SQL.
std::vector<const char*> param_values(const std::vector<QueryParam>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const QueryParam& param : params) values.push_back(param.kind == QueryParam::Kind::Null ? nullptr : param.text.c_str());
    return values;
}

// "interval", "integer[]": the server's own name for a type data.sql cannot read.
std::string type_name(Session& session, uint32_t oid) {
    const std::string text = std::to_string(oid);
    const char* values[] = {text.c_str()};
    try {
        Result result = session.run(
            [&](PGconn* c) {
                return PQsendQueryParams(c, "SELECT format_type($1::oid, NULL)", 1, nullptr, values, nullptr, nullptr, 0);
            },
            PGRES_TUPLES_OK, "type lookup");
        if (PQntuples(result.get()) == 1 && !PQgetisnull(result.get(), 0, 0)) return PQgetvalue(result.get(), 0, 0);
    } catch (const std::invalid_argument&) {
    }
    return "oid " + text;
}

// What the query returns, by name and kind, read from the server's description of it.
struct ResultColumn {
    std::string name;
    PgKind kind;
};

std::vector<ResultColumn> describe_columns(Session& session, const PGresult* description) {
    std::vector<ResultColumn> columns;
    std::set<std::string> names;
    const int count = PQnfields(description);
    if (count == 0) throw std::invalid_argument("query returns no columns: data.sql reads a SELECT, VALUES or TABLE query");
    for (int c = 0; c < count; ++c) {
        const std::string name = PQfname(description, c);
        if (!names.insert(name).second)
            throw std::invalid_argument("query returns two columns named '" + name + "'; rename one with AS");
        const uint32_t oid = PQftype(description, c);
        const auto kind = pg_kind(oid);
        if (!kind)
            throw std::invalid_argument("column '" + name + "' has type " + type_name(session, oid) +
                                        ", which data.sql does not read; cast it in the query (e.g. " + name +
                                        "::text or " + name + "::float8)");
        columns.push_back({name, *kind});
    }
    return columns;
}

constexpr std::string_view cursor_prefix = "DECLARE trellis_data_sql NO SCROLL CURSOR FOR ";

} // namespace

trellis::Table read_postgres(const PostgresSource& source, const ReadRequest& request, ReadProgress& progress) {
    Session session(source, [&progress] {
        progress.waiting();
        return progress.cancelled();
    });
    progress.context().log().debug("connected to " + session.target());

    // Parse and describe the query first: a wrong number of params and an unreadable column type
    // are reported before anything runs, with error positions in the user's own text.
    session.run([&](PGconn* c) { return PQsendPrepare(c, "", request.query.c_str(), 0, nullptr); }, PGRES_COMMAND_OK,
                "query");
    Result description =
        session.run([](PGconn* c) { return PQsendDescribePrepared(c, ""); }, PGRES_COMMAND_OK, "describing the query");
    const int wanted = PQnparams(description.get());
    if (static_cast<size_t>(wanted) != request.params.size())
        throw std::invalid_argument("query has " + std::to_string(wanted) + " placeholder" + (wanted == 1 ? "" : "s") +
                                    " ($1..$n) but params gives " + std::to_string(request.params.size()) + " value" +
                                    (request.params.size() == 1 ? "" : "s"));
    const std::vector<ResultColumn> described = describe_columns(session, description.get());

    std::vector<trellis::Column> columns;
    columns.reserve(described.size());
    for (const ResultColumn& column : described) columns.emplace_back(column.name, column_type(column.kind));

    // A cursor fetched in batches: memory on both sides stays at one batch, and cancellation and
    // progress are looked at between batches. A read-only transaction, since data.sql only reads.
    session.exec("BEGIN READ ONLY", PGRES_COMMAND_OK, "starting a read-only transaction");
    const std::string declare = std::string(cursor_prefix) + request.query;
    const std::vector<const char*> values = param_values(request.params);
    session.run(
        [&](PGconn* c) {
            return PQsendQueryParams(c, declare.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                                     nullptr, 0);
        },
        PGRES_COMMAND_OK, "query", static_cast<int>(cursor_prefix.size()));

    const std::string fetch = "FETCH FORWARD " + std::to_string(std::max<int64_t>(request.batch_rows, 1)) + " FROM trellis_data_sql";
    std::string scratch;
    size_t rows = 0;
    for (;;) {
        Result batch = session.run(
            [&](PGconn* c) { return PQsendQueryParams(c, fetch.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1); },
            PGRES_TUPLES_OK, "query");
        const int count = PQntuples(batch.get());
        if (count == 0) break;
        if (PQnfields(batch.get()) != static_cast<int>(columns.size()))
            throw std::runtime_error("the server returned " + std::to_string(PQnfields(batch.get())) +
                                     " columns, not the " + std::to_string(columns.size()) + " it described");
        for (int r = 0; r < count; ++r)
            for (size_t c = 0; c < columns.size(); ++c) {
                const int field = static_cast<int>(c);
                if (PQgetisnull(batch.get(), r, field)) {
                    columns[c].append_null();
                    continue;
                }
                try {
                    append_binary(columns[c], described[c].kind, PQgetvalue(batch.get(), r, field),
                                  static_cast<size_t>(PQgetlength(batch.get(), r, field)), scratch);
                } catch (const std::runtime_error& e) {
                    throw std::runtime_error("column '" + columns[c].name() + "', row " + std::to_string(rows + r + 1) +
                                             ": " + e.what());
                }
            }
        rows += static_cast<size_t>(count);
        progress.tick(rows);
    }
    session.exec("COMMIT", PGRES_COMMAND_OK, "ending the transaction");

    trellis::Table table;
    for (trellis::Column& column : columns) table.add_column(std::move(column));
    return table;
}

std::string postgres_first_row(const PostgresSource& source, const std::string& sql) {
    Session session(source, nullptr);
    session.exec("SET statement_timeout = '60s'", PGRES_COMMAND_OK, "setting the fingerprint's time limit");
    session.exec("BEGIN READ ONLY", PGRES_COMMAND_OK, "starting a read-only transaction");
    Result result = session.exec(sql, PGRES_TUPLES_OK, "fingerprint query");
    if (PQntuples(result.get()) == 0) return "none";
    // Each value length-prefixed, so that no two different rows give the same text.
    std::string out;
    for (int c = 0; c < PQnfields(result.get()); ++c) {
        if (PQgetisnull(result.get(), 0, c)) {
            out += "null;";
            continue;
        }
        const std::string_view value(PQgetvalue(result.get(), 0, c), static_cast<size_t>(PQgetlength(result.get(), 0, c)));
        out += std::to_string(value.size()) + ":" + std::string(value) + ";";
    }
    return out;
}

} // namespace data_sql
