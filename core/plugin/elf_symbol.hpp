// Reads the bytes of an exported data symbol straight from an ELF file, without loading it, so
// the host can check a plugin's API version before any of the plugin's code (static constructors
// included) runs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace trellis::core {

struct ElfSymbolBytes {
    enum class Status {
        found,       // bytes holds the symbol's first `size` bytes
        no_symbol,   // a 64-bit little-endian ELF file without that dynamic symbol
        truncated,   // the file ends before tables its header says it has
        unsupported  // not an ELF64 little-endian file, or its tables are malformed: let dlopen judge
    } status = Status::unsupported;
    std::vector<uint8_t> bytes;
};

ElfSymbolBytes read_elf_symbol(const std::filesystem::path& file, std::string_view name, size_t size);

} // namespace trellis::core
