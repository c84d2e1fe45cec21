// Lineage: finding an artifact by digest, prefix or model, and walking upstream and downstream
// through executions, with cached executions shown as reuse of the execution they stand for.
#include "store/lineage.hpp"

#include "store_rows.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using trellis::store::LookupError;
using trellis::test::StoreRows;
namespace store = trellis::store;

namespace {

// Run r1 ran load -> split -> train -> evaluate. Run r2 reused load and split from the cache and
// trained again with another config. Models: cancer v1 is r1's model, v2 is r2's.
struct History {
    StoreRows rows;
    std::string table = StoreRows::digest("1111aa"), train = StoreRows::digest("2222bb"),
                test = StoreRows::digest("3333cc"), model1 = StoreRows::digest("4444dd"),
                model2 = StoreRows::digest("5555ee"), metrics = StoreRows::digest("6666ff");
    int64_t load = 0, split = 0, fit = 0, evaluate = 0, load_cached = 0, split_cached = 0, refit = 0;

    History() {
        rows.run("r1", "cancer", "succeeded", 1000, 1010);
        rows.run("r2", "cancer", "succeeded", 2000, 2010);
        rows.artifact(table, "table", 1000, 100, {{"rows", 569}, {"columns", 31}});
        rows.artifact(train);
        rows.artifact(test);
        rows.artifact(model1, "model");
        rows.artifact(model2, "model");
        rows.artifact(metrics, "metrics");

        load = rows.execution("r1", "load", "succeeded", std::nullopt, {{"path", "data.csv"}});
        rows.output(load, "table", table);
        split = rows.execution("r1", "split", "succeeded");
        rows.input(split, "table", table);
        rows.output(split, "train", train);
        rows.output(split, "test", test);
        fit = rows.execution("r1", "train", "succeeded", std::nullopt, {{"l2", 1.0}});
        rows.input(fit, "train", train);
        rows.output(fit, "model", model1);
        evaluate = rows.execution("r1", "evaluate", "succeeded");
        rows.input(evaluate, "data", test);
        rows.input(evaluate, "model", model1);
        rows.output(evaluate, "metrics", metrics);

        load_cached = rows.execution("r2", "load", "cached", load);
        rows.output(load_cached, "table", table);
        split_cached = rows.execution("r2", "split", "cached", split);
        rows.input(split_cached, "table", table);
        rows.output(split_cached, "train", train);
        rows.output(split_cached, "test", test);
        refit = rows.execution("r2", "train", "succeeded", std::nullopt, {{"l2", 2.0}});
        rows.input(refit, "train", train);
        rows.output(refit, "model", model2);

        rows.model("cancer", 1, model1);
        rows.model("cancer", 2, model2);
    }
};

} // namespace

TEST_CASE("an artifact is found by digest, prefix or model", "[store_cli]") {
    History h;
    auto& db = h.rows.db();
    CHECK(store::resolve_artifact(db, h.table).digest == h.table);
    CHECK(store::resolve_artifact(db, "1111aa").digest == h.table);
    CHECK(store::resolve_artifact(db, "1111AA0").digest == h.table); // case does not matter
    CHECK(store::resolve_artifact(db, "sha256:" + h.train).digest == h.train);

    const auto newest = store::resolve_artifact(db, "cancer");
    CHECK(newest.digest == h.model2);
    REQUIRE(newest.model);
    CHECK(newest.model->version == 2);
    CHECK(store::resolve_artifact(db, "cancer:1").digest == h.model1);
    CHECK(store::resolve_artifact(db, "cancer@1").digest == h.model1);
    CHECK(store::resolve_artifact(db, "cancer@v2").digest == h.model2);

    CHECK_THROWS_WITH(store::resolve_artifact(db, "cancer:3"), Catch::Contains("versions: 1, 2"));
    CHECK_THROWS_WITH(store::resolve_artifact(db, "cancr"), Catch::Contains("did you mean cancer"));
    CHECK_THROWS_WITH(store::resolve_artifact(db, "cancer:x"), Catch::Contains("NAME:VERSION"));
    CHECK_THROWS_WITH(store::resolve_artifact(db, "1111"), Catch::Contains("at least 6 hex digits"));
    CHECK_THROWS_WITH(store::resolve_artifact(db, "999999"), Catch::Contains("no artifact whose digest begins"));
    CHECK_THROWS_AS(store::resolve_artifact(db, ""), LookupError);
}

TEST_CASE("an ambiguous digest prefix lists the candidates", "[store_cli]") {
    StoreRows rows;
    rows.artifact(StoreRows::digest("abcdef01"), "table");
    rows.artifact(StoreRows::digest("abcdef02"), "model");
    CHECK(store::resolve_artifact(rows.db(), "abcdef01").digest == StoreRows::digest("abcdef01"));
    try {
        store::resolve_artifact(rows.db(), "abcdef");
        FAIL("no error");
    } catch (const LookupError& e) {
        const std::string message = e.what();
        CHECK(message.find("ambiguous") != std::string::npos);
        CHECK(message.find("abcdef010000 (table)") != std::string::npos);
        CHECK(message.find("abcdef020000 (model)") != std::string::npos);
    }
}

TEST_CASE("upstream lineage goes through the sources of cached executions", "[store_cli]") {
    History h;
    store::LineageOptions upstream_only;
    upstream_only.downstream = false;
    const auto graph = store::trace_lineage(h.rows.db(), store::resolve_artifact(h.rows.db(), "cancer"), upstream_only);

    const auto& model = graph.artifacts.at(h.model2);
    CHECK(model.produced_by == std::vector<int64_t>{h.refit});
    CHECK(model.models.size() == 1);
    // r2's split was cached: the split of r1 made the train set, and r2's reuse is listed.
    const auto& train = graph.artifacts.at(h.train);
    CHECK(train.produced_by == std::vector<int64_t>{h.split});
    CHECK(train.reused_by == std::vector<int64_t>{h.split_cached});
    const auto& table = graph.artifacts.at(h.table);
    CHECK(table.produced_by == std::vector<int64_t>{h.load});
    CHECK(table.reused_by == std::vector<int64_t>{h.load_cached});
    CHECK(table.properties.at("rows") == 569);
    CHECK(graph.executions.at(h.load).config.at("path") == "data.csv");
    CHECK(graph.executions.at(h.split_cached).cached_from == h.split);
    CHECK(graph.executions.at(h.split_cached).cached_from_run == "r1");
    // Not walked: what r1 trained and evaluated.
    CHECK_FALSE(graph.artifacts.count(h.model1));
    CHECK_FALSE(graph.artifacts.count(h.metrics));
    CHECK(model.consumed_by.empty());
}

TEST_CASE("downstream lineage follows readers and their outputs, each once", "[store_cli]") {
    History h;
    store::LineageOptions downstream_only;
    downstream_only.upstream = false;
    const auto graph = store::trace_lineage(h.rows.db(), {h.table, std::nullopt}, downstream_only);

    CHECK(graph.artifacts.at(h.table).consumed_by == std::vector<int64_t>{h.split, h.split_cached});
    CHECK(graph.artifacts.at(h.train).consumed_by == std::vector<int64_t>{h.fit, h.refit});
    CHECK(graph.artifacts.at(h.test).consumed_by == std::vector<int64_t>{h.evaluate});
    CHECK(graph.artifacts.at(h.model1).consumed_by == std::vector<int64_t>{h.evaluate});
    CHECK(graph.artifacts.count(h.model2));
    CHECK(graph.artifacts.count(h.metrics));
    CHECK(graph.artifacts.at(h.table).produced_by.empty()); // upstream not walked
    CHECK_FALSE(graph.executions.count(h.load));
}

TEST_CASE("lineage depth stops the walk and marks where it stopped", "[store_cli]") {
    History h;
    store::LineageOptions options;
    options.depth = 1;
    const auto graph = store::trace_lineage(h.rows.db(), {h.model1, std::nullopt}, options);
    CHECK(graph.artifacts.at(h.model1).produced_by == std::vector<int64_t>{h.fit});
    CHECK(graph.artifacts.at(h.train).upstream_truncated);   // split made it, one level further
    CHECK_FALSE(graph.artifacts.count(h.table));
    CHECK(graph.artifacts.at(h.model1).consumed_by == std::vector<int64_t>{h.evaluate});
    CHECK_FALSE(graph.artifacts.at(h.metrics).downstream_truncated); // nothing reads the metrics
    CHECK_FALSE(graph.artifacts.at(h.model1).upstream_truncated);

    options.depth = 0;
    const auto whole = store::trace_lineage(h.rows.db(), {h.model1, std::nullopt}, options);
    CHECK(whole.artifacts.count(h.table));
    CHECK_FALSE(whole.artifacts.at(h.train).upstream_truncated);
}

TEST_CASE("an artifact only a cached execution recorded is traced to its source", "[store_cli]") {
    StoreRows rows;
    rows.run("r1", "p", "succeeded", 1000);
    rows.run("r2", "p", "succeeded", 2000);
    const auto input = StoreRows::digest("a1"), output = StoreRows::digest("b2");
    rows.artifact(input);
    rows.artifact(output);
    const auto source = rows.execution("r1", "step", "succeeded"); // its events were not kept
    rows.input(source, "in", input);
    const auto middle = rows.execution("r2", "step", "cached", source);
    const auto cached = rows.execution("r2", "again", "cached", middle); // a reuse of a reuse
    rows.output(cached, "out", output);

    const auto graph = store::trace_lineage(rows.db(), {output, std::nullopt}, {});
    CHECK(graph.artifacts.at(output).produced_by == std::vector<int64_t>{source});
    CHECK(graph.artifacts.at(output).reused_by == std::vector<int64_t>{cached});
    CHECK(graph.artifacts.count(input));
}

TEST_CASE("lineage shows artifacts removed by gc as history", "[store_cli]") {
    History h;
    h.rows.db().exec("UPDATE artifacts SET removed_at = 5000 WHERE digest = '" + h.train + "'");
    const auto graph = store::trace_lineage(h.rows.db(), {h.model1, std::nullopt}, {});
    REQUIRE(graph.artifacts.at(h.train).removed_at);
    CHECK(*graph.artifacts.at(h.train).removed_at == 5000);
    CHECK(graph.artifacts.count(h.table)); // the walk goes on past it
}
