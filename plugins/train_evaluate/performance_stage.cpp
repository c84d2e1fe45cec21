// monitor.performance: scores the predictions a served model made against the labels that came
// later (a window of the prediction log joined to its delayed labels), over all labelled rows and
// per group (model version, variant), counting what is still unlabelled. train.evaluate predicts
// and then scores; this stage only scores: the predictions were made, and logged, when it mattered.
#include "performance_stage.hpp"

#include "prediction_scores.hpp"

#include <map>
#include <string>
#include <vector>

namespace trellis_evaluate {
namespace {

using trellis::Column;
using trellis::ColumnType;

// A group key's value as text: how it appears in metric names and the report.
std::string cell_text(const Column& column, size_t row) {
    if (column.is_null(row)) return "null";
    switch (column.type()) {
    case ColumnType::Int64: return std::to_string(column.int_at(row));
    case ColumnType::Float64: return trellis::json_number(column.float_at(row));
    case ColumnType::Bool: return column.bool_at(row) ? "true" : "false";
    case ColumnType::String: return std::string(column.string_at(row));
    }
    return "";
}

// The rows `rows` of `table`, in that order.
trellis::Table take_rows(const trellis::Table& table, const std::vector<size_t>& rows) {
    trellis::Table out;
    for (const Column& column : table.columns()) {
        Column taken(column.name(), column.type());
        taken.reserve(rows.size());
        for (size_t r : rows) {
            if (column.is_null(r)) taken.append_null();
            else if (column.type() == ColumnType::Int64) taken.append_int(column.int_at(r));
            else if (column.type() == ColumnType::Float64) taken.append_float(column.float_at(r));
            else if (column.type() == ColumnType::Bool) taken.append_bool(column.bool_at(r));
            else taken.append_string(column.string_at(r));
        }
        out.add_column(std::move(taken));
    }
    return out;
}

std::string metrics_object(const trellis::Metrics& metrics) {
    std::string out;
    for (const auto& [name, value] : metrics.values)
        out += (out.empty() ? "" : ",") + trellis::json_string(name) + ":" + trellis::json_number(value);
    return "{" + out + "}";
}

// One scored set of rows: everything, or one group.
struct Slice {
    std::vector<std::pair<std::string, std::string>> by; // group column -> value; empty for everything
    std::vector<size_t> labelled;
    size_t rows = 0;
    std::optional<ScoredPredictions> scored;
};

// "accuracy{version=3,variant=canary}", or "accuracy" for everything.
std::string metric_name(const std::string& metric, const Slice& slice) {
    if (slice.by.empty()) return metric;
    std::string out = metric + "{";
    for (size_t i = 0; i < slice.by.size(); ++i) out += (i ? "," : "") + slice.by[i].first + "=" + slice.by[i].second;
    return out + "}";
}

} // namespace

trellis::StageSpec Performance::spec() {
    return trellis::StageSpec("monitor.performance",
                              "scores a served model's logged predictions against their delayed labels, per version and variant")
        .input("data", trellis::ArtifactType::Table,
               "predictions with their true values: a window of the prediction log joined to its labels "
               "(trellis monitor window --labels), with the model's output columns and the label column")
        .output("metrics", trellis::ArtifactType::Metrics,
                "rows, labelled, unlabelled and the task's metrics, overall and per group as METRIC{COLUMN=VALUE,...}")
        .output("report", trellis::ArtifactType::Report, "JSON: the task, the counts and metrics overall and of every group")
        .option_string("target", "label", "column of true values; rows where it is null are counted as unlabelled")
        .option_string("task", "auto", "classification, regression, or auto (classification when the predictions have "
                                       "probability:<label> columns or a probability column)")
        .option_float("threshold", 0.5, "binary classifiers: predict the positive class when its probability >= threshold")
        .option_string_list("group_by", {}, "columns to score apart as well, e.g. { \"version\", \"variant\" }")
        .option_int("min_labels", 1, "fewest labelled rows a set needs to be scored; a set with fewer reports its counts only");
}

void Performance::run(trellis::Context& ctx) {
    const std::string target = ctx.config<std::string>("target");
    const std::string task = ctx.config<std::string>("task");
    if (task != "auto" && task != "classification" && task != "regression")
        throw std::invalid_argument("task must be classification, regression or auto, not '" + task + "'");
    const double threshold = ctx.config<double>("threshold");
    if (!(threshold >= 0.0 && threshold <= 1.0))
        throw std::invalid_argument("threshold must be between 0 and 1, not " + std::to_string(threshold));
    const int64_t min_labels = ctx.config<int64_t>("min_labels");
    if (min_labels < 1) throw std::invalid_argument("min_labels must be at least 1, not " + std::to_string(min_labels));
    const std::vector<std::string> group_by = ctx.config<std::vector<std::string>>("group_by");

    const trellis::Table data = ctx.input<trellis::Table>("data");
    const Column* truth = data.find(target);
    if (!truth)
        throw std::invalid_argument("target: no column '" + target + "' in input 'data' (columns: " + trellis::column_list(data) +
                                    "); join the labels first (trellis monitor window --labels)");
    std::vector<const Column*> keys;
    for (const auto& name : group_by) {
        const Column* column = data.find(name);
        if (!column)
            throw std::invalid_argument("group_by: no column '" + name + "' in input 'data' (columns: " +
                                        trellis::column_list(data) + ")");
        if (name == target) throw std::invalid_argument("group_by: '" + name + "' is the target column");
        keys.push_back(column);
    }

    std::vector<Slice> slices(1);
    std::map<std::vector<std::string>, size_t> group_of;
    for (size_t r = 0; r < data.num_rows(); ++r) {
        const bool labelled = !truth->is_null(r);
        ++slices[0].rows;
        if (labelled) slices[0].labelled.push_back(r);
        if (keys.empty()) continue;
        std::vector<std::string> key;
        for (const Column* column : keys) key.push_back(cell_text(*column, r));
        auto [found, added] = group_of.try_emplace(key, slices.size());
        if (added) {
            Slice slice;
            for (size_t k = 0; k < keys.size(); ++k) slice.by.emplace_back(group_by[k], key[k]);
            slices.push_back(std::move(slice));
        }
        Slice& slice = slices[found->second];
        ++slice.rows;
        if (labelled) slice.labelled.push_back(r);
    }

    const Warn warn = [&](const std::string& message) { ctx.log().warn("target '" + target + "': " + message); };
    trellis::Metrics metrics;
    std::string groups;
    std::string overall;
    for (Slice& slice : slices) {
        if (static_cast<int64_t>(slice.labelled.size()) >= min_labels) {
            const trellis::Table rows = take_rows(data, slice.labelled);
            slice.scored = score_predictions(rows, rows.column(target), task, threshold, warn);
            slice.scored->scores.metrics.values.erase("count"); // "labelled" says it
        }
        const size_t labelled = slice.labelled.size();
        metrics.values[metric_name("rows", slice)] = static_cast<double>(slice.rows);
        metrics.values[metric_name("labelled", slice)] = static_cast<double>(labelled);
        metrics.values[metric_name("unlabelled", slice)] = static_cast<double>(slice.rows - labelled);
        if (slice.scored)
            for (const auto& [name, value] : slice.scored->scores.metrics.values) metrics.values[metric_name(name, slice)] = value;
        std::string members = "\"rows\":" + std::to_string(slice.rows) + ",\"labelled\":" + std::to_string(labelled) +
                              ",\"unlabelled\":" + std::to_string(slice.rows - labelled) + ",\"metrics\":" +
                              (slice.scored ? metrics_object(slice.scored->scores.metrics) : "{}");
        if (slice.by.empty()) {
            overall = members;
            continue;
        }
        std::string by;
        for (const auto& [column, value] : slice.by)
            by += (by.empty() ? "" : ",") + trellis::json_string(column) + ":" + trellis::json_string(value);
        groups += (groups.empty() ? "" : ",") + std::string("{\"by\":{") + by + "}," + members + "}";
    }
    const Slice& all = slices[0];
    if (all.scored)
        ctx.log().info(all.scored->task + " metrics of " + std::to_string(all.labelled.size()) + " labelled rows of " +
                       std::to_string(all.rows) + (keys.empty() ? "" : ", in " + std::to_string(slices.size() - 1) + " groups"));
    else
        ctx.log().info(std::to_string(all.labelled.size()) + " of " + std::to_string(all.rows) +
                       " rows are labelled, fewer than min_labels (" + std::to_string(min_labels) + "): counts only");
    for (const auto& [name, value] : metrics.values) ctx.log_metric(name, value);
    ctx.output("metrics", metrics);
    const std::string scored_task = all.scored ? all.scored->task : task;
    const std::string kind = all.scored ? all.scored->kind : "";
    ctx.output("report", trellis::Report{"{\"task\":" + trellis::json_string(scored_task) + ",\"predictions\":" +
                                         trellis::json_string(kind) + ",\"target\":" + trellis::json_string(target) + "," +
                                         overall + ",\"groups\":[" + groups + "]}"});
}

} // namespace trellis_evaluate
