// `trellis monitor window`: a window of a served endpoint's prediction log as a table, summed up
// or written as CSV (docs/monitoring.md).
#pragma once

#include "cli/cli_context.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace trellis::cli {

void add_monitor_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);

} // namespace trellis::cli
