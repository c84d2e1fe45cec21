// data.validate: statistics of a table, a schema (inferred from a reference table, or read from a
// hand-edited JSON file or a Report), and the anomalies of the table against it. Fails the stage
// when an anomaly of severity `fail` is found, so that stages wired to its `table` output (the
// input passed through) do not run on bad data; the reports are set before it fails.
#include "anomalies.hpp"
#include "column_statistics.hpp"
#include "data_schema.hpp"
#include "statistics_report.hpp"

#include <trellis/plugin.hpp>
#include <trellis/sdk.hpp>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace {

using namespace trellis_validate;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Where the schema comes from, and its name in messages and in the anomalies report.
struct SchemaSource {
    enum class Kind { Input, File, Reference, Table } kind = Kind::Table;
    std::string label;
};

std::string read_text_file(const std::string& path, const std::string& key) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw std::invalid_argument(key + " '" + path + "': is a directory, not a schema file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::invalid_argument(key + " '" + path + "': cannot read: " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Written beside the target and renamed over it, so a reader never sees half a schema.
void write_text_file(const std::string& path, const std::string& text) {
    const std::string temporary = path + ".tmp-" + std::to_string(::getpid());
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) throw std::invalid_argument("write_schema '" + path + "': cannot write: " + std::strerror(errno));
        out << text;
        if (!out.flush()) throw std::invalid_argument("write_schema '" + path + "': cannot write: " + std::strerror(errno));
    }
    std::error_code ec;
    fs::rename(temporary, path, ec);
    if (ec) {
        fs::remove(temporary, ec);
        throw std::invalid_argument("write_schema '" + path + "': cannot write: " + ec.message());
    }
}

FailOn parse_fail_on(const std::string& text) {
    if (text == "fail") return FailOn::Fail;
    if (text == "warn") return FailOn::Warn;
    if (text == "never") return FailOn::Never;
    throw std::invalid_argument("fail_on must be \"fail\", \"warn\" or \"never\", not '" + text + "'");
}

class DataValidate : public trellis::DataStage {
public:
    // Declares the ports and keys so the host validates pipelines before run() and documents the stage.
    static trellis::StageSpec spec() {
        return trellis::StageSpec("data.validate", "statistics, schema and anomalies of a table; fails on bad data")
            .input("table", trellis::ArtifactType::Table, "the data to check")
            .optional_input("reference", trellis::ArtifactType::Table, "data to infer the schema from")
            .optional_input("schema", trellis::ArtifactType::Report, "a schema (the schema output of a data.validate)")
            .output("statistics", trellis::ArtifactType::Report, "per-column statistics (kind trellis.data_statistics)")
            .output("schema", trellis::ArtifactType::Report, "the schema checked against (kind trellis.data_schema)")
            .output("anomalies", trellis::ArtifactType::Report, "what broke the schema (kind trellis.anomalies)")
            .output("table", trellis::ArtifactType::Table, "the input table, set only when validation passes")
            .optional("schema_file", trellis::ValueType::String, "a schema JSON file (hand-edited) to check against")
            .optional("write_schema", trellis::ValueType::String, "write the schema used to this JSON file, to edit it")
            .option_json("severity", "{}", "per-rule severity: { out_of_range = \"warn\", new_column = \"off\", ... }")
            .option_string("fail_on", "fail", "fail: fail on `fail` anomalies; warn: on any anomaly; never: only report")
            .option_float("range_margin", 0.1, "inferred ranges: widen [min, max] by this fraction of max - min each side")
            .option_int("max_domain_size", 20, "inferred domains: string/int columns with at most this many distinct values")
            .option_int("histogram_bins", 10, "equal-width bins of each numeric column's histogram")
            .option_int("top_values", 5, "most frequent values listed per int, bool and string column");
    }

    void run(trellis::Context& ctx) override {
        const FailOn fail_on = parse_fail_on(ctx.config<std::string>("fail_on"));
        const SeverityPolicy policy = SeverityPolicy::from_config_json(ctx.config<std::string>("severity"));
        const StatisticsOptions options = statistics_options(ctx);
        InferenceOptions inference;
        inference.range_margin = ctx.config<double>("range_margin");
        if (!std::isfinite(inference.range_margin) || inference.range_margin < 0)
            throw std::invalid_argument("range_margin must be a finite number >= 0");
        inference.max_domain_size = options.keep_values_limit;

        const SchemaSource source = schema_source(ctx);
        const trellis::Table table = ctx.input<trellis::Table>("table");
        ctx.log().info("validating " + std::to_string(table.num_rows()) + " rows x " + std::to_string(table.num_columns()) +
                       " columns against the schema from " + source.label);

        DataSchema schema;
        if (source.kind == SchemaSource::Kind::Input) {
            schema = parse_schema(ctx.input<trellis::Report>("schema").json, source.label);
        } else if (source.kind == SchemaSource::Kind::File) {
            const std::string path = ctx.config<std::string>("schema_file");
            schema = parse_schema(read_text_file(path, "schema_file"), source.label);
        } else if (source.kind == SchemaSource::Kind::Reference) {
            const trellis::Table reference = ctx.input<trellis::Table>("reference");
            schema = infer_schema(statistics_of(ctx, reference, options, {}, "reference"), inference);
        }

        TableStatistics statistics;
        std::vector<Anomaly> anomalies;
        if (source.kind == SchemaSource::Kind::Table) {
            // The table is its own reference: the schema describes it, so nothing can break it.
            statistics = statistics_of(ctx, table, options, {}, "table");
            schema = infer_schema(statistics, inference);
        } else {
            const auto constraints = constraints_for(schema, table);
            statistics = statistics_of(ctx, table, options, constraints, "table");
            anomalies = find_anomalies(schema, table, statistics, policy);
        }

        if (ctx.config_is_set("write_schema")) write_schema(ctx, schema);
        const size_t failing = static_cast<size_t>(
            std::count_if(anomalies.begin(), anomalies.end(), [](const Anomaly& a) { return a.severity == Severity::Fail; }));
        ctx.log_metric("rows", static_cast<double>(table.num_rows()));
        ctx.log_metric("anomalies", static_cast<double>(anomalies.size()));
        ctx.log_metric("anomalies_failing", static_cast<double>(failing));
        ctx.output("statistics", trellis::Report{statistics_json(statistics)});
        ctx.output("schema", trellis::Report{schema_json(schema)});
        ctx.output("anomalies", trellis::Report{anomalies_json(anomalies, table.num_rows(), source.label, fail_on)});

        for (const Anomaly& anomaly : anomalies)
            ctx.log().warn(std::string(to_string(anomaly.severity)) + ": column " + quoted(anomaly.column) + " " +
                           anomaly.rule + ": " + anomaly.detail);
        // The reports are set first: the host keeps them with the failed execution.
        if (fails(anomalies, fail_on)) throw std::invalid_argument(failure_summary(anomalies, fail_on));
        ctx.log().info(anomalies.empty() ? std::string("no anomalies")
                                         : std::to_string(anomalies.size()) + " anomalies, none failing the stage");
        ctx.output("table", table);
    }

private:
    static StatisticsOptions statistics_options(trellis::Context& ctx) {
        StatisticsOptions options;
        const int64_t bins = ctx.config<int64_t>("histogram_bins");
        if (bins < 1 || bins > 1000) throw std::invalid_argument("histogram_bins must be between 1 and 1000");
        options.histogram_bins = static_cast<size_t>(bins);
        const int64_t top = ctx.config<int64_t>("top_values");
        if (top < 0 || top > 1000) throw std::invalid_argument("top_values must be between 0 and 1000");
        options.top_values = static_cast<size_t>(top);
        const int64_t domain = ctx.config<int64_t>("max_domain_size");
        if (domain < 0 || domain > 100000) throw std::invalid_argument("max_domain_size must be between 0 and 100000");
        options.keep_values_limit = static_cast<size_t>(domain);
        return options;
    }

    // One schema source at most: two would leave it unclear which one the data is held to.
    static SchemaSource schema_source(trellis::Context& ctx) {
        std::vector<SchemaSource> given;
        if (ctx.has_input("schema")) given.push_back({SchemaSource::Kind::Input, "input 'schema'"});
        if (ctx.config_is_set("schema_file"))
            given.push_back({SchemaSource::Kind::File, "schema_file '" + ctx.config<std::string>("schema_file") + "'"});
        if (ctx.has_input("reference")) given.push_back({SchemaSource::Kind::Reference, "input 'reference'"});
        if (given.size() > 1)
            throw std::invalid_argument("give one schema source, not " + given[0].label + " and " + given[1].label +
                                        " (input 'schema', schema_file or input 'reference')");
        if (given.empty()) return {SchemaSource::Kind::Table, "input 'table' itself (no schema given)"};
        return given.front();
    }

    // The statistics pass, reporting progress and checking for cancellation before each column,
    // with a log line every few seconds on big tables.
    static TableStatistics statistics_of(trellis::Context& ctx, const trellis::Table& table,
                                         const StatisticsOptions& options,
                                         const std::map<std::string, ColumnConstraints>& constraints, const std::string& what) {
        const auto start = Clock::now();
        auto last_report = start;
        const TableStatistics out = table_statistics(table, options, constraints, [&](size_t column) {
            ctx.throw_if_cancelled();
            // The status line on a terminal; the log line below for everywhere else.
            ctx.progress(static_cast<double>(column), static_cast<double>(table.num_columns()));
            const auto now = Clock::now();
            if (now - last_report >= std::chrono::seconds(3)) {
                last_report = now;
                ctx.log().info("statistics of " + what + ": column " + std::to_string(column + 1) + " of " +
                               std::to_string(table.num_columns()) + " (" + table.column(column).name() + ")");
            }
        });
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        char rate[64] = "";
        if (seconds > 0) std::snprintf(rate, sizeof rate, ", %.3g rows/s", static_cast<double>(table.num_rows()) / seconds);
        char took[32];
        std::snprintf(took, sizeof took, "%.3g s", seconds);
        ctx.log().info("statistics of " + what + " (" + std::to_string(table.num_rows()) + " rows x " +
                       std::to_string(table.num_columns()) + " columns) in " + took + rate);
        return out;
    }

    static void write_schema(trellis::Context& ctx, const DataSchema& schema) {
        const std::string path = ctx.config<std::string>("write_schema");
        if (path.empty()) throw std::invalid_argument("write_schema must not be empty");
        if (ctx.config_is_set("schema_file")) {
            std::error_code ec;
            const std::string schema_file = ctx.config<std::string>("schema_file");
            if (fs::weakly_canonical(path, ec) == fs::weakly_canonical(schema_file, ec))
                throw std::invalid_argument("write_schema '" + path + "' is the schema_file: writing it would replace your edits");
        }
        write_text_file(path, schema_json(schema));
        ctx.log().info("wrote the schema to " + path);
    }
};

const trellis::PluginInfo info{
    .name = "data-validate",
    .version = "0.1.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "data statistics, schema inference and validation (anomalies) of tables",
};

} // namespace

TRELLIS_PLUGIN(info, DataValidate)
