// `trellis plugins list` and `trellis plugins info NAME`.
#pragma once

#include "cli/cli_context.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace trellis::cli {

// Adds the `plugins` subcommand to `app`; `run` receives the action to run after parsing.
void add_plugins_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);

} // namespace trellis::cli
