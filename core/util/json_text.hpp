// JSON text for output and caches. Paths and plugin-supplied strings can hold bytes that are not
// UTF-8; nlohmann's dump() throws on those, so invalid sequences become U+FFFD instead.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace trellis::core {

inline std::string dump_json(const nlohmann::json& value, int indent = -1) {
    return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace trellis::core
