// The pieces of Prometheus's text exposition format (version 0.0.4) every /metrics page is made
// of: HELP and TYPE lines, escaped label values and numbers.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace trellis::http {

// A label value with the format's escapes (backslash, double quote, line feed).
inline std::string prometheus_label(const std::string& value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        if (c == '\\' || c == '"') out += '\\';
        out += c;
    }
    return out;
}

// A sample value: all 17 digits, and NaN, +Inf and -Inf as the format spells them.
inline std::string prometheus_number(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return text;
}

// "# HELP name help" and "# TYPE name type" (counter, gauge, histogram).
inline void prometheus_header(std::string& out, const char* name, const char* help, const char* type = "counter") {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

} // namespace trellis::http
