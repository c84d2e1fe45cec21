// monitor.drift: compares the distribution of each column of a current Table with a reference
// Table (the training data, or an earlier window) and says which columns drifted, and whether the
// dataset as a whole did. Each column gets a test chosen by its type and the reference's size, the
// way Evidently chooses, or the one configured for it.
#include "column_pool.hpp"

#include <trellis/sdk.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using drift::ColumnDrift;
using drift::ColumnOptions;
using drift::Method;
using trellis::json_number;
using trellis::json_string;
using trellis::Table;

// Bins beyond this are noise, not resolution; the cap also bounds the report's size.
constexpr int64_t max_bins = 10000;
// A report lists a column's bins only up to this many (a chi-squared over a numeric column can
// have a bin per distinct value).
constexpr size_t max_reported_bins = 1000;

// Lists names in messages; "none" keeps an empty list readable.
std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out.empty() ? "none" : out;
}

Method parse_method(const std::string& name, const std::string& key) {
    const auto method = drift::method_named(name);
    if (!method)
        throw std::invalid_argument(key + ": unknown method '" + name + "' (methods: " + drift::method_names() + ")");
    return *method;
}

double parse_threshold(double value, const std::string& key) {
    if (!std::isfinite(value) || value < 0)
        throw std::invalid_argument(key + ": must be a finite number >= 0, not " + drift::short_number(value));
    return value;
}

// The stage's config, read and checked before any data is touched.
struct DriftConfig {
    std::vector<std::string> columns;
    ColumnOptions defaults;
    std::map<std::string, ColumnOptions> per_column;
    double drift_share = 0.5;
    std::string prediction;
    bool fail_on_drift = false;
};

DriftConfig read_config(const trellis::Context& ctx) {
    DriftConfig config;
    config.columns = ctx.config<std::vector<std::string>>("columns");
    config.defaults.method = parse_method(ctx.config<std::string>("method"), "method");
    const double threshold = ctx.config<double>("threshold");
    if (threshold >= 0 || !std::isfinite(threshold)) config.defaults.threshold = parse_threshold(threshold, "threshold");
    config.defaults.bins = ctx.config<int64_t>("bins");
    if (config.defaults.bins < 2 || config.defaults.bins > max_bins)
        throw std::invalid_argument("bins: must be between 2 and " + std::to_string(max_bins) + ", not " +
                                    std::to_string(config.defaults.bins));
    config.drift_share = ctx.config<double>("drift_share");
    if (!(config.drift_share > 0 && config.drift_share <= 1))
        throw std::invalid_argument("drift_share: must be in (0, 1], not " + drift::short_number(config.drift_share));
    config.prediction = ctx.config<std::string>("prediction");
    config.fail_on_drift = ctx.config<bool>("fail_on_drift");

    const std::string text = ctx.config<std::string>("per_column");
    const auto per_column = nlohmann::json::parse(text, nullptr, false);
    if (!per_column.is_object())
        throw std::invalid_argument("per_column: expected a table of column = method or column = { method = ..., "
                                    "threshold = ... }, not " + text);
    for (const auto& [column, value] : per_column.items()) {
        const std::string key = "per_column." + column;
        ColumnOptions options = config.defaults;
        if (value.is_string()) {
            options.method = parse_method(value.get<std::string>(), key);
        } else if (value.is_object()) {
            for (const auto& [field, setting] : value.items()) {
                if (field == "method" && setting.is_string())
                    options.method = parse_method(setting.get<std::string>(), key + ".method");
                else if (field == "threshold" && setting.is_number())
                    options.threshold = parse_threshold(setting.get<double>(), key + ".threshold");
                else if (field == "method" || field == "threshold")
                    throw std::invalid_argument(key + "." + field + ": must be a " +
                                                (field == "method" ? "string" : "number") + ", not " + setting.dump());
                else
                    throw std::invalid_argument(key + ": unknown key '" + field + "' (keys: method, threshold)");
            }
        } else {
            throw std::invalid_argument(key + ": expected a method name or { method = ..., threshold = ... }, not " +
                                        value.dump());
        }
        config.per_column[column] = options;
    }
    return config;
}

// The named columns, or every column of the reference that the current table also has.
std::vector<std::string> pick_columns(const DriftConfig& config, const Table& reference, const Table& current) {
    std::vector<std::string> names;
    if (config.columns.empty()) {
        for (const auto& name : reference.column_names())
            if (current.find(name)) names.push_back(name);
        if (names.empty())
            throw std::invalid_argument("columns: no column is present in both tables (reference: " +
                                        join(reference.column_names()) + "; current: " + join(current.column_names()) + ")");
    } else {
        std::set<std::string> seen;
        for (const auto& name : config.columns) {
            if (!seen.insert(name).second) throw std::invalid_argument("columns: column '" + name + "' is listed twice");
            if (!reference.find(name)) throw std::invalid_argument("columns: no column '" + name + "' in the reference table");
            if (!current.find(name)) throw std::invalid_argument("columns: no column '" + name + "' in the current table");
            names.push_back(name);
        }
    }
    for (const auto& [column, options] : config.per_column)
        if (std::find(names.begin(), names.end(), column) == names.end())
            throw std::invalid_argument("per_column." + column + ": no such column among those compared (" + join(names) + ")");
    if (!config.prediction.empty() && std::find(names.begin(), names.end(), config.prediction) == names.end())
        throw std::invalid_argument(
            "prediction: no column '" + config.prediction + "' " +
            (config.columns.empty() || !reference.find(config.prediction) || !current.find(config.prediction)
                 ? std::string("in both tables")
                 : "among the listed columns (add it to columns)"));
    for (const auto& name : names) {
        const auto ref_type = reference.column(name).type(), cur_type = current.column(name).type();
        if (!drift::comparable(ref_type, cur_type))
            throw std::invalid_argument("column '" + name + "' is " + std::string(trellis::to_string(ref_type)) +
                                        " in the reference table but " + std::string(trellis::to_string(cur_type)) +
                                        " in the current table");
    }
    return names;
}

std::string column_json(const ColumnDrift& d) {
    const auto share = [](uint64_t count, uint64_t rows) {
        return json_number(rows ? static_cast<double>(count) / static_cast<double>(rows) : 0.0);
    };
    std::string json = "{\"name\": " + json_string(d.name) + ", \"type\": \"" + std::string(trellis::to_string(d.type)) +
                       "\", \"method\": \"" + drift::method_name(d.method) + "\", \"chosen\": \"" +
                       (d.chosen_automatically ? "auto" : "configured") + "\", \"statistic\": " + json_number(d.statistic) +
                       ", \"p_value\": " + (d.p_value ? json_number(*d.p_value) : "null");
    if (d.method == Method::ChiSquared) json += ", \"degrees_of_freedom\": " + json_number(d.degrees_of_freedom);
    json += ", \"score\": " + json_number(d.score) + ", \"threshold\": " + json_number(d.threshold) +
            ", \"drifted\": " + (d.drifted ? "true" : "false") +
            ", \"reference_missing\": " + share(d.reference_missing, d.reference_rows) +
            ", \"current_missing\": " + share(d.current_missing, d.current_rows);
    if (!d.note.empty()) json += ", \"note\": " + json_string(d.note);
    if (!d.bins.empty() && d.bins.size() <= max_reported_bins) {
        json += ", \"bins\": [";
        for (size_t b = 0; b < d.bins.size(); ++b) {
            const drift::Bin& bin = d.bins[b];
            json += b ? ", " : "";
            json += "{\"label\": " + json_string(bin.label) + ", \"reference\": " + share(bin.reference, d.reference_rows) +
                    ", \"current\": " + share(bin.current, d.current_rows) +
                    ", \"reference_count\": " + std::to_string(bin.reference) +
                    ", \"current_count\": " + std::to_string(bin.current) + "}";
        }
        json += "]";
    } else if (!d.bins.empty()) {
        json += ", \"bins_omitted\": " + std::to_string(d.bins.size());
    }
    return json + "}";
}

// How a column's result reads in a log line: "age (ks p=0.003)".
std::string summary(const ColumnDrift& d) {
    return d.name + " (" + drift::method_name(d.method) + (d.p_value ? " p=" : " ") + drift::short_number(d.score) + ")";
}

// The stage: a drift check to run on every window of traffic, or every new batch of data.
class Drift : public trellis::MonitorStage {
public:
    static trellis::StageSpec spec() {
        return trellis::StageSpec("monitor.drift", "tests each column for distribution drift and the dataset for drift")
            .input("reference", trellis::ArtifactType::Table, "the baseline, e.g. the training data")
            .input("current", trellis::ArtifactType::Table, "the data to compare with the baseline")
            .output("report", trellis::ArtifactType::Report, "JSON: dataset drift, and per column the test, score and verdict")
            .output("metrics", trellis::ArtifactType::Metrics,
                    "drift_share, dataset_drift, drifted_columns, drift.<column>, prediction_drift")
            .option_string_list("columns", {}, "columns to compare; empty: every column present in both tables")
            .option_string("method", "auto", "auto, ks, chisquare, jensenshannon, wasserstein or psi, for every column")
            .option_json("per_column", "{}", "per-column method and threshold: { age = \"ks\", city = { threshold = 0.2 } }")
            .option_float("threshold", -1, "p-value below which (tests) or distance from which a column drifted; "
                                           "negative: 0.05 for ks and chisquare, 0.1 for the distances")
            .option_int("bins", 10, "equal-frequency bins for numbers in psi and jensenshannon, 2 to 10000")
            .option_float("drift_share", 0.5, "share of drifted columns from which the dataset drifted, in (0, 1]")
            .option_string("prediction", "", "the model's prediction column: reported as prediction drift, "
                                             "not counted in the drift share")
            .option_bool("fail_on_drift", false, "fail the stage when the dataset drifted");
    }

    void run(trellis::Context& ctx) override {
        const DriftConfig config = read_config(ctx);
        const Table reference = ctx.input<Table>("reference");
        const Table current = ctx.input<Table>("current");
        if (reference.num_rows() == 0) throw std::invalid_argument("reference: the table has no rows to compare with");
        if (current.num_rows() == 0) throw std::invalid_argument("current: the table has no rows to compare");
        const std::vector<std::string> names = pick_columns(config, reference, current);
        const auto options_for = [&](const std::string& column) -> const ColumnOptions& {
            const auto found = config.per_column.find(column);
            return found == config.per_column.end() ? config.defaults : found->second;
        };
        const std::vector<ColumnDrift> drifts =
            drift::compare_columns(reference, current, names, options_for, [&] { return ctx.cancelled(); });
        ctx.throw_if_cancelled();

        trellis::Metrics metrics;
        std::vector<std::string> drifted;
        const ColumnDrift* prediction = nullptr;
        size_t features = 0;
        for (const auto& d : drifts) {
            metrics.values["drift." + d.name] = d.score;
            // One line per column only at debug level: a wide table would flood the run's log.
            ctx.log().debug("column '" + d.name + "' (" + std::string(trellis::to_string(d.type)) + "): " + drift::method_name(d.method) +
                            " statistic = " + drift::short_number(d.statistic) +
                            (d.p_value ? ", p = " + drift::short_number(*d.p_value) : "") +
                            (d.drifted ? ", drifted" : ", no drift"));
            if (d.name == config.prediction) {
                prediction = &d;
                continue;
            }
            ++features;
            if (d.drifted) drifted.push_back(summary(d));
        }
        const double share = features ? static_cast<double>(drifted.size()) / static_cast<double>(features) : 0.0;
        const bool dataset_drift = features > 0 && share >= config.drift_share;
        metrics.values["drift_share"] = share;
        metrics.values["drifted_columns"] = static_cast<double>(drifted.size());
        metrics.values["dataset_drift"] = dataset_drift ? 1.0 : 0.0;
        if (prediction) {
            metrics.values["prediction_drift"] = prediction->score;
            metrics.values["prediction_drifted"] = prediction->drifted ? 1.0 : 0.0;
        }

        const std::string verdict = std::string(dataset_drift ? "dataset drift" : "no dataset drift") + ": " +
                                    std::to_string(drifted.size()) + " of " + std::to_string(features) +
                                    " columns drifted (share " + drift::short_number(share) + ", threshold " +
                                    drift::short_number(config.drift_share) + ")";
        ctx.log().info(verdict + (prediction ? std::string("; prediction ") + (prediction->drifted ? "drifted " : "stable ") +
                                                   summary(*prediction)
                                             : ""));
        if (!drifted.empty()) ctx.log().warn("drifted columns: " + join(drifted));

        std::string json = "{\"dataset_drift\": " + std::string(dataset_drift ? "true" : "false") +
                           ", \"drift_share\": " + json_number(share) +
                           ", \"drift_share_threshold\": " + json_number(config.drift_share) +
                           ", \"drifted_columns\": " + std::to_string(drifted.size()) +
                           ", \"compared_columns\": " + std::to_string(features) +
                           ", \"reference_rows\": " + std::to_string(reference.num_rows()) +
                           ", \"current_rows\": " + std::to_string(current.num_rows()) +
                           ", \"prediction\": " + (prediction ? column_json(*prediction) : "null") + ", \"columns\": [";
        bool first = true;
        for (const auto& d : drifts) {
            if (&d == prediction) continue;
            json += (first ? "" : ", ") + column_json(d);
            first = false;
        }
        ctx.output("report", trellis::Report{json + "]}"});
        // Logged too, so that they are in the run's metrics (trellis runs show) and its history.
        for (const auto& [name, value] : metrics.values) ctx.log_metric(name, value);
        ctx.output("metrics", metrics);
        if (config.fail_on_drift && dataset_drift)
            throw trellis::Error(TRELLIS_ERR_FAILED, verdict + ": " + join(drifted));
    }
};

const trellis::PluginInfo info{
    .name = "monitor-drift",
    .version = "0.2.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "tests data and prediction drift per column (KS, chi-squared, Jensen-Shannon, Wasserstein, PSI)",
};

} // namespace

TRELLIS_PLUGIN(info, Drift)
