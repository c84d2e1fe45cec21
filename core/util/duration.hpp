// Durations people type: "90s", "15m", "12h", "7d", "2w", or a plain number of seconds.
#pragma once

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

namespace trellis::core {

// Seconds in `text`, or nothing when it is not a non-negative duration.
inline std::optional<double> parse_duration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    double unit = 1;
    switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 604800; break;
    default: unit = 0;
    }
    if (unit != 0) text.remove_suffix(1);
    else unit = 1;
    double number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || !std::isfinite(number) || number < 0)
        return std::nullopt;
    return number * unit;
}

} // namespace trellis::core
