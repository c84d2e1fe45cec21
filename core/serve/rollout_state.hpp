// The traffic split of a served endpoint as the store keeps it (table serve_rollouts): which model
// is primary, which is the canary, and the canary's share. `trellis rollout` and the server's admin
// endpoint change it; every `trellis serve` on the store reads it at each reload interval, so a
// change reaches every replica and survives restarts. What the store leaves unset (NULL) stays as
// the deployment file says. Changes need the approver role and are audited in the same transaction.
#pragma once

#include "govern/access.hpp"
#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace trellis::serve {

struct RolloutState {
    std::string endpoint;
    std::optional<std::string> primary_model; // NAME:VERSION or NAME@ALIAS; unset: the file's model
    std::optional<std::string> canary_model;  // unset: the file's canary, if it has one
    std::optional<int> percent;               // of requests to the canary; unset: the file's
    nlohmann::json previous;                  // the state a promote replaced (null: none), for rollback
    std::string set_by;
    double set_at = 0;
};

// The stored state of `endpoint`, if any command has set one.
std::optional<RolloutState> load_rollout(store::Database& db, const std::string& endpoint);
// Every stored state, by endpoint name.
std::vector<RolloutState> list_rollouts(store::Database& db);

// Sends `percent` of the endpoint's requests to the canary, which becomes `model` when given (a
// registered NAME:VERSION or NAME@ALIAS). Throws registry::RegistryError for a bad reference.
RolloutState split_traffic(govern::Governance& governance, const std::string& endpoint, int percent,
                           const std::optional<std::string>& model);
// Makes the canary (`model` if given, else the stored canary), pinned to the version it names now,
// the primary, with no canary; the replaced state is kept for roll_back.
RolloutState promote_canary(govern::Governance& governance, const std::string& endpoint,
                            const std::optional<std::string>& model);
// Sends every request back to the primary (canary share 0); when there is no canary share to take
// back, undoes the last promote: the primary before it takes every request again. Throws registry::RegistryError when there is nothing to undo.
RolloutState roll_back(govern::Governance& governance, const std::string& endpoint);
// Removes the endpoint's stored state, so servers follow their deployment files again; audited as
// rollout.clear. Throws registry::RegistryError when there is none.
void clear_rollout(govern::Governance& governance, const std::string& endpoint);

nlohmann::json rollout_json(const RolloutState& state);

} // namespace trellis::serve
