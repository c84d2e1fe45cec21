#include "plugin/elf_symbol.hpp"

#include <elf.h>

#include <cstring>
#include <fstream>

namespace trellis::core {
namespace {

class FileReader {
public:
    explicit FileReader(const std::filesystem::path& file) : in_(file, std::ios::binary) {
        in_.seekg(0, std::ios::end);
        size_ = in_ ? static_cast<uint64_t>(in_.tellg()) : 0;
    }
    uint64_t size() const { return size_; }
    // Reads `count` bytes at `offset`; false if they are not all inside the file.
    bool read(uint64_t offset, void* out, uint64_t count) {
        if (offset > size_ || count > size_ - offset) return false;
        in_.seekg(static_cast<std::streamoff>(offset));
        return static_cast<bool>(in_.read(static_cast<char*>(out), static_cast<std::streamsize>(count)));
    }

private:
    std::ifstream in_;
    uint64_t size_ = 0;
};

} // namespace

ElfSymbolBytes read_elf_symbol(const std::filesystem::path& file, std::string_view name, size_t size) {
    using Status = ElfSymbolBytes::Status;
    FileReader in(file);
    Elf64_Ehdr header{};
    if (!in.read(0, &header, sizeof header) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 ||
        header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB ||
        header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0)
        return {};

    // An interrupted copy: the section table sits at the end of the file, so it is the first to go.
    const uint64_t table_size = uint64_t(header.e_shnum) * sizeof(Elf64_Shdr);
    if (header.e_shoff > in.size() || table_size > in.size() - header.e_shoff) return {Status::truncated, {}};
    std::vector<Elf64_Shdr> sections(header.e_shnum);
    if (!in.read(header.e_shoff, sections.data(), table_size)) return {};
    for (const Elf64_Shdr& section : sections)
        if (section.sh_type != SHT_NOBITS && (section.sh_offset > in.size() || section.sh_size > in.size() - section.sh_offset))
            return {Status::truncated, {}};
    for (const Elf64_Shdr& symbols : sections) {
        if (symbols.sh_type != SHT_DYNSYM) continue;
        if (symbols.sh_link >= sections.size() || symbols.sh_entsize != sizeof(Elf64_Sym)) return {};
        const Elf64_Shdr& strings = sections[symbols.sh_link];
        if (strings.sh_size > in.size() || symbols.sh_size > in.size()) return {};
        std::vector<char> names(strings.sh_size);
        std::vector<Elf64_Sym> table(symbols.sh_size / sizeof(Elf64_Sym));
        if (!in.read(strings.sh_offset, names.data(), names.size()) ||
            !in.read(symbols.sh_offset, table.data(), table.size() * sizeof(Elf64_Sym)))
            return {};
        for (const Elf64_Sym& symbol : table) {
            if (symbol.st_name >= names.size() || symbol.st_shndx == SHN_UNDEF || symbol.st_shndx >= sections.size())
                continue;
            const char* symbol_name = names.data() + symbol.st_name;
            if (strnlen(symbol_name, names.size() - symbol.st_name) != name.size() ||
                std::memcmp(symbol_name, name.data(), name.size()) != 0)
                continue;
            // The symbol's address lies in one section; map it to that section's place in the file.
            const Elf64_Shdr& holder = sections[symbol.st_shndx];
            if (holder.sh_type == SHT_NOBITS || symbol.st_value < holder.sh_addr || symbol.st_size < size ||
                symbol.st_value - holder.sh_addr > holder.sh_size || size > holder.sh_size - (symbol.st_value - holder.sh_addr))
                return {};
            ElfSymbolBytes found{Status::found, std::vector<uint8_t>(size)};
            if (!in.read(holder.sh_offset + (symbol.st_value - holder.sh_addr), found.bytes.data(), size)) return {};
            return found;
        }
        return {Status::no_symbol, {}};
    }
    return {Status::no_symbol, {}};
}

} // namespace trellis::core
