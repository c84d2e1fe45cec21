// What the store's read commands (`runs`, `lineage`, `gc`) share: opening the store, and turning
// times, sizes, numbers and rows into text.
#pragma once

#include "store/clock.hpp"

#include "cli/cli_context.hpp"
#include "store/metadata_store.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace trellis::cli {

// Opens <store>/metadata.db and marks runs whose process died as interrupted. Nothing when the
// store has no metadata database yet (nothing has run), so looking does not create a store.
std::unique_ptr<store::MetadataStore> open_metadata(const CliContext& context);

// The message for commands that need a store that is not there.
std::string no_store_message(const CliContext& context);

// Runs `body`, turning a store::LookupError (a name that matches nothing, or several things) into
// a UsageError, so it is reported as bad input (exit 2).
int with_lookup_errors(const std::function<int()>& body);

// Local time "2026-11-23 17:05" (with_seconds: "2026-11-23 17:05:09").
std::string local_time(double unix_seconds, bool with_seconds = false);
// "812 B", "12.3 KiB", "4.0 MiB", ...
std::string format_bytes(uint64_t bytes);
// A metric value for a table: 6 significant digits; "nan" for nothing.
std::string format_value(const std::optional<double>& value);
// "1.2 s", "187 ms", "3m05s"; "-" for nothing.
std::string format_seconds(const std::optional<double>& seconds);

// Prints rows as columns two spaces apart, each line after `indent`; the last column is not padded.
void print_columns(std::ostream& out, const std::vector<std::vector<std::string>>& rows, const std::string& indent = "");

// A JSON number, or null for nothing.
nlohmann::json json_number(const std::optional<double>& value);

using store::unix_now;

} // namespace trellis::cli
