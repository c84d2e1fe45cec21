#include "cli/store_commands.hpp"

namespace trellis::cli {

void add_store_commands(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    add_runs_command(app, context, action);
    add_lineage_command(app, context, action);
    add_gc_command(app, context, action);
    add_check_command(app, context, action);
}

} // namespace trellis::cli
