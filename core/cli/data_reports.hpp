// What `trellis runs show` prints about data: the Report outputs of a run's executions whose JSON
// has one of two documented kinds, "trellis.data_statistics" (per-column statistics) and
// "trellis.anomalies" (what broke a data schema). Any stage's reports of these kinds are shown,
// whichever plugin wrote them, so a vendor's validator gets the same display as data.validate.
// Reports of a failed execution are shown too: the executor keeps the outputs a stage set before
// it failed.
#pragma once

#include "store/run_queries.hpp"
#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace trellis::cli {

/// The documented kinds.
inline constexpr const char* data_statistics_kind = "trellis.data_statistics";
inline constexpr const char* anomalies_kind = "trellis.anomalies";

/// One Report output of a documented kind, or one that could not be read.
struct DataReport {
    std::string stage_id;
    std::string port;
    std::string digest;
    std::string kind;         ///< empty when unreadable
    nlohmann::json document;  ///< the parsed report; null when unreadable
    std::string problem;      ///< why it could not be read
};

/// The data reports among the outputs of `executions`, in execution then port order. Reads only
/// Report artifacts (the metadata store knows each output's type), from the store at `store_root`.
std::vector<DataReport> find_data_reports(store::Database& db, const std::filesystem::path& store_root,
                                          const std::vector<store::ExecutionSummary>& executions);

/// `runs show --json`'s "data_reports": [{"stage_id", "port", "digest", "kind", "report"}], with
/// "error" instead of "kind" and "report" for one that could not be read.
nlohmann::json data_reports_json(const std::vector<DataReport>& reports);

/// Prints a statistics table (column, type, count, missing, mean, std, min, max, distinct) for
/// each statistics report and the anomaly list (severity, column, rule, detail) for each
/// anomalies report; nothing when there are none.
void print_data_reports(std::ostream& out, const std::vector<DataReport>& reports);

} // namespace trellis::cli
