// The content-addressed artifact store: round trips of every size (the large ones through the
// two-thread path), deduplication, damage and absence reported by get(), digest text checks,
// symlinks out of the store refused, failed writes leaving nothing, concurrent writers of the same
// bytes, listing, removal and stale temporaries.
#include "store/artifact_store.hpp"
#include "store/digest.hpp"
#include "store/sqlite.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using trellis::store::ArtifactStore;
using trellis::store::StoreError;
using trellis::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr size_t MiB = size_t{1} << 20;

std::vector<uint8_t> random_bytes(size_t size, uint32_t seed) {
    std::mt19937_64 generator(seed);
    std::vector<uint8_t> bytes(size);
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        const uint64_t word = generator();
        std::memcpy(bytes.data() + i, &word, 8);
    }
    for (; i < size; ++i) bytes[i] = static_cast<uint8_t>(generator());
    return bytes;
}

std::span<const uint8_t> span_of(std::string_view text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string digest_of(std::span<const uint8_t> bytes) { return trellis::store::sha256_hex(bytes); }

size_t files_in(const fs::path& dir) {
    size_t count = 0;
    for (const auto& entry : fs::recursive_directory_iterator(dir))
        if (!entry.is_directory()) ++count;
    return count;
}

// Flips one byte of a file in place (objects are read-only, so make it writable first).
void flip_byte(const fs::path& file, uint64_t offset) {
    fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
    std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
    stream.seekg(static_cast<std::streamoff>(offset));
    char byte = 0;
    stream.get(byte);
    stream.seekp(static_cast<std::streamoff>(offset));
    stream.put(static_cast<char>(byte ^ 0x01));
    REQUIRE(stream.flush());
}

// Limits the size of files this process may write, for as long as it lives; SIGXFSZ ignored, so
// a write past the limit fails with EFBIG instead of killing the test.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) {
        ::getrlimit(RLIMIT_FSIZE, &saved_);
        old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
        rlimit limit = saved_;
        limit.rlim_cur = bytes;
        ::setrlimit(RLIMIT_FSIZE, &limit);
    }
    ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &saved_);
        std::signal(SIGXFSZ, old_handler_);
    }

private:
    rlimit saved_{};
    void (*old_handler_)(int) = nullptr;
};

} // namespace

TEST_CASE("artifact store: creating it lays out objects/ and tmp/", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "deep/.trellis");
    CHECK(fs::is_directory(dir / "deep/.trellis/objects/sha256"));
    CHECK(fs::is_directory(dir / "deep/.trellis/tmp"));
    CHECK(store.list().empty());
    // Opening an existing store changes nothing.
    ArtifactStore again(dir / "deep/.trellis");
    CHECK(again.root() == dir / "deep/.trellis");
}

TEST_CASE("artifact store: bytes of every size come back as they went in", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    // The last two sizes straddle the 16 MiB threshold of the two-thread path.
    for (const size_t size : {size_t{0}, size_t{5}, 3 * MiB + 7, 16 * MiB - 1, 20 * MiB + 3}) {
        CAPTURE(size);
        const auto bytes = random_bytes(size, static_cast<uint32_t>(size));
        const auto put = store.put(bytes);
        CHECK(put.digest == digest_of(bytes));
        CHECK(put.size == size);
        CHECK_FALSE(put.existed);

        const auto file = store.root() / ArtifactStore::object_name(put.digest);
        CHECK(file == store.root() / "objects/sha256" / put.digest.substr(0, 2) / put.digest.substr(2));
        CHECK(fs::file_size(file) == size);
        CHECK(store.contains(put.digest));
        CHECK(store.size_of(put.digest) == size);

        const auto object = store.get(put.digest);
        REQUIRE(object->bytes().size() == size);
        CHECK(std::equal(bytes.begin(), bytes.end(), object->bytes().begin()));
        CHECK(files_in(store.root() / "tmp") == 0);
    }
    const auto listed = store.list();
    CHECK(listed.size() == 5);
    CHECK(std::is_sorted(listed.begin(), listed.end()));
}

TEST_CASE("artifact store: the empty artifact is the SHA-256 of nothing", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const auto put = store.put({});
    CHECK(put.digest == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(store.get(put.digest)->bytes().empty());
}

TEST_CASE("artifact store: identical bytes are stored once", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    for (const size_t size : {size_t{1000}, 17 * MiB}) {
        CAPTURE(size);
        const auto bytes = random_bytes(size, 7);
        const auto first = store.put(bytes);
        const auto file = store.root() / ArtifactStore::object_name(first.digest);
        const auto written = fs::last_write_time(file);
        const auto second = store.put(bytes);
        CHECK_FALSE(first.existed);
        CHECK(second.existed);
        CHECK(second.digest == first.digest);
        CHECK(second.size == size);
        CHECK(fs::last_write_time(file) == written); // the object was not rewritten
        CHECK(files_in(store.root() / "tmp") == 0);  // nor a copy left behind
    }
    CHECK(store.list().size() == 2);
    CHECK(files_in(store.root() / "objects") == 2);
}

TEST_CASE("artifact store: objects are read-only files", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const auto put = store.put(span_of("model bytes"));
    const auto perms = fs::status(store.root() / ArtifactStore::object_name(put.digest)).permissions();
    CHECK((perms & fs::perms::owner_write) == fs::perms::none);
}

TEST_CASE("artifact store: a damaged object is reported, not returned", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    for (const size_t size : {size_t{64}, 3 * MiB}) {
        CAPTURE(size);
        const auto bytes = random_bytes(size, 11);
        const auto put = store.put(bytes);
        const auto file = store.root() / ArtifactStore::object_name(put.digest);
        flip_byte(file, size / 2);

        CHECK_THROWS_WITH(store.get(put.digest), "artifact " + put.digest +
                                                     " is damaged: its content no longer matches its digest (" +
                                                     file.string() + ")");
        // Unverified reads hand out the bytes as they are.
        CHECK(store.get(put.digest, false)->bytes().size() == size);
        // Same size, so put() takes it for whole (documented); remove() and put() repair it.
        CHECK(store.put(bytes).existed);
        CHECK(store.remove(put.digest));
        CHECK_FALSE(store.put(bytes).existed);
        const auto repaired = store.get(put.digest);
        CHECK(std::equal(bytes.begin(), bytes.end(), repaired->bytes().begin()));
    }
}

TEST_CASE("artifact store: an object of the wrong size is rewritten by the next put", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const auto bytes = random_bytes(5000, 12);
    const auto put = store.put(bytes);
    const auto file = store.root() / ArtifactStore::object_name(put.digest);
    fs::resize_file(file, 100);
    CHECK_THROWS_WITH(store.get(put.digest), Catch::Contains("is damaged"));
    CHECK_FALSE(store.put(bytes).existed);
    CHECK(store.get(put.digest)->bytes().size() == 5000);
}

TEST_CASE("artifact store: something other than a file under an object's name is damage", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const auto digest = digest_of(span_of("x"));
    fs::create_directories(store.root() / ArtifactStore::object_name(digest));
    CHECK_THROWS_WITH(store.get(digest), Catch::Contains("is damaged") && Catch::Contains("not a regular file"));
    CHECK_FALSE(store.contains(digest));
    CHECK(store.list().empty());

    // A FIFO would block an ordinary open until someone writes to it.
    const auto other = digest_of(span_of("y"));
    fs::create_directories((store.root() / ArtifactStore::object_name(other)).parent_path());
    REQUIRE(::mkfifo((store.root() / ArtifactStore::object_name(other)).c_str(), 0644) == 0);
    CHECK_THROWS_WITH(store.get(other), Catch::Contains("is damaged") && Catch::Contains("not a regular file"));
    CHECK_FALSE(store.contains(other));
}

TEST_CASE("artifact store: a missing object is said to be missing", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const auto digest = digest_of(span_of("never stored"));
    CHECK_THROWS_WITH(store.get(digest),
                      "artifact " + digest + " is not in the store (" + store.root().string() + ")");
    CHECK_FALSE(store.contains(digest));
    CHECK_FALSE(store.size_of(digest).has_value());
    CHECK_FALSE(store.remove(digest));
}

TEST_CASE("artifact store: text that is not a digest is refused everywhere", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const std::string good = digest_of(span_of("a"));
    std::string upper = good;
    upper[0] = 'A';
    const std::string traversal = "../../../../etc/passwd" + std::string(64 - 22, 'a');
    for (const std::string& text : {std::string("xyz"), std::string(), upper, traversal, good + "0",
                                    std::string("ab/") + good.substr(3), good.substr(0, 63) + '\n'}) {
        CAPTURE(text);
        const auto refused = Catch::EndsWith("is not an artifact digest");
        CHECK_THROWS_WITH(store.get(text), refused);
        CHECK_THROWS_WITH(store.contains(text), refused);
        CHECK_THROWS_WITH(store.size_of(text), refused);
        CHECK_THROWS_WITH(store.remove(text), refused);
        CHECK_THROWS_WITH(ArtifactStore::object_name(text), refused);
    }
    CHECK_THROWS_WITH(store.get("xyz"), "'xyz' is not an artifact digest");
    CHECK_THROWS_WITH(store.get(good.substr(0, 63) + '\n'), Catch::Contains("\\x0a'") && !Catch::Contains("\n"));
}

TEST_CASE("artifact store: a fan-out folder linked outside the store is refused", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const auto bytes = random_bytes(4096, 21);
    const auto digest = digest_of(bytes);
    const auto prefix = digest.substr(0, 2);

    // An attacker's folder outside, holding a "valid" object, linked in as objects/sha256/<prefix>.
    const auto outside = dir / "outside";
    fs::create_directories(outside);
    {
        std::ofstream planted(outside / digest.substr(2), std::ios::binary);
        planted.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    fs::create_symlink(outside, store.root() / "objects/sha256" / prefix);

    const auto outside_the_store = Catch::Contains("leads outside the store");
    CHECK_THROWS_WITH(store.get(digest), outside_the_store);
    CHECK_THROWS_WITH(store.contains(digest), outside_the_store);
    CHECK_THROWS_WITH(store.remove(digest), outside_the_store);
    CHECK_THROWS_WITH(store.put(bytes), outside_the_store);
    CHECK_THROWS_WITH(store.list(), outside_the_store);
    CHECK(files_in(outside) == 1);                   // nothing written or removed there
    CHECK(files_in(store.root() / "tmp") == 0);      // and the refused put left nothing behind

    // The large path refuses too, before it publishes anything.
    fs::remove_all(store.root() / "objects");
    fs::create_symlink(outside, store.root() / "objects");
    CHECK_THROWS_WITH(store.put(random_bytes(17 * MiB, 22)), outside_the_store);
    CHECK(files_in(outside) == 1);
}

TEST_CASE("artifact store: a linked tmp folder is refused", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    fs::create_directories(dir / "outside");
    fs::remove(store.root() / "tmp");
    fs::create_symlink(dir / "outside", store.root() / "tmp");
    CHECK_THROWS_WITH(store.put(span_of("bytes")), Catch::Contains("leads outside the store"));
    CHECK_THROWS_WITH(store.remove_stale_temporaries(std::chrono::seconds(0)), Catch::Contains("leads outside the store"));
    CHECK(files_in(dir / "outside") == 0);
}

TEST_CASE("artifact store: a store reached through a symlinked root works", "[artifact_store]") {
    TempDir dir;
    ArtifactStore real(dir / "real");
    fs::create_symlink(dir / "real", dir / "link");
    ArtifactStore store(dir / "link");
    const auto put = store.put(span_of("through the link"));
    CHECK(real.contains(put.digest));
    CHECK(store.get(put.digest)->bytes().size() == 16);
}

TEST_CASE("artifact store: a failed write leaves no object and no temporary", "[artifact_store]") {
    for (const size_t size : {3 * MiB, 20 * MiB}) {
        CAPTURE(size);
        TempDir dir;
        ArtifactStore store(dir / "store");
        const auto bytes = random_bytes(size, 31);
        {
            FileSizeLimit limit(MiB); // writes past 1 MiB fail with EFBIG
            CHECK_THROWS_WITH(store.put(bytes), Catch::StartsWith("cannot write " + (store.root() / "tmp").string()) &&
                                                    Catch::Contains("too large"));
        }
        CHECK_FALSE(store.contains(digest_of(bytes)));
        CHECK(files_in(store.root()) == 0);
        // And the store works again once the disk does.
        CHECK_FALSE(store.put(bytes).existed);
        CHECK(store.get(digest_of(bytes))->bytes().size() == size);
    }
}

TEST_CASE("artifact store: concurrent puts of the same bytes all succeed", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    for (const size_t size : {size_t{100'000}, 17 * MiB}) {
        CAPTURE(size);
        const auto bytes = random_bytes(size, 41);
        std::vector<std::thread> threads;
        std::atomic<int> failures{0};
        for (int i = 0; i < 6; ++i)
            threads.emplace_back([&] {
                try {
                    ArtifactStore own(dir / "store");
                    for (int round = 0; round < 3; ++round)
                        if (own.put(bytes).digest != digest_of(bytes)) ++failures;
                } catch (...) {
                    ++failures;
                }
            });
        for (auto& thread : threads) thread.join();
        CHECK(failures == 0);
        CHECK(store.get(digest_of(bytes))->bytes().size() == size);
        CHECK(files_in(store.root() / "tmp") == 0);
    }
    CHECK(store.list().size() == 2);
}

TEST_CASE("artifact store: two processes putting the same bytes both succeed", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const auto bytes = random_bytes(2 * MiB, 42);
    const auto digest = digest_of(bytes);
    const auto put_and_remove = [&](ArtifactStore& own) {
        for (int round = 0; round < 20; ++round) {
            if (own.put(bytes).digest != digest) return false;
            try {
                own.get(digest); // whole whenever visible: a partial object would fail verification
            } catch (const StoreError& error) {
                // The other process may have just removed it; anything else is a failure.
                if (std::string_view(error.what()).find("is not in the store") == std::string_view::npos) return false;
            }
            if (round % 5 == 4) own.remove(digest);
        }
        return true;
    };
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        bool ok = false;
        try {
            ArtifactStore own(dir / "store");
            ok = put_and_remove(own);
        } catch (...) {
        }
        ::_exit(ok ? 0 : 1);
    }
    bool ok = false;
    try {
        ok = put_and_remove(store);
    } catch (const StoreError& error) {
        FAIL(error.what());
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(ok);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(files_in(store.root() / "tmp") == 0);
}

TEST_CASE("artifact store: a mapped object outlives its removal", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const auto put = store.put(span_of("still here"));
    const auto object = store.get(put.digest);
    CHECK(store.remove(put.digest));
    CHECK_FALSE(store.remove(put.digest));
    CHECK_FALSE(store.contains(put.digest));
    CHECK(std::string(object->bytes().begin(), object->bytes().end()) == "still here");
}

TEST_CASE("artifact store: list skips what is not an object", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const auto a = store.put(span_of("a")).digest;
    const auto b = store.put(span_of("b")).digest;
    const auto objects = store.root() / "objects/sha256";
    fs::create_directories(objects / "zz");
    std::ofstream(objects / "zz" / std::string(62, 'a')) << "not hex folder";
    std::ofstream(objects / "readme.txt") << "stray";
    std::ofstream(objects / "ab") << "a file where a folder belongs";
    std::ofstream(objects / a.substr(0, 2) / "partial.tmp") << "x";
    std::ofstream(objects / a.substr(0, 2) / (a.substr(2, 60) + "AB")) << "upper case";
    auto expected = std::vector<std::string>{a, b};
    std::sort(expected.begin(), expected.end());
    CHECK(store.list() == expected);
}

TEST_CASE("artifact store: stale temporaries are removed, fresh ones kept", "[artifact_store]") {
    TempDir dir;
    ArtifactStore store(dir / "store");
    const auto tmp = store.root() / "tmp";
    dir.write("store/tmp/put-1-killed", "half an object");
    dir.write("store/tmp/put-2-writing", "a writer at work");
    fs::create_directories(tmp / "a-folder");
    const timespec hour_ago[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
    REQUIRE(::utimensat(AT_FDCWD, (tmp / "put-1-killed").c_str(), hour_ago, 0) == 0);
    REQUIRE(::utimensat(AT_FDCWD, (tmp / "a-folder").c_str(), hour_ago, 0) == 0);

    CHECK(store.remove_stale_temporaries(std::chrono::minutes(10)) == 1);
    CHECK_FALSE(fs::exists(tmp / "put-1-killed"));
    CHECK(fs::exists(tmp / "put-2-writing"));
    CHECK(fs::exists(tmp / "a-folder"));
    CHECK(store.remove_stale_temporaries(std::chrono::minutes(10)) == 0);
    CHECK(store.remove_stale_temporaries(std::chrono::seconds(-60)) == 1); // everything up to now
    CHECK_FALSE(fs::exists(tmp / "put-2-writing"));
}
