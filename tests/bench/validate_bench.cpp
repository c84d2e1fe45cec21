// Benchmark driver for scripts/bench-validate: times data.validate's statistics pass and schema
// checks in-process on a generated table, and prints one "key=value ..." line per measurement.
// Built by the script from the plugin's own sources (it needs only the SDK headers). Not a test;
// asserts no time. Artifact (de)serialisation and the host are not included.
//
//   validate_bench [rows] [runs]   (defaults 5000000 rows, 3 runs; prints the fastest run)
#include "anomalies.hpp"
#include "column_statistics.hpp"
#include "data_schema.hpp"

#include <trellis/table.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using trellis::Column;
using trellis::ColumnType;
using namespace trellis_validate;

uint64_t next(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// 4 float columns (one with nulls), 2 int columns (one low-cardinality), 1 string column of 8 categories.
trellis::Table make_table(size_t rows) {
    uint64_t state = 7;
    std::vector<Column> columns;
    for (int c = 0; c < 4; ++c) columns.emplace_back("f" + std::to_string(c), ColumnType::Float64);
    columns.emplace_back("id", ColumnType::Int64);
    columns.emplace_back("level", ColumnType::Int64);
    columns.emplace_back("category", ColumnType::String);
    for (auto& column : columns) column.reserve(rows);
    const char* categories[] = {"a", "bb", "ccc", "dddd", "e", "ff", "ggg", "hhhh"};
    for (size_t i = 0; i < rows; ++i) {
        for (int c = 0; c < 4; ++c) {
            if (c == 3 && i % 100 == 0) columns[3].append_null();
            else columns[c].append_float(static_cast<double>(next(state) >> 11) * 0x1.0p-53 * 100.0 * (c + 1));
        }
        columns[4].append_int(static_cast<int64_t>(i));
        columns[5].append_int(static_cast<int64_t>(next(state) % 10));
        columns[6].append_string(categories[next(state) % 8]);
    }
    trellis::Table table;
    for (auto& column : columns) table.add_column(std::move(column));
    return table;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
    const size_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 5'000'000;
    const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
    if (rows == 0 || runs < 1) {
        std::fprintf(stderr, "usage: validate_bench [rows > 0] [runs >= 1]\n");
        return 2;
    }
    std::fprintf(stderr, "validate_bench: generating %zu rows x 7 columns\n", rows);
    const trellis::Table table = make_table(rows);
    const StatisticsOptions options;
    const DataSchema schema = infer_schema(table_statistics(table, options, {}), InferenceOptions{});

    double best_statistics = 1e300, best_checked = 1e300;
    size_t anomalies = 0;
    for (int run = 0; run < runs; ++run) {
        auto start = std::chrono::steady_clock::now();
        const TableStatistics plain = table_statistics(table, options, {});
        best_statistics = std::min(best_statistics, seconds_since(start));

        start = std::chrono::steady_clock::now();
        const auto constraints = constraints_for(schema, table);
        const TableStatistics checked = table_statistics(table, options, constraints);
        anomalies = find_anomalies(schema, table, checked, SeverityPolicy()).size();
        best_checked = std::min(best_checked, seconds_since(start));
        if (plain.rows != rows) return 1;
    }
    const double cells = static_cast<double>(rows) * 7;
    std::printf("measure=statistics rows=%zu columns=7 seconds=%.4f rows_per_s=%.0f values_per_s=%.0f\n", rows,
                best_statistics, static_cast<double>(rows) / best_statistics, cells / best_statistics);
    std::printf("measure=statistics_and_checks rows=%zu columns=7 seconds=%.4f rows_per_s=%.0f values_per_s=%.0f "
                "anomalies=%zu\n",
                rows, best_checked, static_cast<double>(rows) / best_checked, cells / best_checked, anomalies);
    return 0;
}
