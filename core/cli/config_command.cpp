#include "cli/config_command.hpp"

#include "cli/exit_codes.hpp"
#include "util/json_text.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

namespace trellis::cli {

void add_config_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto* config = app.add_subcommand("config", "Inspect the effective configuration");
    config->require_subcommand(1);
    auto as_json = std::make_shared<bool>(false);
    auto* show = config->add_subcommand("show", "Print every setting with its value and source");
    show->add_flag("--json", *as_json, "Print JSON");
    show->callback([=, &action] {
        action = [=] {
            const auto settings = context().settings().describe();
            if (*as_json) {
                nlohmann::json out = nlohmann::json::object();
                for (const auto& [key, value] : settings) out[key] = {{"value", value.value}, {"source", value.source}};
                std::cout << core::dump_json(out, 2) << "\n";
            } else {
                for (const auto& [key, value] : settings)
                    std::cout << key << " = " << value.value << "    (" << value.source << ")\n";
            }
            return exit_ok;
        };
    });
}

} // namespace trellis::cli
