// The parts of serving's traffic rules that need no server: the deployment file's version
// policies, canary, shadow, batching and prediction log keys (and their errors with lines), the
// rollout state kept in the store (audit, refusals; roles and promote are tested through the
// binary in test_serve_rollout.cpp), and the prediction log's
// records and counted drops.
#include "govern/access.hpp"
#include "govern/audit_log.hpp"
#include "registry/model_registry.hpp"
#include "serve/deployment_file.hpp"
#include "serve/json_text.hpp"
#include "serve/prediction_log.hpp"
#include "serve/request_batcher.hpp"
#include "serve/rollout_state.hpp"
#include "store/metadata_store.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

using namespace trellis;
using namespace trellis::serve;

TEST_CASE("deployment file: version policies, canary, shadow, batching and prediction log are read", "[serve]") {
    const auto spec = parse_deployment(R"(prediction_log: {sample: 0.25, queue: 50}
endpoints:
  a:
    model: churn@champion
    versions: {latest: 3}
    canary: {model: churn:4, percent: 10, sticky: {header: X-User-Id}}
    shadow: {model: churn@challenger, queue: 7}
    batching: {max_batch_size: 16, max_delay: 3ms}
  b: {model: churn:1, versions: all, canary: {model: churn:2, sticky: {parameter: user}}}
  c: {model: churn:1, versions: [2, 5]}
)",
                                       "d.yaml");
    CHECK(spec.prediction_log.sample == 0.25);
    CHECK(spec.prediction_log.queue == 50);
    REQUIRE(spec.endpoints.size() == 3);
    const auto& a = spec.endpoints[0];
    CHECK(a.versions.kind == VersionPolicy::Kind::Latest);
    CHECK(a.versions.latest == 3);
    REQUIRE(a.canary);
    CHECK(a.canary->model == "churn:4");
    CHECK(a.canary->percent == 10);
    CHECK(a.canary->sticky_header == "X-User-Id");
    REQUIRE(a.shadow);
    CHECK(a.shadow->model == "churn@challenger");
    CHECK(a.shadow->queue == 7);
    CHECK(a.batching.max_batch_size == 16);
    CHECK(a.batching.max_delay == std::chrono::milliseconds(3));
    const auto& b = spec.endpoints[1];
    CHECK(b.versions.kind == VersionPolicy::Kind::All);
    CHECK(b.canary->percent == 0);
    CHECK(b.canary->sticky_parameter == "user");
    CHECK(b.batching.max_batch_size == 0); // off
    CHECK(spec.endpoints[2].versions.specific == std::vector<int64_t>{2, 5});
    CHECK(parse_deployment("endpoints:\n  a: {model: m:1}\n", "d.yaml").endpoints[0].versions.kind ==
          VersionPolicy::Kind::Routed);
}

TEST_CASE("deployment file: bad traffic rules are reported with their lines", "[serve]") {
    try {
        parse_deployment(R"(prediction_log: {sample: 2}
endpoints:
  a:
    model: m:1
    versions: {newest: 2}
    canary: {model: m, percent: 101, sticky: {cookie: x}}
    shadow: {queue: 0}
    batching: {max_delay: 1ms}
  b: {model: m:1, versions: some}
)",
                         "d.yaml");
        FAIL("no error");
    } catch (const DeploymentError& e) {
        const std::string what = e.what();
        INFO(what);
        CHECK_THAT(what, Catch::Contains("d.yaml:1: prediction_log.sample must be a number from 0 to 1, not '2'"));
        CHECK_THAT(what, Catch::Contains("d.yaml:5: unknown key 'newest' in endpoint 'a': versions"));
        CHECK_THAT(what, Catch::Contains("d.yaml:6: endpoint 'a': canary: model 'm' must name a registered model"));
        CHECK_THAT(what, Catch::Contains("d.yaml:6: endpoint 'a': canary.percent must be a whole number from 0 to 100"));
        CHECK_THAT(what, Catch::Contains("d.yaml:6: endpoint 'a': canary.sticky must be {header: NAME} or {parameter: NAME}"));
        CHECK_THAT(what, Catch::Contains("d.yaml:7: endpoint 'a': shadow names no model"));
        CHECK_THAT(what, Catch::Contains("d.yaml:7: endpoint 'a': shadow.queue must be a whole number from 1"));
        CHECK_THAT(what, Catch::Contains("d.yaml:8: endpoint 'a': batching needs max_batch_size"));
        CHECK_THAT(what, Catch::Contains("d.yaml:9: endpoint 'b': versions must be 'all', {latest: N} or a list"));
    }
}

namespace {

std::vector<govern::AuditEntry> audit_of(store::Database& db) { return govern::read_audit(db, {}); }

} // namespace

TEST_CASE("rollout state: split and rollback are stored and audited, bad changes refused", "[serve]") {
    test::TempDir dir;
    store::MetadataStore metadata(dir.path());
    auto& db = metadata.db();
    govern::Governance owner(db, dir.path(), std::nullopt, 1000); // the store folder's owner: admin
    CHECK_FALSE(load_rollout(db, "cancer"));

    // No canary anywhere in the store: promote needs one named.
    CHECK_THROWS_WITH(promote_canary(owner, "cancer", std::nullopt), Catch::Contains("no canary in the store to promote"));
    CHECK_THROWS_WITH(split_traffic(owner, "cancer", 101, std::nullopt), Catch::Contains("0 to 100 percent"));
    CHECK_THROWS_WITH(split_traffic(owner, "cancer", 5, std::string("cancer")), Catch::Contains("NAME:VERSION or NAME@ALIAS"));
    CHECK_THROWS_AS(split_traffic(owner, "cancer", 5, std::string("cancer:1")), registry::RegistryError); // not registered

    // A share without a model keeps the deployment file's canary.
    const auto split = split_traffic(owner, "cancer", 30, std::nullopt);
    CHECK(split.percent == 30);
    CHECK_FALSE(split.canary_model);
    CHECK_FALSE(split.primary_model);
    CHECK(load_rollout(db, "cancer")->percent == 30);

    // Rollback with a share out: the share goes to 0 and nothing else changes.
    const auto back = roll_back(owner, "cancer");
    CHECK(back.percent == 0);
    CHECK(back.previous.is_null());
    CHECK_THROWS_WITH(roll_back(owner, "cancer"), Catch::Contains("nothing to roll back"));
    CHECK(list_rollouts(db).size() == 1);

    const auto entries = audit_of(db);
    std::vector<std::string> actions;
    for (const auto& entry : entries) actions.push_back(entry.action);
    CHECK(std::count(actions.begin(), actions.end(), "rollout.split") == 1);
    CHECK(std::count(actions.begin(), actions.end(), "rollout.rollback") == 1);
    CHECK(entries.back().object == "endpoint cancer");
}

TEST_CASE("prediction log: records are JSON lines per endpoint and day, failures to write are counted", "[serve]") {
    test::TempDir dir;
    auto features = std::make_shared<Table>();
    Column x("x", ColumnType::Float64);
    x.append_float(1.5);
    x.append_null();
    features->add_column(std::move(x));
    Table outputs;
    Column p("prediction", ColumnType::Int64);
    p.append_int(1);
    p.append_int(0);
    outputs.add_column(std::move(p));
    const double day_one = 1796601600; // 2026-12-07T00:00:00Z
    {
        PredictionLog log(dir / "predictions", 1.0, 100);
        CHECK(log.sampled());
        log.append({day_one + 5, "r1", "cancer", "cancer", 2, "canary", 200, 0.5, features, outputs});
        log.append({day_one + 86400, "r2", "cancer", "cancer", 1, "primary", 200, 0.25, features, outputs});
        log.append({day_one + 6, "r3", "other", "m", 1, "shadow", 200, 1.0, nullptr, outputs});
    } // the destructor writes what is queued
    std::ifstream first(dir / "predictions" / "cancer" / "2026-12-07.jsonl");
    std::string line;
    REQUIRE(std::getline(first, line));
    const auto record = nlohmann::json::parse(line);
    CHECK(record.at("request_id") == "r1");
    CHECK(record.at("version") == 2);
    CHECK(record.at("variant") == "canary");
    CHECK(record.at("inputs").at("x") == nlohmann::json::array({1.5, nullptr}));
    CHECK(record.at("outputs").at("prediction") == nlohmann::json::array({1, 0}));
    CHECK_FALSE(std::getline(first, line));
    CHECK(std::filesystem::exists(dir / "predictions" / "cancer" / "2026-12-08.jsonl"));
    CHECK(std::filesystem::exists(dir / "predictions" / "other" / "2026-12-07.jsonl"));

    // A folder that cannot be made (a file is in the way): records dropped and counted, never thrown.
    dir.write("blocked", "a file where the log's folder would be");
    int64_t dropped = 0;
    {
        PredictionLog log(dir / "blocked", 1.0, 100);
        for (int i = 0; i < 5; ++i) log.append({day_one, "r", "cancer", "cancer", 1, "primary", 200, 0, features, outputs});
        for (int i = 0; i < 200 && log.dropped() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        dropped = log.dropped();
        CHECK(log.written() == 0);
    }
    CHECK(dropped == 5);
    PredictionLog never(dir / "never", 0.0, 1);
    CHECK_FALSE(never.sampled());
}

TEST_CASE("batching: cells are copied with their types and missing values", "[serve]") {
    Column from("s", ColumnType::String);
    from.append_string("a");
    from.append_null();
    Column to("s", ColumnType::String);
    append_cell(to, from, 1);
    append_cell(to, from, 0);
    REQUIRE(to.size() == 2);
    CHECK(to.is_null(0));
    CHECK(to.string_at(1) == "a");
}

TEST_CASE("JSON text: numbers round-trip, strings are escaped, what JSON lacks is null", "[serve]") {
    std::string out;
    append_json_number(out, 0.1);
    out += ' ';
    append_json_number(out, 1.0);
    out += ' ';
    append_json_number(out, 1e300);
    out += ' ';
    append_json_number(out, std::nan(""));
    out += ' ';
    append_json_number(out, int64_t(-42));
    CHECK(out == "0.1 1.0 1e+300 null -42");
    for (const double value : {0.9999999961268968, 1.0 / 3, -2.5e-310, 123456789.125}) {
        std::string text;
        append_json_number(text, value);
        CHECK(nlohmann::json::parse(text).get<double>() == value);
    }
    std::string text;
    append_json_string(text, "a\"b\\c\n\x01");
    CHECK(nlohmann::json::parse(text).get<std::string>() == "a\"b\\c\n\x01");
    text.clear();
    append_json_string(text, "bad \xff byte");
    CHECK(nlohmann::json::parse(text).get<std::string>() == "bad \xEF\xBF\xBD byte");
}
