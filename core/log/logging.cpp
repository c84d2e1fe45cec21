#include "log/logging.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unistd.h>
#include <vector>

namespace trellis::core::logging {
namespace {

const char* const line_pattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";
std::mutex sinks_mutex;
std::vector<spdlog::sink_ptr> sinks;
std::map<std::string, spdlog::sink_ptr> file_sinks; // by file, for remove_file_sink
spdlog::level::level_enum console_level = spdlog::level::info;

bool colour_wanted() {
    const char* no_color = std::getenv("NO_COLOR"); // https://no-color.org: any non-empty value
    return isatty(STDERR_FILENO) && !(no_color && *no_color);
}

std::vector<spdlog::sink_ptr> current_sinks() {
    std::lock_guard lock(sinks_mutex);
    if (sinks.empty()) {
        auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::never);
        console->set_level(console_level);
        sinks.push_back(console);
    }
    return sinks;
}

// The live status line a terminal run shows under the log. Log lines are written above it: the
// line is cleared first and drawn again after.
std::mutex status_mutex;
std::string status_line;

class StatusLineSink : public spdlog::sinks::sink {
public:
    explicit StatusLineSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}
    void log(const spdlog::details::log_msg& message) override {
        if (!should_log(message.level)) return;
        std::lock_guard lock(status_mutex);
        if (!status_line.empty()) std::fputs("\r\033[K", stderr);
        inner_->log(message);
        inner_->flush();
        if (!status_line.empty()) std::fputs(status_line.c_str(), stderr);
        std::fflush(stderr);
    }
    void flush() override { inner_->flush(); }
    void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
    void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override { inner_->set_formatter(std::move(formatter)); }

private:
    std::shared_ptr<spdlog::sinks::sink> inner_;
};

std::shared_ptr<spdlog::logger> make_logger(const std::string& name) {
    auto sink_list = current_sinks();
    auto logger = std::make_shared<spdlog::logger>(name, sink_list.begin(), sink_list.end());
    logger->set_level(spdlog::level::trace); // sinks filter
    logger->set_pattern(line_pattern);
    return logger;
}

} // namespace

void setup(const Options& options) {
    {
        std::lock_guard lock(sinks_mutex);
        console_level = options.quiet ? std::max(options.level, spdlog::level::warn) : options.level;
        spdlog::sink_ptr console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
            colour_wanted() ? spdlog::color_mode::always : spdlog::color_mode::never);
        if (isatty(STDERR_FILENO)) console = std::make_shared<StatusLineSink>(console);
        console->set_level(console_level);
        sinks = {console};
    }
    spdlog::drop_all();
    spdlog::set_default_logger(make_logger("trellis"));
}

std::shared_ptr<spdlog::logger> get(const std::string& name) {
    if (auto existing = spdlog::get(name)) return existing;
    auto logger = make_logger(name);
    try {
        spdlog::register_logger(logger);
    } catch (const spdlog::spdlog_ex&) { // another thread registered it first
        return spdlog::get(name);
    }
    return logger;
}

std::shared_ptr<spdlog::logger> create(const std::string& name) { return make_logger(name); }

void set_status_line(const std::string& text) {
    std::lock_guard lock(status_mutex);
    status_line = text;
    std::fputs("\r\033[K", stderr);
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
}

bool console_shows(spdlog::level::level_enum level) {
    std::lock_guard lock(sinks_mutex);
    return level >= console_level;
}

void add_file_sink(const std::filesystem::path& file) {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string());
    sink->set_level(spdlog::level::debug);
    sink->set_pattern(line_pattern); // loggers made before it would otherwise give it spdlog's default
    {
        std::lock_guard lock(sinks_mutex);
        sinks.push_back(sink);
    }
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) { logger->sinks().push_back(sink); });
    std::lock_guard lock(sinks_mutex);
    file_sinks[file.string()] = sink;
}

void remove_file_sink(const std::filesystem::path& file) {
    spdlog::sink_ptr sink;
    {
        std::lock_guard lock(sinks_mutex);
        const auto found = file_sinks.find(file.string());
        if (found == file_sinks.end()) return;
        sink = found->second;
        file_sinks.erase(found);
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
    }
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
        auto& own = logger->sinks();
        own.erase(std::remove(own.begin(), own.end(), sink), own.end());
    });
    sink->flush();
}

std::optional<spdlog::level::level_enum> parse_level(const std::string& text) {
    static const std::pair<const char*, spdlog::level::level_enum> levels[] = {
        {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},   {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
        {"critical", spdlog::level::critical}, {"off", spdlog::level::off}};
    for (const auto& [name, level] : levels)
        if (text == name) return level;
    return std::nullopt;
}

} // namespace trellis::core::logging
