#include "sqlite_reader.hpp"

#include "column_builder.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>

namespace data_sql {
namespace {

using trellis::ColumnType;

struct CloseDatabase {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStatement {
    void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Database = std::unique_ptr<sqlite3, CloseDatabase>;
using Statement = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

// Opens `path` read-only: data.sql reads, and a query that tries to write fails instead of
// changing the user's data. The busy timeout bounds the wait for a writer's lock.
Database open_database(const std::string& path, int64_t timeout_seconds, bool strict_identifiers = false) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw std::invalid_argument("SQLite file '" + path + "' does not exist");
    if (std::filesystem::is_directory(path, ec)) throw std::invalid_argument("SQLite file '" + path + "' is a directory");
    sqlite3* raw = nullptr;
    const int code = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    Database db(raw);
    if (code != SQLITE_OK)
        throw std::invalid_argument("cannot open SQLite file '" + path + "': " + (db ? sqlite3_errmsg(db.get()) : "out of memory"));
    sqlite3_busy_timeout(db.get(), static_cast<int>(std::min<int64_t>(timeout_seconds, 3600) * 1000));
    // SQLite takes a double-quoted name that matches no column for a string literal; the
    // fingerprint's quoted id column must be a column, or max() would be a constant.
    if (strict_identifiers) sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
    return db;
}

bool only_space_and_semicolons(const char* text) {
    for (; text && *text; ++text)
        if (!std::isspace(static_cast<unsigned char>(*text)) && *text != ';') return false;
    return true;
}

// Prepares the one statement of `sql`; a query error names the offset SQLite reports.
Statement prepare(sqlite3* db, const std::string& path, const std::string& sql, const char* what) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int code = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()), 0, &raw, &tail);
    Statement statement(raw);
    if (code != SQLITE_OK) {
        std::string message = std::string(what) + " error in SQLite file '" + path + "': " + sqlite3_errmsg(db);
        const int offset = sqlite3_error_offset(db);
        if (offset >= 0) message += " (at character " + std::to_string(offset + 1) + ")";
        throw std::invalid_argument(message);
    }
    if (!statement) throw std::invalid_argument(std::string(what) + " is empty");
    if (!only_space_and_semicolons(tail))
        throw std::invalid_argument(std::string(what) + " holds more than one statement (at character " +
                                    std::to_string(tail - sql.c_str() + 1) + "); data.sql runs exactly one");
    return statement;
}

void bind_params(sqlite3_stmt* statement, const std::vector<QueryParam>& params) {
    const int wanted = sqlite3_bind_parameter_count(statement);
    if (static_cast<size_t>(wanted) != params.size())
        throw std::invalid_argument("query has " + std::to_string(wanted) + " placeholder" + (wanted == 1 ? "" : "s") +
                                    " (?, ?NNN) but params gives " + std::to_string(params.size()) + " value" +
                                    (params.size() == 1 ? "" : "s"));
    for (int i = 1; i <= wanted; ++i) {
        const QueryParam& param = params[static_cast<size_t>(i - 1)];
        int code = SQLITE_OK;
        switch (param.kind) {
        case QueryParam::Kind::Null: code = sqlite3_bind_null(statement, i); break;
        case QueryParam::Kind::Bool: code = sqlite3_bind_int64(statement, i, param.boolean ? 1 : 0); break;
        case QueryParam::Kind::Int: code = sqlite3_bind_int64(statement, i, param.integer); break;
        case QueryParam::Kind::Float: code = sqlite3_bind_double(statement, i, param.real); break;
        case QueryParam::Kind::String:
            // The params outlive the statement, so SQLite need not copy the text.
            code = sqlite3_bind_text64(statement, i, param.text.data(), param.text.size(), SQLITE_STATIC, SQLITE_UTF8);
            break;
        }
        if (code != SQLITE_OK) throw std::invalid_argument("params: cannot bind value " + std::to_string(i));
    }
}

std::string upper(const char* text) {
    std::string out;
    for (; text && *text; ++text) out += static_cast<char>(std::toupper(static_cast<unsigned char>(*text)));
    return out;
}

// SQLite's affinity rules (https://sqlite.org/datatype3.html, 3.1) on a result column's declared
// type, plus BOOL for booleans; nullopt (infer from the values) for BLOB, NUMERIC and
// expressions, whose values may be of any storage class.
std::optional<ColumnType> declared_type(const char* decltype_text) {
    const std::string type = upper(decltype_text);
    auto has = [&](const char* part) { return type.find(part) != std::string::npos; };
    if (type.empty()) return std::nullopt;
    if (has("INT")) return ColumnType::Int64;
    if (has("CHAR") || has("CLOB") || has("TEXT")) return ColumnType::String;
    if (has("BLOB")) return std::nullopt;
    if (has("REAL") || has("FLOA") || has("DOUB")) return ColumnType::Float64;
    if (has("BOOL")) return ColumnType::Bool;
    return std::nullopt;
}

// Called by SQLite during a long sqlite3_step (a big sort or join): says that the query is still
// running, and stops it when the run is cancelled.
int interrupt_when_cancelled(void* data) {
    auto* progress = static_cast<ReadProgress*>(data);
    progress->waiting();
    return progress->cancelled() ? 1 : 0;
}

} // namespace

trellis::Table read_sqlite(const std::string& path, const ReadRequest& request, ReadProgress& progress) {
    Database db = open_database(path, request.timeout_seconds);
    Statement statement = prepare(db.get(), path, request.query, "query");
    bind_params(statement.get(), request.params);

    const int columns = sqlite3_column_count(statement.get());
    if (columns == 0) throw std::invalid_argument("query returns no columns: data.sql reads a SELECT");
    std::vector<ColumnBuilder> builders;
    std::vector<bool> as_text; // declared text: read every value as its text
    std::set<std::string> names;
    builders.reserve(static_cast<size_t>(columns));
    for (int c = 0; c < columns; ++c) {
        const char* name_text = sqlite3_column_name(statement.get(), c);
        const std::string name = name_text ? name_text : "column" + std::to_string(c + 1);
        if (!names.insert(name).second)
            throw std::invalid_argument("query returns two columns named '" + name + "'; rename one with AS");
        const auto type = declared_type(sqlite3_column_decltype(statement.get(), c));
        builders.emplace_back(name, type);
        as_text.push_back(type == ColumnType::String);
    }

    sqlite3_progress_handler(db.get(), 100000, &interrupt_when_cancelled, &progress);
    const size_t batch = static_cast<size_t>(std::max<int64_t>(request.batch_rows, 1));
    size_t rows = 0;
    for (;;) {
        const int code = sqlite3_step(statement.get());
        if (code == SQLITE_DONE) break;
        if (code == SQLITE_INTERRUPT && progress.cancelled()) throw trellis::Cancelled();
        if (code != SQLITE_ROW)
            throw std::invalid_argument("query failed in SQLite file '" + path + "' after " + std::to_string(rows) +
                                        " rows: " + sqlite3_errmsg(db.get()));
        ++rows;
        for (int c = 0; c < columns; ++c) {
            ColumnBuilder& builder = builders[static_cast<size_t>(c)];
            const int storage = sqlite3_column_type(statement.get(), c);
            if (storage == SQLITE_NULL) {
                builder.append_null();
            } else if (storage == SQLITE_BLOB) {
                throw std::invalid_argument("column '" + builder.name() + "' holds a BLOB in row " + std::to_string(rows) +
                                            ", which a Table cannot hold; convert it in the query (e.g. hex(" +
                                            builder.name() + "))");
            } else if (as_text[static_cast<size_t>(c)] || storage == SQLITE_TEXT) {
                const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement.get(), c));
                const int size = sqlite3_column_bytes(statement.get(), c);
                builder.append_text(std::string_view(text ? text : "", static_cast<size_t>(size)), rows);
            } else if (storage == SQLITE_INTEGER) {
                builder.append_int(sqlite3_column_int64(statement.get(), c), rows);
            } else {
                builder.append_float(sqlite3_column_double(statement.get(), c), rows);
            }
        }
        if (rows % batch == 0) progress.tick(rows);
    }
    progress.tick(rows);
    trellis::Table table;
    for (ColumnBuilder& builder : builders) table.add_column(builder.finish());
    return table;
}

std::string sqlite_first_row(const std::string& path, const std::string& sql, int64_t timeout_seconds) {
    Database db = open_database(path, timeout_seconds, true);
    Statement statement = prepare(db.get(), path, sql, "fingerprint query");
    if (sqlite3_bind_parameter_count(statement.get()) != 0)
        throw std::invalid_argument("fingerprint query takes no placeholders");
    const int code = sqlite3_step(statement.get());
    if (code == SQLITE_DONE) return "none";
    if (code != SQLITE_ROW)
        throw std::invalid_argument("fingerprint query failed in SQLite file '" + path + "': " + sqlite3_errmsg(db.get()));
    // Each value length-prefixed, so that no two different rows give the same text.
    std::string out;
    for (int c = 0; c < sqlite3_column_count(statement.get()); ++c) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement.get(), c));
        const auto size = static_cast<size_t>(sqlite3_column_bytes(statement.get(), c));
        out += text ? std::to_string(size) + ":" + std::string(text, size) + ";" : "null;";
    }
    return out;
}

} // namespace data_sql
