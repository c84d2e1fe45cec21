#include "govern/ed25519.hpp"

#include "util/atomic_file.hpp"

#include "store/digest.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace trellis::govern {

namespace {

constexpr size_t public_size = 32;
constexpr size_t signature_size = 64;

std::string openssl_error() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return "unknown OpenSSL error";
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

bool unhex(std::string_view text, std::vector<unsigned char>& out) {
    if (text.size() % 2) return false;
    out.clear();
    auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (size_t i = 0; i < text.size(); i += 2) {
        const int high = digit(text[i]), low = digit(text[i + 1]);
        if (high < 0 || low < 0) return false;
        out.push_back(static_cast<unsigned char>(high * 16 + low));
    }
    return true;
}

std::string raw_public_hex(EVP_PKEY* key) {
    unsigned char bytes[public_size];
    size_t size = sizeof bytes;
    if (EVP_PKEY_get_raw_public_key(key, bytes, &size) != 1 || size != public_size)
        throw KeyError("cannot read the Ed25519 public key: " + openssl_error());
    return store::to_hex({bytes, size});
}

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw KeyError(path.string() + ": cannot read the key file: " + std::strerror(errno));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// An encrypted key is refused rather than prompted for: OpenSSL would ask on the terminal and
// stall a scripted `trellis sign`.
int no_passphrase(char*, int, int, void*) { return 0; }

EVP_PKEY* parse_pem(std::string_view pem, bool want_private) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) throw KeyError("out of memory reading a key");
    EVP_PKEY* key = nullptr;
    const bool has_private = pem.find("PRIVATE KEY") != std::string_view::npos;
    if (has_private) key = PEM_read_bio_PrivateKey(bio, nullptr, &no_passphrase, nullptr);
    else if (!want_private) key = PEM_read_bio_PUBKEY(bio, nullptr, &no_passphrase, nullptr);
    BIO_free(bio);
    ERR_clear_error();
    if (key && EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        key = nullptr;
    }
    return key;
}

} // namespace

SigningKey::SigningKey(EVP_PKEY* key) : key_(key, EVP_PKEY_free) {}

SigningKey SigningKey::generate() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (!key) throw KeyError("cannot generate an Ed25519 key: " + openssl_error());
    return SigningKey(key);
}

SigningKey SigningKey::load(const std::filesystem::path& path) {
    EVP_PKEY* key = parse_pem(read_text(path), true);
    if (!key) throw KeyError(path.string() + ": not an Ed25519 private key in PEM form");
    return SigningKey(key);
}

void SigningKey::save(const std::filesystem::path& path, bool exclusive) const {
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        BIO_free(bio);
        throw KeyError(path.string() + ": cannot encode the key: " + openssl_error());
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    const std::string pem(data, static_cast<size_t>(size));
    BIO_free(bio);

    bool placed = false;
    try {
        placed = core::write_file_atomically(path, pem, 0600, exclusive);
    } catch (const std::runtime_error& e) {
        throw KeyError(e.what());
    }
    if (!placed) throw KeyError(path.string() + ": a key with this name exists already");
}

std::string SigningKey::public_pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PUBKEY(bio, key_.get()) != 1) {
        BIO_free(bio);
        throw KeyError("cannot encode the public key: " + openssl_error());
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(size));
    BIO_free(bio);
    return pem;
}

std::string SigningKey::public_hex() const { return raw_public_hex(key_.get()); }

std::string SigningKey::sign(std::string_view message) const {
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    unsigned char signature[signature_size];
    size_t size = sizeof signature;
    const bool ok = context && EVP_DigestSignInit(context, nullptr, nullptr, nullptr, key_.get()) == 1 &&
                    EVP_DigestSign(context, signature, &size, reinterpret_cast<const unsigned char*>(message.data()),
                                   message.size()) == 1;
    EVP_MD_CTX_free(context);
    if (!ok) throw KeyError("cannot sign: " + openssl_error());
    return store::to_hex({signature, size});
}

std::string public_key_hex_from_pem(std::string_view pem) {
    EVP_PKEY* key = parse_pem(pem, false);
    if (!key) throw KeyError("not an Ed25519 key in PEM form");
    std::shared_ptr<EVP_PKEY> owned(key, EVP_PKEY_free);
    return raw_public_hex(key);
}

std::string read_public_key_hex(const std::filesystem::path& path) {
    try {
        return public_key_hex_from_pem(read_text(path));
    } catch (const KeyError& e) {
        if (std::string(e.what()).rfind(path.string(), 0) == 0) throw;
        throw KeyError(path.string() + ": " + e.what());
    }
}

bool verify_signature(std::string_view public_hex, std::string_view message, std::string_view signature_hex) {
    std::vector<unsigned char> public_bytes, signature;
    if (!unhex(public_hex, public_bytes) || public_bytes.size() != public_size) return false;
    if (!unhex(signature_hex, signature) || signature.size() != signature_size) return false;
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_bytes.data(), public_bytes.size());
    if (!key) {
        ERR_clear_error();
        return false;
    }
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    const bool ok = context && EVP_DigestVerifyInit(context, nullptr, nullptr, nullptr, key) == 1 &&
                    EVP_DigestVerify(context, signature.data(), signature.size(),
                                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return ok;
}

std::string key_id(std::string_view public_hex) {
    std::vector<unsigned char> bytes;
    if (!unhex(public_hex, bytes)) return std::string(public_hex.substr(0, 16));
    return store::sha256_hex(std::span<const uint8_t>(bytes.data(), bytes.size())).substr(0, 16);
}

bool is_public_key_hex(std::string_view text) {
    if (text.size() != public_size * 2) return false;
    for (const char c : text)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

} // namespace trellis::govern
