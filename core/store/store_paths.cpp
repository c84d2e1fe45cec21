#include "store/store_paths.hpp"

#include "store/sqlite.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace trellis::store {

namespace fs = std::filesystem;

namespace {

std::string quoted(std::string_view text) { return "'" + printable(text) + "'"; }
std::string path_text(const fs::path& path) { return printable(path.string(), 1024); }

[[noreturn]] void refuse(std::string_view what, std::string_view name, std::string_view reason) {
    throw StoreError(std::string(what) + " " + quoted(name) + " is not allowed: " + std::string(reason));
}

[[noreturn]] void leads_outside(const fs::path& root, std::string_view name) {
    throw StoreError(quoted(name) + " leads outside the store " + path_text(root) + " (through a symlink)");
}

// Length of the well-formed UTF-8 sequence at the start of `text`, or 0 when it is not one.
size_t utf8_length(std::string_view text) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    size_t length = 0;
    unsigned char low = 0x80, high = 0xbf; // the range of the second byte (excludes overlongs, surrogates)
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        if (lead == 0xe0) low = 0xa0;
        if (lead == 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        if (lead == 0xf0) low = 0x90;
        if (lead == 0xf4) high = 0x8f;
    } else {
        return 0;
    }
    if (text.size() < length) return 0;
    if (byte(1) < low || byte(1) > high) return 0;
    for (size_t i = 2; i < length; ++i)
        if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
    return length;
}

// Whether `path` is `root` or lies below it (both absolute and normal).
bool is_within(const fs::path& root, const fs::path& path) {
    const auto [in_root, in_path] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
    (void)in_path;
    return in_root == root.end();
}

// The canonical form of the store root; the root itself is trusted, symlinks and all.
fs::path canonical_root(const fs::path& root) {
    std::error_code error;
    auto canonical = fs::canonical(root, error);
    if (error) throw StoreError("cannot open the store " + path_text(root) + ": " + error.message());
    return canonical;
}

// Resolves root/name (name already checked) and requires the result inside the root.
fs::path resolve_inside(const fs::path& root, std::string_view name) {
    const auto canonical = canonical_root(root);
    std::error_code error;
    auto resolved = fs::weakly_canonical(canonical / fs::path(std::string(name)), error);
    if (error) {
        if (error.value() == ELOOP) leads_outside(root, name);
        throw StoreError("cannot resolve " + quoted(name) + " in the store " + path_text(root) + ": " +
                         error.message());
    }
    if (!is_within(canonical, resolved)) leads_outside(root, name);
    return resolved;
}

// Set once openat2 turns out to be missing, so later opens go straight to the fallback.
std::atomic<bool> openat2_missing{false};

} // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::min(text.size(), max_bytes) + 8);
    size_t i = 0;
    while (i < text.size()) {
        if (out.size() >= max_bytes) return out + "...";
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
            ++i;
        } else if (const size_t length = c >= 0x80 ? utf8_length(text.substr(i)) : 0; length > 0) {
            out.append(text.substr(i, length));
            i += length;
        } else {
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 0x0f];
            ++i;
        }
    }
    return out;
}

void check_relative_name(std::string_view name, std::string_view what) {
    if (name.empty()) refuse(what, name, "it is empty");
    if (name.find('\0') != std::string_view::npos) refuse(what, name, "it contains a NUL character");
    if (name.front() == '/') refuse(what, name, "it is an absolute path");
    size_t start = 0;
    for (;;) {
        const size_t end = std::min(name.find('/', start), name.size());
        const auto component = name.substr(start, end - start);
        if (component.empty()) refuse(what, name, "it contains an empty component ('//' or a trailing '/')");
        if (component == "..") refuse(what, name, "it contains '..'");
        if (component == ".") refuse(what, name, "it contains '.'");
        if (end == name.size()) return;
        start = end + 1;
    }
}

int try_open_beneath_at(int root_fd, const fs::path& root, std::string_view name, int flags, mode_t mode) {
    check_relative_name(name, "path");
    if (openat2_missing.load(std::memory_order_relaxed))
        return detail::try_open_beneath_by_resolving(root, name, flags, mode);

    const std::string text(name); // NUL-terminated; check_relative_name refused inner NULs
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    // openat2 insists on mode 0 unless a file may be created.
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    // EAGAIN: a concurrent rename made the kernel unsure that a ".." stayed beneath; it asks for a
    // retry. EINTR: interrupted while opening a FIFO or on a slow filesystem.
    for (int attempt = 0;; ++attempt) {
        const long fd = ::syscall(SYS_openat2, root_fd, text.c_str(), &how, sizeof how);
        if (fd >= 0) return static_cast<int>(fd);
        const int error = errno;
        if ((error == EAGAIN || error == EINTR) && attempt < 16) continue;
        if (error == EXDEV || error == ELOOP) leads_outside(root, name);
        // ENOSYS: a kernel before 5.6. EPERM: container runtimes whose seccomp profile predates
        // openat2 answer EPERM to syscalls they do not know; a real EPERM repeats in the fallback.
        if (error == ENOSYS || error == EPERM) {
            if (error == ENOSYS) openat2_missing.store(true, std::memory_order_relaxed);
            return detail::try_open_beneath_by_resolving(root, name, flags, mode);
        }
        errno = error;
        return -1;
    }
}

int try_open_beneath(const fs::path& root, std::string_view name, int flags, mode_t mode) {
    check_relative_name(name, "path");
    const int root_fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) throw StoreError("cannot open the store " + path_text(root) + ": " + std::strerror(errno));
    int fd = -1;
    try {
        fd = try_open_beneath_at(root_fd, root, name, flags, mode);
    } catch (...) {
        ::close(root_fd); // a refusal must not leak the root's descriptor
        throw;
    }
    const int error = errno;
    ::close(root_fd);
    errno = error;
    return fd;
}

int open_beneath(const fs::path& root, std::string_view name, int flags, mode_t mode) {
    const int fd = try_open_beneath(root, name, flags, mode);
    if (fd < 0)
        throw StoreError("cannot open " + path_text(root / std::string(name)) + ": " + std::strerror(errno));
    return fd;
}

fs::path resolve_beneath(const fs::path& root, std::string_view name) {
    check_relative_name(name, "path");
    return resolve_inside(root, name);
}

namespace detail {

int try_open_beneath_by_resolving(const fs::path& root, std::string_view name, int flags, mode_t mode) {
    check_relative_name(name, "path");
    const auto resolved = resolve_inside(root, name);
    // The final component is resolved already; should it have become a symlink since, refuse it.
    const int fd = ::open(resolved.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 && errno == ELOOP) leads_outside(root, name);
    return fd;
}

} // namespace detail

} // namespace trellis::store
