#include "plugin/plugin_library.hpp"

#include "plugin/descriptor_reader.hpp"
#include "plugin/elf_symbol.hpp"
#include "plugin/host_api.hpp"
#include "log/logging.hpp"

#include <boost/dll/shared_library_load_mode.hpp>

#include <dlfcn.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace trellis::core {

void check_plugin_file(const std::filesystem::path& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status)) throw PluginLoadError("file does not exist");
    if (!std::filesystem::is_regular_file(status)) throw PluginLoadError("not a regular file");
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw PluginLoadError("cannot read file size: " + ec.message());
    if (size == 0) throw PluginLoadError("empty file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw PluginLoadError("cannot read file: " + std::string(std::strerror(errno)));
    std::array<char, 4> magic{};
    if (!in.read(magic.data(), magic.size())) throw PluginLoadError("not a shared library (file too short)");
    if (magic != std::array<char, 4>{'\x7f', 'E', 'L', 'F'})
        throw PluginLoadError("not a shared library (no ELF header)");
}

std::string explain_dlopen_error(const std::string& full_text, const std::filesystem::path& path) {
    // dlerror starts with the file's path, which the caller already prints.
    std::string text = full_text;
    if (const std::string prefix = path.string() + ": "; text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
    static const std::string cannot_open = ": cannot open shared object file";
    if (const auto at = text.find(cannot_open); at != std::string::npos) {
        // "libdep.so.1: cannot open shared object file: ..." names the missing dependency.
        const auto start = text.rfind(": ", at == 0 ? 0 : at - 1);
        const std::string library = text.substr(start == std::string::npos ? 0 : start + 2,
                                                at - (start == std::string::npos ? 0 : start + 2));
        if (library != path.string()) return "missing dependency library: " + library;
    }
    if (const auto at = text.find("undefined symbol: "); at != std::string::npos)
        return "unresolved symbol " + text.substr(at + 18) + " (built against another version of a library?)";
    if (text.find("wrong ELF class") != std::string::npos || text.find("ELF file data encoding") != std::string::npos ||
        text.find("ELF file OS ABI") != std::string::npos || text.find("wrong architecture") != std::string::npos)
        return "built for another architecture: " + text;
    if (text.find("cannot read file data") != std::string::npos || text.find("file too short") != std::string::npos)
        return "truncated or corrupt shared library (" + text + ")";
    if (text.find("invalid ELF header") != std::string::npos ||
        text.find("only ET_DYN and ET_EXEC") != std::string::npos)
        return "not a shared library (" + text + ")";
    return "cannot be loaded: " + text;
}

namespace {

std::string dlerror_of(const std::exception& e) {
    const std::string what = e.what();
    static const std::string marker = "dlerror system message: ";
    const auto at = what.find(marker);
    if (at == std::string::npos) return what;
    std::string text = what.substr(at + marker.size());
    if (!text.empty() && text.back() == ')') text.pop_back();
    return text;
}

} // namespace

std::shared_ptr<PluginLibrary> PluginLibrary::open(const std::filesystem::path& path) {
    check_plugin_file(path);
    // The version is checked in the file itself first, so a plugin built for another API never
    // gets as far as dlopen, which would run its static constructors.
    const auto version_in_file = read_elf_symbol(path, TRELLIS_API_VERSION_SYMBOL, sizeof(trellis_api_version));
    if (version_in_file.status == ElfSymbolBytes::Status::truncated)
        throw PluginLoadError("truncated or corrupt shared library (the file ends before its section tables)");
    if (version_in_file.status == ElfSymbolBytes::Status::no_symbol)
        throw PluginLoadError("not a trellis plugin: no " TRELLIS_API_VERSION_SYMBOL " symbol");
    if (version_in_file.status == ElfSymbolBytes::Status::found) {
        trellis_api_version version{};
        std::memcpy(&version, version_in_file.bytes.data(), sizeof version);
        if (auto refusal = api_version_refusal({version.major, version.minor}, host_api_version()))
            throw PluginLoadError(*refusal);
    }

    auto plugin = std::shared_ptr<PluginLibrary>(new PluginLibrary());
    plugin->path_ = path;
    try {
        // RTLD_NOW: a missing symbol fails here, not mid-run. RTLD_LOCAL: plugins cannot see or
        // interpose each other's symbols. RTLD_NODELETE: once its code has run, a library is never
        // unmapped (threads or destructors it registered could otherwise call into freed code).
        const auto mode = static_cast<boost::dll::load_mode::type>(RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        plugin->library_.load(boost::dll::fs::path(path.string()), mode);
    } catch (const std::exception& e) {
        throw PluginLoadError(explain_dlopen_error(dlerror_of(e), path));
    }

    if (!plugin->library_.has(TRELLIS_API_VERSION_SYMBOL))
        throw PluginLoadError("not a trellis plugin: no " TRELLIS_API_VERSION_SYMBOL " symbol");
    // Plain data: reading it runs none of the plugin's code.
    const auto& version = plugin->library_.get<const trellis_api_version>(TRELLIS_API_VERSION_SYMBOL);
    const ApiVersion plugin_api{version.major, version.minor};
    if (auto refusal = api_version_refusal(plugin_api, host_api_version())) throw PluginLoadError(*refusal);

    if (!plugin->library_.has(TRELLIS_DESCRIPTOR_SYMBOL))
        throw PluginLoadError("not a trellis plugin: no " TRELLIS_DESCRIPTOR_SYMBOL " symbol");
    auto get_descriptor = plugin->library_.get<const trellis_plugin_descriptor*()>(TRELLIS_DESCRIPTOR_SYMBOL);
    try {
        plugin->descriptor_ = get_descriptor();
    } catch (...) { // a plugin that does not use the SDK's macro and lets an exception escape
        throw PluginLoadError("invalid descriptor: " TRELLIS_DESCRIPTOR_SYMBOL " threw an exception");
    }
    try {
        plugin->manifest_ = read_descriptor(plugin->descriptor_, plugin_api);
    } catch (const DescriptorError& e) {
        throw PluginLoadError(e.what());
    }

    if (plugin->descriptor_->init != nullptr) {
        trellis_error error;
        int32_t status = TRELLIS_OK;
        try {
            StageContext init_context;
            init_context.logger = logging::get("plugin." + plugin->manifest_.name);
            status = plugin->descriptor_->init(host_api(), &init_context, &error);
        } catch (...) {
            throw PluginLoadError("initialisation failed: an exception escaped the plugin's init");
        }
        if (status != TRELLIS_OK)
            throw PluginLoadError("initialisation failed: " +
                                  (error.message.empty() ? status_name(status) : error.message));
    }
    return plugin;
}

const trellis_stage_descriptor* PluginLibrary::find_stage(const std::string& name) const {
    for (uint32_t i = 0; i < descriptor_->stage_count; ++i)
        if (name == descriptor_->stages[i].name) return &descriptor_->stages[i];
    return nullptr;
}

const trellis_flavor_descriptor* PluginLibrary::find_flavor(const std::string& name) const {
    for (uint32_t i = 0; i < descriptor_->flavor_count; ++i)
        if (name == descriptor_->flavors[i].name) return &descriptor_->flavors[i];
    return nullptr;
}

} // namespace trellis::core
