#include "store/lineage.hpp"

#include "store/store_paths.hpp"
#include "util/join.hpp"
#include "util/nearest_names.hpp"

#include <algorithm>
#include <cctype>
#include <deque>

namespace trellis::store {

namespace {

constexpr size_t min_prefix = 6;

bool all_hex(const std::string& text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::vector<std::string> model_names(Database& db) {
    std::vector<std::string> names;
    auto query = db.prepare("SELECT DISTINCT name FROM models ORDER BY name");
    while (query.step()) names.push_back(query.text(0));
    return names;
}

std::optional<ArtifactTarget> find_model(Database& db, const std::string& name, std::optional<int64_t> version) {
    auto query = version ? db.prepare("SELECT artifact_digest, version FROM models WHERE name = ?1 AND version = ?2")
                         : db.prepare("SELECT artifact_digest, version FROM models WHERE name = ?1 "
                                      "ORDER BY status = 'active' DESC, version DESC LIMIT 1"); // NAME: newest active
    query.bind(1, name);
    if (version) query.bind(2, *version);
    if (!query.step()) return std::nullopt;
    return ArtifactTarget{query.text(0), ModelRef{name, query.int64(1)}};
}

[[noreturn]] void unknown_model(Database& db, const std::string& name, std::optional<int64_t> version) {
    if (version && find_model(db, name, std::nullopt)) {
        std::vector<std::string> versions;
        auto query = db.prepare("SELECT version FROM models WHERE name = ?1 ORDER BY version");
        query.bind(1, name);
        while (query.step()) versions.push_back(std::to_string(query.int64(0)));
        throw LookupError("model '" + printable(name, 100) + "' has no version " + std::to_string(*version) +
                          "; its versions: " + core::join(versions, ", "));
    }
    const auto names = model_names(db);
    const auto hints = core::nearest_names(name, names);
    throw LookupError("no artifact or model '" + printable(name, 100) + "'" +
                      (hints.empty() ? "" : "; did you mean " + core::join(hints, ", ") + "?") +
                      (names.empty() ? " (no models are registered)"
                                     : " (give an artifact digest of at least " + std::to_string(min_prefix) +
                                           " hex digits, or a model: NAME, NAME:VERSION or NAME@ALIAS)"));
}

// NAME@ALIAS: the version the alias names.
ArtifactTarget find_alias(Database& db, const std::string& name, const std::string& alias) {
    auto query = db.prepare("SELECT m.artifact_digest, m.version FROM model_aliases a JOIN models m "
                            "ON m.name = a.name AND m.version = a.version WHERE a.name = ?1 AND a.alias = ?2");
    query.bind(1, name).bind(2, alias);
    if (query.step()) return ArtifactTarget{query.text(0), ModelRef{name, query.int64(1)}};
    if (!find_model(db, name, std::nullopt)) unknown_model(db, name, std::nullopt);
    std::vector<std::string> aliases;
    auto known = db.prepare("SELECT alias FROM model_aliases WHERE name = ?1 ORDER BY alias");
    known.bind(1, name);
    while (known.step()) aliases.push_back(known.text(0));
    throw LookupError("model '" + printable(name, 100) + "' has no alias '" + printable(alias, 100) + "'" +
                      (aliases.empty() ? std::string(" (it has no aliases)") : "; its aliases: " + core::join(aliases, ", ")));
}

// "3", "v3" -> 3.
std::optional<int64_t> parse_version(std::string text) {
    if (!text.empty() && (text[0] == 'v' || text[0] == 'V')) text.erase(0, 1);
    if (text.empty() || text.size() > 15 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    return std::stoll(text);
}

} // namespace

std::string short_digest(const std::string& digest) { return digest.substr(0, 12); }

ArtifactTarget resolve_artifact(Database& db, const std::string& given) {
    std::string text = given;
    if (text.rfind("sha256:", 0) == 0) text.erase(0, 7);
    if (text.empty()) throw LookupError("an artifact or model name is empty");

    // name:version or name@version
    if (const auto at = text.find_last_of(":@"); at != std::string::npos) {
        const std::string name = text.substr(0, at);
        const auto version = parse_version(text.substr(at + 1));
        if (!name.empty() && !version && text[at] == '@') return find_alias(db, name, text.substr(at + 1));
        if (name.empty() || !version)
            throw LookupError("'" + printable(given, 100) + "' is neither an artifact digest nor a model: a model is NAME, "
                              "NAME:VERSION or NAME@ALIAS with a whole-number version");
        if (auto found = find_model(db, name, version)) return *found;
        unknown_model(db, name, version);
    }

    if (all_hex(text) && text.size() <= 64) {
        const std::string prefix = lower(text);
        if (prefix.size() >= min_prefix) {
            // Lowercase hex sorts below 'g', so [prefix, prefix + "g") is every digest it begins.
            auto query = db.prepare("SELECT digest, type FROM artifacts WHERE digest >= ?1 AND digest < ?2 "
                                    "ORDER BY digest LIMIT 9");
            query.bind(1, prefix);
            query.bind(2, prefix + "g");
            std::vector<std::string> matches;
            while (query.step()) matches.push_back(short_digest(query.text(0)) + " (" + query.text(1) + ")");
            if (matches.size() == 1) {
                query.reset();
                query.bind(1, prefix);
                query.bind(2, prefix + "g");
                query.step();
                return ArtifactTarget{query.text(0), std::nullopt};
            }
            if (matches.size() > 1) {
                if (matches.size() > 8) matches.back() = "...";
                throw LookupError("artifact '" + printable(given, 100) + "' is ambiguous: it begins the digests of " +
                                  core::join(matches, ", ") + "; give more digits");
            }
        }
        if (auto model = find_model(db, text, std::nullopt)) return *model;
        if (prefix.size() < min_prefix)
            throw LookupError("'" + printable(given, 100) + "' is too short for a digest prefix (at least " +
                              std::to_string(min_prefix) + " hex digits) and is not a model name");
        throw LookupError("no artifact whose digest begins '" + prefix + "', and no model '" + printable(given, 100) + "'");
    }

    if (auto model = find_model(db, text, std::nullopt)) return *model;
    unknown_model(db, text, std::nullopt);
}

namespace {

class Walker {
public:
    Walker(Database& db, LineageGraph& graph) : db_(db), graph_(graph) {}

    LineageArtifact& artifact(const std::string& digest) {
        if (auto it = graph_.artifacts.find(digest); it != graph_.artifacts.end()) return it->second;
        LineageArtifact out;
        out.digest = digest;
        out.type = "?";
        auto query = db_.prepare("SELECT type, size, properties, created_at, removed_at FROM artifacts WHERE digest = ?1");
        query.bind(1, digest);
        if (query.step()) {
            out.type = query.text(0);
            out.size = static_cast<uint64_t>(std::max<int64_t>(0, query.int64(1)));
            auto properties = nlohmann::json::parse(query.text(2), nullptr, false);
            if (properties.is_object()) out.properties = std::move(properties);
            out.created_at = query.real(3);
            out.removed_at = query.optional_real(4);
        }
        auto models = db_.prepare("SELECT name, version FROM models WHERE artifact_digest = ?1 ORDER BY name, version");
        models.bind(1, digest);
        while (models.step()) out.models.push_back({models.text(0), models.int64(1)});
        return graph_.artifacts.emplace(digest, std::move(out)).first->second;
    }

    const ExecutionSummary* execution(int64_t id) {
        if (auto it = graph_.executions.find(id); it != graph_.executions.end()) return &it->second;
        auto loaded = load_execution(db_, id);
        if (!loaded) return nullptr;
        auto params = db_.prepare("SELECT key, value FROM params WHERE execution_id = ?1 ORDER BY key");
        params.bind(1, id);
        while (params.step()) {
            auto value = nlohmann::json::parse(params.text(1), nullptr, false);
            graph_.execution_params[id][params.text(0)] = value.is_discarded() ? nlohmann::json(params.text(1)) : value;
        }
        return &graph_.executions.emplace(id, std::move(*loaded)).first->second;
    }

    // The execution that really ran for a cached one: cached_from, followed through any cached links.
    std::optional<int64_t> source_of(int64_t id) {
        for (int hops = 0; hops < 1000; ++hops) {
            const auto* row = execution(id);
            if (!row) return std::nullopt;
            if (row->status != "cached") return id;
            if (!row->cached_from || *row->cached_from == id) return std::nullopt;
            id = *row->cached_from;
        }
        return std::nullopt;
    }

    void upstream(const std::string& root, int depth) {
        std::deque<std::pair<std::string, int>> queue = {{root, 0}};
        std::set<std::string> seen = {root};
        auto outputs = db_.prepare("SELECT e.id, e.status FROM events ev JOIN executions e ON e.id = ev.execution_id "
                                   "WHERE ev.artifact_digest = ?1 AND ev.kind = 'output' AND e.stage_name != 'registry.model' "
                                   "ORDER BY e.id"); // registry.model passes a model on; it did not make it
        while (!queue.empty()) {
            const auto [digest, level] = queue.front();
            queue.pop_front();
            artifact(digest);
            std::vector<int64_t> makers, reusers;
            outputs.reset();
            outputs.bind(1, digest);
            while (outputs.step()) (outputs.text(1) == "cached" ? reusers : makers).push_back(outputs.int64(0));
            if (depth > 0 && level >= depth) {
                artifact(digest).upstream_truncated = !makers.empty() || !reusers.empty();
                continue;
            }
            if (makers.empty()) // only reuses are recorded: their sources made it
                for (const auto id : reusers)
                    if (const auto source = source_of(id);
                        source && std::find(makers.begin(), makers.end(), *source) == makers.end())
                        makers.push_back(*source);
            for (const auto id : reusers) execution(id);
            std::vector<int64_t> producers;
            for (const auto id : makers) {
                const auto* row = execution(id);
                if (!row) continue;
                producers.push_back(id);
                for (const auto& [port, input] : row->inputs)
                    if (seen.insert(input).second) {
                        artifact(input);
                        queue.emplace_back(input, level + 1);
                    }
            }
            auto& node = artifact(digest);
            node.produced_by = std::move(producers);
            node.reused_by = std::move(reusers);
        }
    }

    void downstream(const std::string& root, int depth) {
        std::deque<std::pair<std::string, int>> queue = {{root, 0}};
        std::set<std::string> seen = {root};
        auto inputs = db_.prepare("SELECT DISTINCT execution_id FROM events WHERE artifact_digest = ?1 AND kind = 'input' "
                                  "ORDER BY execution_id");
        while (!queue.empty()) {
            const auto [digest, level] = queue.front();
            queue.pop_front();
            artifact(digest);
            std::vector<int64_t> readers;
            inputs.reset();
            inputs.bind(1, digest);
            while (inputs.step()) readers.push_back(inputs.int64(0));
            if (depth > 0 && level >= depth) {
                artifact(digest).downstream_truncated = !readers.empty();
                continue;
            }
            std::vector<int64_t> consumers;
            for (const auto id : readers) {
                const auto* row = execution(id);
                if (!row) continue;
                consumers.push_back(id);
                for (const auto& [port, output] : row->outputs)
                    if (seen.insert(output).second) {
                        artifact(output);
                        queue.emplace_back(output, level + 1);
                    }
            }
            artifact(digest).consumed_by = std::move(consumers);
        }
    }

private:
    Database& db_;
    LineageGraph& graph_;
};

} // namespace

LineageGraph trace_lineage(Database& db, const ArtifactTarget& root, const LineageOptions& options) {
    LineageGraph graph;
    graph.root = root;
    Walker walker(db, graph);
    walker.artifact(root.digest);
    if (options.upstream) walker.upstream(root.digest, options.depth);
    if (options.downstream) walker.downstream(root.digest, options.depth);
    return graph;
}

} // namespace trellis::store
