// Scans plugin files in child processes, so a plugin that segfaults, aborts or hangs while being
// loaded costs only its child. The child is this same executable run as
// `<helper> __scan-plugin <result-fd> <file>`; it prints one JSON result on <result-fd>.
#pragma once

#include "plugin/scan_result.hpp"

#include <chrono>
#include <filesystem>
#include <vector>

namespace trellis::core {

struct ScanOptions {
    std::filesystem::path helper_executable;  // the trellis binary
    std::chrono::milliseconds timeout{10'000}; // per file
    unsigned parallelism = 2;
};

// Scans `files` (at most `parallelism` children at a time); results come back in the same order.
std::vector<ScanResult> scan_in_children(const std::vector<std::filesystem::path>& files, const ScanOptions& options);

// The child's side: loads `file`, writes its JSON result to `result_fd`, returns the exit code.
int run_scan_child(int result_fd, const std::filesystem::path& file);

// The name of the hidden subcommand the child is started with.
inline constexpr const char* scan_child_command = "__scan-plugin";

} // namespace trellis::core
