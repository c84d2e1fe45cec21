// `trellis monitor run POLICY` (continuously, or --once for cron and CI) and `trellis monitor
// status`: windows of an endpoint's prediction log checked by a policy's stages, alerts with
// hysteresis, history in the store and Prometheus metrics.
#pragma once

#include "cli/cli_context.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace trellis::cli {

void add_monitor_run_commands(CLI::App* monitor, std::function<CliContext&()> context, std::function<int()>& action);

} // namespace trellis::cli
