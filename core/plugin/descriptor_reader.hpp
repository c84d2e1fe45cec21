// Reads a plugin's C descriptor into a PluginManifest, checking every field, so that nothing
// malformed a plugin declares reaches the rest of the host.
#pragma once

#include "plugin/api_version.hpp"
#include "plugin/plugin_manifest.hpp"

#include <trellis/plugin_abi.h>

#include <stdexcept>

namespace trellis::core {

// Thrown with a reason such as "invalid descriptor: stage 'x': input 'y': unknown artifact type 9".
class DescriptorError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

PluginManifest read_descriptor(const trellis_plugin_descriptor* descriptor, ApiVersion plugin_api);

} // namespace trellis::core
