// A thin RAII layer over the SQLite C API: a connection, prepared statements with typed binds and
// columns, and transactions. Every failure becomes a StoreError that names the database file.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace trellis::store {

// A failure of the stores, with a one-line message for the user.
class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Statement;

class Database {
public:
    // Opens (creating if needed) the database at `path`.
    explicit Database(const std::filesystem::path& path);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // Runs one or more statements that return no rows.
    void exec(std::string_view sql);
    // Prepares one statement (not cached: keep the Statement to run it many times).
    Statement prepare(std::string_view sql);
    int64_t last_insert_id() const;
    int changes() const;
    sqlite3* handle() const { return db_; }
    const std::filesystem::path& path() const { return path_; }

    // Throws StoreError for a failed SQLite call `code`, naming the file and the action.
    [[noreturn]] void fail(int code, std::string_view action) const;

private:
    friend class Statement;
    // Prepared statements not in use, by SQL text: a run records thousands of executions with the
    // same few statements, and preparing costs more than running them.
    std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle_;

    sqlite3* db_ = nullptr;
    std::filesystem::path path_;
};

class Statement {
public:
    Statement(Database& db, std::string_view sql);
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    Statement& operator=(Statement&&) = delete;

    // Binds parameter `index` (1-based). std::nullopt binds NULL.
    Statement& bind(int index, int64_t value);
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view value);
    Statement& bind(int index, std::nullopt_t);
    Statement& bind(int index, const std::optional<std::string>& value);
    Statement& bind(int index, const std::optional<int64_t>& value);
    Statement& bind(int index, const std::optional<double>& value);
    Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }

    // Steps once: true while a row is available.
    bool step();
    // Steps to completion (for statements that return no rows).
    void run();
    // Clears bindings and rewinds, so the statement can run again.
    void reset();
    // Rewinds but keeps the bindings (for a loop that rebinds only some parameters).
    void rewind();

    bool is_null(int column) const;
    int64_t int64(int column) const;
    double real(int column) const;
    std::string text(int column) const; // "" for NULL
    std::optional<std::string> optional_text(int column) const;
    std::optional<int64_t> optional_int64(int column) const;
    std::optional<double> optional_real(int column) const;

private:
    Database& db_;
    sqlite3_stmt* stmt_ = nullptr;
    std::string sql_;
};

// BEGIN IMMEDIATE on construction (takes the write lock up front, so two writers wait for each
// other instead of failing on upgrade), ROLLBACK on destruction unless commit() was called.
// Inside a transaction already open on the connection (a caller batching several writes), it is a
// SAVEPOINT instead: commit() releases it into the outer transaction, destruction rolls it back.
class Transaction {
public:
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    Database& db_;
    bool nested_ = false;
    bool done_ = false;
};

} // namespace trellis::store
