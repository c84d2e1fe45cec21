// What the built-in plugins' tests share: opening a built plugin, the breast cancer data read by
// data.csv, and small tables made by hand.
#pragma once

#include "stage_run.hpp"

#include <trellis/artifacts.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace trellis::test {

// A built-in plugin from the build's plugin folder, e.g. "train_linear.so".
inline std::shared_ptr<trellis::core::PluginLibrary> open_plugin(const std::string& file) {
    return trellis::core::PluginLibrary::open(std::filesystem::path(BUILTIN_PLUGIN_DIR) / file);
}

// tests/data/breast_cancer.csv as data.csv reads it (569 rows, 30 float features, int `malignant`).
inline const trellis::Table& breast_cancer() {
    static const trellis::Table table = [] {
        StageRun run(open_plugin("data_csv.so"), "data.csv", {{"path", std::string(TEST_DATA_DIR) + "/breast_cancer.csv"}});
        REQUIRE(run.invoke().ok());
        return trellis::deserialize_table(run.output("table"));
    }();
    return table;
}

// A CSV file as data.csv reads it, e.g. csv_table(TEST_DATA_DIR "/iris.csv").
inline trellis::Table csv_table(const std::string& path) {
    StageRun run(open_plugin("data_csv.so"), "data.csv", {{"path", path}});
    const auto outcome = run.invoke();
    REQUIRE(outcome.message == "");
    return trellis::deserialize_table(run.output("table"));
}

// tests/data/iris.csv (150 rows, 4 float features, string `species` of 3 classes).
inline const trellis::Table& iris() {
    static const trellis::Table table = csv_table(std::string(TEST_DATA_DIR) + "/iris.csv");
    return table;
}

// tests/data/wine.csv (178 rows, 13 numeric features, int `cultivar` 0, 1, 2).
inline const trellis::Table& wine() {
    static const trellis::Table table = csv_table(std::string(TEST_DATA_DIR) + "/wine.csv");
    return table;
}

inline trellis::Column floats(const std::string& name, const std::vector<double>& values) {
    trellis::Column column(name, trellis::ColumnType::Float64);
    for (double v : values) column.append_float(v);
    return column;
}

inline trellis::Column ints(const std::string& name, const std::vector<int64_t>& values) {
    trellis::Column column(name, trellis::ColumnType::Int64);
    for (int64_t v : values) column.append_int(v);
    return column;
}

inline trellis::Table table_of(std::vector<trellis::Column> columns) {
    trellis::Table table;
    for (auto& column : columns) table.add_column(std::move(column));
    return table;
}

} // namespace trellis::test
