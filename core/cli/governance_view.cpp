#include "cli/governance_view.hpp"

#include "cli/exit_codes.hpp"
#include "cli/store_view.hpp"
#include "govern/ed25519.hpp"
#include "registry/model_registry.hpp"
#include "store/run_queries.hpp"

#include <iostream>

namespace trellis::cli {

GovernedStore open_governed(const CliContext& context, bool create) {
    GovernedStore out;
    out.metadata = open_metadata(context);
    if (!out.metadata) {
        if (!create) throw UsageError(no_store_message(context));
        out.metadata = std::make_unique<store::MetadataStore>(context.settings().store_path());
    }
    out.governance = std::make_unique<govern::Governance>(out.metadata->db(), context.settings().store_path(),
                                                          token_from_environment(), unix_now());
    return out;
}

int with_governance_errors(const std::function<int()>& body) {
    try {
        return with_lookup_errors(body);
    } catch (const govern::AccessDenied& e) {
        std::cerr << "trellis: error: " << e.what() << "\n";
        return exit_denied;
    } catch (const registry::RegistryError& e) {
        throw UsageError(e.what());
    } catch (const govern::KeyError& e) {
        throw UsageError(e.what());
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
}

} // namespace trellis::cli
