// Delayed labels: the ground truth of a prediction, known only later (a loan defaults, a customer
// churns), sent to the server (POST /v2/models/<endpoint>/labels) or given to `trellis monitor
// labels` as a file, kept in the metadata store (table prediction_labels) and joined to the
// prediction log by request id and row. A label sent again for the same row replaces the earlier
// one, so a corrected feed can simply be sent again.
#pragma once

#include <trellis/table.hpp>

#include "store/sqlite.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace trellis::monitor {

// Labels that cannot be taken: one line naming the item or FILE:LINE and what is wrong with it.
class LabelError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

struct Label {
    std::string request_id;
    int64_t row = 0;      // the row within the request
    nlohmann::json value; // a finite number, a string or a bool
};

// At most this many labels in one body or file, so one request cannot hold the store's write lock
// for long; split bigger feeds.
inline constexpr size_t max_labels_per_batch = 1'000'000;

// The labels of a JSON body: {"labels": [{"id": "r1", "label": 1}, {"id": "r2", "label": [0, 1]},
// {"id": "r3", "row": 2, "label": "spam"}]}. A list gives one label per row of the request; "row"
// names the row of a single label. Throws LabelError naming the item ("labels[3].label: ...").
std::vector<Label> parse_label_body(const nlohmann::json& body);

// The labels of a file: CSV with a header naming request_id (or id), label and optionally row; or
// JSON Lines (.jsonl, .ndjson), one item as in a body per line; or a .json file holding a body.
// CSV labels that read as numbers or true/false are those; others are strings. Throws LabelError
// naming FILE:LINE.
std::vector<Label> read_label_file(const std::filesystem::path& file);

struct LabelWrite {
    size_t inserted = 0;
    size_t replaced = 0;
};

// Stores `labels` for `endpoint` in one transaction (all or none), sent by `actor` at `at`.
LabelWrite store_labels(store::Database& db, const std::string& endpoint, const std::vector<Label>& labels,
                        const std::string& actor, double at);

// When the newest label of `endpoint` arrived, if any has.
std::optional<double> latest_label_time(store::Database& db, const std::string& endpoint);

// The labels of rows of the prediction log (a window's request_ids and request_rows), null where
// a row has none yet: a column named `name`, Int64 when every label is a whole number, Float64
// when all are numbers, Bool, else String (numbers and bools written as text). Shadow rows share
// their request's label.
Column window_labels(store::Database& db, const std::string& endpoint, const std::vector<std::string>& request_ids,
                     const std::vector<int64_t>& request_rows, const std::string& name);

} // namespace trellis::monitor
