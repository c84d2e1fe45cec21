// What the governance commands (`models`, `tokens`, `roles`, `audit`, `keys`, `sign`, `verify`)
// share: the store opened with the acting identity, and their errors turned into one line and an
// exit code (2 for bad input, 4 for a refused permission).
#pragma once

#include "cli/cli_context.hpp"
#include "govern/access.hpp"
#include "store/metadata_store.hpp"

#include <functional>
#include <memory>

namespace trellis::cli {

struct GovernedStore {
    std::unique_ptr<store::MetadataStore> metadata;
    std::unique_ptr<govern::Governance> governance;
    store::Database& db() { return metadata->db(); }
    govern::Governance& gov() { return *governance; }
};

// Opens the store (creating it when `create`, else a UsageError when there is none) and resolves
// who is acting (TRELLIS_TOKEN or the OS user).
GovernedStore open_governed(const CliContext& context, bool create);

// Runs `body`; lookup errors and bad arguments become usage errors (one "trellis: error:" line,
// exit 2). Registry and key errors (exit 2) and refused permissions (exit 4) are main()'s to report.
int with_governance_errors(const std::function<int()>& body);

} // namespace trellis::cli
