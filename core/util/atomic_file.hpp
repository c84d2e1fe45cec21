// Writes a whole file so that readers see the old content or the new, never a part, and so that a
// file or link someone planted at the temporary name is never followed or reused: the temporary
// has a random name and is created exclusively, without following links, with its final mode.
#pragma once

#include <filesystem>
#include <string_view>
#include <sys/types.h>

namespace trellis::core {

// Writes `bytes` to `path` with permissions `mode` (less the umask). `exclusive`: fail if `path` exists (returns
// false) instead of replacing it. Throws std::runtime_error naming `path` and the OS's reason.
bool write_file_atomically(const std::filesystem::path& path, std::string_view bytes, mode_t mode, bool exclusive);

} // namespace trellis::core
