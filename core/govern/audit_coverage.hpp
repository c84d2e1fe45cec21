// Whether the governed tables are what the audit log says they should be. The chain proves no
// entry was altered; this proves no change was made beside it: an alias moved, a policy removed,
// a token un-revoked, an approval or a trusted key inserted, a model swapped, all with plain SQL
// and no audit entry, are each caught here. Models registered before the store had an audit log
// (schema 3, migrated) have no registrant and are not checked.
#pragma once

#include "govern/audit_log.hpp"
#include "store/sqlite.hpp"

#include <string>
#include <vector>

namespace trellis::govern {

// The first row of a governed table that the audit log does not account for, as one line; empty
// when every row is accounted for. `entries`: the whole log, oldest first, when the caller has
// read it already (else it is read here).
std::string audit_coverage_problem(store::Database& db);
std::string audit_coverage_problem(store::Database& db, std::vector<AuditEntry> entries);

} // namespace trellis::govern
