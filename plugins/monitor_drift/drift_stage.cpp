// monitor.drift: compares the distribution of each column of a current Table with a reference
// Table using the population stability index (PSI), so a pipeline can warn (or stop) when the data
// a model sees has moved away from the data it was trained on.
#include <trellis/sdk.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using trellis::json_number;
using trellis::json_string;

using trellis::Column;
using trellis::ColumnType;
using trellis::Table;

// Fractions below this are raised to it before the PSI sum, so an empty bin on one side gives a
// large but finite term instead of a division by zero or log(0).
constexpr double fraction_floor = 1e-4;
// Bins beyond this are noise, not resolution; the cap also bounds the report's size.
constexpr int64_t max_bins = 10000;
// Rows between cancellation checks in per-row loops.
constexpr size_t cancel_stride = 1 << 16;

// The shortest text that reads back as `value`: for bin labels and log lines people read.
std::string short_number(double value) {
    char text[32];
    const auto result = std::to_chars(text, text + sizeof text, value);
    return std::string(text, result.ptr);
}

// Ordered so that the overall status is simply the maximum over columns.
enum class Status { Ok = 0, Warn = 1, Alert = 2 };

// The words the report, logs and thresholds documentation share.
const char* to_string(Status status) {
    switch (status) {
    case Status::Ok: return "ok";
    case Status::Warn: return "warn";
    case Status::Alert: return "alert";
    }
    return "ok";
}

// One bin of one column: row counts on each side, turned into fractions only for the PSI.
struct Bin {
    std::string label;
    uint64_t reference = 0;
    uint64_t current = 0;
};

// Everything the report and the metrics say about one column.
struct ColumnDrift {
    std::string name;
    ColumnType type;
    std::vector<Bin> bins;
    double psi = 0;
    Status status = Status::Ok;
};

// Int and float columns are binned alike, so a column may change between the two.
bool is_numeric(ColumnType type) { return type == ColumnType::Int64 || type == ColumnType::Float64; }

// Value `i` of a numeric column as a double, or NaN when it is null; NaN values count as missing.
double numeric_at(const Column& column, size_t i) {
    if (column.is_null(i)) return std::nan("");
    return column.type() == ColumnType::Int64 ? static_cast<double>(column.int_at(i)) : column.float_at(i);
}

// Equal-frequency bins from the reference sample, so each bin starts with about the same share
// of reference rows and PSI weighs every part of the distribution alike.
std::vector<Bin> numeric_bins(const Column& ref, const Column& cur, int64_t bins, const trellis::Context& ctx) {
    std::vector<double> sorted;
    sorted.reserve(ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
        if (i % cancel_stride == 0) ctx.throw_if_cancelled();
        const double value = numeric_at(ref, i);
        if (!std::isnan(value)) sorted.push_back(value);
    }
    std::sort(sorted.begin(), sorted.end());

    // Cut points at reference ranks k*n/bins; a cut equal to the minimum would only open an empty
    // bin below the data, and repeated cuts would open empty bins between them.
    std::vector<double> cuts;
    const uint64_t n = sorted.size();
    for (int64_t k = 1; k < bins && n > 0; ++k) {
        const double cut = sorted[static_cast<size_t>(static_cast<uint64_t>(k) * n / static_cast<uint64_t>(bins))];
        if (cut > sorted.front() && (cuts.empty() || cut > cuts.back())) cuts.push_back(cut);
    }

    std::vector<Bin> out;
    // A constant reference leaves no cuts; "below", "equal" and "above" still show a shift.
    const bool constant = n > 0 && cuts.empty();
    if (constant) {
        const std::string v = short_number(sorted.front());
        out = {{"(-inf, " + v + ")"}, {"[" + v + ", " + v + "]"}, {"(" + v + ", +inf)"}};
    } else if (n == 0) {
        out = {{"(-inf, +inf)"}};
    } else {
        out.push_back({"(-inf, " + short_number(cuts.front()) + ")"});
        for (size_t i = 0; i + 1 < cuts.size(); ++i)
            out.push_back({"[" + short_number(cuts[i]) + ", " + short_number(cuts[i + 1]) + ")"});
        out.push_back({"[" + short_number(cuts.back()) + ", +inf)"});
    }
    Bin missing{"missing"};
    const auto count = [&](const Column& column, uint64_t Bin::*side) {
        for (size_t i = 0; i < column.size(); ++i) {
            if (i % cancel_stride == 0) ctx.throw_if_cancelled();
            const double value = numeric_at(column, i);
            size_t bin = 0;
            if (std::isnan(value)) {
                ++(missing.*side);
                continue;
            }
            if (constant) bin = value < sorted.front() ? 0 : value == sorted.front() ? 1 : 2;
            else bin = static_cast<size_t>(std::upper_bound(cuts.begin(), cuts.end(), value) - cuts.begin());
            ++(out[bin].*side);
        }
    };
    count(ref, &Bin::reference);
    count(cur, &Bin::current);
    if (missing.reference || missing.current) out.push_back(missing);
    return out;
}

// One bin per category seen in either table, in byte order so the report is deterministic.
std::vector<Bin> category_bins(const Column& ref, const Column& cur, const trellis::Context& ctx) {
    std::map<std::string, Bin> categories;
    Bin missing{"missing"};
    const auto count = [&](const Column& column, uint64_t Bin::*side) {
        for (size_t i = 0; i < column.size(); ++i) {
            if (i % cancel_stride == 0) ctx.throw_if_cancelled();
            if (column.is_null(i)) {
                ++(missing.*side);
                continue;
            }
            const std::string key = column.type() == ColumnType::Bool ? (column.bool_at(i) ? "true" : "false")
                                                                : std::string(column.string_at(i));
            auto found = categories.find(key);
            if (found == categories.end()) found = categories.emplace(key, Bin{key}).first;
            ++(found->second.*side);
        }
    };
    count(ref, &Bin::reference);
    count(cur, &Bin::current);
    std::vector<Bin> out;
    out.reserve(categories.size() + 1);
    for (auto& [key, bin] : categories) out.push_back(std::move(bin));
    if (missing.reference || missing.current) out.push_back(missing);
    return out;
}

// PSI = sum over bins of (c - r) * ln(c / r), with both fractions floored at fraction_floor.
double psi(const std::vector<Bin>& bins, size_t reference_rows, size_t current_rows) {
    double sum = 0;
    for (const Bin& bin : bins) {
        const double r = std::max(static_cast<double>(bin.reference) / static_cast<double>(reference_rows), fraction_floor);
        const double c = std::max(static_cast<double>(bin.current) / static_cast<double>(current_rows), fraction_floor);
        sum += (c - r) * std::log(c / r);
    }
    return sum;
}

// Lists names in messages; "none" keeps an empty list readable.
std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out.empty() ? "none" : out;
}

// The stage: a data-quality check to run on every new batch before trusting a model's output.
class Drift : public trellis::MonitorStage {
public:
    static trellis::StageSpec spec() {
        return trellis::StageSpec("monitor.drift", "measures distribution drift per column with the PSI")
            .input("reference", trellis::ArtifactType::Table, "the baseline, e.g. the training data")
            .input("current", trellis::ArtifactType::Table, "the data to compare with the baseline")
            .output("report", trellis::ArtifactType::Report, "JSON: status, thresholds and per-column bins and PSI")
            .output("metrics", trellis::ArtifactType::Metrics, "psi.<column> per column and psi_max")
            .option_string_list("columns", {}, "columns to compare; empty: every column present in both tables")
            .option_int("bins", 10, "equal-frequency bins for numeric columns, 2 to 10000")
            .option_float("warn", 0.1, "PSI at or above which a column is in warn status")
            .option_float("alert", 0.25, "PSI at or above which a column is in alert status")
            .option_bool("fail_on_alert", false, "fail the stage when any column is in alert status");
    }

    void run(trellis::Context& ctx) override {
        const auto wanted = ctx.config<std::vector<std::string>>("columns");
        const int64_t bins = ctx.config<int64_t>("bins");
        const double warn = ctx.config<double>("warn");
        const double alert = ctx.config<double>("alert");
        const bool fail_on_alert = ctx.config<bool>("fail_on_alert");
        if (bins < 2 || bins > max_bins)
            throw std::invalid_argument("bins: must be between 2 and " + std::to_string(max_bins) + ", not " +
                                        std::to_string(bins));
        if (!std::isfinite(warn) || warn < 0)
            throw std::invalid_argument("warn: must be a finite number >= 0, not " + short_number(warn));
        if (!std::isfinite(alert) || alert < warn)
            throw std::invalid_argument("alert: must be a finite number >= warn (" + short_number(warn) + "), not " +
                                        short_number(alert));

        const Table reference = ctx.input<Table>("reference");
        const Table current = ctx.input<Table>("current");
        if (reference.num_rows() == 0) throw std::invalid_argument("reference: the table has no rows to compare with");
        if (current.num_rows() == 0) throw std::invalid_argument("current: the table has no rows to compare");
        const std::vector<std::string> names = pick_columns(wanted, reference, current);

        std::vector<ColumnDrift> drifts;
        for (const auto& name : names) {
            ctx.throw_if_cancelled();
            const Column& ref = reference.column(name);
            const Column& cur = current.column(name);
            const bool numeric = is_numeric(ref.type()) && is_numeric(cur.type());
            if (!numeric && ref.type() != cur.type())
                throw std::invalid_argument("column '" + name + "' is " + std::string(trellis::to_string(ref.type())) +
                                            " in the reference table but " +
                                            std::string(trellis::to_string(cur.type())) + " in the current table");
            ColumnDrift drift{name, ref.type(), numeric ? numeric_bins(ref, cur, bins, ctx) : category_bins(ref, cur, ctx)};
            drift.psi = psi(drift.bins, reference.num_rows(), current.num_rows());
            drift.status = drift.psi >= alert ? Status::Alert : drift.psi >= warn ? Status::Warn : Status::Ok;
            drifts.push_back(std::move(drift));
        }

        Status overall = Status::Ok;
        trellis::Metrics metrics;
        double psi_max = 0;
        std::vector<std::string> alerting, warning;
        for (const auto& drift : drifts) {
            overall = std::max(overall, drift.status);
            psi_max = std::max(psi_max, drift.psi);
            metrics.values["psi." + drift.name] = drift.psi;
            // One line per column only at debug level: a wide table would flood the run's log.
            ctx.log().debug("column '" + drift.name + "' (" + std::string(trellis::to_string(drift.type)) + ", " +
                            std::to_string(drift.bins.size()) + " bins): psi = " + short_number(drift.psi) + " (" +
                            to_string(drift.status) + ")");
            const std::string entry = drift.name + " (psi = " + short_number(drift.psi) + ")";
            if (drift.status == Status::Alert) alerting.push_back(entry);
            else if (drift.status == Status::Warn) warning.push_back(entry);
        }
        ctx.log().info("drift " + std::string(to_string(overall)) + " over " + std::to_string(drifts.size()) +
                       " columns: " + std::to_string(alerting.size()) + " alert, " + std::to_string(warning.size()) +
                       " warn; psi_max = " + short_number(psi_max));
        if (!alerting.empty())
            ctx.log().warn("drift alert (psi >= " + short_number(alert) + ") on columns: " + join(alerting));
        if (!warning.empty())
            ctx.log().warn("drift warn (psi >= " + short_number(warn) + ") on columns: " + join(warning));
        metrics.values["psi_max"] = psi_max;

        ctx.output("report", trellis::Report{report(overall, warn, alert, reference.num_rows(), current.num_rows(), drifts)});
        ctx.output("metrics", metrics);
        if (fail_on_alert && !alerting.empty())
            throw trellis::Error(TRELLIS_ERR_FAILED, "drift alert (psi >= " + short_number(alert) +
                                                         ") on columns: " + join(alerting));
    }

private:
    // The named columns, or every column of the reference that the current table also has.
    static std::vector<std::string> pick_columns(const std::vector<std::string>& wanted, const Table& reference,
                                                 const Table& current) {
        std::vector<std::string> names;
        if (wanted.empty()) {
            for (const auto& name : reference.column_names())
                if (current.find(name)) names.push_back(name);
            if (names.empty())
                throw std::invalid_argument("columns: no column is present in both tables (reference: " +
                                            join(reference.column_names()) + "; current: " +
                                            join(current.column_names()) + ")");
            return names;
        }
        std::set<std::string> seen;
        for (const auto& name : wanted) {
            if (!seen.insert(name).second) throw std::invalid_argument("columns: column '" + name + "' is listed twice");
            if (!reference.find(name))
                throw std::invalid_argument("columns: no column '" + name + "' in the reference table");
            if (!current.find(name))
                throw std::invalid_argument("columns: no column '" + name + "' in the current table");
            names.push_back(name);
        }
        return names;
    }

    // The report: one status for dashboards, and the bins behind each number for people.
    static std::string report(Status overall, double warn, double alert, size_t reference_rows, size_t current_rows,
                              const std::vector<ColumnDrift>& drifts) {
        const auto fraction = [](uint64_t count, size_t rows) {
            return json_number(static_cast<double>(count) / static_cast<double>(rows));
        };
        std::string json = "{\"status\": \"" + std::string(to_string(overall)) + "\", \"thresholds\": {\"warn\": " +
                           json_number(warn) + ", \"alert\": " + json_number(alert) +
                           "}, \"reference_rows\": " + std::to_string(reference_rows) +
                           ", \"current_rows\": " + std::to_string(current_rows) + ", \"columns\": [";
        for (size_t i = 0; i < drifts.size(); ++i) {
            const ColumnDrift& drift = drifts[i];
            json += i ? ", " : "";
            json += "{\"name\": " + json_string(drift.name) + ", \"type\": \"" +
                    std::string(trellis::to_string(drift.type)) + "\", \"psi\": " + json_number(drift.psi) +
                    ", \"status\": \"" + to_string(drift.status) + "\", \"bins\": [";
            for (size_t b = 0; b < drift.bins.size(); ++b) {
                const Bin& bin = drift.bins[b];
                json += b ? ", " : "";
                json += "{\"label\": " + json_string(bin.label) +
                        ", \"reference\": " + fraction(bin.reference, reference_rows) +
                        ", \"current\": " + fraction(bin.current, current_rows) +
                        ", \"reference_count\": " + std::to_string(bin.reference) +
                        ", \"current_count\": " + std::to_string(bin.current) + "}";
            }
            json += "]}";
        }
        return json + "]}";
    }
};

const trellis::PluginInfo info{
    .name = "monitor-drift",
    .version = "0.1.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "measures data drift between two tables with the population stability index",
};

} // namespace

TRELLIS_PLUGIN(info, Drift)
