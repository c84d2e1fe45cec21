#include "store/sqlite.hpp"


namespace trellis::store {

namespace {

// What a user should do about the damage an error code means.
std::string advice(int code) {
    switch (code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return "; the metadata store is damaged: move it aside (and its -wal/-shm files) or restore a backup";
    case SQLITE_FULL: return "; the disk is full";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN: return "; check that the store folder exists and is writable";
    default: return "";
    }
}

} // namespace

Database::Database(const std::filesystem::path& path) : path_(path) {
    const int code = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                     nullptr);
    if (code != SQLITE_OK) {
        const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw StoreError(path.string() + ": cannot open the metadata store: " + message + advice(code));
    }
    sqlite3_extended_result_codes(db_, 1);
    // Two trellis processes share one store: a writer waits for the other's transaction instead
    // of failing at once. Generous, since a commit of a big batch of metrics can take a while.
    sqlite3_busy_timeout(db_, 60000);
}

Database::~Database() {
    for (auto& [sql, statements] : idle_)
        for (sqlite3_stmt* statement : statements) sqlite3_finalize(statement);
    sqlite3_close_v2(db_);
}

void Database::fail(int code, std::string_view action) const {
    throw StoreError(path_.string() + ": " + std::string(action) + ": " + sqlite3_errmsg(db_) + advice(code));
}

void Database::exec(std::string_view sql) {
    const std::string text(sql);
    char* error = nullptr;
    const int code = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
    if (code != SQLITE_OK) {
        std::string message = error ? error : sqlite3_errstr(code);
        sqlite3_free(error);
        throw StoreError(path_.string() + ": " + message + advice(code));
    }
}

Statement Database::prepare(std::string_view sql) { return Statement(*this, sql); }

int64_t Database::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }

Statement::Statement(Database& db, std::string_view sql) : db_(db), sql_(sql) {
    if (auto it = db.idle_.find(sql_); it != db.idle_.end() && !it->second.empty()) {
        stmt_ = it->second.back();
        it->second.pop_back();
        return;
    }
    const int code =
        sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (code != SQLITE_OK) db.fail(code, "cannot prepare a query");
}

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_), sql_(std::move(other.sql_)) {
    other.stmt_ = nullptr;
}

Statement::~Statement() {
    if (!stmt_) return;
    // Back to the connection's idle statements, reset, so the next prepare of this text is free.
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    try {
        db_.idle_[sql_].push_back(stmt_);
    } catch (...) {
        sqlite3_finalize(stmt_);
    }
}

Statement& Statement::bind(int index, int64_t value) {
    if (int code = sqlite3_bind_int64(stmt_, index, value); code != SQLITE_OK) db_.fail(code, "cannot bind a value");
    return *this;
}
Statement& Statement::bind(int index, double value) {
    if (int code = sqlite3_bind_double(stmt_, index, value); code != SQLITE_OK) db_.fail(code, "cannot bind a value");
    return *this;
}
Statement& Statement::bind(int index, std::string_view value) {
    if (int code = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
        code != SQLITE_OK)
        db_.fail(code, "cannot bind a value");
    return *this;
}
Statement& Statement::bind(int index, std::nullopt_t) {
    if (int code = sqlite3_bind_null(stmt_, index); code != SQLITE_OK) db_.fail(code, "cannot bind a value");
    return *this;
}
Statement& Statement::bind(int index, const std::optional<std::string>& value) {
    return value ? bind(index, std::string_view(*value)) : bind(index, std::nullopt);
}
Statement& Statement::bind(int index, const std::optional<int64_t>& value) {
    return value ? bind(index, *value) : bind(index, std::nullopt);
}
Statement& Statement::bind(int index, const std::optional<double>& value) {
    return value ? bind(index, *value) : bind(index, std::nullopt);
}

bool Statement::step() {
    const int code = sqlite3_step(stmt_);
    if (code == SQLITE_ROW) return true;
    if (code == SQLITE_DONE) return false;
    db_.fail(code, "query failed");
}

void Statement::run() {
    while (step()) {
    }
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

void Statement::rewind() { sqlite3_reset(stmt_); }

bool Statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::real(int column) const { return sqlite3_column_double(stmt_, column); }
std::string Statement::text(int column) const {
    const auto* data = sqlite3_column_text(stmt_, column);
    if (!data) return {};
    return std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}
std::optional<std::string> Statement::optional_text(int column) const {
    if (is_null(column)) return std::nullopt;
    return text(column);
}
std::optional<int64_t> Statement::optional_int64(int column) const {
    if (is_null(column)) return std::nullopt;
    return int64(column);
}
std::optional<double> Statement::optional_real(int column) const {
    if (is_null(column)) return std::nullopt;
    return real(column);
}

Transaction::Transaction(Database& db) : db_(db), nested_(sqlite3_get_autocommit(db.handle()) == 0) {
    db_.exec(nested_ ? "SAVEPOINT trellis_nested" : "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
    if (done_) return;
    // After some errors (disk full, I/O) SQLite has rolled back the whole transaction itself; then
    // these fail, harmlessly.
    if (nested_)
        sqlite3_exec(db_.handle(), "ROLLBACK TO trellis_nested; RELEASE trellis_nested", nullptr, nullptr, nullptr);
    else
        sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    db_.exec(nested_ ? "RELEASE trellis_nested" : "COMMIT");
    done_ = true;
}

} // namespace trellis::store
