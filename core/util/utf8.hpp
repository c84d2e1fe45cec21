// UTF-8 validity: text that becomes JSON (configs, descriptors, stored metadata) must be valid.
#pragma once

#include <string_view>

namespace trellis::core {

// Whether `text` is well-formed UTF-8 (by lead and continuation bytes).
inline bool valid_utf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        const size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (length == 0 || i + length > text.size()) return false;
        for (size_t k = 1; k < length; ++k)
            if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
        i += length;
    }
    return true;
}

} // namespace trellis::core
