#include "log/logging.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <mutex>
#include <unistd.h>
#include <vector>

namespace trellis::core::logging {
namespace {

std::mutex sinks_mutex;
std::vector<spdlog::sink_ptr> sinks;
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

std::shared_ptr<spdlog::logger> make_logger(const std::string& name) {
    auto sink_list = current_sinks();
    auto logger = std::make_shared<spdlog::logger>(name, sink_list.begin(), sink_list.end());
    logger->set_level(spdlog::level::trace); // sinks filter
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
    return logger;
}

} // namespace

void setup(const Options& options) {
    {
        std::lock_guard lock(sinks_mutex);
        console_level = options.quiet ? std::max(options.level, spdlog::level::warn) : options.level;
        auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
            colour_wanted() ? spdlog::color_mode::always : spdlog::color_mode::never);
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

void add_file_sink(const std::filesystem::path& file) {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string());
    sink->set_level(spdlog::level::debug);
    {
        std::lock_guard lock(sinks_mutex);
        sinks.push_back(sink);
    }
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) { logger->sinks().push_back(sink); });
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
