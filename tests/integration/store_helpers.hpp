// Helpers for the store, cache and crash tests: read a store's metadata.db with SQLite directly,
// hash its objects with OpenSSL, check a store for damage, start the trellis binary without
// waiting for it (so a test can kill it), and read a run's summary table.
#pragma once

#include "run_trellis.hpp"

#include <openssl/evp.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace trellis::testing {

namespace fs = std::filesystem;

inline const std::string exec_plugins = std::string("--plugin-path ") + FIXTURE_EXEC_DIR + " ";

// ---------------------------------------------------------------- summary and plan output

// The summary line of stage `id`, e.g. "  a  test.sleep  succeeded  ...".
inline std::string stage_line(const Result& result, const std::string& id) {
    std::istringstream lines(result.out);
    std::string line;
    while (std::getline(lines, line))
        if (line.rfind("  " + id + " ", 0) == 0) return line;
    return "";
}

// The STATUS column of stage `id` in a run's summary ("succeeded", "cached", "failed", ...), or
// "" when the stage has no line.
inline std::string stage_status(const Result& result, const std::string& id) {
    std::istringstream words(stage_line(result, id));
    std::string word, stage, status;
    words >> word >> stage >> status;
    return status;
}

// The line of stage `id` in `trellis plan` output ("  3. id  (stage.name) ...  => ...").
inline std::string plan_line(const Result& result, const std::string& id) {
    std::istringstream lines(result.out);
    std::string line;
    while (std::getline(lines, line)) {
        const auto dot = line.find(". " + id + "  (");
        if (dot != std::string::npos && line.rfind("  ", 0) == 0) return line;
    }
    return "";
}

// What `trellis plan` predicts for stage `id`: "cached", "runs", or "" without a prediction.
inline std::string plan_verdict(const Result& result, const std::string& id) {
    const auto line = plan_line(result, id);
    const auto arrow = line.find("  => ");
    if (arrow == std::string::npos) return "";
    const auto rest = line.substr(arrow + 5);
    return rest.substr(0, rest.find(','));
}

inline size_t count_lines(const fs::path& file) {
    std::ifstream in(file);
    size_t lines = 0;
    std::string line;
    while (std::getline(in, line)) ++lines;
    return lines;
}

// ---------------------------------------------------------------- hashing

inline std::string hex_of(const unsigned char* bytes, unsigned int size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < size; ++i) {
        hex += digits[bytes[i] >> 4];
        hex += digits[bytes[i] & 0x0f];
    }
    return hex;
}

inline std::string sha256_text(const std::string& text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
    return hex_of(digest, size);
}

inline std::string sha256_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + file.string());
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
    std::vector<char> buffer(1 << 20);
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        if (in.gcount() > 0) EVP_DigestUpdate(context, buffer.data(), static_cast<size_t>(in.gcount()));
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(context, digest, &size);
    EVP_MD_CTX_free(context);
    return hex_of(digest, size);
}

// ---------------------------------------------------------------- SQLite

// A connection to a store's metadata.db, read-only by default (a read-only connection never
// checkpoints or deletes the WAL, so the next trellis process finds the store as the killed one
// left it).
class SqliteDb {
public:
    using Row = std::vector<std::optional<std::string>>;

    explicit SqliteDb(const fs::path& file, bool read_only = true) {
        const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
        if (sqlite3_open_v2(file.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
            const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
            sqlite3_close(db_);
            throw std::runtime_error("cannot open " + file.string() + ": " + message);
        }
        sqlite3_busy_timeout(db_, 10000);
    }
    ~SqliteDb() { sqlite3_close(db_); }
    SqliteDb(const SqliteDb&) = delete;
    SqliteDb& operator=(const SqliteDb&) = delete;

    // Every row of `sql`, columns as text (NULL as nothing); `binds` fill ?1, ?2, ... as text.
    std::vector<Row> query(const std::string& sql, const std::vector<std::string>& binds = {}) {
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
            throw std::runtime_error("SQL error in '" + sql + "': " + sqlite3_errmsg(db_));
        for (size_t i = 0; i < binds.size(); ++i)
            sqlite3_bind_text(statement, static_cast<int>(i + 1), binds[i].c_str(), -1, SQLITE_TRANSIENT);
        std::vector<Row> rows;
        int code;
        while ((code = sqlite3_step(statement)) == SQLITE_ROW) {
            Row row;
            for (int c = 0; c < sqlite3_column_count(statement); ++c) {
                const auto* text = sqlite3_column_text(statement, c);
                if (text) row.emplace_back(reinterpret_cast<const char*>(text));
                else row.emplace_back(std::nullopt);
            }
            rows.push_back(std::move(row));
        }
        const std::string error = sqlite3_errmsg(db_);
        sqlite3_finalize(statement);
        if (code != SQLITE_DONE) throw std::runtime_error("SQL error in '" + sql + "': " + error);
        return rows;
    }

    // The first column of the first row ("" when there is none or it is NULL).
    std::string scalar(const std::string& sql, const std::vector<std::string>& binds = {}) {
        const auto rows = query(sql, binds);
        return rows.empty() || rows[0].empty() || !rows[0][0] ? "" : *rows[0][0];
    }

    // The first column of every row.
    std::vector<std::string> column(const std::string& sql, const std::vector<std::string>& binds = {}) {
        std::vector<std::string> out;
        for (const auto& row : query(sql, binds)) out.push_back(row.empty() || !row[0] ? "" : *row[0]);
        return out;
    }

private:
    sqlite3* db_ = nullptr;
};

// ---------------------------------------------------------------- store checks

inline bool is_lower_hex(const std::string& text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Objects already hashed, by (path, inode, size, mtime): objects are immutable, so one that kept
// its identity need not be hashed again.
using VerifiedObjects = std::set<std::tuple<std::string, uint64_t, uint64_t, int64_t>>;

// Digest -> size of every object file, checking each one's name and content on the way: a file
// that is not named by a SHA-256, is not a regular file, or whose content does not hash to its
// name (a partial or damaged object) is a problem.
inline std::map<std::string, uint64_t> scan_objects(const fs::path& store, std::vector<std::string>& problems,
                                                    VerifiedObjects* verified = nullptr) {
    std::map<std::string, uint64_t> objects;
    const auto root = store / "objects" / "sha256";
    std::error_code ec;
    if (!fs::exists(root, ec)) return objects;
    for (const auto& fan : fs::directory_iterator(root)) {
        const auto prefix = fan.path().filename().string();
        if (!fan.is_directory() || fan.is_symlink() || prefix.size() != 2 || !is_lower_hex(prefix)) {
            problems.push_back("stray entry in objects/sha256: " + prefix);
            continue;
        }
        for (const auto& entry : fs::directory_iterator(fan.path())) {
            const auto rest = entry.path().filename().string();
            struct stat info {};
            if (::lstat(entry.path().c_str(), &info) != 0 || !S_ISREG(info.st_mode) || rest.size() != 62 ||
                !is_lower_hex(rest)) {
                problems.push_back("stray entry in objects/sha256/" + prefix + ": " + rest);
                continue;
            }
            const std::string digest = prefix + rest;
            objects[digest] = static_cast<uint64_t>(info.st_size);
            const auto identity = std::make_tuple(entry.path().string(), static_cast<uint64_t>(info.st_ino),
                                                  static_cast<uint64_t>(info.st_size),
                                                  static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 +
                                                      info.st_mtim.tv_nsec);
            if (verified && verified->count(identity)) continue;
            const auto actual = sha256_file(entry.path());
            if (actual != digest)
                problems.push_back("object " + digest + " (" + std::to_string(info.st_size) + " bytes) hashes to " +
                                   actual + ": partial or damaged");
            else if (verified)
                verified->insert(identity);
        }
    }
    return objects;
}

// Everything a store must satisfy whatever happened to the processes using it: SQLite's own
// integrity and foreign-key checks, every object whole, and every artifact the metadata names as
// stored present with its recorded size (so no execution names an artifact that is not there).
// Returns the problems found (empty: all is well).
inline std::vector<std::string> check_store(const fs::path& store, VerifiedObjects* verified = nullptr) {
    std::vector<std::string> problems;
    const auto objects = scan_objects(store, problems, verified);
    const auto database = store / "metadata.db";
    if (!fs::exists(database)) return problems;
    try {
        SqliteDb db(database);
        const auto integrity = db.column("PRAGMA integrity_check");
        if (integrity != std::vector<std::string>{"ok"})
            for (const auto& line : integrity) problems.push_back("integrity_check: " + line);
        if (db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'artifacts'") != "1") return problems;
        for (const auto& row : db.query("PRAGMA foreign_key_check"))
            problems.push_back("foreign_key_check: table " + row[0].value_or("?") + " row " + row[1].value_or("?") +
                               " -> " + row[2].value_or("?"));
        for (const auto& row : db.query("SELECT digest, size FROM artifacts WHERE removed_at IS NULL")) {
            const auto it = objects.find(*row[0]);
            if (it == objects.end())
                problems.push_back("artifact " + *row[0] + " is recorded as stored, but has no object file");
            else if (std::to_string(it->second) != *row[1])
                problems.push_back("artifact " + *row[0] + " is recorded with " + *row[1] + " bytes, its object has " +
                                   std::to_string(it->second));
        }
        for (const auto& row : db.query("SELECT ev.execution_id, ev.port, ev.artifact_digest FROM events ev "
                                        "LEFT JOIN artifacts a ON a.digest = ev.artifact_digest WHERE a.digest IS NULL"))
            problems.push_back("execution " + *row[0] + " port " + *row[1] + " names artifact " + *row[2] +
                               ", which has no record");
    } catch (const std::exception& e) {
        problems.push_back(std::string("cannot read metadata.db: ") + e.what());
    }
    return problems;
}

inline std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
}

// ---------------------------------------------------------------- starting trellis

// The environment Sandbox::run gives trellis: this one without TRELLIS_PLUGIN_PATH and
// TRELLIS_CONFIG, with the sandbox's own plugin cache and a short scan timeout.
inline std::vector<std::string> trellis_environment(const Sandbox& sandbox) {
    std::vector<std::string> out;
    for (char** entry = environ; *entry; ++entry) {
        const std::string text = *entry;
        const auto name = text.substr(0, text.find('='));
        if (name == "TRELLIS_PLUGIN_PATH" || name == "TRELLIS_CONFIG" || name == "TRELLIS_CACHE_DIR" ||
            name == "TRELLIS_SCAN_TIMEOUT")
            continue;
        out.push_back(text);
    }
    out.push_back("TRELLIS_CACHE_DIR=" + sandbox.cache().string());
    out.push_back("TRELLIS_SCAN_TIMEOUT=2");
    return out;
}

// Starts `trellis <args>` in the sandbox folder without waiting, stdout and stderr to the given
// files, stdin from /dev/null, in a process group of its own (so whatever it starts can be killed
// with it). Returns its pid.
inline pid_t spawn_trellis(const Sandbox& sandbox, const std::vector<std::string>& args, const fs::path& out,
                           const fs::path& err) {
    std::vector<std::string> argv_text = {TRELLIS_BINARY};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    auto env_text = trellis_environment(sandbox);
    std::vector<char*> argv, envp;
    for (auto& item : argv_text) argv.push_back(item.data());
    argv.push_back(nullptr);
    for (auto& item : env_text) envp.push_back(item.data());
    envp.push_back(nullptr);
    const std::string dir = sandbox.dir().string(), out_path = out.string(), err_path = err.string();

    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        // Only async-signal-safe calls between fork and exec.
        ::setpgid(0, 0);
        if (::chdir(dir.c_str()) != 0) ::_exit(127);
        const int in = ::open("/dev/null", O_RDONLY);
        const int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || o < 0 || e < 0) ::_exit(127);
        ::dup2(in, 0);
        ::dup2(o, 1);
        ::dup2(e, 2);
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    return pid;
}

// Waits for `pid`; returns its exit code, or 128 + the signal that ended it (as Sandbox::run).
inline int wait_for(pid_t pid) {
    // Wait without reaping first: while the zombie holds its pid, its process group id cannot be
    // reused, so killing the group takes only what it started and left behind.
    siginfo_t info {};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
    ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A started trellis with its output files, to wait for and read like Sandbox::run's Result.
struct Started {
    pid_t pid = -1;
    fs::path out, err;
    Result wait() const {
        Result result;
        result.exit_code = wait_for(pid);
        result.out = read_file(out);
        result.err = read_file(err);
        return result;
    }
};

inline Started start_trellis(const Sandbox& sandbox, const std::vector<std::string>& args, const std::string& name) {
    Started started;
    started.out = sandbox.dir() / (name + ".out");
    started.err = sandbox.dir() / (name + ".err");
    started.pid = spawn_trellis(sandbox, args, started.out, started.err);
    return started;
}

// Splits a command line of plain words (no quoting) for spawn_trellis.
inline std::vector<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    std::string word;
    while (in >> word) out.push_back(word);
    return out;
}

} // namespace trellis::testing
