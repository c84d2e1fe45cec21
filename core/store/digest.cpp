#include "store/digest.hpp"

#include "store/sqlite.hpp"
#include "store/store_paths.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace trellis::store {

namespace {

[[noreturn]] void openssl_failed(const char* action) {
    const unsigned long code = ERR_get_error();
    char text[256] = "unknown error";
    if (code != 0) ERR_error_string_n(code, text, sizeof text);
    throw StoreError(std::string("SHA-256: OpenSSL cannot ") + action + ": " + text);
}

// Big enough that the per-call overhead vanishes next to the hashing, small enough to stay in L2.
constexpr size_t file_block = size_t{1} << 20;

// Calls `consume` with successive blocks of the file's content.
template <typename Consume>
void read_blocks(const std::filesystem::path& path, Consume&& consume) {
    const auto name = [&] { return printable(path.string(), 1024); };
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer; it is refused below instead.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw StoreError("cannot open " + name() + " to hash it: " + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw StoreError("cannot stat " + name() + ": " + std::strerror(errno));
    if (S_ISDIR(info.st_mode)) throw StoreError("cannot hash " + name() + ": it is a directory");
    if (!S_ISREG(info.st_mode)) throw StoreError("cannot hash " + name() + ": it is not a regular file");
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL); // only a hint: its failure changes nothing

    std::vector<uint8_t> buffer(file_block);
    for (;;) {
        const ssize_t got = ::read(fd, buffer.data(), buffer.size());
        if (got < 0) {
            if (errno == EINTR) continue;
            throw StoreError("cannot read " + name() + ": " + std::strerror(errno));
        }
        if (got == 0) return;
        consume(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(got)));
    }
}

} // namespace

// ---- Sha256 -------------------------------------------------------------------------------------

struct Sha256::State {
    EVP_MD_CTX* context = nullptr;
    bool finished = false;
    ~State() { EVP_MD_CTX_free(context); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
    state_->context = EVP_MD_CTX_new();
    if (state_->context == nullptr) openssl_failed("allocate a hashing context");
    if (EVP_DigestInit_ex(state_->context, EVP_sha256(), nullptr) != 1) openssl_failed("start a digest");
}

Sha256::~Sha256() = default;

void Sha256::update(std::span<const uint8_t> bytes) {
    if (state_->finished) throw StoreError("SHA-256: update() after hex(): the digest is already finished");
    if (bytes.empty()) return;
    if (EVP_DigestUpdate(state_->context, bytes.data(), bytes.size()) != 1) openssl_failed("hash bytes");
}

void Sha256::update(std::string_view text) {
    update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

std::string Sha256::hex() {
    if (state_->finished) throw StoreError("SHA-256: hex() called twice: the digest is already finished");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(state_->context, digest, &size) != 1) openssl_failed("finish a digest");
    state_->finished = true;
    return to_hex({digest, size});
}

// ---- FastHash -----------------------------------------------------------------------------------

struct FastHash::State {
    XXH3_state_t* state = nullptr;
    ~State() { XXH3_freeState(state); }
};

FastHash::FastHash() : state_(std::make_unique<State>()) {
    state_->state = XXH3_createState();
    if (state_->state == nullptr) throw StoreError("XXH3: cannot allocate a hashing state");
    if (XXH3_128bits_reset(state_->state) != XXH_OK) throw StoreError("XXH3: cannot start a hash");
}

FastHash::~FastHash() = default;

void FastHash::update(std::span<const uint8_t> bytes) {
    if (bytes.empty()) return;
    if (XXH3_128bits_update(state_->state, bytes.data(), bytes.size()) != XXH_OK)
        throw StoreError("XXH3: cannot hash bytes");
}

void FastHash::update(std::string_view text) {
    update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void FastHash::field(std::string_view text) {
    // The length as 8 little-endian bytes whatever the machine, so keys agree across hosts.
    uint64_t length = text.size();
    uint8_t prefix[8];
    for (auto& byte : prefix) {
        byte = static_cast<uint8_t>(length & 0xff);
        length >>= 8;
    }
    update(std::span<const uint8_t>(prefix, sizeof prefix));
    update(text);
}

std::string FastHash::hex() const {
    // The canonical (big-endian) form, the one xxhsum prints, so a digest can be checked by hand.
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state_->state));
    return to_hex({canonical.digest, sizeof canonical.digest});
}

// ---- one-shot helpers ---------------------------------------------------------------------------

std::string sha256_hex(std::span<const uint8_t> bytes) {
    Sha256 hash;
    hash.update(bytes);
    return hash.hex();
}

std::string sha256_hex(std::string_view text) {
    Sha256 hash;
    hash.update(text);
    return hash.hex();
}

std::string sha256_file(const std::filesystem::path& path) {
    Sha256 hash;
    read_blocks(path, [&](std::span<const uint8_t> block) { hash.update(block); });
    return hash.hex();
}

std::string fast_hash_file(const std::filesystem::path& path) {
    FastHash hash;
    read_blocks(path, [&](std::span<const uint8_t> block) { hash.update(block); });
    return hash.hex();
}

bool is_sha256_hex(std::string_view text) {
    if (text.size() != 64) return false;
    for (const char c : text)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string to_hex(std::span<const uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex(bytes.size() * 2, '0');
    for (size_t i = 0; i < bytes.size(); ++i) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    return hex;
}

} // namespace trellis::store
