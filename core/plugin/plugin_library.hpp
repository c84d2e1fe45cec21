// One plugin .so loaded into this process with Boost.DLL. The library stays loaded for as long as
// any shared_ptr to it lives; everything made from it (predictors, stage runs) holds one, so no
// call ever goes into an unloaded library.
#pragma once

#include "plugin/api_version.hpp"
#include "plugin/plugin_manifest.hpp"

#include <trellis/plugin_abi.h>

#include <boost/dll/shared_library.hpp>

#include <filesystem>
#include <memory>
#include <stdexcept>

namespace trellis::core {

// Why a file could not be loaded as a plugin; what() is the one-line reason (without the path).
class PluginLoadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class PluginLibrary {
public:
    // Checks the file, loads it, checks the API version before calling any plugin function,
    // reads and validates the descriptor, then runs the plugin's init. Throws PluginLoadError.
    static std::shared_ptr<PluginLibrary> open(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return path_; }
    const PluginManifest& manifest() const { return manifest_; }
    const trellis_plugin_descriptor& descriptor() const { return *descriptor_; }

    // The C entry for stage `name`, or nullptr.
    const trellis_stage_descriptor* find_stage(const std::string& name) const;
    // The C entry for flavor `name`, or nullptr.
    const trellis_flavor_descriptor* find_flavor(const std::string& name) const;

    PluginLibrary(const PluginLibrary&) = delete;
    PluginLibrary& operator=(const PluginLibrary&) = delete;

private:
    PluginLibrary() = default;

    std::filesystem::path path_;
    boost::dll::shared_library library_;
    const trellis_plugin_descriptor* descriptor_ = nullptr;
    PluginManifest manifest_;
};

// Checks that `path` could be a plugin before dlopen sees it: a regular, non-empty ELF file.
// Throws PluginLoadError with the reason.
void check_plugin_file(const std::filesystem::path& path);

// Turns a dlopen error message into a reason a user can act on.
std::string explain_dlopen_error(const std::string& dlerror_text, const std::filesystem::path& path);

} // namespace trellis::core
