// The trellis command: parses the command line, builds the settings, and runs one subcommand.
#include "cli/cli_context.hpp"
#include "cli/config_command.hpp"
#include "cli/exit_codes.hpp"
#include "cli/governance_commands.hpp"
#include "cli/plugins_command.hpp"
#include "cli/run_command.hpp"
#include "cli/serve_command.hpp"
#include "cli/rollout_command.hpp"
#include "cli/monitor_command.hpp"
#include "cli/store_commands.hpp"
#include "govern/access.hpp"
#include "govern/ed25519.hpp"
#include "registry/model_registry.hpp"
#include "store/sqlite.hpp"
#include "exec/stage_invocation.hpp"
#include "log/logging.hpp"
#include "plugin/plugin_scanner.hpp"

#include <trellis/plugin_abi.h>

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <unistd.h>

namespace {

using namespace trellis;

std::filesystem::path executable_path(const char* argv0) {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::absolute(argv0) : self;
}

core::Settings build_settings(const cli::GlobalOptions& options, const std::filesystem::path& executable) {
    core::Settings settings(cli::install_plugin_dir(executable));
    std::optional<std::filesystem::path> explicit_file;
    if (options.config_file) explicit_file = *options.config_file;
    if (auto file = core::find_config_file(explicit_file, std::getenv("TRELLIS_CONFIG"), std::filesystem::current_path()))
        settings.load_file(*file);
    settings.load_environment([](const char* name) { return std::getenv(name); });
    settings.add_flag_plugin_dirs(options.plugin_path);
    if (options.log_level) settings.set_from_flag("log.level", *options.log_level, "--log-level");
    if (options.store) settings.set_from_flag("store.path", *options.store, "--store");
    return settings;
}

// CLI11's own parse errors, in the same "trellis: error: ..." form as every other error, naming
// the command that was being parsed and, where a subcommand is missing or unknown, the choices.
std::string parse_failure(const CLI::App* app, const CLI::Error& error) {
    // CLI11 hands over a const App, but listing subcommands needs a non-const one; nothing is changed.
    auto* at = const_cast<CLI::App*>(app);
    std::string path = "trellis";
    while (!at->get_subcommands().empty()) {
        at = at->get_subcommands().front();
        path += " " + at->get_name();
    }
    std::string message = std::string("trellis: error: ") + error.what();
    const auto choices = at->get_subcommands([](CLI::App*) { return true; });
    if (!choices.empty() && dynamic_cast<const CLI::RequiredError*>(&error)) {
        std::vector<std::string> names;
        for (const auto* choice : choices) names.push_back(choice->get_name());
        const auto extras = at->remaining();
        message = "trellis: error: " +
                  (extras.empty() ? "'" + path + "' needs a command"
                                  : "unknown command '" + extras.front() + "' for '" + path + "'");
        message += "; choose one of: ";
        for (size_t i = 0; i < names.size(); ++i) message += (i ? ", " : "") + names[i];
        if (!extras.empty())
            if (auto near = cli::nearest_names(extras.front(), names); !near.empty())
                message += " (did you mean " + near.front() + "?)";
    }
    return message + "\nRun '" + path + " --help' for more information.\n";
}

int run(int argc, char** argv) {
    const auto executable = executable_path(argv[0]);
    CLI::App app("trellis: a plugin-based MLOps framework", "trellis");
    app.set_version_flag("--version", std::string("trellis " TRELLIS_VERSION " (plugin API ") +
                                          std::to_string(TRELLIS_API_MAJOR) + "." +
                                          std::to_string(TRELLIS_API_MINOR) + ")");
    app.require_subcommand(1);
    app.failure_message(parse_failure);
    app.footer("Exit codes: 0 ok, 1 run failed, 2 usage or bad input, 3 internal error, 4 permission denied,\n"
               "130 interrupted.\n"
               "Run 'trellis COMMAND --help' for a command's options.");

    cli::GlobalOptions options;
    app.add_option("--config", options.config_file, "Config file (default: ./trellis.ini, .json or .xml)");
    app.add_option("--plugin-path", options.plugin_path,
                   "Plugin folder to search first (repeatable; colon-separated lists allowed)");
    app.add_option("--log-level", options.log_level, "trace, debug, info, warn, error, critical or off");
    app.add_option("--store", options.store, "Store folder (default: .trellis)");
    app.add_flag("-q,--quiet", options.quiet, "Only print warnings and errors");
    app.add_flag("--rescan", options.rescan, "Ignore the plugin scan cache and scan every plugin file again");

    std::unique_ptr<cli::CliContext> context;
    auto get_context = [&]() -> cli::CliContext& { return *context; };
    std::function<int()> action;
    cli::add_plugins_command(app, get_context, action);
    cli::add_config_command(app, get_context, action);
    cli::add_run_commands(app, get_context, action);
    cli::add_store_commands(app, get_context, action);
    cli::add_governance_commands(app, get_context, action);
    cli::add_serve_command(app, get_context, action);
    cli::add_rollout_command(app, get_context, action);
    cli::add_monitor_command(app, get_context, action);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? cli::exit_ok : cli::exit_usage;
    }

    auto settings = build_settings(options, executable);
    core::logging::setup({*core::logging::parse_level(settings.log_level()), options.quiet});
    context = std::make_unique<cli::CliContext>(std::move(settings), executable, options.rescan);
    return action ? action() : cli::exit_ok;
}

} // namespace

int main(int argc, char** argv) {
    // The plugin scan child: kept ahead of everything else so a scan starts as fast as possible.
    if (argc == 4 && std::strcmp(argv[1], trellis::core::scan_child_command) == 0) {
        const int code = trellis::core::run_scan_child(std::atoi(argv[2]), argv[3]);
        std::_Exit(code); // skip the plugin's static destructors: the answer is already written
    }
    // An isolated stage's child process (see exec/stage_invocation.hpp).
    if (argc == 3 && std::strcmp(argv[1], trellis::core::exec_stage_command) == 0) {
        const int code = trellis::core::run_exec_stage_child(argv[2]);
        std::_Exit(code); // the result is written; a plugin's static destructors may not run cleanly
    }
    try {
        return run(argc, argv);
    } catch (const trellis::core::ConfigError& e) {
        std::cerr << "trellis: error: " << e.what() << "\n";
        return trellis::cli::exit_usage;
    } catch (const trellis::cli::UsageError& e) {
        std::cerr << "trellis: error: " << e.what() << "\n";
        return trellis::cli::exit_usage;
    } catch (const trellis::govern::AccessDenied& e) {
        std::cerr << "trellis: error: " << e.what() << "\n";
        return trellis::cli::exit_denied;
    } catch (const trellis::registry::RegistryError& e) {
        std::cerr << "trellis: error: " << e.what() << "\n";
        return trellis::cli::exit_usage;
    } catch (const trellis::govern::KeyError& e) {
        std::cerr << "trellis: error: " << e.what() << "\n";
        return trellis::cli::exit_usage;
    } catch (const trellis::store::StoreError& e) {
        // A damaged, foreign or newer store, or a name that leaves it: the user's to fix.
        std::cerr << "trellis: error: " << e.what() << "\n";
        return trellis::cli::exit_usage;
    } catch (const std::exception& e) {
        std::cerr << "trellis: internal error: " << e.what() << "\n";
        return trellis::cli::exit_internal;
    }
}
