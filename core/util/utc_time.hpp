// A Unix time as UTC text, in the strftime format a caller names.
#pragma once

#include <ctime>
#include <string>

namespace trellis::core {

// `seconds` (Unix time, fractions dropped) formatted in UTC with `format`, e.g. "%Y-%m-%dT%H:%M:%SZ".
inline std::string utc_time_text(double seconds, const char* format) {
    const auto whole = static_cast<std::time_t>(seconds);
    std::tm parts{};
    gmtime_r(&whole, &parts);
    char text[64];
    const size_t length = std::strftime(text, sizeof text, format, &parts);
    return std::string(text, length);
}

} // namespace trellis::core
