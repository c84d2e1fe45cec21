// `trellis rollout split|promote|rollback|status`: the traffic split of served endpoints, kept in
// the store, where every `trellis serve` on it picks a change up at its next reload (docs/serving.md).
#pragma once

#include "cli/cli_context.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace trellis::cli {

void add_rollout_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action);

} // namespace trellis::cli
