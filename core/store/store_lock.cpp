#include "store/store_lock.hpp"

#include "store/sqlite.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace trellis::store {

StoreLock::StoreLock(const std::filesystem::path& root, Mode mode) {
    std::error_code ec;
    std::filesystem::create_directories(root, ec);
    const auto path = root / "gc.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) throw StoreError(path.string() + ": cannot open the store lock: " + std::strerror(errno));
    const int operation = mode == Mode::Shared ? LOCK_SH : LOCK_EX;
    if (::flock(fd_, operation | LOCK_NB) == 0) return;
    if (mode == Mode::Shared) spdlog::info("waiting for trellis gc to finish with {}", root.string());
    else spdlog::info("waiting for running pipelines to finish with {}", root.string());
    while (::flock(fd_, operation) != 0) {
        if (errno == EINTR) continue;
        const int error = errno;
        ::close(fd_);
        throw StoreError(path.string() + ": cannot lock the store: " + std::strerror(error));
    }
}

StoreLock::~StoreLock() {
    if (fd_ >= 0) ::close(fd_);
}

} // namespace trellis::store
