// Numbers written as python's str() writes them. Parameters reach XGBoost as text, and python's
// xgboost sends str(value): writing the same text gives XGBoost the same values, and the
// best_score attribute reads as python's does.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace trellis_xgboost {

// python's repr(float): the shortest digits that read back as `value`, in fixed notation for
// decimal exponents -4..15 ("0.3", "1.0", "0.0001"), else scientific ("1e-05", "1.5e+16").
inline std::string python_float_text(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    char buffer[64];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
    if (ec != std::errc()) throw std::logic_error("cannot format a double");
    const std::string text(buffer, end); // "-d.ddde+XX"
    const size_t e = text.find('e');
    std::string mantissa = text.substr(0, e);
    const int exponent = std::stoi(text.substr(e + 1));
    const bool negative = !mantissa.empty() && mantissa[0] == '-';
    if (negative) mantissa.erase(0, 1);
    std::string digits;
    for (char c : mantissa)
        if (c != '.') digits += c;
    std::string out;
    if (exponent >= -4 && exponent < 16) {
        if (exponent < 0) {
            out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
        } else {
            const size_t integer_digits = static_cast<size_t>(exponent) + 1;
            if (digits.size() <= integer_digits) out = digits + std::string(integer_digits - digits.size(), '0') + ".0";
            else out = digits.substr(0, integer_digits) + "." + digits.substr(integer_digits);
        }
    } else {
        out = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "");
        const int magnitude = exponent < 0 ? -exponent : exponent;
        out += std::string(exponent < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + std::to_string(magnitude);
    }
    return negative ? "-" + out : out;
}

} // namespace trellis_xgboost
