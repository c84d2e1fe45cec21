// The read queries behind `trellis runs list|show|compare`: filters, sorting by a metric, last
// metric values, params, finding a run from a prefix, and comparing runs.
#include "store/run_queries.hpp"

#include "store_rows.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using trellis::store::LookupError;
using trellis::test::StoreRows;
namespace store = trellis::store;

namespace {

std::vector<std::string> ids_of(const store::RunList& list) {
    std::vector<std::string> ids;
    for (const auto& run : list.runs) ids.push_back(run.id);
    return ids;
}

// Four runs of two pipelines, tagged, with an accuracy metric on three of them.
void four_runs(StoreRows& rows) {
    rows.run("20260101-100000-aaaa", "iris", "succeeded", 1000, 1010);
    rows.run("20260102-100000-bbbb", "iris", "failed", 2000, 2005);
    rows.run("20260103-100000-cccc", "wine", "succeeded", 3000, 3020);
    rows.run("20260104-100000-dddd", "iris", "succeeded", 4000, 4001);
    rows.tag("20260101-100000-aaaa", "team", "ml");
    rows.tag("20260103-100000-cccc", "team", "ops");
    rows.tag("20260104-100000-dddd", "team", "ml");
    rows.tag("20260104-100000-dddd", "release", "yes");
    const auto e1 = rows.execution("20260101-100000-aaaa", "eval", "succeeded");
    const auto e3 = rows.execution("20260103-100000-cccc", "eval", "succeeded");
    const auto e4 = rows.execution("20260104-100000-dddd", "eval", "succeeded");
    rows.metric("20260101-100000-aaaa", e1, "accuracy", 0, 0.90, 1005);
    rows.metric("20260103-100000-cccc", e3, "accuracy", 0, 0.70, 3005);
    // Logged over steps: the last step counts, not the best or the latest written.
    rows.metric("20260104-100000-dddd", e4, "accuracy", 0, 0.99, 4000);
    rows.metric("20260104-100000-dddd", e4, "accuracy", 2, 0.80, 4000.5);
    rows.metric("20260104-100000-dddd", e4, "accuracy", 1, 0.95, 4000.9);
}

} // namespace

TEST_CASE("runs list is newest first and filters by pipeline, status and tags", "[store_cli]") {
    StoreRows rows;
    four_runs(rows);
    auto& db = rows.db();

    store::RunFilter all;
    const auto everything = store::list_runs(db, all);
    CHECK(ids_of(everything) == std::vector<std::string>{"20260104-100000-dddd", "20260103-100000-cccc",
                                                         "20260102-100000-bbbb", "20260101-100000-aaaa"});
    CHECK(everything.total == 4);

    store::RunFilter iris;
    iris.pipeline = "iris";
    CHECK(ids_of(store::list_runs(db, iris)) ==
          std::vector<std::string>{"20260104-100000-dddd", "20260102-100000-bbbb", "20260101-100000-aaaa"});

    store::RunFilter failed;
    failed.status = "failed";
    CHECK(ids_of(store::list_runs(db, failed)) == std::vector<std::string>{"20260102-100000-bbbb"});

    store::RunFilter ml;
    ml.tags.emplace_back("team", "ml");
    CHECK(ids_of(store::list_runs(db, ml)) == std::vector<std::string>{"20260104-100000-dddd", "20260101-100000-aaaa"});

    store::RunFilter both;
    both.tags.emplace_back("team", "ml");
    both.tags.emplace_back("release", std::nullopt); // any value
    CHECK(ids_of(store::list_runs(db, both)) == std::vector<std::string>{"20260104-100000-dddd"});

    store::RunFilter limited;
    limited.limit = 2;
    const auto first_two = store::list_runs(db, limited);
    CHECK(first_two.runs.size() == 2);
    CHECK(first_two.total == 4);

    store::RunFilter none;
    none.pipeline = "nope";
    CHECK(store::list_runs(db, none).runs.empty());
}

TEST_CASE("runs list sorts by a metric's last value, runs without it last", "[store_cli]") {
    StoreRows rows;
    four_runs(rows);
    auto& db = rows.db();

    store::RunFilter by_accuracy;
    by_accuracy.sort_metric = "accuracy";
    // Last values: aaaa 0.90, cccc 0.70, dddd 0.80 (step 2); bbbb has none.
    CHECK(ids_of(store::list_runs(db, by_accuracy)) ==
          std::vector<std::string>{"20260101-100000-aaaa", "20260104-100000-dddd", "20260103-100000-cccc",
                                   "20260102-100000-bbbb"});
    by_accuracy.ascending = true;
    CHECK(ids_of(store::list_runs(db, by_accuracy)) ==
          std::vector<std::string>{"20260103-100000-cccc", "20260104-100000-dddd", "20260101-100000-aaaa",
                                   "20260102-100000-bbbb"});
    by_accuracy.limit = 1;
    const auto best = store::list_runs(db, by_accuracy);
    REQUIRE(best.runs.size() == 1);
    CHECK(best.runs[0].id == "20260103-100000-cccc");
    CHECK(best.total == 4);
}

TEST_CASE("a run's summary has its params, tags and the last value of each metric", "[store_cli]") {
    StoreRows rows;
    rows.run("r1", "iris", "succeeded", 1000, 1012.5, {{"lr", 0.1}, {"seed", 1}});
    const auto train = rows.execution("r1", "train", "succeeded");
    rows.param("r1", 0, "seed", 7);           // the params table wins over the runs column
    rows.param("r1", train, "layers", "3x64"); // logged by the stage
    rows.tag("r1", "owner", "kim");
    rows.metric("r1", train, "loss", 0, 1.0, 1001);
    rows.metric("r1", train, "loss", 1, 0.5, 1002);
    rows.metric("r1", train, "loss", 1, 0.4, 1003); // same step, logged later: this one
    rows.metric("r1", train, "score", 0, std::nullopt, 1004); // NaN

    const auto run = store::load_run(rows.db(), "r1");
    REQUIRE(run);
    CHECK(run->pipeline == "iris");
    CHECK(run->seconds(0) == Approx(12.5));
    CHECK(run->params.at("lr") == 0.1);
    CHECK(run->params.at("seed") == 7);
    CHECK(run->params.at("train.layers") == "3x64");
    CHECK(run->tags.at("owner") == "kim");
    const auto& loss = run->metrics.at("loss");
    CHECK(loss.value == Approx(0.4));
    CHECK(loss.step == 1);
    CHECK(loss.points == 3);
    CHECK(loss.stepped());
    CHECK_FALSE(run->metrics.at("score").value);
    CHECK_FALSE(run->metrics.at("score").stepped());
    CHECK_FALSE(store::load_run(rows.db(), "r2"));

    const auto history = store::metric_history(rows.db(), "r1", "loss");
    REQUIRE(history.size() == 3);
    CHECK(history[0].step == 0);
    CHECK(history[2].value == Approx(0.4));
    CHECK(history[2].stage_id == "train");
    CHECK(store::metric_names(rows.db(), "r1") == std::vector<std::string>{"loss", "score"});
}

TEST_CASE("a run is found by id, unique prefix or latest, and ambiguous or unknown ones are errors", "[store_cli]") {
    StoreRows rows;
    rows.run("20260101-100000-aaaa", "iris", "succeeded", 1000);
    rows.run("20260101-100000-abcd", "iris", "succeeded", 3000);
    rows.run("20260202-120000-ffff", "iris", "succeeded", 2000);
    auto& db = rows.db();

    CHECK(store::resolve_run_id(db, "20260101-100000-aaaa") == "20260101-100000-aaaa");
    CHECK(store::resolve_run_id(db, "202602") == "20260202-120000-ffff");
    CHECK(store::resolve_run_id(db, "20260101-100000-ab") == "20260101-100000-abcd");
    CHECK(store::resolve_run_id(db, "latest") == "20260101-100000-abcd"); // started last

    REQUIRE_THROWS_AS(store::resolve_run_id(db, "20260101"), LookupError);
    try {
        store::resolve_run_id(db, "20260101");
    } catch (const LookupError& e) {
        const std::string message = e.what();
        CHECK(message.find("ambiguous") != std::string::npos);
        CHECK(message.find("20260101-100000-aaaa") != std::string::npos);
        CHECK(message.find("20260101-100000-abcd") != std::string::npos);
    }
    try {
        store::resolve_run_id(db, "20260202-120000-fffe");
        FAIL("no error");
    } catch (const LookupError& e) {
        CHECK(std::string(e.what()).find("did you mean 20260202-120000-ffff") != std::string::npos);
    }
    try {
        store::resolve_run_id(db, "20260202-12000x"); // a mistyped prefix
        FAIL("no error");
    } catch (const LookupError& e) {
        CHECK(std::string(e.what()).find("20260202-120000-ffff") != std::string::npos);
    }
    for (const std::string& bad : std::vector<std::string>{"../etc", "a/b", "..", "", "a\nb"})
        CHECK_THROWS_WITH(store::resolve_run_id(db, bad), Catch::Contains("run id") || Catch::Contains("not a run id"));

    StoreRows empty;
    CHECK_THROWS_WITH(store::resolve_run_id(empty.db(), "latest"), Catch::Contains("no runs"));
}

TEST_CASE("a run's executions are the latest per stage, in first-start order, with events", "[store_cli]") {
    StoreRows rows;
    rows.run("old", "iris", "succeeded", 500);
    rows.run("r1", "iris", "interrupted", 1000);
    const auto a = StoreRows::digest("aa"), b = StoreRows::digest("bb"), m = StoreRows::digest("cc");
    rows.artifact(a);
    rows.artifact(b);
    rows.artifact(m, "model");
    const auto source = rows.execution("old", "train", "succeeded");
    rows.output(source, "model", m);
    const auto load = rows.execution("r1", "load", "succeeded");
    rows.output(load, "table", a);
    const auto first_split = rows.execution("r1", "split", "interrupted");
    const auto train = rows.execution("r1", "train", "cached", source);
    rows.output(train, "model", m);
    rows.input(train, "train", b);
    const auto second_split = rows.execution("r1", "split", "succeeded"); // resumed
    rows.input(second_split, "table", a);
    rows.output(second_split, "train", b);

    const auto executions = store::run_executions(rows.db(), "r1");
    REQUIRE(executions.size() == 3);
    CHECK(executions[0].id == load);
    CHECK(executions[1].id == second_split); // the split's place is its first start
    CHECK(executions[1].id != first_split);
    CHECK(executions[1].inputs.at("table") == a);
    CHECK(executions[1].outputs.at("train") == b);
    CHECK(executions[2].status == "cached");
    CHECK(executions[2].cached_from == source);
    CHECK(executions[2].cached_from_run == "old");
    CHECK(executions[2].plugin_label() == "acme@1.0");
    CHECK(executions[2].config == nlohmann::json{{"k", 1}});
    CHECK(executions[2].seconds() == Approx(1.0));

    const auto loaded = store::load_execution(rows.db(), train);
    REQUIRE(loaded);
    CHECK(loaded->outputs.at("model") == m);
    CHECK_FALSE(store::load_execution(rows.db(), 9999));
}

TEST_CASE("comparing runs lines up params and metrics and marks the rows that differ", "[store_cli]") {
    StoreRows rows;
    rows.run("r1", "iris", "succeeded", 1000, 1001, {{"lr", 0.1}, {"seed", 1}, {"only_one", true}});
    rows.run("r2", "iris", "succeeded", 2000, 2001, {{"lr", 0.2}, {"seed", 1}});
    const auto e1 = rows.execution("r1", "eval", "succeeded");
    const auto e2 = rows.execution("r2", "eval", "succeeded");
    rows.metric("r1", e1, "accuracy", 0, 0.9, 1);
    rows.metric("r2", e2, "accuracy", 0, 0.9, 1);
    rows.metric("r1", e1, "loss", 0, 0.3, 1);
    rows.metric("r2", e2, "loss", 0, std::nullopt, 1);

    std::vector<store::RunSummary> runs = {*store::load_run(rows.db(), "r1"), *store::load_run(rows.db(), "r2")};
    const auto comparison = store::compare_runs(runs);
    REQUIRE(comparison.params.size() == 3);
    CHECK(comparison.params[0].key == "lr");
    CHECK(comparison.params[0].differs);
    CHECK(comparison.params[1].key == "only_one");
    CHECK(comparison.params[1].differs);
    CHECK(comparison.params[1].values[0] == nlohmann::json(true));
    CHECK_FALSE(comparison.params[1].values[1]); // missing
    CHECK(comparison.params[2].key == "seed");
    CHECK_FALSE(comparison.params[2].differs);
    REQUIRE(comparison.metrics.size() == 2);
    CHECK(comparison.metrics[0].key == "accuracy");
    CHECK_FALSE(comparison.metrics[0].differs);
    CHECK(comparison.metrics[1].key == "loss");
    CHECK(comparison.metrics[1].differs);
    REQUIRE(comparison.metrics[1].values[1]);
    CHECK(comparison.metrics[1].values[1]->is_null()); // NaN: present, no number
}
