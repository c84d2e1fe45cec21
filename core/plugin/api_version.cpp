#include "plugin/api_version.hpp"

#include <trellis/plugin_abi.h>

namespace trellis::core {

ApiVersion host_api_version() { return {TRELLIS_API_MAJOR, TRELLIS_API_MINOR}; }

std::string to_string(ApiVersion version) {
    return std::to_string(version.major) + "." + std::to_string(version.minor);
}

std::optional<std::string> api_version_refusal(ApiVersion plugin, ApiVersion host) {
    if (plugin.major != host.major)
        return "API version mismatch: plugin built for API " + to_string(plugin) + ", host supports API " +
               to_string(host) + " (major must be " + std::to_string(host.major) + ")";
    if (plugin.minor > host.minor)
        return "API version mismatch: plugin built for API " + to_string(plugin) + ", host supports API " +
               to_string(host) + " (plugin needs a newer trellis)";
    return std::nullopt;
}

} // namespace trellis::core
