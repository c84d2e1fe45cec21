// Reads a window of a served endpoint's prediction log (<store>/predictions/<endpoint>/<day>.jsonl,
// written by trellis serve) back into tables: the inputs the model saw and the outputs it gave,
// one row per predicted row, with each row's request id, version, variant and time. This is what
// the monitor hands to monitor stages, and what delayed labels are joined to by request id.
#pragma once

#include <trellis/table.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace trellis::monitor {

// Which records make the window. Only answered requests (status 200) are read; shadow answers
// only when asked, since they were never returned to anyone.
struct WindowQuery {
    std::optional<double> since;     // Unix seconds, inclusive
    std::optional<double> until;     // Unix seconds, exclusive
    std::optional<size_t> last_rows; // the newest rows only, after the other filters
    size_t skip_newest = 0;          // leave out this many newest rows first (the window before a count window)
    std::optional<int64_t> version;
    std::optional<std::string> variant; // primary, canary, shadow or version
    bool include_shadow = false;        // implied by variant = "shadow"
};

// How many reasons a window keeps for lines it left out: enough to see what is wrong with a log,
// bounded when a whole file is garbage.
inline constexpr size_t max_skipped_reasons = 20;

// A window: `inputs` and `outputs` have one row per predicted row, in log order, and the vectors
// describe the same rows.
struct PredictionWindow {
    Table inputs;
    Table outputs;
    std::vector<std::string> request_ids;
    std::vector<int64_t> request_rows; // the row within its request, which labels name
    std::vector<int64_t> versions;
    std::vector<std::string> variants;
    std::vector<std::string> models; // the registered model's name
    std::vector<double> times;
    size_t records = 0;                // log records that contributed rows
    size_t skipped_lines = 0;          // lines left out
    std::vector<std::string> skipped;  // "FILE:LINE: why" for the first max_skipped_reasons of them
};

// Reads the window of `endpoint` from `predictions_folder` (<store>/predictions). Days are read in
// order; a line that is not a well-formed record (a torn last line after a crash, a record whose
// columns disagree in length or type with the others) is left out and listed in `skipped`, so one
// bad line never hides the rest. Throws std::runtime_error naming the folder when the endpoint has
// no log at all.
PredictionWindow read_prediction_window(const std::filesystem::path& predictions_folder, const std::string& endpoint,
                                        const WindowQuery& query);

// The window as one table: request_id, time, version, variant, then the inputs, then the outputs
// (an output named like an input becomes output.NAME), then `labels` if given (same rows).
Table window_table(const PredictionWindow& window, const Column* labels);

} // namespace trellis::monitor
