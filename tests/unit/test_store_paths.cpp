// Names inside a store: which relative names pass, what is refused and how it is said, and opening
// and resolving beneath a root with symlinks that stay inside (allowed) or lead outside (refused),
// with openat2 and with the fallback for kernels that lack it.
#include "store/sqlite.hpp"
#include "store/store_paths.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cerrno>

#include <fcntl.h>
#include <unistd.h>

using trellis::store::StoreError;
using trellis::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string read_fd(int fd) {
    std::string text;
    char buffer[256];
    ssize_t got;
    while ((got = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(got));
    ::close(fd);
    return text;
}

std::string refusal(std::string_view name) {
    try {
        trellis::store::check_relative_name(name, "run id");
    } catch (const StoreError& error) {
        return error.what();
    }
    return "accepted";
}

// A store root with a file inside and a secret outside it, as siblings in one temporary folder.
struct Layout {
    TempDir dir;
    fs::path root = dir / "store";
    fs::path outside = dir / "outside";
    Layout() {
        dir.write("store/runs/r1/summary.json", "inside");
        dir.write("outside/secret.txt", "secret");
    }
};

} // namespace

TEST_CASE("store paths: ordinary relative names pass", "[store_paths]") {
    for (const std::string_view name : {"a", "a/b", "run-1/summary.json", "..a", "a..", ".hidden", "a/.b/c...", "é/ü"}) {
        CAPTURE(name);
        CHECK_NOTHROW(trellis::store::check_relative_name(name, "run id"));
    }
}

TEST_CASE("store paths: names that could leave the root are refused, saying why", "[store_paths]") {
    CHECK(refusal("../etc") == "run id '../etc' is not allowed: it contains '..'");
    CHECK(refusal("..") == "run id '..' is not allowed: it contains '..'");
    CHECK(refusal("a/../b") == "run id 'a/../b' is not allowed: it contains '..'");
    CHECK(refusal("a/..") == "run id 'a/..' is not allowed: it contains '..'");
    CHECK(refusal("/abs") == "run id '/abs' is not allowed: it is an absolute path");
    CHECK(refusal("") == "run id '' is not allowed: it is empty");
    CHECK(refusal(".") == "run id '.' is not allowed: it contains '.'");
    CHECK(refusal("./a") == "run id './a' is not allowed: it contains '.'");
    CHECK_THAT(refusal("a//b"), Catch::Contains("empty component"));
    CHECK_THAT(refusal("a/"), Catch::Contains("empty component"));
    CHECK(refusal(std::string_view("a\0b", 3)) == "run id 'a\\x00b' is not allowed: it contains a NUL character");
}

TEST_CASE("store paths: a refusal stays one line whatever the name holds", "[store_paths]") {
    const auto message = refusal("x\n/../\r\x1b[31m");
    CHECK(message.find('\n') == std::string::npos);
    CHECK(message.find('\r') == std::string::npos);
    CHECK(message.find('\x1b') == std::string::npos);
    CHECK_THAT(message, Catch::Contains("x\\x0a/../\\x0d\\x1b[31m"));
    const auto long_message = refusal(std::string(100'000, 'a') + "/..");
    CHECK(long_message.size() < 400);
    CHECK_THAT(long_message, Catch::Contains("...' is not allowed: it contains '..'"));
}

TEST_CASE("store paths: printable keeps UTF-8 and escapes everything else", "[store_paths]") {
    using trellis::store::printable;
    CHECK(printable("plain text") == "plain text");
    CHECK(printable("M\xc3\xbcller \xe2\x82\xac \xf0\x9f\x98\x80") == "M\xc3\xbcller \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK(printable("M\xfcller") == "M\\xfcller");                  // Latin-1, not UTF-8
    CHECK(printable("\xc3") == "\\xc3");                            // cut sequence
    CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");                   // overlong '/'
    CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");          // surrogate
    CHECK(printable("tab\there\x7f") == "tab\\x09here\\x7f");
    CHECK(printable("abcdef", 3) == "abc...");
    CHECK(printable("abc", 3) == "abc");
}

TEST_CASE("store paths: open_beneath opens files inside the root", "[store_paths]") {
    Layout layout;
    CHECK(read_fd(trellis::store::open_beneath(layout.root, "runs/r1/summary.json", O_RDONLY)) == "inside");

    const int created = trellis::store::open_beneath(layout.root, "runs/r1/new.txt", O_WRONLY | O_CREAT | O_EXCL, 0644);
    REQUIRE(::write(created, "new", 3) == 3);
    ::close(created);
    CHECK(read_fd(trellis::store::open_beneath(layout.root, "runs/r1/new.txt", O_RDONLY)) == "new");
}

TEST_CASE("store paths: ordinary failures are errors or errno, not refusals", "[store_paths]") {
    Layout layout;
    errno = 0;
    CHECK(trellis::store::try_open_beneath(layout.root, "runs/missing.json", O_RDONLY) == -1);
    CHECK(errno == ENOENT);
    CHECK(trellis::store::try_open_beneath(layout.root, "runs/r1/summary.json", O_WRONLY | O_CREAT | O_EXCL, 0644) == -1);
    CHECK(errno == EEXIST);
    CHECK_THROWS_WITH(trellis::store::open_beneath(layout.root, "runs/missing.json", O_RDONLY),
                      Catch::Contains("cannot open") && Catch::Contains("runs/missing.json") &&
                          Catch::Contains("No such file"));
    CHECK_THROWS_WITH(trellis::store::open_beneath(layout.dir / "no-store", "a", O_RDONLY),
                      Catch::Contains("cannot open the store") && Catch::Contains("no-store"));
}

TEST_CASE("store paths: open_beneath refuses bad names before touching the disk", "[store_paths]") {
    Layout layout;
    for (const std::string_view name : {"..", "../outside/secret.txt", "/etc/passwd", "runs/../../outside/secret.txt", ""}) {
        CAPTURE(name);
        CHECK_THROWS_WITH(trellis::store::open_beneath(layout.root, name, O_RDONLY), Catch::Contains("is not allowed"));
    }
    CHECK_THROWS_WITH(trellis::store::open_beneath(layout.root, std::string_view("runs\0/x", 7), O_RDONLY),
                      Catch::Contains("NUL"));
}

TEST_CASE("store paths: a symlink that stays inside the root is followed", "[store_paths]") {
    Layout layout;
    fs::create_symlink("runs/r1", layout.root / "latest");
    fs::create_symlink("../r1/summary.json", layout.root / "runs/r1/again.json");
    CHECK(read_fd(trellis::store::open_beneath(layout.root, "latest/summary.json", O_RDONLY)) == "inside");
    CHECK(read_fd(trellis::store::open_beneath(layout.root, "runs/r1/again.json", O_RDONLY)) == "inside");
    CHECK(read_fd(trellis::store::detail::try_open_beneath_by_resolving(layout.root, "latest/summary.json", O_RDONLY)) ==
          "inside");
    CHECK(trellis::store::resolve_beneath(layout.root, "latest/summary.json") ==
          fs::canonical(layout.root / "runs/r1/summary.json"));
}

TEST_CASE("store paths: a symlink leading outside the root is refused", "[store_paths]") {
    Layout layout;
    fs::create_symlink(layout.outside, layout.root / "runs/abs");      // absolute
    fs::create_symlink("../../../outside", layout.root / "runs/r1/rel"); // relative, climbing out
    fs::create_symlink("/proc/self/root" + layout.outside.string(), layout.root / "runs/magic");
    for (const std::string_view name : {"runs/abs/secret.txt", "runs/r1/rel/secret.txt", "runs/magic/secret.txt"}) {
        CAPTURE(name);
        const auto refused = "'" + std::string(name) + "' leads outside the store " + layout.root.string() +
                             " (through a symlink)";
        CHECK_THROWS_WITH(trellis::store::open_beneath(layout.root, name, O_RDONLY), refused);
        CHECK_THROWS_WITH(trellis::store::open_beneath(layout.root, name, O_WRONLY | O_CREAT | O_TRUNC, 0644), refused);
        CHECK_THROWS_WITH(trellis::store::detail::try_open_beneath_by_resolving(layout.root, name, O_RDONLY), refused);
        CHECK_THROWS_WITH(trellis::store::resolve_beneath(layout.root, name), refused);
    }
    // Creating through the link would have written outside: nothing was.
    CHECK_THROWS(trellis::store::open_beneath(layout.root, "runs/abs/planted.txt", O_WRONLY | O_CREAT, 0644));
    CHECK_THROWS(trellis::store::detail::try_open_beneath_by_resolving(layout.root, "runs/abs/planted.txt",
                                                                       O_WRONLY | O_CREAT, 0644));
    CHECK_FALSE(fs::exists(layout.outside / "planted.txt"));
    CHECK(fs::file_size(layout.outside / "secret.txt") == 6); // O_TRUNC above did not reach it
    // The final component as a link outside is refused too, not just a folder on the way.
    fs::create_symlink(layout.outside / "secret.txt", layout.root / "runs/r1/link.txt");
    CHECK_THROWS_WITH(trellis::store::open_beneath(layout.root, "runs/r1/link.txt", O_RDONLY),
                      Catch::Contains("leads outside"));
    CHECK_THROWS_WITH(trellis::store::detail::try_open_beneath_by_resolving(layout.root, "runs/r1/link.txt", O_RDONLY),
                      Catch::Contains("leads outside"));
}

TEST_CASE("store paths: resolve_beneath returns the resolved path, missing tails included", "[store_paths]") {
    Layout layout;
    const auto root = fs::canonical(layout.root);
    CHECK(trellis::store::resolve_beneath(layout.root, "runs/r1/summary.json") == root / "runs/r1/summary.json");
    CHECK(trellis::store::resolve_beneath(layout.root, "runs/r2/new/file.txt") == root / "runs/r2/new/file.txt");
    CHECK_THROWS_WITH(trellis::store::resolve_beneath(layout.root, "a/../../x"), Catch::Contains("is not allowed"));
    // The root itself may be a symlink: it is trusted, only what is below it is checked.
    fs::create_symlink(layout.root, layout.dir / "store-link");
    CHECK(trellis::store::resolve_beneath(layout.dir / "store-link", "runs/r1/summary.json") ==
          root / "runs/r1/summary.json");
    CHECK(read_fd(trellis::store::open_beneath(layout.dir / "store-link", "runs/r1/summary.json", O_RDONLY)) == "inside");
}
