// Calls a built-in plugin's model flavor the way the host does (load, predict, destroy), and
// trains with train.linear: shared by the multiclass and scikit-learn parity tests.
#pragma once

#include "builtin_fixtures.hpp"

#include <trellis/artifacts.hpp>

#include <nlohmann/json.hpp>

#include <span>
#include <string>
#include <vector>

namespace trellis::test {

// The flavor's answer: a status, its error message, or the prediction table.
struct Predicted {
    int32_t status = TRELLIS_OK;
    std::string message;
    trellis::Table table;
};

// Loads `model` with `flavor_name` of `plugin`, predicts `input`, and destroys the predictor.
inline Predicted flavor_predict(const std::shared_ptr<trellis::core::PluginLibrary>& plugin, const std::string& flavor_name,
                                const trellis::Model& model, const trellis::Table& input) {
    const trellis_flavor_descriptor* flavor = plugin->find_flavor(flavor_name);
    REQUIRE(flavor != nullptr);
    trellis_context context;
    context.logger = trellis::core::logging::get("test");
    trellis_error error;
    trellis_predictor* predictor = nullptr;
    const auto model_bytes = trellis::serialize(model);
    Predicted out;
    out.status = flavor->load(trellis::core::host_api(), &context, model_bytes.data(), model_bytes.size(), &predictor, &error);
    if (out.status != TRELLIS_OK) {
        out.message = error.message;
        return out;
    }
    const auto table_bytes = trellis::serialize(input);
    trellis_buffer buffer;
    out.status = flavor->predict(trellis::core::host_api(), &context, predictor, table_bytes.data(), table_bytes.size(),
                                 &buffer, &error);
    flavor->destroy(predictor);
    if (out.status != TRELLIS_OK) out.message = error.message;
    else out.table = trellis::deserialize_table(std::span<const uint8_t>(buffer.bytes.data(), buffer.bytes.size()));
    return out;
}

// The train.linear plugin, opened once.
inline std::shared_ptr<trellis::core::PluginLibrary> linear_plugin() {
    static const auto plugin = open_plugin("train_linear.so");
    return plugin;
}

// One train.linear execution: its outcome, the model, and what it logged.
struct LinearTrained {
    trellis::core::StageOutcome outcome;
    trellis::Model model;
    std::vector<trellis::core::MetricPoint> metrics;
};

inline LinearTrained train_linear(const trellis::Table& table, const nlohmann::json& config) {
    StageRun run(linear_plugin(), "train.linear", config);
    run.set_input("train", trellis::ArtifactType::Table, trellis::serialize(table));
    LinearTrained out{run.invoke(), {}, run.context.metrics};
    if (out.outcome.ok()) out.model = trellis::deserialize_model(run.output("model"));
    return out;
}

// The model's own bytes as JSON, to check the fitted numbers.
inline nlohmann::json linear_json(const trellis::Model& model) {
    return nlohmann::json::parse(std::string(model.bytes.begin(), model.bytes.end()));
}

// The linear flavor's predictions of `input`.
inline Predicted linear_predict(const trellis::Model& model, const trellis::Table& input) {
    return flavor_predict(linear_plugin(), "linear", model, input);
}

// A string column made of `values`.
inline trellis::Column text_column(const std::string& name, const std::vector<std::string>& values) {
    trellis::Column column(name, trellis::ColumnType::String);
    for (const auto& v : values) column.append_string(v);
    return column;
}

} // namespace trellis::test
