// Ed25519 keys and signatures on OpenSSL 3's EVP interface: what signs the audit log's entries,
// plugins and model versions. Keys travel as PEM files (PKCS#8 private, SubjectPublicKeyInfo
// public) so OpenSSL's own tools read them; in the store a public key is its 32 raw bytes in hex.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace trellis::govern {

// A key or signature that is malformed, or a key file that cannot be read or written.
class KeyError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An Ed25519 private key (which knows its public half).
class SigningKey {
public:
    static SigningKey generate();
    // Reads a PEM private key; throws KeyError naming `path` when it is not an Ed25519 key.
    static SigningKey load(const std::filesystem::path& path);
    // Writes the private key as PEM, readable by its owner only, atomically (temporary + rename);
    // `exclusive`: fail with KeyError if `path` exists rather than replace it.
    void save(const std::filesystem::path& path, bool exclusive) const;
    // The public key in PEM, to hand to whoever verifies.
    std::string public_pem() const;
    // The 32-byte public key, hex.
    std::string public_hex() const;
    // The 64-byte signature of `message`, hex.
    std::string sign(std::string_view message) const;

private:
    explicit SigningKey(EVP_PKEY* key);
    std::shared_ptr<EVP_PKEY> key_;
};

// The public key in a PEM file (or a PEM private key, whose public half it takes), as hex.
std::string read_public_key_hex(const std::filesystem::path& path);
// `pem` (public or private PEM text) as a hex public key.
std::string public_key_hex_from_pem(std::string_view pem);
// Whether `signature_hex` is `public_hex`'s signature of `message`. Malformed hex is false.
bool verify_signature(std::string_view public_hex, std::string_view message, std::string_view signature_hex);
// A key's short name: the first 16 hex digits of the SHA-256 of its public bytes.
std::string key_id(std::string_view public_hex);
// Whether `text` is a 64-digit lowercase hex Ed25519 public key.
bool is_public_key_hex(std::string_view text);

} // namespace trellis::govern
