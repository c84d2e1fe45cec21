#include "cli/rollout_command.hpp"

#include "cli/exit_codes.hpp"
#include "cli/governance_view.hpp"
#include "cli/store_view.hpp"
#include "serve/rollout_state.hpp"
#include "util/json_text.hpp"

#include <iostream>
#include <memory>

namespace trellis::cli {

namespace {

using nlohmann::json;

struct RolloutArgs {
    std::string endpoint;
    int percent = 0;
    std::optional<std::string> model;
    bool json = false;
};

std::string or_file(const std::optional<std::string>& value) { return value ? *value : "as in the deployment file"; }

void print_state(const serve::RolloutState& state, bool as_json) {
    if (as_json) {
        std::cout << core::dump_json(serve::rollout_json(state), 2) << "\n";
        return;
    }
    std::cout << "endpoint " << state.endpoint << ": primary " << or_file(state.primary_model);
    if (state.percent == 0) std::cout << ", no canary traffic\n";
    else
        std::cout << ", canary " << or_file(state.canary_model) << " taking "
                  << (state.percent ? std::to_string(*state.percent) + "%" : "the deployment file's share") << "\n";
}

int split(CliContext& context, const RolloutArgs& args) {
    return with_governance_errors([&] {
        auto store = open_governed(context, false);
        print_state(serve::split_traffic(store.gov(), args.endpoint, args.percent, args.model), args.json);
        if (!args.json) std::cout << "servers on this store apply it at their next reload\n";
        return exit_ok;
    });
}

int promote(CliContext& context, const RolloutArgs& args) {
    return with_governance_errors([&] {
        auto store = open_governed(context, false);
        print_state(serve::promote_canary(store.gov(), args.endpoint, args.model), args.json);
        return exit_ok;
    });
}

int rollback(CliContext& context, const RolloutArgs& args) {
    return with_governance_errors([&] {
        auto store = open_governed(context, false);
        print_state(serve::roll_back(store.gov(), args.endpoint), args.json);
        return exit_ok;
    });
}

int clear(CliContext& context, const RolloutArgs& args) {
    return with_governance_errors([&] {
        auto store = open_governed(context, false);
        serve::clear_rollout(store.gov(), args.endpoint);
        if (args.json) std::cout << core::dump_json(json{{"endpoint", args.endpoint}, {"cleared", true}}, 2) << "\n";
        else
            std::cout << "endpoint " << args.endpoint
                      << ": rollout removed; servers on this store follow the deployment file at their next reload\n";
        return exit_ok;
    });
}

int status(CliContext& context, const RolloutArgs& args) {
    return with_governance_errors([&] {
        auto store = open_governed(context, false);
        store.gov().require(govern::Role::Viewer, "see rollouts");
        std::vector<serve::RolloutState> states;
        if (args.endpoint.empty()) states = serve::list_rollouts(store.db());
        else if (auto state = serve::load_rollout(store.db(), args.endpoint)) states.push_back(*state);
        if (args.json) {
            json out = json::array();
            for (const auto& state : states) out.push_back(serve::rollout_json(state));
            std::cout << core::dump_json(out, 2) << "\n";
            return exit_ok;
        }
        if (states.empty()) {
            std::cout << (args.endpoint.empty() ? std::string("no endpoint has a rollout")
                                                : "endpoint " + args.endpoint + " has no rollout")
                      << " in the store; servers follow their deployment files\n";
            return exit_ok;
        }
        for (const auto& state : states) {
            print_state(state, false);
            std::cout << "  set by " << state.set_by << " at " << local_time(state.set_at)
                      << (state.previous.is_null() ? "" : "; rollback undoes the last promote") << "\n";
        }
        return exit_ok;
    });
}

} // namespace

void add_rollout_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto* rollout = app.add_subcommand("rollout", "Change how served endpoints split traffic (canary, A/B)");
    rollout->require_subcommand(1);
    const auto add = [&](const char* name, const char* help, auto run) {
        auto args = std::make_shared<RolloutArgs>();
        auto* command = rollout->add_subcommand(name, help);
        command->add_flag("--json", args->json, "Print JSON");
        command->callback([context, args, &action, run] { action = [context, args, run] { return run(context(), *args); }; });
        return std::pair{command, args};
    };
    {
        auto [command, args] = add("split", "Send PERCENT of an endpoint's requests to its canary", split);
        command->add_option("endpoint", args->endpoint, "Endpoint name, as in the deployment file")->required();
        command->add_option("percent", args->percent, "Share of requests for the canary, 0 to 100")
            ->required()
            ->check(CLI::Range(0, 100));
        command->add_option("--model", args->model, "The canary: NAME:VERSION or NAME@ALIAS (default: as before)");
    }
    {
        auto [command, args] = add("promote", "Make the canary the endpoint's primary, with no canary", promote);
        command->add_option("endpoint", args->endpoint, "Endpoint name")->required();
        command->add_option("--model", args->model, "Promote this NAME:VERSION or NAME@ALIAS instead of the stored canary");
    }
    {
        auto [command, args] = add("rollback", "Send all requests back to the primary, or undo the last promote", rollback);
        command->add_option("endpoint", args->endpoint, "Endpoint name")->required();
    }
    {
        auto [command, args] = add("clear", "Forget the endpoint's rollout: servers follow the deployment file again",
                                   clear);
        command->add_option("endpoint", args->endpoint, "Endpoint name")->required();
    }
    {
        auto [command, args] = add("status", "Show the rollouts kept in the store", status);
        command->add_option("endpoint", args->endpoint, "Only this endpoint");
    }
}

} // namespace trellis::cli
