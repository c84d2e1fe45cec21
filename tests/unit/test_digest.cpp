// Content hashes: SHA-256 and XXH3-128 against known vectors and their one-shot forms, incremental
// updates at any split, length-prefixed fields, files read in blocks, and digest text checks.
#include "store/digest.hpp"
#include "store/sqlite.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <xxhash.h>

#include <random>
#include <vector>

#include <sys/stat.h>

using trellis::store::FastHash;
using trellis::store::Sha256;
using trellis::store::StoreError;
using trellis::test::TempDir;

namespace {

std::vector<uint8_t> random_bytes(size_t size, uint32_t seed) {
    std::mt19937 generator(seed);
    std::vector<uint8_t> bytes(size);
    for (auto& byte : bytes) byte = static_cast<uint8_t>(generator());
    return bytes;
}

std::string as_text(const std::vector<uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

// The library's own one-shot XXH3-128, in the canonical (big-endian) hex form.
std::string xxh3_reference(const void* data, size_t size) {
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits(data, size));
    std::string hex;
    static constexpr char digits[] = "0123456789abcdef";
    for (const auto byte : canonical.digest) {
        hex += digits[byte >> 4];
        hex += digits[byte & 0x0f];
    }
    return hex;
}

} // namespace

TEST_CASE("digest: SHA-256 matches the FIPS 180-2 test vectors", "[digest]") {
    CHECK(trellis::store::sha256_hex(std::string_view("abc")) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(trellis::store::sha256_hex(std::string_view("")) ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(trellis::store::sha256_hex(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const std::string million(1'000'000, 'a');
    CHECK(trellis::store::sha256_hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("digest: incremental SHA-256 equals the one-shot digest at any split", "[digest]") {
    const auto bytes = random_bytes(100'000, 1);
    const auto expected = trellis::store::sha256_hex(std::span<const uint8_t>(bytes));
    for (const size_t split : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{99'999}, bytes.size()}) {
        Sha256 hash;
        hash.update(std::span<const uint8_t>(bytes).first(split));
        hash.update(std::span<const uint8_t>(bytes).subspan(split));
        CHECK(hash.hex() == expected);
    }
    Sha256 by_text;
    by_text.update(as_text(bytes));
    CHECK(by_text.hex() == expected);
}

TEST_CASE("digest: a finished SHA-256 refuses more input instead of restarting", "[digest]") {
    Sha256 hash;
    hash.update(std::string_view("abc"));
    CHECK(hash.hex().size() == 64);
    CHECK_THROWS_AS(hash.update(std::string_view("more")), StoreError);
    CHECK_THROWS_AS(hash.hex(), StoreError);
}

TEST_CASE("digest: XXH3-128 matches the library's one-shot function", "[digest]") {
    FastHash empty;
    CHECK(empty.hex() == xxh3_reference(nullptr, 0));
    CHECK(empty.hex() == "99aa06d3014798d86001c324468d497f");

    // Past XXH3's internal buffer (256 bytes) and stripe/block sizes, fed in uneven pieces.
    const auto bytes = random_bytes(70'000, 2);
    FastHash pieces;
    size_t offset = 0;
    for (size_t step = 1; offset < bytes.size(); step = step * 3 + 1) {
        const size_t size = std::min(step, bytes.size() - offset);
        pieces.update(std::span<const uint8_t>(bytes).subspan(offset, size));
        offset += size;
    }
    CHECK(pieces.hex() == xxh3_reference(bytes.data(), bytes.size()));
    CHECK(pieces.hex().size() == 32);
    // hex() does not finish the hash: it can go on.
    pieces.update(std::string_view("x"));
    CHECK(pieces.hex() != xxh3_reference(bytes.data(), bytes.size()));
}

TEST_CASE("digest: fields are length-prefixed so their boundaries count", "[digest]") {
    FastHash ab_c, a_bc;
    ab_c.field("ab");
    ab_c.field("c");
    a_bc.field("a");
    a_bc.field("bc");
    CHECK(ab_c.hex() != a_bc.hex());

    FastHash empty_field, nothing;
    empty_field.field("");
    CHECK(empty_field.hex() != nothing.hex());

    // The prefix is the length as 8 little-endian bytes.
    FastHash field, manual;
    field.field("abc");
    const uint8_t prefix[8] = {3, 0, 0, 0, 0, 0, 0, 0};
    manual.update(std::span<const uint8_t>(prefix, 8));
    manual.update(std::string_view("abc"));
    CHECK(field.hex() == manual.hex());
}

TEST_CASE("digest: files are hashed in blocks to the same digests as their bytes", "[digest]") {
    TempDir dir;
    for (const size_t size : {size_t{0}, size_t{5}, (size_t{1} << 20), (size_t{3} << 20) + 17}) {
        CAPTURE(size);
        const auto bytes = random_bytes(size, 3);
        const auto file = dir.write("data.bin", as_text(bytes));
        CHECK(trellis::store::sha256_file(file) == trellis::store::sha256_hex(std::span<const uint8_t>(bytes)));
        CHECK(trellis::store::fast_hash_file(file) == xxh3_reference(bytes.data(), bytes.size()));
    }
}

TEST_CASE("digest: hashing a missing file or a folder names it", "[digest]") {
    TempDir dir;
    const auto missing = (dir / "missing.csv").string();
    CHECK_THROWS_WITH(trellis::store::sha256_file(missing), Catch::Contains(missing) && Catch::Contains("No such file"));
    CHECK_THROWS_WITH(trellis::store::fast_hash_file(missing), Catch::Contains(missing));
    CHECK_THROWS_WITH(trellis::store::sha256_file(dir.path()),
                      Catch::Contains(dir.path().string()) && Catch::Contains("directory"));
    CHECK_THROWS_AS(trellis::store::fast_hash_file(dir.path()), StoreError);
    // A FIFO is refused rather than waited on.
    const auto fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    CHECK_THROWS_WITH(trellis::store::sha256_file(fifo), Catch::Contains("not a regular file"));
}

TEST_CASE("digest: is_sha256_hex accepts 64 lowercase hex digits only", "[digest]") {
    using trellis::store::is_sha256_hex;
    const std::string good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    CHECK(is_sha256_hex(good));
    CHECK(is_sha256_hex(std::string(64, '0')));
    CHECK_FALSE(is_sha256_hex(""));
    CHECK_FALSE(is_sha256_hex(good.substr(1)));
    CHECK_FALSE(is_sha256_hex(good + "0"));
    std::string upper = good;
    upper[0] = 'B';
    CHECK_FALSE(is_sha256_hex(upper));
    std::string letter = good;
    letter[10] = 'g';
    CHECK_FALSE(is_sha256_hex(letter));
    std::string slash = good;
    slash[2] = '/';
    CHECK_FALSE(is_sha256_hex(slash));
    std::string nul = good;
    nul[5] = '\0';
    CHECK_FALSE(is_sha256_hex(nul));
}
