#include "util/atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace trellis::core {

namespace {

std::string random_suffix() {
    std::random_device device;
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 16; ++i) out += digits[device() % 16];
    return out;
}

} // namespace

bool write_file_atomically(const std::filesystem::path& path, std::string_view bytes, mode_t mode, bool exclusive) {
    const std::string temporary = path.string() + ".tmp-" + random_suffix();
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) throw std::runtime_error(path.string() + ": cannot write it: " + std::strerror(errno));
    bool written = true;
    for (size_t done = 0; written && done < bytes.size();) {
        const ssize_t wrote = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (wrote < 0 && errno == EINTR) continue;
        written = wrote > 0;
        if (written) done += static_cast<size_t>(wrote);
    }
    written = written && ::fsync(fd) == 0;
    int error = errno;
    ::close(fd);
    // link() fails when the name exists, which is what `exclusive` asks for; rename() replaces.
    const int placed = !written ? -1 : exclusive ? ::link(temporary.c_str(), path.c_str()) : ::rename(temporary.c_str(), path.c_str());
    if (written) error = errno;
    ::unlink(temporary.c_str());
    if (placed == 0) return true;
    if (written && exclusive && error == EEXIST) return false;
    throw std::runtime_error(path.string() + ": cannot write it: " + std::strerror(error));
}

} // namespace trellis::core
