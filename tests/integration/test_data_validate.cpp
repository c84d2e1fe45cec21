// data.validate through the real binary: data.csv -> data.validate -> train.linear. Good data runs
// through and `trellis runs show` prints its statistics; bad data (a value out of range, a missing
// column, a broken schema file) stops the pipeline before training with a one-line error naming
// the stage, column and rule, and `trellis runs show` still prints the anomalies.
#include "store_helpers.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

using namespace trellis::testing;

namespace {

const std::string breast_cancer = std::string(EXAMPLES_DIR) + "/data/breast_cancer.csv";

const std::string pipeline_text = R"(
pipeline { name = "validated" }
local P = params { batch = "good.csv", schema = "" }
local reference = stage "data.csv" { id = "reference", path = "reference.csv" }
local batch = stage "data.csv" { id = "batch", path = P.batch }
local checked
if P.schema == "" then
  checked = stage "data.validate" { id = "validate", table = batch.table, reference = reference.table }
else
  checked = stage "data.validate" { id = "validate", table = batch.table, schema_file = P.schema }
end
stage "train.linear" { id = "train", train = checked.table, target = "malignant" }
)";

std::vector<std::string> csv_lines() {
    std::istringstream in(read_file(breast_cancer));
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) lines.push_back(line);
    return lines;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
}

// The CSV with the first field of data row `row` (0-based) replaced by `value`.
std::string with_first_value(size_t row, const std::string& value) {
    auto lines = csv_lines();
    auto& line = lines.at(row + 1);
    line = value + line.substr(line.find(','));
    return joined(lines);
}

// The CSV without its second column.
std::string without_second_column() {
    auto lines = csv_lines();
    for (auto& line : lines) {
        const auto first = line.find(',');
        const auto second = line.find(',', first + 1);
        line.erase(first, second - first);
    }
    return joined(lines);
}

Sandbox prepared() {
    Sandbox sandbox;
    const std::string data = read_file(breast_cancer);
    sandbox.write("reference.csv", data);
    sandbox.write("good.csv", data);
    sandbox.write("pipeline.lua", pipeline_text);
    return sandbox;
}

} // namespace

TEST_CASE("data.validate: good data runs through to training and runs show prints its statistics") {
    Sandbox sandbox = prepared();
    const auto result = sandbox.run("-q run pipeline.lua");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(stage_line(result, "validate"), Catch::Contains("succeeded"));
    CHECK_THAT(stage_line(result, "train"), Catch::Contains("succeeded"));

    const auto shown = sandbox.run("runs show latest");
    INFO(shown.out << shown.err);
    REQUIRE(shown.exit_code == 0);
    CHECK_THAT(shown.out, Catch::Contains("data statistics (validate.statistics, 569 rows, 31 columns):"));
    CHECK_THAT(shown.out, Catch::Contains("COLUMN") && Catch::Contains("MISSING") && Catch::Contains("DISTINCT"));
    CHECK_THAT(shown.out, Catch::Contains("  mean_radius  ") && Catch::Contains("float"));
    CHECK_THAT(shown.out, Catch::Contains("anomalies (validate.anomalies): passed, 0 fail, 0 warn; schema from input 'reference'"));
    CHECK_THAT(shown.out, Catch::Contains("anomalies_failing"));  // the metric, for runs compare

    const auto as_json = sandbox.run("runs show latest --json");
    REQUIRE(as_json.exit_code == 0);
    const auto reports = as_json.json().at("data_reports");
    REQUIRE(reports.size() == 2);
    CHECK(reports[0].at("stage_id") == "validate");
    CHECK(reports[0].at("kind") == "trellis.anomalies"); // ports in name order: anomalies, statistics
    CHECK(reports[1].at("kind") == "trellis.data_statistics");
    CHECK(reports[1].at("report").at("rows") == 569);
    // numpy: breast_cancer.csv mean_radius has mean 14.127291739894552, population std 3.520950760711...
    const auto& radius = reports[1].at("report").at("columns")[0];
    CHECK(radius.at("name") == "mean_radius");
    CHECK(radius.at("mean").get<double>() == Approx(14.127291739894552).epsilon(1e-12));
    CHECK(radius.at("min") == 6.981);
    CHECK(radius.at("max") == 28.11);
}

TEST_CASE("data.validate: a value out of range stops the pipeline before training, and runs show has the anomalies") {
    Sandbox sandbox = prepared();
    sandbox.write("bad.csv", with_first_value(0, "9999"));
    const auto result = sandbox.run("-q run pipeline.lua --set batch=bad.csv");
    INFO(result.out << result.err);
    CHECK(result.exit_code == 1);
    // One line naming the stage, the column and the rule.
    CHECK_THAT(result.err, Catch::Contains("stage 'validate' (data.validate) failed") &&
                               Catch::Contains("1 failing anomaly: column 'mean_radius' out_of_range: 1 of 569 values "
                                               "above max ") &&
                               Catch::Contains("(highest 9999, first at row 0)"));
    CHECK_THAT(stage_line(result, "validate"), Catch::Contains("failed") && Catch::Contains("out_of_range"));
    CHECK_THAT(stage_line(result, "train"), Catch::Contains("skipped"));

    const auto shown = sandbox.run("runs show latest");
    INFO(shown.out << shown.err);
    REQUIRE(shown.exit_code == 0);
    CHECK_THAT(shown.out, Catch::Contains("anomalies (validate.anomalies): failed, 1 fail, 0 warn"));
    CHECK_THAT(shown.out, Catch::Contains("SEVERITY  COLUMN       RULE          DETAIL"));
    CHECK_THAT(shown.out, Catch::Contains("fail      mean_radius  out_of_range  1 of 569 values above max"));
    CHECK_THAT(shown.out, Catch::Contains("data statistics (validate.statistics, 569 rows, 31 columns):"));
    const auto as_json = sandbox.run("runs show latest --json").json();
    bool found = false;
    for (const auto& report : as_json.at("data_reports"))
        if (report.at("kind") == "trellis.anomalies") {
            found = true;
            CHECK(report.at("report").at("status") == "failed");
            CHECK(report.at("report").at("anomalies")[0].at("rule") == "out_of_range");
        }
    CHECK(found);
    // The failed execution keeps its reports (and only those: the table was never set).
    for (const auto& stage : as_json.at("stages"))
        if (stage.at("stage_id") == "validate") {
            CHECK(stage.at("status") == "failed");
            CHECK(stage.at("outputs").contains("anomalies"));
            CHECK_FALSE(stage.at("outputs").contains("table"));
        }
    // ... and the run folder has them as files.
    const auto run_dir = std::filesystem::directory_iterator(sandbox.dir() / ".trellis" / "runs")->path();
    CHECK(nlohmann::json::parse(read_file(run_dir / "validate" / "anomalies.json")).at("status") == "failed");
}

TEST_CASE("data.validate: a missing column stops the pipeline, and a broken schema file is one line with its position") {
    Sandbox sandbox = prepared();
    sandbox.write("narrow.csv", without_second_column());
    const auto missing = sandbox.run("-q run pipeline.lua --set batch=narrow.csv");
    INFO(missing.out << missing.err);
    CHECK(missing.exit_code == 1);
    CHECK_THAT(missing.err, Catch::Contains("stage 'validate' (data.validate) failed") &&
                                Catch::Contains("column 'mean_texture' missing_column: required by the schema (float) but "
                                                "not in the table"));
    CHECK_THAT(stage_line(missing, "train"), Catch::Contains("skipped"));
    const auto shown = sandbox.run("runs show latest");
    CHECK_THAT(shown.out, Catch::Contains("fail      mean_texture  missing_column"));

    // A hand-written schema file with a syntax error.
    sandbox.write("bad.schema.json", "{\n  \"columns\": [\n    {\"name\": \"mean_radius\" \"type\": \"float\"}\n  ]\n}\n");
    const auto broken = sandbox.run("-q run pipeline.lua --set schema=bad.schema.json");
    CHECK(broken.exit_code == 1);
    CHECK_THAT(broken.err, Catch::Contains("stage 'validate' (data.validate) failed") &&
                               Catch::Contains("schema_file 'bad.schema.json': not valid JSON: line 3, column 28: expected "
                                               "',' or '}' after an object member"));
    // Of the wrong shape: the JSON path.
    sandbox.write("shape.schema.json", R"({"columns": [{"name": "mean_radius", "type": "double"}]})");
    const auto shape = sandbox.run("-q run pipeline.lua --set schema=shape.schema.json");
    CHECK(shape.exit_code == 1);
    CHECK_THAT(shape.err, Catch::Contains("schema_file 'shape.schema.json': $.columns[0].type: \"double\" is not a column type"));
    CHECK_THAT(stage_line(shape, "train"), Catch::Contains("skipped"));
}
