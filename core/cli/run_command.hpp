// `trellis run FILE`, `trellis validate FILE` and `trellis plan FILE`: evaluate a pipeline script,
// check it against the installed plugins, and run it (or show what would run).
#pragma once

#include "cli/cli_context.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace trellis::cli {

void add_run_commands(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);

} // namespace trellis::cli
