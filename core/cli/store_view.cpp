#include "cli/store_view.hpp"

#include "exec/progress.hpp"
#include "store/run_queries.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>

namespace trellis::cli {

std::unique_ptr<store::MetadataStore> open_metadata(const CliContext& context) {
    const auto root = context.settings().store_path();
    std::error_code ec;
    if (!std::filesystem::exists(store::MetadataStore::database_path(root), ec)) return nullptr;
    auto metadata = std::make_unique<store::MetadataStore>(root);
    metadata->reap_interrupted();
    return metadata;
}

std::string no_store_message(const CliContext& context) {
    return "no runs recorded in " + context.settings().store_path().string() +
           " yet (no metadata.db; '--store DIR' chooses another store)";
}

int with_lookup_errors(const std::function<int()>& body) {
    try {
        return body();
    } catch (const store::LookupError& e) {
        throw UsageError(e.what());
    }
}

std::string local_time(double unix_seconds, bool with_seconds) {
    const auto seconds = static_cast<std::time_t>(std::floor(unix_seconds));
    std::tm local{};
    localtime_r(&seconds, &local);
    char text[40];
    std::strftime(text, sizeof text, with_seconds ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &local);
    return text;
}

std::string format_bytes(uint64_t bytes) {
    if (bytes < 1024) return std::to_string(bytes) + " B";
    static const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double value = static_cast<double>(bytes) / 1024;
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(units)) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
    return text;
}

std::string format_value(const std::optional<double>& value) {
    if (!value) return "nan";
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", *value);
    return text;
}

std::string format_seconds(const std::optional<double>& seconds) {
    return seconds ? core::format_duration(*seconds) : "-";
}

void print_columns(std::ostream& out, const std::vector<std::vector<std::string>>& rows, const std::string& indent) {
    std::vector<size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()), 0);
        for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
    }
    for (const auto& row : rows) {
        std::string line = indent;
        for (size_t c = 0; c < row.size(); ++c)
            line += c + 1 == row.size() ? row[c] : row[c] + std::string(widths[c] - row[c].size() + 2, ' ');
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out << line << "\n";
    }
}

nlohmann::json json_number(const std::optional<double>& value) { return value ? nlohmann::json(*value) : nlohmann::json(); }

} // namespace trellis::cli
