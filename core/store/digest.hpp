// Content hashes. SHA-256 names and verifies stored artifacts (collision-resistant, so a digest
// can stand for the bytes); XXH3-128 is the fast hash for cache keys and data-file fingerprints,
// where speed on large files matters and an adversary does not.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace trellis::store {

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(std::span<const uint8_t> bytes);
    void update(std::string_view text);
    // Lowercase hex, 64 characters. The hasher is finished afterwards.
    std::string hex();

private:
    struct State;
    std::unique_ptr<State> state_;
};

// Incremental XXH3-128 (libxxhash).
class FastHash {
public:
    FastHash();
    ~FastHash();
    FastHash(const FastHash&) = delete;
    FastHash& operator=(const FastHash&) = delete;
    void update(std::span<const uint8_t> bytes);
    void update(std::string_view text);
    // Adds a length-prefixed field, so that ("ab","c") and ("a","bc") hash differently.
    void field(std::string_view text);
    // Lowercase hex, 32 characters.
    std::string hex() const;

private:
    struct State;
    std::unique_ptr<State> state_;
};

std::string sha256_hex(std::span<const uint8_t> bytes);
std::string sha256_hex(std::string_view text);
// SHA-256 of a file's content, read in large blocks; throws StoreError naming the file.
std::string sha256_file(const std::filesystem::path& path);
// XXH3-128 of a file's content; throws StoreError naming the file.
std::string fast_hash_file(const std::filesystem::path& path);

// `bytes` as lowercase hex, two digits a byte.
std::string to_hex(std::span<const uint8_t> bytes);

// Whether `text` is 64 lowercase hex digits.
bool is_sha256_hex(std::string_view text);

} // namespace trellis::store
