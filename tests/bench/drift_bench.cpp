// Benchmark driver for scripts/bench-drift: times monitor.drift's column comparisons in-process
// (the plugin's own sources, -O2, on every core as the stage runs them) on two tables read from
// raw column-major float64 files, and prints per column the statistic and p-value (for the
// script to compare with scipy's) and one "key=value ..." timing line. Not a test; asserts no
// time. Artifact (de)serialisation and the host are not included; reading the files is not timed.
//
//   drift_bench REFERENCE CURRENT ROWS COLUMNS METHOD RUNS   (prints the fastest of RUNS)
#include "column_pool.hpp"

#include <trellis/table.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

trellis::Table read_table(const std::string& path, size_t rows, size_t columns) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    trellis::Table table;
    std::vector<double> values(rows);
    for (size_t c = 0; c < columns; ++c) {
        if (!in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(rows * sizeof(double))))
            throw std::runtime_error(path + " is shorter than " + std::to_string(rows) + " x " + std::to_string(columns));
        trellis::Column column("f" + std::to_string(c), trellis::ColumnType::Float64);
        column.reserve(rows);
        for (double v : values) column.append_float(v);
        table.add_column(std::move(column));
    }
    return table;
}

long peak_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr, "usage: drift_bench REFERENCE CURRENT ROWS COLUMNS METHOD RUNS\n");
        return 2;
    }
    const size_t rows = std::stoul(argv[3]), columns = std::stoul(argv[4]);
    const auto method = drift::method_named(argv[5]);
    const int runs = std::max(1, std::atoi(argv[6]));
    if (!method) {
        std::fprintf(stderr, "drift_bench: unknown method %s\n", argv[5]);
        return 2;
    }
    const trellis::Table reference = read_table(argv[1], rows, columns);
    const trellis::Table current = read_table(argv[2], rows, columns);
    const long rss_tables = peak_rss_kib();
    std::vector<std::string> names;
    for (size_t c = 0; c < columns; ++c) names.push_back("f" + std::to_string(c));
    drift::ColumnOptions options;
    options.method = *method;

    double best = 1e300;
    std::vector<drift::ColumnDrift> results;
    for (int run = 0; run < runs; ++run) {
        const auto start = std::chrono::steady_clock::now();
        results = drift::compare_columns(reference, current, names, [&](const std::string&) -> const drift::ColumnOptions& {
            return options;
        }, [] { return false; });
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    for (const auto& r : results)
        std::printf("column=%s method=%s statistic=%.17g p_value=%.17g\n", r.name.c_str(), drift::method_name(r.method),
                    r.statistic, r.p_value.value_or(-1.0));
    std::printf("measure=%s seconds=%.4f rows=%zu columns=%zu tables_kib=%ld peak_kib=%ld\n", argv[5], best, rows, columns,
                rss_tables, peak_rss_kib());
    return 0;
}
