// The governance side of the command line: `trellis models` (models_command.cpp), and `tokens`,
// `roles`, `audit`, `keys`, `sign` and `verify` (governance_commands.cpp).
#pragma once

#include "cli/cli_context.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace trellis::cli {

// Adds all of them to `app`; `action` receives what to run after parsing.
void add_governance_commands(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);

void add_models_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);

} // namespace trellis::cli
