// What every child process trellis starts (plugin scans, isolated stages) shares: how a signal
// that ended one is named, and the environment it is started with.
#pragma once

#include <string>
#include <vector>

namespace trellis::core {

// "SIGSEGV: Segmentation fault", or "signal N" for a number without a name.
std::string signal_name(int signal);

// This process's environment for a child. Under AddressSanitizer a child would turn a SEGV into
// a report and exit(1); the sanitizer is told to let the signal through so a crash is seen as what
// it is.
std::vector<std::string> child_environment();

// Process groups of children that must not outlive this process (isolated stages). A path that
// leaves without waiting for them (a second Ctrl-C, a stage abandoned, the Lua watchdog) kills
// them first, so no stage process is left running behind trellis.
void register_child_group(int pgid);
void unregister_child_group(int pgid);
void kill_child_groups() noexcept;

// Pointers into `env` for posix_spawn, NULL-terminated; valid while `env` is.
std::vector<char*> environment_pointers(std::vector<std::string>& env);

} // namespace trellis::core
