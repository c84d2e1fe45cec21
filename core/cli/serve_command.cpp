#include "cli/serve_command.hpp"

#include "cli/exit_codes.hpp"
#include "cli/store_view.hpp"
#include "serve/inference_server.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <pthread.h>

namespace trellis::cli {

namespace {

struct ServeArgs {
    std::string file;
    std::optional<int> port;
    std::optional<std::string> address;
    bool check = false;
};

int serve(CliContext& context, const ServeArgs& args) {
    serve::DeploymentSpec spec;
    try {
        spec = serve::read_deployment_file(args.file);
    } catch (const serve::DeploymentError& e) {
        for (const auto& problem : e.problems()) std::cerr << "trellis: error: " << problem << "\n";
        return exit_usage;
    }
    if (args.port) spec.server.port = static_cast<unsigned short>(*args.port);
    if (args.address) spec.server.address = *args.address;
    if (args.check) {
        std::cout << args.file << ": ok, " << spec.endpoints.size() << " endpoint(s)\n";
        return exit_ok;
    }
    if (!open_metadata(context)) throw UsageError(no_store_message(context));

    // Every thread the server starts inherits this mask, so SIGTERM and SIGINT reach only the
    // sigwait below, which drains the server before exiting.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    serve::ServeContext serve_context{context.settings().store_path(), &context.registry(),
                                      context.settings().require_signed_models()};
    std::unique_ptr<serve::InferenceServer> server;
    try {
        server = std::make_unique<serve::InferenceServer>(spec, serve_context);
    } catch (const std::exception& e) {
        std::cerr << "trellis: error: " << e.what() << "\n";
        return exit_usage;
    }
    server->start();
    spdlog::info("serving {} endpoint(s) on http://{}:{} (Open Inference Protocol V2 under /v2, metrics at /metrics)",
                 spec.endpoints.size(), spec.server.address, server->port());
    // Tests and scripts that asked for port 0 read the port from this line.
    std::cout << "listening on " << spec.server.address << ":" << server->port() << std::endl;
    int received = 0;
    sigwait(&signals, &received);
    spdlog::info("{}: readiness is now 503; finishing requests in flight", received == SIGTERM ? "SIGTERM" : "SIGINT");
    const bool drained = server->shutdown();
    if (!drained) spdlog::warn("some requests were still running after the drain timeout and were cut off");
    spdlog::info("stopped");
    return exit_ok;
}

} // namespace

void add_serve_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto args = std::make_shared<ServeArgs>();
    auto* command = app.add_subcommand("serve", "Serve registered models over the Open Inference Protocol V2 (REST)");
    command->add_option("file", args->file, "Deployment file (YAML): server, limits and endpoints")->required();
    command->add_option("--port", args->port, "Port to listen on, instead of the file's (0: any free port)")
        ->check(CLI::Range(0, 65535));
    command->add_option("--address", args->address, "Address to listen on, instead of the file's (default 127.0.0.1)");
    command->add_flag("--check", args->check, "Only check the deployment file, then exit");
    command->callback([context, args, &action] { action = [context, args] { return serve(context(), *args); }; });
}

} // namespace trellis::cli
