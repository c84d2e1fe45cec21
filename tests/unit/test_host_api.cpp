// The host side of trellis_host_api, exercised through fixture_data.so's real entry points:
// stage runs and their outputs, metrics and failures, the "doubler" flavor, and the host
// functions' own edge cases.
#include "log/logging.hpp"
#include "plugin/host_api.hpp"
#include "plugin/plugin_library.hpp"

#include "stage_run.hpp"
#include "temp_dir.hpp"

#include <trellis/artifacts.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>

using trellis::core::ArtifactBytes;
using trellis::core::host_api;
using trellis::core::invoke_stage;
using trellis::core::PluginLibrary;
using trellis::core::StageContext;
using trellis::core::StageOutcome;
using trellis::test::StageRun;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<PluginLibrary> data_plugin() {
    static const auto plugin = PluginLibrary::open(fs::path(FIXTURE_DIR) / "fixture_data.so");
    return plugin;
}

ArtifactBytes artifact(uint32_t type, std::vector<uint8_t> bytes) {
    return ArtifactBytes::own(type, std::move(bytes));
}

trellis::Table x_table(std::initializer_list<double> values) {
    trellis::Column x("x", trellis::ColumnType::Float64);
    for (double value : values) x.append_float(value);
    trellis::Table table;
    table.add_column(std::move(x));
    return table;
}

} // namespace

TEST_CASE("host api: the table describes this host") {
    CHECK(host_api()->struct_size == sizeof(trellis_host_api));
    CHECK(host_api()->version.major == TRELLIS_API_MAJOR);
    CHECK(host_api()->version.minor == TRELLIS_API_MINOR);
    CHECK(trellis::core::status_name(TRELLIS_ERR_NOT_FOUND) == "not found");
    CHECK(trellis::core::status_name(TRELLIS_ERR_INTERNAL) == "internal error");
    CHECK(trellis::core::status_name(42) == "status 42");
}

TEST_CASE("host api: fixture.data_echo sets both outputs from its config") {
    StageRun run(data_plugin(), "fixture.data_echo", {{"name", "ada"}, {"count", 5}, {"loud", true}, {"tags", {"x", "y", "z"}}});
    const StageOutcome outcome = run.invoke();
    INFO(outcome.message);
    REQUIRE(outcome.ok());
    CHECK(outcome.message.empty());

    REQUIRE(run.context.outputs.size() == 2);
    CHECK(run.context.outputs.at("out").type == TRELLIS_ARTIFACT_REPORT);
    CHECK(trellis::deserialize_report(run.output("out")).json == "{}");

    CHECK(run.context.outputs.at("stats").type == TRELLIS_ARTIFACT_METRICS);
    const auto stats = trellis::deserialize_metrics(run.output("stats"));
    CHECK(stats.values == std::map<std::string, double>{{"count", 5.0},
                                                        {"extra_length", 7.0}, // {"k":1}, the default
                                                        {"loud", 1.0},
                                                        {"name_set", 1.0},
                                                        {"ratio", 0.25},
                                                        {"tags", 3.0}});

    REQUIRE(run.context.metrics.size() == 2);
    CHECK(run.context.metrics[0].name == "loss");
    CHECK(run.context.metrics[0].value == 0.5);
    CHECK(run.context.metrics[0].step == 1);
    CHECK(run.context.metrics[1].name == "loss");
    CHECK(run.context.metrics[1].value == 0.25);
    CHECK(run.context.metrics[1].step == 2);
}

TEST_CASE("host api: defaults reach the stage, and a json key is read as its JSON text") {
    StageRun run(data_plugin(), "fixture.data_echo", {{"name", "bob"}, {"ratio", 2}, {"extra", {{"a", {1, 2}}}}});
    const StageOutcome outcome = run.invoke();
    INFO(outcome.message);
    REQUIRE(outcome.ok());
    const auto stats = trellis::deserialize_metrics(run.output("stats"));
    CHECK(stats.values.at("count") == 3.0);  // default
    CHECK(stats.values.at("loud") == 0.0);   // default
    CHECK(stats.values.at("tags") == 2.0);   // default ["a", "b"]
    CHECK(stats.values.at("ratio") == 2.0);  // an integer is a valid float
    CHECK(stats.values.at("extra_length") == static_cast<double>(std::string(R"({"a":[1,2]})").size()));
}

TEST_CASE("host api: an input report comes back as 'out' unchanged") {
    StageRun run(data_plugin(), "fixture.data_echo", {{"name", "ada"}});
    const auto input = trellis::serialize(trellis::Report{R"({"rows": 12, "ok": true})"});
    run.context.inputs["in"] = artifact(TRELLIS_ARTIFACT_REPORT, input);
    const StageOutcome outcome = run.invoke();
    INFO(outcome.message);
    REQUIRE(outcome.ok());
    CHECK(std::vector<uint8_t>(run.output("out").begin(), run.output("out").end()) == input);
    CHECK(trellis::deserialize_report(run.output("out")).json == R"({"rows": 12, "ok": true})");
}

TEST_CASE("host api: an input of the wrong type fails the stage with a type error") {
    StageRun run(data_plugin(), "fixture.data_echo", {{"name", "ada"}});
    run.context.inputs["in"] = artifact(TRELLIS_ARTIFACT_METRICS, trellis::serialize(trellis::Metrics{}));
    const StageOutcome outcome = run.invoke();
    CHECK(outcome.status == TRELLIS_ERR_TYPE);
    CHECK(outcome.message == "input 'in' holds a metrics, not a report");
}

TEST_CASE("host api: a stage throwing std::exception fails with its message") {
    StageRun run(data_plugin(), "fixture.throws", nlohmann::json::object());
    const StageOutcome outcome = run.invoke();
    CHECK(outcome.status == TRELLIS_ERR_FAILED);
    CHECK(outcome.message == "column 'age' has no values");
    CHECK(run.context.outputs.empty());
}

TEST_CASE("host api: a stage throwing a non-exception is an internal error") {
    StageRun run(data_plugin(), "fixture.throws_int", nlohmann::json::object());
    const StageOutcome outcome = run.invoke();
    CHECK(outcome.status == TRELLIS_ERR_INTERNAL);
    CHECK(outcome.message == "unknown exception thrown by the plugin");
}

TEST_CASE("host api: a stage that forgets its output fails naming it") {
    StageRun run(data_plugin(), "fixture.forgets_output", nlohmann::json::object());
    const StageOutcome outcome = run.invoke();
    CHECK(outcome.status == TRELLIS_ERR_FAILED);
    CHECK(outcome.message == "stage did not set its output 'out'");
}

TEST_CASE("host api: the host refuses an output of the wrong type") {
    StageRun run(data_plugin(), "fixture.wrong_output_type", nlohmann::json::object());
    const StageOutcome outcome = run.invoke();
    CHECK(outcome.status == TRELLIS_ERR_TYPE);
    CHECK(outcome.message == "output 'out' has another type");
    CHECK(run.context.outputs.empty());
}

TEST_CASE("host api: a missing required config key fails naming the key") {
    StageRun run(data_plugin(), "fixture.data_echo", nlohmann::json::object());
    REQUIRE_FALSE(run.context.config.contains("name"));
    const StageOutcome outcome = run.invoke();
    CHECK(outcome.status == TRELLIS_ERR_NOT_FOUND);
    CHECK(outcome.message == "config key 'name' does not exist or is not set");
    CHECK(run.context.outputs.empty());
}

TEST_CASE("host api: the doubler flavor loads a model and predicts") {
    const auto plugin = data_plugin();
    const auto* flavor = plugin->find_flavor("doubler");
    REQUIRE(flavor != nullptr);

    const auto model = trellis::serialize(trellis::Model{"doubler", {{"x", trellis::ColumnType::Float64}}, {1, 2, 3}});
    trellis_predictor* predictor = nullptr;
    trellis_error load_error;
    REQUIRE(flavor->load(host_api(), nullptr, model.data(), model.size(), &predictor, &load_error) == TRELLIS_OK);
    CHECK(load_error.message.empty());
    REQUIRE(predictor != nullptr);

    const auto input = trellis::serialize(x_table({1.5, -2}));
    trellis_buffer out;
    trellis_error predict_error;
    REQUIRE(flavor->predict(host_api(), nullptr, predictor, input.data(), input.size(), &out, &predict_error) == TRELLIS_OK);
    const auto result = trellis::deserialize_table(out.bytes);
    CHECK(result.column_names() == std::vector<std::string>{"prediction"});
    REQUIRE(result.num_rows() == 2);
    const auto& prediction = result.column("prediction");
    CHECK(prediction.type() == trellis::ColumnType::Float64);
    CHECK(prediction.null_count() == 0);
    CHECK(prediction.float_at(0) == 3.0);
    CHECK(prediction.float_at(1) == -4.0);

    // A table without the column the predictor reads fails the request, not the process.
    trellis::Column other("y", trellis::ColumnType::Float64);
    other.append_float(1);
    trellis::Table wrong;
    wrong.add_column(std::move(other));
    const auto wrong_bytes = trellis::serialize(wrong);
    trellis_buffer unused;
    trellis_error wrong_error;
    CHECK(flavor->predict(host_api(), nullptr, predictor, wrong_bytes.data(), wrong_bytes.size(), &unused, &wrong_error) ==
          TRELLIS_ERR_FAILED);
    CHECK(wrong_error.message == "no column 'x'");
    CHECK(unused.bytes.empty());

    flavor->destroy(predictor);
}

TEST_CASE("host api: the doubler flavor refuses a model of another flavor") {
    const auto* flavor = data_plugin()->find_flavor("doubler");
    REQUIRE(flavor != nullptr);
    const auto model = trellis::serialize(trellis::Model{"other", {}, {}});
    trellis_predictor* predictor = nullptr;
    trellis_error error;
    // The flavor throws std::invalid_argument, which the SDK reports as bad input.
    CHECK(flavor->load(host_api(), nullptr, model.data(), model.size(), &predictor, &error) == TRELLIS_ERR_INVALID);
    CHECK(error.code == TRELLIS_ERR_INVALID);
    CHECK(error.message == "not a doubler model: other");
    CHECK(predictor == nullptr);

    const auto report = trellis::serialize(trellis::Report{"{}"});
    trellis_error format_error;
    CHECK(flavor->load(host_api(), nullptr, report.data(), report.size(), &predictor, &format_error) == TRELLIS_ERR_FAILED);
    // The exact wording belongs to artifacts.hpp; here it only has to say what is wrong.
    CHECK_THAT(format_error.message, Catch::Contains("malformed") && Catch::Contains("model"));
    CHECK(predictor == nullptr);
}

TEST_CASE("host api: config getters check types and keys") {
    StageRun run(data_plugin(), "fixture.data_echo", {{"name", "ada"}, {"count", 5}, {"ratio", 0.75}, {"tags", {"p", "q"}}});
    run.context.config["loud"] = nullptr; // a null value counts as unset
    const trellis_host_api& host = *host_api();
    trellis_context* ctx = &run.context;

    int32_t flag = -1;
    int64_t integer = -1;
    double number = -1;
    const char* text = nullptr;
    size_t size = 99;

    SECTION("right types") {
        CHECK(host.config_get_int(ctx, "count", &integer) == TRELLIS_OK);
        CHECK(integer == 5);
        CHECK(host.config_get_float(ctx, "ratio", &number) == TRELLIS_OK);
        CHECK(number == 0.75);
        CHECK(host.config_get_float(ctx, "count", &number) == TRELLIS_OK); // an int reads as a float
        CHECK(number == 5.0);
        CHECK(host.config_get_string(ctx, "name", &text) == TRELLIS_OK);
        CHECK(std::string(text) == "ada");
        CHECK(host.config_get_string(ctx, "extra", &text) == TRELLIS_OK); // json: its text
        CHECK(std::string(text) == R"({"k":1})");
        CHECK(host.config_get_list_size(ctx, "tags", &size) == TRELLIS_OK);
        CHECK(size == 2);
        CHECK(host.config_get_list_item(ctx, "tags", 1, &text) == TRELLIS_OK);
        CHECK(std::string(text) == "q");
    }
    SECTION("wrong types") {
        CHECK(host.config_get_bool(ctx, "count", &flag) == TRELLIS_ERR_TYPE);
        CHECK(flag == -1);
        CHECK(host.config_get_int(ctx, "ratio", &integer) == TRELLIS_ERR_TYPE);
        CHECK(host.config_get_int(ctx, "name", &integer) == TRELLIS_ERR_TYPE);
        CHECK(integer == -1);
        CHECK(host.config_get_float(ctx, "name", &number) == TRELLIS_ERR_TYPE);
        CHECK(host.config_get_string(ctx, "count", &text) == TRELLIS_ERR_TYPE);
        CHECK(host.config_get_string(ctx, "tags", &text) == TRELLIS_ERR_TYPE);
        CHECK(text == nullptr);
        CHECK(host.config_get_list_size(ctx, "name", &size) == TRELLIS_ERR_TYPE);
        CHECK(host.config_get_list_item(ctx, "count", 0, &text) == TRELLIS_ERR_TYPE);
        CHECK(size == 99);
    }
    SECTION("unknown and unset keys") {
        CHECK(host.config_get_bool(ctx, "nope", &flag) == TRELLIS_ERR_NOT_FOUND);
        CHECK(host.config_get_bool(ctx, "loud", &flag) == TRELLIS_ERR_NOT_FOUND);
        CHECK(host.config_get_int(ctx, "nope", &integer) == TRELLIS_ERR_NOT_FOUND);
        CHECK(host.config_get_float(ctx, "nope", &number) == TRELLIS_ERR_NOT_FOUND);
        CHECK(host.config_get_string(ctx, "nope", &text) == TRELLIS_ERR_NOT_FOUND);
        CHECK(host.config_get_list_size(ctx, "nope", &size) == TRELLIS_ERR_NOT_FOUND);
        CHECK(host.config_get_list_item(ctx, "nope", 0, &text) == TRELLIS_ERR_NOT_FOUND);
        CHECK(host.config_get_list_item(ctx, "tags", 2, &text) == TRELLIS_ERR_NOT_FOUND); // past the end
        CHECK(host.config_get_int(ctx, nullptr, &integer) == TRELLIS_ERR_NOT_FOUND);
        CHECK(host.config_get_int(nullptr, "count", &integer) == TRELLIS_ERR_NOT_FOUND);
    }
    SECTION("config_is_set tells explicit values from defaults") {
        CHECK(host.config_is_set(ctx, "name", &flag) == TRELLIS_OK);
        CHECK(flag == 1);
        CHECK(host.config_is_set(ctx, "extra", &flag) == TRELLIS_OK); // holds its default
        CHECK(flag == 0);
        CHECK(host.config_is_set(ctx, "nope", &flag) == TRELLIS_OK);
        CHECK(flag == 0);
        CHECK(host.config_is_set(ctx, "name", nullptr) == TRELLIS_ERR_INVALID);
    }
}

TEST_CASE("host api: config_get_int does not wrap an integer above INT64_MAX") {
    StageRun run(data_plugin(), "fixture.data_echo", {{"name", "ada"}});
    run.context.config["count"] = nlohmann::json::number_unsigned_t{9223372036854775808u}; // 2^63
    int64_t value = 0;
    const int32_t status = host_api()->config_get_int(&run.context, "count", &value);
    INFO("status " << status << ", value " << value);
    CHECK(status == TRELLIS_ERR_TYPE);
    CHECK(value == 0);
}

TEST_CASE("host api: outputs, inputs, metrics, scratch dir, cancellation and buffers") {
    StageRun run(data_plugin(), "fixture.data_echo", {{"name", "ada"}});
    const trellis_host_api& host = *host_api();
    trellis_context* ctx = &run.context;
    const auto report = trellis::serialize(trellis::Report{"{}"});

    SECTION("output_set checks the declared port and type") {
        CHECK(host.output_set(ctx, "undeclared", TRELLIS_ARTIFACT_REPORT, report.data(), report.size()) ==
              TRELLIS_ERR_NOT_FOUND);
        CHECK(host.output_set(ctx, "in", TRELLIS_ARTIFACT_REPORT, report.data(), report.size()) ==
              TRELLIS_ERR_NOT_FOUND); // an input is not an output
        CHECK(host.output_set(ctx, "out", TRELLIS_ARTIFACT_TABLE, report.data(), report.size()) == TRELLIS_ERR_TYPE);
        CHECK(host.output_set(ctx, "out", 77, report.data(), report.size()) == TRELLIS_ERR_TYPE);
        CHECK(host.output_set(ctx, "out", TRELLIS_ARTIFACT_REPORT, nullptr, 4) == TRELLIS_ERR_INVALID);
        CHECK(run.context.outputs.empty());
        CHECK(host.output_set(ctx, "out", TRELLIS_ARTIFACT_REPORT, report.data(), report.size()) == TRELLIS_OK);
        REQUIRE(run.context.outputs.count("out") == 1);
        const auto out = run.context.outputs.at("out").bytes();
        CHECK(std::vector<uint8_t>(out.begin(), out.end()) == report);
    }
    SECTION("input_get on an unconnected optional input") {
        uint32_t type = 0;
        const uint8_t* data = nullptr;
        size_t size = 0;
        CHECK(host.input_get(ctx, "in", &type, &data, &size) == TRELLIS_ERR_NOT_FOUND);
        run.context.inputs["in"] = artifact(TRELLIS_ARTIFACT_REPORT, report);
        CHECK(host.input_get(ctx, "in", &type, &data, &size) == TRELLIS_OK);
        CHECK(type == TRELLIS_ARTIFACT_REPORT);
        CHECK(std::vector<uint8_t>(data, data + size) == report);
        CHECK(host.input_get(ctx, "in", nullptr, &data, &size) == TRELLIS_ERR_INVALID);
    }
    SECTION("metric_log needs a name") {
        CHECK(host.metric_log(ctx, "", 1.0, 0) == TRELLIS_ERR_INVALID);
        CHECK(host.metric_log(ctx, nullptr, 1.0, 0) == TRELLIS_ERR_INVALID);
        CHECK(host.metric_log(ctx, "auc", 0.9, 0) == TRELLIS_OK);
        REQUIRE(run.context.metrics.size() == 1);
        CHECK(run.context.metrics[0].name == "auc");
        CHECK(run.context.metrics[0].value == 0.9);
        CHECK(run.context.metrics[0].step == 0);
    }
    SECTION("scratch dir and cancellation") {
        CHECK(std::string(host.scratch_dir(ctx)) == run.context.scratch_dir);
        CHECK(std::string(host.scratch_dir(nullptr)).empty());
        CHECK(host.is_cancelled(ctx) == 0);
        run.cancelled = true;
        CHECK(host.is_cancelled(ctx) == 1);
        run.context.cancelled = nullptr;
        CHECK(host.is_cancelled(ctx) == 0);
    }
    SECTION("buffers and errors") {
        trellis_buffer buffer;
        const uint8_t bytes[] = {7, 8, 9};
        CHECK(host.buffer_set(&buffer, bytes, 3) == TRELLIS_OK);
        CHECK(buffer.bytes == std::vector<uint8_t>{7, 8, 9});
        CHECK(host.buffer_set(&buffer, nullptr, 0) == TRELLIS_OK);
        CHECK(buffer.bytes.empty());
        CHECK(host.buffer_set(&buffer, nullptr, 2) == TRELLIS_ERR_INVALID);
        CHECK(host.buffer_set(nullptr, bytes, 3) == TRELLIS_ERR_INVALID);

        trellis_error error;
        host.error_set(&error, TRELLIS_ERR_INVALID, "bad column");
        CHECK(error.code == TRELLIS_ERR_INVALID);
        CHECK(error.message == "bad column");
        host.error_set(&error, TRELLIS_ERR_FAILED, nullptr);
        CHECK(error.message.empty());
        host.error_set(nullptr, TRELLIS_ERR_FAILED, "ignored"); // must not crash
    }
}

TEST_CASE("host api: a stage returning an error without a message gets the status name") {
    trellis::core::StageManifest manifest;
    manifest.name = "test.silent";
    StageContext context;
    context.stage = &manifest;
    const auto silent = [](const trellis_host_api*, trellis_context*, trellis_error*) -> int32_t {
        return TRELLIS_ERR_CANCELLED;
    };
    const StageOutcome outcome = invoke_stage(silent, context);
    CHECK(outcome.status == TRELLIS_ERR_CANCELLED);
    CHECK(outcome.message == "stage returned cancelled");
}

TEST_CASE("host api: progress_report feeds the stage's progress, and refuses negative or NaN values") {
    StageContext context;
    context.progress = std::make_shared<trellis::core::StageProgress>();
    CHECK(host_api()->progress_report(&context, 3, 10) == TRELLIS_OK);
    CHECK(context.progress->done.load() == 3);
    CHECK(context.progress->total.load() == 10);
    CHECK(host_api()->progress_report(&context, -1, 10) == TRELLIS_ERR_INVALID);
    CHECK(host_api()->progress_report(&context, std::nan(""), 10) == TRELLIS_ERR_INVALID);
    CHECK(host_api()->progress_report(nullptr, 1, 10) == TRELLIS_ERR_INVALID);
    CHECK(context.progress->done.load() == 3);
    // Without a progress slot (an isolated stage's process) it becomes a log line, not an error.
    StageContext isolated;
    CHECK(host_api()->progress_report(&isolated, 10, 10) == TRELLIS_OK);
}

TEST_CASE("host api: without a progress slot, reports of an unknown total are throttled, the final one is not") {
    StageContext isolated;
    CHECK(host_api()->progress_report(&isolated, 1, 0) == TRELLIS_OK);
    const auto first_line = isolated.last_progress_line;
    CHECK(first_line != decltype(first_line){});
    // A per-row caller with no total must not write a line per call.
    CHECK(host_api()->progress_report(&isolated, 2, 0) == TRELLIS_OK);
    CHECK(isolated.last_progress_line == first_line);
    CHECK(host_api()->progress_report(&isolated, 5, 10) == TRELLIS_OK);
    CHECK(isolated.last_progress_line == first_line);
    // Reaching a known total always logs.
    CHECK(host_api()->progress_report(&isolated, 10, 10) == TRELLIS_OK);
    CHECK(isolated.last_progress_line != first_line);
}
