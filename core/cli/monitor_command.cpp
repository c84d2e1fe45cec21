#include "cli/monitor_command.hpp"

#include "cli/exit_codes.hpp"
#include "cli/governance_view.hpp"
#include "cli/monitor_run.hpp"
#include "monitor/labels.hpp"
#include "monitor/prediction_window.hpp"
#include "util/duration.hpp"
#include "util/json_text.hpp"
#include "util/utc_time.hpp"

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

namespace trellis::cli {

namespace {

using nlohmann::json;

struct WindowArgs {
    std::string endpoint;
    std::optional<std::string> since, until;
    std::optional<size_t> last;
    std::optional<int64_t> version;
    std::optional<std::string> variant;
    bool shadow = false;
    std::optional<std::string> csv;
    bool labels = false;
    bool json = false;
};

struct LabelArgs {
    std::string endpoint;
    std::string file;
    bool json = false;
};

// A time people type: a duration ago ("2h"), a UTC date or time ("2026-12-07", "2026-12-07T10:30:00Z"),
// or Unix seconds after '@' ("@1796601600").
double parse_time(const std::string& text, const std::string& option) {
    if (!text.empty() && text[0] == '@') {
        try {
            size_t used = 0;
            const double seconds = std::stod(text.substr(1), &used);
            if (used == text.size() - 1 && std::isfinite(seconds)) return seconds;
        } catch (const std::exception&) {
        }
    } else if (const auto ago = core::parse_duration(text)) {
        const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        return now - *ago;
    } else {
        std::tm parts{};
        int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
        char tail[4] = {0};
        const int read = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%3s", &year, &month, &day, &hour, &minute, &second, tail);
        const bool date_only = read == 3 && text.size() == 10;
        const bool full = read == 7 && std::string(tail) == "Z";
        if ((date_only || full) && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour < 24 && minute < 60 && second < 61) {
            parts.tm_year = year - 1900;
            parts.tm_mon = month - 1;
            parts.tm_mday = day;
            parts.tm_hour = hour;
            parts.tm_min = minute;
            parts.tm_sec = second;
            return static_cast<double>(timegm(&parts));
        }
    }
    throw UsageError(option + ": '" + text +
                     "' is not a time: give a duration ago (2h, 30m), a UTC date or time (2026-12-07, "
                     "2026-12-07T10:30:00Z) or Unix seconds (@1796601600)");
}

std::string utc_text(double seconds) { return core::utc_time_text(seconds, "%Y-%m-%dT%H:%M:%SZ"); }

// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string out = "\"";
    for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

// All 17 digits, so a CSV reader gets back the exact double.
std::string exact_number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return text;
}

std::string cell(const Column& column, size_t row) {
    if (column.is_null(row)) return "";
    switch (column.type()) {
    case ColumnType::Int64: return std::to_string(column.int_at(row));
    case ColumnType::Float64: return exact_number(column.float_at(row));
    case ColumnType::Bool: return column.bool_at(row) ? "true" : "false";
    case ColumnType::String: return csv_field(std::string(column.string_at(row)));
    }
    return "";
}

// A table as RFC 4180 CSV, numbers exact.
void write_csv(const Table& table, const std::string& path) {
    std::ofstream out(path, std::ios::trunc);
    if (!out) throw UsageError("--csv: cannot write " + path);
    for (size_t c = 0; c < table.num_columns(); ++c) out << (c ? "," : "") << csv_field(table.column(c).name());
    out << "\n";
    for (size_t r = 0; r < table.num_rows(); ++r) {
        for (size_t c = 0; c < table.num_columns(); ++c) out << (c ? "," : "") << cell(table.column(c), r);
        out << "\n";
    }
    if (!out.flush()) throw UsageError("--csv: cannot write " + path);
}

int show_window(CliContext& context, const WindowArgs& args) {
    return with_governance_errors([&] {
        auto store = open_governed(context, false);
        store.gov().require(govern::Role::Viewer, "read the prediction log");
        monitor::WindowQuery query;
        if (args.since) query.since = parse_time(*args.since, "--since");
        if (args.until) query.until = parse_time(*args.until, "--until");
        query.last_rows = args.last;
        query.version = args.version;
        query.variant = args.variant;
        query.include_shadow = args.shadow;
        monitor::PredictionWindow window;
        try {
            window = monitor::read_prediction_window(context.settings().store_path() / "predictions", args.endpoint, query);
        } catch (const std::runtime_error& e) {
            throw UsageError(e.what());
        }
        for (const auto& reason : window.skipped) std::cerr << "trellis: warning: skipped " << reason << "\n";
        if (window.skipped_lines > window.skipped.size())
            std::cerr << "trellis: warning: skipped " << window.skipped_lines - window.skipped.size() << " more lines\n";
        std::optional<Column> labels;
        if (args.labels) {
            const std::string name = window.inputs.find("label") || window.outputs.find("label") ? "label.true" : "label";
            labels = monitor::window_labels(store.db(), args.endpoint, window.request_ids, window.request_rows, name);
        }
        if (args.csv) write_csv(monitor::window_table(window, labels ? &*labels : nullptr), *args.csv);

        const size_t rows = window.request_ids.size();
        std::map<int64_t, size_t> by_version;
        std::map<std::string, size_t> by_variant;
        for (size_t r = 0; r < rows; ++r) {
            ++by_version[window.versions[r]];
            ++by_variant[window.variants[r]];
        }
        if (args.json) {
            json out{{"endpoint", args.endpoint}, {"rows", rows}, {"records", window.records},
                     {"skipped_lines", window.skipped_lines}, {"inputs", window.inputs.column_names()},
                     {"outputs", window.outputs.column_names()}, {"versions", json::object()}, {"variants", by_variant}};
            for (const auto& [version, count] : by_version) out["versions"][std::to_string(version)] = count;
            out["first"] = rows ? json(window.times.front()) : json(nullptr);
            out["last"] = rows ? json(window.times.back()) : json(nullptr);
            if (labels) {
                out["labelled"] = rows - labels->null_count();
                out["unlabelled"] = labels->null_count();
            }
            if (args.csv) out["csv"] = *args.csv;
            std::cout << core::dump_json(out, 2) << "\n";
            return exit_ok;
        }
        std::cout << "endpoint " << args.endpoint << ": " << rows << " rows from " << window.records << " records";
        if (rows) std::cout << ", " << utc_text(window.times.front()) << " to " << utc_text(window.times.back());
        std::cout << "\n";
        if (rows) {
            std::cout << "  versions:";
            for (const auto& [version, count] : by_version) std::cout << " " << version << " (" << count << " rows)";
            std::cout << "\n  variants:";
            for (const auto& [variant, count] : by_variant) std::cout << " " << variant << " (" << count << ")";
            std::cout << "\n  inputs: " << window.inputs.num_columns() << " columns; outputs: ";
            for (size_t c = 0; c < window.outputs.num_columns(); ++c)
                std::cout << (c ? ", " : "") << window.outputs.column_names()[c];
            std::cout << "\n";
            if (labels)
                std::cout << "  labels: " << rows - labels->null_count() << " rows labelled, " << labels->null_count()
                          << " still unlabelled\n";
        }
        if (args.csv) std::cout << "wrote " << *args.csv << "\n";
        return exit_ok;
    });
}

int post_labels(CliContext& context, const LabelArgs& args) {
    return with_governance_errors([&] {
        auto store = open_governed(context, false);
        store.gov().require(govern::Role::Developer, "add labels to endpoint " + args.endpoint);
        std::vector<monitor::Label> labels;
        try {
            labels = monitor::read_label_file(args.file);
        } catch (const monitor::LabelError& e) {
            throw UsageError(e.what());
        }
        if (labels.empty()) throw UsageError(args.file + ": holds no labels");
        const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        const auto written = monitor::store_labels(store.db(), args.endpoint, labels, store.gov().who().name, now);
        if (args.json) {
            std::cout << core::dump_json(json{{"endpoint", args.endpoint}, {"file", args.file}, {"accepted", labels.size()},
                                              {"inserted", written.inserted}, {"replaced", written.replaced}},
                                         2)
                      << "\n";
        } else {
            std::cout << "endpoint " << args.endpoint << ": stored " << labels.size() << " labels from " << args.file << " ("
                      << written.inserted << " new, " << written.replaced << " replacing earlier ones)\n";
        }
        return exit_ok;
    });
}

} // namespace

void add_monitor_command(CLI::App& app, std::function<CliContext&()> context, std::function<int()>& action) {
    auto* monitor = app.add_subcommand("monitor", "Watch served models: windows of their prediction log, delayed labels, "
                                                  "monitoring policies and their alerts");
    monitor->require_subcommand(1);
    auto args = std::make_shared<WindowArgs>();
    auto* window = monitor->add_subcommand("window", "Sum up a window of an endpoint's prediction log, or write it as CSV");
    window->add_option("endpoint", args->endpoint, "Endpoint name, as in the deployment file")->required();
    window->add_option("--since", args->since, "From this time: 2h (ago), 2026-12-07, 2026-12-07T10:30:00Z or @UNIX");
    window->add_option("--until", args->until, "Before this time (same forms)");
    window->add_option("--last", args->last, "Only the newest N rows")->check(CLI::PositiveNumber);
    window->add_option("--version", args->version, "Only rows answered by this model version");
    window->add_option("--variant", args->variant, "Only this variant")
        ->check(CLI::IsMember({"primary", "canary", "shadow", "version"}));
    window->add_flag("--shadow", args->shadow, "Include shadow answers (never returned to clients)");
    window->add_option("--csv", args->csv, "Write the rows to this CSV file (request_id, time, version, variant, inputs, outputs)");
    window->add_flag("--labels", args->labels, "Join the delayed labels (a label column; counts of labelled rows)");
    window->add_flag("--json", args->json, "Print the summary as JSON");
    window->callback([context, args, &action] { action = [context, args] { return show_window(context(), *args); }; });

    auto label_args = std::make_shared<LabelArgs>();
    auto* labels = monitor->add_subcommand("labels", "Store delayed labels (ground truth) for an endpoint's predictions, "
                                                     "from a CSV, JSON Lines or JSON file");
    labels->add_option("endpoint", label_args->endpoint, "Endpoint name, as in the deployment file")->required();
    labels->add_option("file", label_args->file, "CSV with request_id, label (and row) columns; .jsonl; or .json")->required();
    labels->add_flag("--json", label_args->json, "Print the outcome as JSON");
    labels->callback([context, label_args, &action] {
        action = [context, label_args] { return post_labels(context(), *label_args); };
    });
    add_monitor_run_commands(monitor, context, action);
}

} // namespace trellis::cli
