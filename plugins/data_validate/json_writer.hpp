// Numbers for the JSON data.validate writes. Schemas are edited by hand, so a number is written
// in its shortest form that reads back as the same double ("4.87", not "4.8700000000000001").
#pragma once

#include <charconv>
#include <cmath>
#include <string>

namespace trellis_validate {

/// `value` as the shortest JSON number that round-trips; null for NaN and infinity.
inline std::string short_json_number(double value) {
    if (!std::isfinite(value)) return "null";
    char text[32];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
    if (ec != std::errc()) return "null";
    return std::string(text, end);
}

} // namespace trellis_validate
