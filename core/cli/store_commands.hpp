// The store's read side on the command line: `trellis runs list|show|compare` (runs_command.cpp),
// `trellis lineage` (lineage_command.cpp), `trellis gc` (gc_command.cpp) and `trellis check`
// (check_command.cpp).
#pragma once

#include "cli/cli_context.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace trellis::cli {

// Adds `runs`, `lineage`, `gc` and `check` to `app`; `action` receives what to run after parsing.
void add_store_commands(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);

void add_runs_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);
void add_lineage_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);
void add_gc_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);
void add_check_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);

} // namespace trellis::cli
