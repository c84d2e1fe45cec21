// Paths inside a store: every name that comes from a user, a script or the database is resolved
// here, so nothing reads or writes outside the store's root.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace trellis::store {

// Checks `name` as a path relative to a store root: not empty, not absolute, no NUL, no "." or
// ".." component, no empty component. Throws StoreError naming `what` ("run id", ...) otherwise.
void check_relative_name(std::string_view name, std::string_view what);

// Opens `name` (checked as above) beneath the directory `root` with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS): a symlink anywhere on the way that leads outside `root` is refused
// (StoreError, naming the path). `flags`/`mode` as for open(2). Returns the file descriptor.
int open_beneath(const std::filesystem::path& root, std::string_view name, int flags, mode_t mode = 0);

// As open_beneath, for callers that handle ordinary failures themselves: a refused name or a
// symlink leading outside still throws, but any other failure (ENOENT, EEXIST, EACCES, ...)
// returns -1 with errno set.
int try_open_beneath(const std::filesystem::path& root, std::string_view name, int flags, mode_t mode = 0);
// As try_open_beneath, beneath the already open directory `root_fd` (which is the folder `root`;
// the path only names it in messages and serves the fallback below).
int try_open_beneath_at(int root_fd, const std::filesystem::path& root, std::string_view name, int flags,
                        mode_t mode = 0);

// root / name after the same checks, with every existing component's symlinks resolved and
// required to stay inside root (for APIs that need a path, not a descriptor).
std::filesystem::path resolve_beneath(const std::filesystem::path& root, std::string_view name);

// `text` as it may appear in a one-line message: control characters and bytes that are not UTF-8
// escaped as \xNN (so the message is one line, and valid UTF-8 for JSON and logs), and text longer
// than `max_bytes` cut with "...".
std::string printable(std::string_view text, std::size_t max_bytes = 256);

namespace detail {
// What try_open_beneath does on kernels without openat2 (before Linux 5.6, or when a seccomp
// filter refuses it): resolve every existing component, require the result inside root, then open
// it without following a final symlink. Not race-free against someone swapping a component for a
// symlink in between, hence only a fallback. Exposed for tests.
int try_open_beneath_by_resolving(const std::filesystem::path& root, std::string_view name, int flags,
                                  mode_t mode = 0);
} // namespace detail

} // namespace trellis::store
