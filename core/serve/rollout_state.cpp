#include "serve/rollout_state.hpp"

#include "registry/model_registry.hpp"
#include "serve/deployment_file.hpp"

namespace trellis::serve {

namespace {

using json = nlohmann::json;

constexpr const char* select_columns = "SELECT endpoint, primary_model, canary_model, percent, previous, set_by, set_at "
                                       "FROM serve_rollouts";

RolloutState read_row(const store::Statement& row) {
    RolloutState state;
    state.endpoint = row.text(0);
    state.primary_model = row.optional_text(1);
    state.canary_model = row.optional_text(2);
    if (auto percent = row.optional_int64(3)) state.percent = static_cast<int>(*percent);
    state.previous = json::parse(row.text(4));
    state.set_by = row.text(5);
    state.set_at = row.real(6);
    return state;
}

json split_json(const RolloutState& state) {
    return {{"primary_model", state.primary_model ? json(*state.primary_model) : json()},
            {"canary_model", state.canary_model ? json(*state.canary_model) : json()},
            {"percent", state.percent ? json(*state.percent) : json()}};
}

// A reference that names a registered version: the version it names.
registry::ModelVersion registered(store::Database& db, const std::string& endpoint, const std::string& model) {
    if (auto problem = model_reference_problem(model); !problem.empty())
        throw registry::RegistryError("endpoint '" + endpoint + "': " + problem);
    registry::ModelVersion version = registry::load_version(db, model);
    if (version.status != "active")
        throw registry::RegistryError("endpoint '" + endpoint + "': " + registry::version_label(version.name, version.version) +
                                      " is " + version.status + "; restore it before sending it traffic");
    return version;
}

// Writes `next` for its endpoint and audits the change from `before`, in one transaction.
RolloutState save(govern::Governance& governance, const std::string& action, RolloutState next,
                  const std::optional<RolloutState>& before) {
    next.set_by = governance.who().name;
    next.set_at = governance.now();
    store::Transaction transaction(governance.db());
    governance.db()
        .prepare("INSERT INTO serve_rollouts (endpoint, primary_model, canary_model, percent, previous, set_by, set_at) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET primary_model = excluded.primary_model, "
                 "canary_model = excluded.canary_model, percent = excluded.percent, previous = excluded.previous, "
                 "set_by = excluded.set_by, set_at = excluded.set_at")
        .bind(1, next.endpoint)
        .bind(2, next.primary_model)
        .bind(3, next.canary_model)
        .bind(4, next.percent ? std::optional<int64_t>(*next.percent) : std::nullopt)
        .bind(5, next.previous.dump())
        .bind(6, next.set_by)
        .bind(7, next.set_at)
        .run();
    governance.audit(action, "endpoint " + next.endpoint, before ? split_json(*before) : json(), split_json(next));
    transaction.commit();
    return next;
}

// The stored state to change: `stored`, or a fresh one for an endpoint with none.
RolloutState state_to_change(const std::optional<RolloutState>& stored, const std::string& endpoint) {
    if (stored) return *stored;
    RolloutState empty;
    empty.endpoint = endpoint;
    return empty;
}

} // namespace

std::optional<RolloutState> load_rollout(store::Database& db, const std::string& endpoint) {
    auto row = db.prepare(std::string(select_columns) + " WHERE endpoint = ?");
    row.bind(1, endpoint);
    if (!row.step()) return std::nullopt;
    return read_row(row);
}

std::vector<RolloutState> list_rollouts(store::Database& db) {
    auto row = db.prepare(std::string(select_columns) + " ORDER BY endpoint");
    std::vector<RolloutState> states;
    while (row.step()) states.push_back(read_row(row));
    return states;
}

RolloutState split_traffic(govern::Governance& governance, const std::string& endpoint, int percent,
                           const std::optional<std::string>& model) {
    if (percent < 0 || percent > 100)
        throw registry::RegistryError("endpoint '" + endpoint + "': a canary share is 0 to 100 percent, not " +
                                      std::to_string(percent));
    governance.require(govern::Role::Approver, "change the traffic split of endpoint " + endpoint);
    store::Transaction transaction(governance.db()); // read, change and audit as one
    if (model) registered(governance.db(), endpoint, *model);
    const auto before = load_rollout(governance.db(), endpoint);
    RolloutState next = state_to_change(before, endpoint);
    if (model) next.canary_model = *model;
    next.percent = percent;
    auto saved = save(governance, "rollout.split", next, before);
    transaction.commit();
    return saved;
}

RolloutState promote_canary(govern::Governance& governance, const std::string& endpoint,
                            const std::optional<std::string>& model) {
    governance.require(govern::Role::Approver, "promote the canary of endpoint " + endpoint);
    store::Transaction transaction(governance.db());
    const auto before = load_rollout(governance.db(), endpoint);
    const std::optional<std::string> canary = model ? model : before ? before->canary_model : std::nullopt;
    if (!canary)
        throw registry::RegistryError("endpoint '" + endpoint + "' has no canary in the store to promote; name it: "
                                      "trellis rollout promote " + endpoint + " --model NAME@ALIAS");
    const registry::ModelVersion version = registered(governance.db(), endpoint, *canary);
    RolloutState next = state_to_change(before, endpoint);
    next.previous = split_json(next);
    next.primary_model = registry::version_label(version.name, version.version);
    next.canary_model.reset();
    next.percent = 0;
    auto saved = save(governance, "rollout.promote", next, before);
    transaction.commit();
    return saved;
}

RolloutState roll_back(govern::Governance& governance, const std::string& endpoint) {
    governance.require(govern::Role::Approver, "roll back endpoint " + endpoint);
    store::Transaction transaction(governance.db());
    const auto before = load_rollout(governance.db(), endpoint);
    RolloutState next = state_to_change(before, endpoint);
    if (!before || next.percent != 0) {
        next.percent = 0;
    } else if (!next.previous.is_null()) {
        const json previous = next.previous;
        const auto text = [&](const char* key) {
            return previous.at(key).is_null() ? std::nullopt : std::optional<std::string>(previous.at(key).get<std::string>());
        };
        next.primary_model = text("primary_model");
        next.canary_model = text("canary_model");
        next.percent = 0; // the old primary takes everything back; a new split starts from here
        next.previous = nullptr;
    } else {
        throw registry::RegistryError("endpoint '" + endpoint +
                                      "': nothing to roll back (no canary takes traffic and no promote to undo)");
    }
    auto saved = save(governance, "rollout.rollback", next, before);
    transaction.commit();
    return saved;
}

void clear_rollout(govern::Governance& governance, const std::string& endpoint) {
    governance.require(govern::Role::Approver, "clear the rollout of endpoint " + endpoint);
    store::Transaction transaction(governance.db());
    const auto before = load_rollout(governance.db(), endpoint);
    if (!before)
        throw registry::RegistryError("endpoint '" + endpoint +
                                      "' has no rollout in the store: its servers already follow the deployment file");
    governance.db().prepare("DELETE FROM serve_rollouts WHERE endpoint = ?").bind(1, endpoint).run();
    governance.audit("rollout.clear", "endpoint " + endpoint, split_json(*before), json());
    transaction.commit();
}

json rollout_json(const RolloutState& state) {
    json out = split_json(state);
    out["endpoint"] = state.endpoint;
    out["previous"] = state.previous;
    out["set_by"] = state.set_by;
    out["set_at"] = state.set_at;
    return out;
}

} // namespace trellis::serve
