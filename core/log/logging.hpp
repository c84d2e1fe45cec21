// Console logging for the whole process, and named loggers (one per plugin or stage) that share it.
#pragma once

#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace trellis::core::logging {

struct Options {
    spdlog::level::level_enum level = spdlog::level::info;
    bool quiet = false; // only warnings and errors
};

// Sets up the stderr sink: coloured on a terminal unless NO_COLOR is set, plain lines otherwise.
void setup(const Options& options);

// A logger named `name` that writes through the process's sinks; made on first use.
std::shared_ptr<spdlog::logger> get(const std::string& name);

// A logger named `name` that writes through the process's sinks, not kept in spdlog's registry:
// for the many short-lived loggers of stage executions.
std::shared_ptr<spdlog::logger> create(const std::string& name);

// Shows `text` as a status line at the bottom of a terminal, under the log lines; "" removes it.
// Only for a terminal: the caller checks isatty.
void set_status_line(const std::string& text);

// Whether the console shows lines of `level` (so -q can silence progress too).
bool console_shows(spdlog::level::level_enum level);

// Also writes every logger's lines to `file` (a run's log file), at debug level and above.
void add_file_sink(const std::filesystem::path& file);
// Stops writing to `file` (added by add_file_sink): a process that runs many runs (trellis monitor)
// gives each its own log.
void remove_file_sink(const std::filesystem::path& file);

// "trace", "debug", "info", "warn", "error", "critical", "off"; nothing for anything else.
std::optional<spdlog::level::level_enum> parse_level(const std::string& text);

} // namespace trellis::core::logging
