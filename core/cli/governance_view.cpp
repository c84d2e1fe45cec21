#include "cli/governance_view.hpp"

#include "cli/store_view.hpp"

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
    // AccessDenied, RegistryError and KeyError reach main(), which gives them their exit codes;
    // a bad argument the governance code found is a usage error here, not an internal one.
    try {
        return with_lookup_errors(body);
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
}

} // namespace trellis::cli
