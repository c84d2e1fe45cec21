// Lineage for `trellis lineage`: which executions made an artifact, from which inputs, and what
// was made from it, walked through the events of the metadata store.
//
// Upstream, an artifact's producers are the executions that output it and ran (not "cached"):
// a cached execution reused the outputs of another (cached_from), so the lineage goes on through
// that source, and the cached execution is listed as a reuse of the artifact. Downstream, every
// execution that read the artifact is a consumer, cached or not, and its outputs are walked on.
// A visited set makes each artifact and execution appear once, however many paths lead to it.
#pragma once

#include "store/run_queries.hpp"
#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace trellis::store {

struct ModelRef {
    std::string name;
    int64_t version = 0;
};

// What a user named: an artifact, and the model it was found through, if it was.
struct ArtifactTarget {
    std::string digest;
    std::optional<ModelRef> model;
};

// Finds the artifact `text` names: a digest or a prefix of one (at least 6 hex digits; a leading
// "sha256:" is ignored); or a model, "name" (its newest version), "name:version" or
// "name@version". Throws LookupError when nothing matches (with near model names) or a digest
// prefix matches several artifacts (listing them).
ArtifactTarget resolve_artifact(Database& db, const std::string& text);

struct LineageArtifact {
    std::string digest;
    std::string type;                           // "?" when the artifacts row is missing
    uint64_t size = 0;
    nlohmann::json properties = nlohmann::json::object();
    double created_at = 0;
    std::optional<double> removed_at;           // deleted by trellis gc: history only
    std::vector<ModelRef> models;               // registered as
    // Filled for the artifacts the walk expanded (upstream, downstream respectively):
    std::vector<int64_t> produced_by;           // executions that made it (not cached ones)
    std::vector<int64_t> reused_by;             // cached executions that reused it as an output
    std::vector<int64_t> consumed_by;           // executions that read it
    bool upstream_truncated = false;            // has producers beyond --depth
    bool downstream_truncated = false;          // has consumers beyond --depth
};

struct LineageOptions {
    bool upstream = true;
    bool downstream = true;
    int depth = 0; // execution levels to follow from the root; 0: no limit
};

struct LineageGraph {
    ArtifactTarget root;
    std::map<std::string, LineageArtifact> artifacts;  // by digest
    std::map<int64_t, ExecutionSummary> executions;    // by id
    // Params logged by an execution (params rows with its execution_id), by execution id.
    std::map<int64_t, std::map<std::string, nlohmann::json>> execution_params;
};

LineageGraph trace_lineage(Database& db, const ArtifactTarget& root, const LineageOptions& options);

// The first 12 hex digits of a digest, for people.
std::string short_digest(const std::string& digest);

} // namespace trellis::store
