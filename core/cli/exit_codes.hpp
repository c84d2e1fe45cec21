// The trellis command's exit codes; docs/cli.md lists them for scripts that check them.
#pragma once

namespace trellis::cli {

constexpr int exit_ok = 0;          // success
constexpr int exit_run_failed = 1;  // the requested work ran and failed (a stage, a plugin check)
constexpr int exit_usage = 2;       // bad command line, config, script or other input
constexpr int exit_internal = 3;    // a bug or an environment failure (cannot write, cannot spawn)
constexpr int exit_denied = 4;      // the acting identity's role does not allow it (or four-eyes)
constexpr int exit_interrupted = 130; // stopped by Ctrl-C / SIGINT

} // namespace trellis::cli
