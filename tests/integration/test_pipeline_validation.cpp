// Pipeline scripts checked by the real binary against the built-in plugins' schemas: every kind of
// validation error with the script's file:line, all of a script's errors reported together, and
// the commands that read a good script (validate, plan, plan --dot) with --set params, loops and
// helper modules.
#include "run_trellis.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

using trellis::testing::Result;
using trellis::testing::Sandbox;

namespace {

// `problems` (each "file:line: stage ...: message") as trellis prints them, with the closing line.
std::string rejection(const std::vector<std::string>& problems, const std::string& file = "p.lua") {
    std::string text;
    for (const auto& problem : problems) text += "trellis: error: " + problem + "\n";
    return text + "trellis: error: " + file + ": " + std::to_string(problems.size()) + " problem" +
           (problems.size() == 1 ? "" : "s") + " found; nothing was run\n";
}

// Checks that validate, plan and run all reject `script` with exactly `problems` (in this order),
// exit 2, print nothing on stdout, and that run ran nothing (no run folder in the store).
void check_rejected(const std::string& script, const std::vector<std::string>& problems) {
    Sandbox sandbox;
    sandbox.write("p.lua", script);
    const std::string expected = rejection(problems);
    for (const std::string command : {"validate", "plan", "plan --dot", "run"}) {
        INFO("trellis " << command << " p.lua");
        const Result result = sandbox.run(command + " p.lua");
        CHECK(result.exit_code == 2);
        CHECK(result.err == expected);
        CHECK(result.out.empty());
    }
    CHECK_FALSE(std::filesystem::exists(sandbox.dir() / ".trellis"));
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t count = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++count;
    return count;
}

// The quickstart's shape, with every built-in stage; the CSV is never read by validate and plan.
const std::string good_script = R"(pipeline { name = "demo", description = "every built-in stage" }
local P = params { seed = 42, test_fraction = 0.25, l2 = 1.0, stratify = true, target = "y" }
local data = stage "data.csv" { id = "load", path = path "data.csv" }
local split = stage "data.split" {
  table = data.table,
  test_fraction = P.test_fraction,
  seed = P.seed,
  shuffle = P.stratify,
}
local model = stage "train.linear" { id = "train", train = split.train, target = P.target, l2 = P.l2 }
local evaluation = stage "train.evaluate" { model = model.model, data = split.test, target = P.target }
local gate = stage "govern.gate" { metrics = evaluation.metrics, rules = { "roc_auc >= 0.9" } }
stage "deploy.export" { model = model.model, registry = "registry", name = "demo", after = gate }
stage "monitor.drift" { reference = split.train, current = split.test }
)";

} // namespace

// ---------------------------------------------------------------------------------------------
// One test per kind of validation error.

TEST_CASE("pipeline validation: an unknown stage is reported at its line with a did-you-mean suggestion") {
    check_rejected("local data = stage \"data.csv\" { path = \"x.csv\" }\n"
                   "stage \"data.splt\" { table = data.table }\n",
                   {"p.lua:2: stage 'splt' (data.splt): unknown stage 'data.splt' (did you mean data.split?); "
                    "'trellis plugins list' shows the installed stages"});
}

TEST_CASE("pipeline validation: an unknown config key is reported with a suggestion and the keys the stage takes") {
    check_rejected("local data = stage \"data.csv\" { path = \"x.csv\" }\n"
                   "\n"
                   "stage \"data.split\" { table = data.table, test_fracton = 0.3 }\n",
                   {"p.lua:3: stage 'split' (data.split): unknown key 'test_fracton' (did you mean test_fraction?); "
                    "it takes: test_fraction, seed, stratify, shuffle, table"});
}

TEST_CASE("pipeline validation: a value of the wrong type names the key, the wanted type and the value") {
    check_rejected(R"(local data = stage "data.csv" { path = "x.csv" }
stage "data.split" { table = data.table, seed = 1.5, shuffle = 1, test_fraction = true, stratify = { "a" } }
stage "govern.gate" {
  metrics = "nowhere.metrics",
  rules = "auc > 0.9",
}
local split = stage "data.split" { id = "split", table = data.table, seed = "seven" }
stage "train.linear" { train = split.train, target = split.test }
)",
                   {
                       "p.lua:2: stage 'split_2' (data.split): config key 'seed' must be an int, not a float (1.5)",
                       "p.lua:2: stage 'split_2' (data.split): config key 'shuffle' must be a bool, not an int (1)",
                       "p.lua:2: stage 'split_2' (data.split): config key 'stratify' must be a string, not a list ([\"a\"])",
                       "p.lua:2: stage 'split_2' (data.split): config key 'test_fraction' must be a float, not a bool (true)",
                       "p.lua:3: stage 'gate' (govern.gate): input 'metrics' names stage 'nowhere', but there is no stage "
                       "with that id",
                       "p.lua:3: stage 'gate' (govern.gate): config key 'rules' must be a string_list, not a string "
                       "(\"auc > 0.9\")",
                       "p.lua:7: stage 'split' (data.split): config key 'seed' must be an int, not a string (\"seven\")",
                       "p.lua:8: stage 'linear' (train.linear): config key 'target' takes a string, not a stage output",
                   });
}

TEST_CASE("pipeline validation: a missing required config key is reported with its type and meaning") {
    check_rejected(R"(local data = stage "data.csv" { path = "x.csv" }
local split = stage "data.split" { table = data.table }
stage "train.linear" { train = split.train }
stage "data.csv" {}
)",
                   {
                       "p.lua:3: stage 'linear' (train.linear): missing required config key 'target' (string: column to "
                       "predict)",
                       "p.lua:4: stage 'csv_2' (data.csv): missing required config key 'path' (string: CSV file to read)",
                   });
}

TEST_CASE("pipeline validation: an input wired to an output of another artifact type is refused") {
    check_rejected(R"(local data = stage "data.csv" { path = "x.csv" }
local split = stage "data.split" { table = data.table }
local model = stage "train.linear" { train = split.train, target = "y" }
stage "train.evaluate" { model = split.train, data = model.model, target = "y" }
stage "govern.gate" { metrics = "split.test", rules = { "auc > 0.5" } }
)",
                   {
                       "p.lua:4: stage 'evaluate' (train.evaluate): input 'data' takes a table, but linear.model is a model",
                       "p.lua:4: stage 'evaluate' (train.evaluate): input 'model' takes a model, but split.train is a table",
                       "p.lua:5: stage 'gate' (govern.gate): input 'metrics' takes a metrics, but split.test is a table",
                   });
}

TEST_CASE("pipeline validation: an unconnected required input, or one set to a plain value, is reported") {
    check_rejected(R"(local data = stage "data.csv" { path = "x.csv" }
stage "data.split" {}
stage "monitor.drift" { reference = data.table }
stage "data.split" { table = 3 }
stage "deploy.export" { registry = "r", name = "m", model = "trainer" }
)",
                   {
                       "p.lua:2: stage 'split' (data.split): required input 'table' (table) is not connected",
                       "p.lua:3: stage 'drift' (monitor.drift): required input 'current' (table) is not connected",
                       "p.lua:4: stage 'split_2' (data.split): input 'table' must be wired to a stage output (as "
                       "split.train or \"split.train\"), not an int (3)",
                       "p.lua:5: stage 'export' (deploy.export): input 'model' must be wired to a stage output (as "
                       "split.train or \"split.train\"), not a string (\"trainer\")",
                   });
}

TEST_CASE("pipeline validation: an optional input may stay unconnected") {
    Sandbox sandbox;
    // deploy.export's metrics input is optional; its model input is not.
    sandbox.write("p.lua", R"(local data = stage "data.csv" { path = "x.csv" }
local split = stage "data.split" { table = data.table }
local model = stage "train.linear" { train = split.train, target = "y" }
stage "deploy.export" { model = model.model, registry = "r", name = "m" }
)");
    const Result result = sandbox.run("validate p.lua");
    CHECK(result.err.empty());
    CHECK(result.out == "p.lua: ok, pipeline 'p' with 4 stages\n");
    CHECK(result.exit_code == 0);
}

TEST_CASE("pipeline validation: a cycle through \"id.port\" strings names every stage on it") {
    check_rejected(R"(stage "data.split" { id = "a", table = "c.train" }
stage "data.split" { id = "b", table = "a.train" }
stage "data.split" { id = "c", table = "b.test" }
stage "data.split" { id = "after_cycle", table = "c.train" }
)",
                   {"p.lua:1: stage 'a' (data.split): cycle: a -> b -> c -> a"});
}

TEST_CASE("pipeline validation: a cycle through after = \"id\" is reported, and a stage after itself too") {
    check_rejected(R"(local data = stage "data.csv" { id = "load", path = "x.csv", after = "split" }
local split = stage "data.split" { id = "split", table = data.table }
stage "data.csv" { id = "self", path = "x.csv", after = "self" }
stage "data.split" { id = "own", table = "own.train" }
)",
                   {
                       "p.lua:1: stage 'load' (data.csv): cycle: load -> split -> load",
                       "p.lua:3: stage 'self' (data.csv): cycle: the stage is listed in its own 'after'",
                       "p.lua:4: stage 'own' (data.split): cycle: input 'table' is wired to the stage's own output 'train'",
                   });
}

TEST_CASE("pipeline validation: two separate cycles in one script are both reported") {
    check_rejected(R"(stage "data.split" { id = "a", table = "b.train" }
stage "data.split" { id = "b", table = "a.train" }
stage "data.csv" { id = "c", path = "x.csv", after = { "d" } }
stage "data.csv" { id = "d", path = "x.csv", after = "c" }
stage "data.split" { id = "e", table = "d.table" }
)",
                   {
                       "p.lua:1: stage 'a' (data.split): cycle: a -> b -> a",
                       "p.lua:3: stage 'c' (data.csv): cycle: c -> d -> c",
                   });
}

TEST_CASE("pipeline validation: a duplicate stage id names where it was first used") {
    check_rejected(R"(stage "data.csv" { id = "load", path = "a.csv" }

stage "data.csv" { id = "load", path = "b.csv" }
)",
                   {"p.lua:3: stage 'load' (data.csv): duplicate stage id 'load' (first used at p.lua:1)"});
}

TEST_CASE("pipeline validation: a reference to a stage id that does not exist is reported with a suggestion") {
    check_rejected(R"(stage "data.csv" { id = "load", path = "a.csv" }
stage "data.split" { table = "lod.table" }
stage "data.csv" { id = "second", path = "b.csv", after = "laod" }
stage "data.csv" { id = "third", path = "b.csv", after = { "load", "qqqqqq" } }
)",
                   {
                       "p.lua:2: stage 'split' (data.split): input 'table' names stage 'lod', but there is no stage with "
                       "that id (did you mean load?)",
                       "p.lua:3: stage 'second' (data.csv): after names stage 'laod', but there is no stage with that id "
                       "(did you mean load?)",
                       "p.lua:4: stage 'third' (data.csv): after names stage 'qqqqqq', but there is no stage with that id",
                   });
}

TEST_CASE("pipeline validation: a missing stage id is never answered with the stage's own id") {
    // 'splat' is one letter from the stage's own id 'split': suggesting it would make a cycle.
    check_rejected("stage \"data.split\" { id = \"split\", table = \"splat.train\" }\n",
                   {"p.lua:1: stage 'split' (data.split): input 'table' names stage 'splat', but there is no stage with "
                    "that id"});
}

TEST_CASE("pipeline validation: wiring an output port the stage does not have lists its outputs") {
    check_rejected(R"(local data = stage "data.csv" { id = "load", path = "a.csv" }
local split = stage "data.split" { table = data.tabel }
stage "monitor.drift" { reference = split.train, current = "split.tset" }
)",
                   {
                       "p.lua:2: stage 'split' (data.split): input 'table' is wired to load.tabel, but stage 'load' "
                       "(data.csv) has no output 'tabel' (did you mean table?); its outputs: table",
                       "p.lua:3: stage 'drift' (monitor.drift): input 'current' is wired to split.tset, but stage 'split' "
                       "(data.split) has no output 'tset' (did you mean test?); its outputs: train, test",
                   });
}

TEST_CASE("pipeline validation: several errors in one script are all reported, one a line, in script order") {
    // Stages in script order; the validator finds these problems in different passes.
    check_rejected(R"(local data = stage "data.csv" { id = "load", path = "x.csv" }
stage "data.csv" { id = "late", path = "y.csv", after = "nosuch" }
local split = stage "data.split" {
  table = data.table,
  seed = "seven",
}
stage "train.lineer" { train = split.train, target = "y" }
stage "data.csv" { id = "load", path = "z.csv" }
stage "train.linear" { train = split.train, target = "y", l3 = 1 }
stage "govern.gate" { rules = { "x > 1" } }
)",
                   {
                       "p.lua:2: stage 'late' (data.csv): after names stage 'nosuch', but there is no stage with that id",
                       "p.lua:3: stage 'split' (data.split): config key 'seed' must be an int, not a string (\"seven\")",
                       "p.lua:7: stage 'lineer' (train.lineer): unknown stage 'train.lineer' (did you mean "
                       "train.linear?); 'trellis plugins list' shows the installed stages",
                       "p.lua:8: stage 'load' (data.csv): duplicate stage id 'load' (first used at p.lua:1)",
                       "p.lua:9: stage 'linear' (train.linear): unknown key 'l3' (did you mean l2?); it takes: target, "
                       "features, objective, l2, standardize, max_iterations, tolerance, drop_missing, train",
                       "p.lua:10: stage 'gate' (govern.gate): required input 'metrics' (metrics) is not connected",
                   });
}

TEST_CASE("pipeline validation: a stage declared inside a loop reports the loop's line for each copy") {
    check_rejected(R"(local data = stage "data.csv" { path = "x.csv" }
for _, seed in ipairs { 1, 2 } do
  stage "data.split" { id = "split_" .. seed, table = data.table, sed = seed }
end
)",
                   {
                       "p.lua:3: stage 'split_1' (data.split): unknown key 'sed' (did you mean seed?); it takes: "
                       "test_fraction, seed, stratify, shuffle, table",
                       "p.lua:3: stage 'split_2' (data.split): unknown key 'sed' (did you mean seed?); it takes: "
                       "test_fraction, seed, stratify, shuffle, table",
                   });
}

TEST_CASE("pipeline validation: a script without stages is refused") {
    Sandbox sandbox;
    sandbox.write("p.lua", "pipeline \"empty\"\nlocal P = params { n = 1 }\n");
    const Result result = sandbox.run("validate p.lua");
    CHECK(result.exit_code == 2);
    CHECK(result.err == "trellis: error: p.lua: the script declares no stages\n");
    CHECK(result.out.empty());
}

TEST_CASE("pipeline validation: a script file that does not exist is a clear error") {
    Sandbox sandbox;
    const Result result = sandbox.run("validate missing.lua");
    CHECK(result.exit_code == 2);
    CHECK(result.err == "trellis: error: missing.lua: no such pipeline script\n");
}

// ---------------------------------------------------------------------------------------------
// Good scripts: validate, plan, plan --dot.

TEST_CASE("pipeline validation: validate of a good script prints ok with the stage count") {
    Sandbox sandbox;
    sandbox.write("p.lua", good_script);
    const Result result = sandbox.run("validate p.lua");
    CHECK(result.err.empty());
    CHECK(result.out == "p.lua: ok, pipeline 'demo' with 7 stages\n");
    CHECK(result.exit_code == 0);
    CHECK_FALSE(std::filesystem::exists(sandbox.dir() / ".trellis")); // validate runs nothing

    sandbox.write("one.lua", "stage \"data.csv\" { path = \"x.csv\" }\n");
    const Result one = sandbox.run("validate one.lua");
    CHECK(one.out == "one.lua: ok, pipeline 'one' with 1 stage\n");
    CHECK(one.exit_code == 0);
}

TEST_CASE("pipeline validation: plan prints the params and the stages in execution order with their wiring") {
    Sandbox sandbox;
    sandbox.write("p.lua", good_script);
    const Result result = sandbox.run("plan p.lua");
    CHECK(result.err.empty());
    CHECK(result.exit_code == 0);
    CHECK(result.out == "pipeline demo (p.lua): 7 stages in execution order\n"
                        "every built-in stage\n"
                        "params: l2=1.0 seed=42 stratify=true target=\"y\" test_fraction=0.25\n"
                        "  1. load  (data.csv)\n"
                        "  2. split  (data.split)  table <- load.table\n"
                        "  3. train  (train.linear)  train <- split.train\n"
                        "  4. evaluate  (train.evaluate)  data <- split.test, model <- train.model\n"
                        "  5. gate  (govern.gate)  metrics <- evaluate.metrics\n"
                        "  6. export  (deploy.export)  model <- train.model, after gate\n"
                        "  7. drift  (monitor.drift)  current <- split.test, reference <- split.train\n");
}

TEST_CASE("pipeline validation: plan orders by dependencies, not by declaration, with string references") {
    Sandbox sandbox;
    sandbox.write("p.lua", R"(stage "data.split" { id = "split", table = "load.table" }
stage "data.csv" { id = "other", path = "o.csv", after = "split" }
stage "data.csv" { id = "load", path = "x.csv" }
)");
    const Result result = sandbox.run("plan p.lua");
    CHECK(result.err.empty());
    CHECK(result.exit_code == 0);
    CHECK(result.out == "pipeline p (p.lua): 3 stages in execution order\n"
                        "  1. load  (data.csv)\n"
                        "  2. split  (data.split)  table <- load.table\n"
                        "  3. other  (data.csv)  after split\n");
}

TEST_CASE("pipeline validation: plan --dot prints the graph as a Graphviz digraph") {
    Sandbox sandbox;
    sandbox.write("p.lua", R"(pipeline "small"
local data = stage "data.csv" { id = "load", path = "x.csv" }
local split = stage "data.split" { table = data.table }
stage "monitor.drift" { reference = split.train, current = split.test, after = data }
)");
    const Result result = sandbox.run("plan p.lua --dot");
    CHECK(result.err.empty());
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::StartsWith("digraph \"small\" {\n  rankdir=LR;\n  node [shape=box];\n"));
    CHECK_THAT(result.out, Catch::EndsWith("}\n"));
    CHECK_THAT(result.out, Catch::Contains("  \"load\" -> \"split\" [label=\"table -> table\"];\n"));
    CHECK_THAT(result.out, Catch::Contains("  \"split\" -> \"drift\" [label=\"test -> current\"];\n"));
    CHECK_THAT(result.out, Catch::Contains("  \"split\" -> \"drift\" [label=\"train -> reference\"];\n"));
    CHECK_THAT(result.out, Catch::Contains("  \"load\" -> \"drift\" [style=dashed];\n"));
    for (const std::string id : {"load", "split", "drift"}) CHECK(count_of(result.out, "  \"" + id + "\" [label=") == 1);
    CHECK(count_of(result.out, " -> ") == 4 + 3); // four edges, and the three wired ones' labels
}

// ---------------------------------------------------------------------------------------------
// Params and --set.

TEST_CASE("pipeline validation: --set overrides params of every type and plan shows the new values") {
    Sandbox sandbox;
    sandbox.write("p.lua", R"(local P = params { seed = 42, fraction = 0.25, shuffle = true, target = "y", rules = { "auc > 0.5" } }
local data = stage "data.csv" { path = "x.csv" }
stage "data.split" { table = data.table, seed = P.seed, test_fraction = P.fraction, shuffle = P.shuffle }
)");
    const Result before = sandbox.run("plan p.lua");
    REQUIRE(before.exit_code == 0);
    CHECK_THAT(before.out, Catch::Contains("\nparams: fraction=0.25 rules=[\"auc > 0.5\"] seed=42 shuffle=true target=\"y\"\n"));

    const Result after = sandbox.run("plan p.lua --set seed=7 --set fraction=0.5 --set shuffle=false --set target=label "
                                     "--set 'rules=[\"auc > 0.9\", \"f1 > 0.5\"]'");
    CHECK(after.err.empty());
    CHECK(after.exit_code == 0);
    CHECK_THAT(after.out,
               Catch::Contains("\nparams: fraction=0.5 rules=[\"auc > 0.9\",\"f1 > 0.5\"] seed=7 shuffle=false target=\"label\"\n"));

    // A whole number for a float param stays a float; a string param takes any text, even empty.
    const Result converted = sandbox.run("plan p.lua --set fraction=1 --set target=");
    CHECK(converted.exit_code == 0);
    CHECK_THAT(converted.out, Catch::Contains("params: fraction=1.0 rules=[\"auc > 0.5\"] seed=42 shuffle=true target=\"\"\n"));

    // The overridden values still validate against the stage's schema.
    const Result validated = sandbox.run("validate p.lua --set seed=0");
    CHECK(validated.out == "p.lua: ok, pipeline 'p' with 2 stages\n");
}

TEST_CASE("pipeline validation: --set of an unknown param names the params the script declares") {
    Sandbox sandbox;
    sandbox.write("p.lua", "local P = params { seed = 42, l2 = 1.0 }\nstage \"data.csv\" { path = \"x.csv\" }\n");
    const Result unknown = sandbox.run("validate p.lua --set sede=7");
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err == "trellis: error: --set sede=7: p.lua declares no param 'sede' (params: l2, seed)\n");
    CHECK(unknown.out.empty());

    sandbox.write("none.lua", "stage \"data.csv\" { path = \"x.csv\" }\n");
    const Result none = sandbox.run("plan none.lua --set seed=7");
    CHECK(none.exit_code == 2);
    CHECK(none.err == "trellis: error: --set seed=7: none.lua declares no param 'seed' (it declares no params)\n");

    const Result malformed = sandbox.run("validate p.lua --set seed");
    CHECK(malformed.exit_code == 2);
    CHECK(malformed.err == "trellis: error: --set seed: expected KEY=VALUE, e.g. --set seed=7\n");
}

TEST_CASE("pipeline validation: --set of a badly typed value names the param, the value and the line of params") {
    Sandbox sandbox;
    sandbox.write("p.lua", R"(pipeline "typed"

local P = params { seed = 42, l2 = 1.0, shuffle = true, rules = { "a > 1" } }
stage "data.csv" { path = "x.csv" }
)");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"seed=7.5", "--set seed=7.5: param 'seed' takes a whole number"},
        {"seed=seven", "--set seed=seven: param 'seed' takes a whole number"},
        {"seed=", "--set seed=: param 'seed' takes a whole number"},
        {"l2=abc", "--set l2=abc: param 'l2' takes a number"},
        {"l2=inf", "--set l2=inf: param 'l2' takes a number"},
        {"shuffle=yes", "--set shuffle=yes: param 'shuffle' takes true or false"},
        {"shuffle=1", "--set shuffle=1: param 'shuffle' takes true or false"},
        {"rules=[oops", "--set rules=[oops: param 'rules' takes a JSON list, e.g. --set 'rules=[\"a\", \"b\"]'"},
    };
    for (const auto& [set, message] : cases) {
        INFO("--set " << set);
        const Result result = sandbox.run("plan p.lua --set '" + set + "'");
        CHECK(result.exit_code == 2);
        CHECK(result.err == "trellis: error: p.lua:3: " + message + "\n");
        CHECK(result.out.empty());
    }
}

TEST_CASE("pipeline validation: reading a param the script did not declare names it") {
    Sandbox sandbox;
    sandbox.write("p.lua", "local P = params { seed = 42 }\nstage \"data.split\" { table = \"x.table\", seed = P.sed }\n");
    const Result result = sandbox.run("validate p.lua");
    CHECK(result.exit_code == 2);
    CHECK(result.err == "trellis: error: p.lua:2: unknown param 'sed'\n");
}

// ---------------------------------------------------------------------------------------------
// Scripts as programs: loops and modules.

TEST_CASE("pipeline validation: a 3x3 hyperparameter sweep from a nested loop validates with 9 train stages") {
    Sandbox sandbox;
    sandbox.write("p.lua", R"(pipeline "sweep"
local data = stage "data.csv" { id = "load", path = path "data.csv" }
local split = stage "data.split" { table = data.table }
for i, l2 in ipairs { 0.01, 0.1, 1.0 } do
  for j, iterations in ipairs { 10, 50, 100 } do
    local model = stage "train.linear" {
      id = string.format("train_%d_%d", i, j),
      train = split.train,
      target = "y",
      l2 = l2,
      max_iterations = iterations,
    }
    stage "train.evaluate" { id = "eval_" .. i .. "_" .. j, model = model.model, data = split.test, target = "y" }
  end
end
)");
    const Result validated = sandbox.run("validate p.lua");
    CHECK(validated.err.empty());
    CHECK(validated.out == "p.lua: ok, pipeline 'sweep' with 20 stages\n");
    CHECK(validated.exit_code == 0);

    const Result plan = sandbox.run("plan p.lua");
    REQUIRE(plan.exit_code == 0);
    CHECK(count_of(plan.out, "(train.linear)  train <- split.train\n") == 9);
    CHECK(count_of(plan.out, "(train.evaluate)") == 9);
    for (int i = 1; i <= 3; ++i)
        for (int j = 1; j <= 3; ++j) {
            const std::string suffix = std::to_string(i) + "_" + std::to_string(j);
            INFO(suffix);
            CHECK_THAT(plan.out, Catch::Contains(". train_" + suffix + "  (train.linear)  train <- split.train\n"));
            CHECK_THAT(plan.out, Catch::Contains(". eval_" + suffix + "  (train.evaluate)  data <- split.test, model <- train_" +
                                                 suffix + ".model\n"));
        }
    CHECK_THAT(plan.out, Catch::StartsWith("pipeline sweep (p.lua): 20 stages in execution order\n"
                                           "  1. load  (data.csv)\n"
                                           "  2. split  (data.split)  table <- load.table\n"
                                           "  3. train_1_1  (train.linear)  train <- split.train\n"));
}

TEST_CASE("pipeline validation: require loads a helper module from the script's own folder, once") {
    Sandbox sandbox;
    std::filesystem::create_directories(sandbox.dir() / "lib");
    sandbox.write("lib/stages.lua", R"(local M = {}
function M.split(data, seed)
  return stage "data.split" { id = "split_" .. seed, table = data.table, seed = seed }
end
return M
)");
    sandbox.write("helpers.lua", "return { path = \"x.csv\" }\n");
    sandbox.write("p.lua", R"(local helpers = require "helpers"
local stages = require "lib.stages"
local again = require "lib.stages"
assert(stages == again, "require must return the same module")
local data = stage "data.csv" { id = "load", path = helpers.path }
stages.split(data, 1)
stages.split(data, 2)
)");
    const Result result = sandbox.run("plan p.lua");
    CHECK(result.err.empty());
    CHECK(result.exit_code == 0);
    CHECK(result.out == "pipeline p (p.lua): 3 stages in execution order\n"
                        "  1. load  (data.csv)\n"
                        "  2. split_1  (data.split)  table <- load.table\n"
                        "  3. split_2  (data.split)  table <- load.table\n");
}

TEST_CASE("pipeline validation: a stage declared in a helper module is reported at the module's file:line") {
    Sandbox sandbox;
    sandbox.write("helpers.lua", "return function()\n  return stage \"data.splitt\" {}\nend\n");
    sandbox.write("p.lua", "local make = require \"helpers\"\nmake()\n");
    const Result result = sandbox.run("validate p.lua");
    const std::string module = (std::filesystem::canonical(sandbox.dir()) / "helpers.lua").string();
    CHECK(result.exit_code == 2);
    CHECK(result.err == rejection({module + ":2: stage 'splitt' (data.splitt): unknown stage 'data.splitt' (did you mean "
                                             "data.split?); 'trellis plugins list' shows the installed stages"}));
}

TEST_CASE("pipeline validation: require of a path outside the folder or of a missing module fails clearly") {
    Sandbox sandbox;
    const std::string dir = std::filesystem::canonical(sandbox.dir()).string();
    std::filesystem::create_directories(sandbox.dir() / "pipe");
    sandbox.write("secret.lua", "return 1\n");
    std::filesystem::create_symlink("../secret.lua", sandbox.dir() / "pipe" / "linked.lua");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"require \"../secret\"", "pipe/p.lua:2: require: '../secret' is not a module name (letters, digits, _ and dots)"},
        {"require \"/etc/passwd\"", "pipe/p.lua:2: require: '/etc/passwd' is not a module name (letters, digits, _ and dots)"},
        {"require \"..secret\"", "pipe/p.lua:2: require: '..secret' is not a module name (letters, digits, _ and dots)"},
        {"require \"nope\"", "pipe/p.lua:2: require: module 'nope' not found (no file " + dir + "/pipe/nope.lua)"},
        {"require \"lib.nope\"", "pipe/p.lua:2: require: module 'lib.nope' not found (no file " + dir + "/pipe/lib/nope.lua)"},
        {"require \"linked\"", "pipe/p.lua:2: require: module 'linked' resolves outside the pipeline's folder"},
    };
    for (const auto& [line, message] : cases) {
        INFO(line);
        sandbox.write("pipe/p.lua", "stage \"data.csv\" { path = \"x.csv\" }\n" + line + "\n");
        const Result result = sandbox.run("validate pipe/p.lua");
        CHECK(result.exit_code == 2);
        CHECK(result.err == "trellis: error: " + message + "\n");
        CHECK(result.out.empty());
    }
}

TEST_CASE("pipeline validation: a syntax error names the file and line, in the script or in a module") {
    Sandbox sandbox;
    sandbox.write("p.lua", "stage \"data.csv\" {\n  path = \"x.csv\"\n  id = \"load\"\n}\n");
    const Result result = sandbox.run("validate p.lua");
    CHECK(result.exit_code == 2);
    CHECK(result.err == "trellis: error: p.lua:3: '}' expected (to close '{' at line 1) near 'id'\n");
    CHECK(result.out.empty());

    sandbox.write("q.lua", "local x = = 1\n");
    CHECK(sandbox.run("plan q.lua").err == "trellis: error: q.lua:1: unexpected symbol near '='\n");

    sandbox.write("broken.lua", "return {\n  a = 1,\n  b = = 2,\n}\n");
    sandbox.write("r.lua", "local b = require \"broken\"\n");
    const Result in_module = sandbox.run("validate r.lua");
    CHECK(in_module.exit_code == 2);
    CHECK(in_module.err == "trellis: error: " + (std::filesystem::canonical(sandbox.dir()) / "broken.lua").string() +
                               ":3: unexpected symbol near '='\n");
}

TEST_CASE("pipeline validation: a runtime error in the script names its file:line") {
    Sandbox sandbox;
    sandbox.write("p.lua", "local data = stage \"data.csv\" { path = \"x.csv\" }\n\nlocal n = nil + 1\n");
    const Result result = sandbox.run("validate p.lua");
    CHECK(result.exit_code == 2);
    CHECK(result.err == "trellis: error: p.lua:3: attempt to perform arithmetic on a nil value\n");

    sandbox.write("q.lua", "stage \"data.csv\" { path = \"x.csv\", [1] = \"oops\" }\n");
    const Result keys = sandbox.run("validate q.lua");
    CHECK(keys.exit_code == 2);
    CHECK(keys.err == "trellis: error: q.lua:1: stage 'data.csv': keys must be names, not a number (did you mean to put "
                      "the list in a key?)\n");

    sandbox.write("r.lua", "local data = stage \"data.csv\" { path = \"x.csv\" }\nstage \"data.split\" { table = data }\n");
    const Result whole = sandbox.run("validate r.lua");
    CHECK(whole.exit_code == 2);
    CHECK(whole.err == "trellis: error: r.lua:2: 'table' is set to a whole stage; wire one of its outputs, as in "
                       "stage.output\n");
}
