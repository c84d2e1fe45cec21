// When and where: the time and host name the stores record (Unix seconds, UTC).
#pragma once

#include <chrono>
#include <string>
#include <unistd.h>

namespace trellis::store {

// Unix time now, in seconds.
inline double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// This machine's host name ("unknown" if it has none).
inline std::string host_name() {
    char buffer[256] = {};
    if (::gethostname(buffer, sizeof buffer - 1) != 0) return "unknown";
    return buffer;
}

} // namespace trellis::store
