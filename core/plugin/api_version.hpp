// The ABI version rule, in one place: a plugin is accepted when its major equals the host's and its
// minor is not newer than the host's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace trellis::core {

struct ApiVersion {
    uint32_t major = 0;
    uint32_t minor = 0;
};

// The host's own ABI version (TRELLIS_API_MAJOR.TRELLIS_API_MINOR).
ApiVersion host_api_version();

// Why `plugin` cannot be loaded by a host of version `host`, or nothing when it can.
std::optional<std::string> api_version_refusal(ApiVersion plugin, ApiVersion host);

std::string to_string(ApiVersion version);

} // namespace trellis::core
