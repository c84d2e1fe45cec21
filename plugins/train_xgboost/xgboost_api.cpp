// XGBoost C API handles, error text and log routing.
#include "xgboost_api.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace trellis_xgboost {
namespace {

// The logger of the stage running on this thread; XGBoost logs on the calling thread.
thread_local const trellis::Logger* current_logger = nullptr;

void log_callback(const char* message) {
    const std::string text = one_line_error(message ? message : "");
    if (current_logger) current_logger->warn("xgboost: " + text);
    else std::fprintf(stderr, "xgboost: %s\n", text.c_str());
}

// "[12:00:00] /build/src/learner.cc:42: text" and "[12:00:00] WARNING: /src/learner.cc:42: text"
// -> "text"; lines without that prefix are kept as they are.
std::string_view strip_location(std::string_view line) {
    if (line.empty() || line.front() != '[') return line;
    const size_t close = line.find("] ");
    if (close == std::string_view::npos) return line;
    std::string_view rest = line.substr(close + 2);
    if (rest.rfind("WARNING: ", 0) == 0) rest.remove_prefix(9);
    // Only a "file:line: " location is stripped, not a message that merely contains ": ".
    const size_t colon = rest.find(": ");
    if (colon == std::string_view::npos) return rest;
    const std::string_view location = rest.substr(0, colon);
    const size_t last = location.rfind(':');
    if (last == std::string_view::npos || last + 1 == location.size()) return rest;
    for (char c : location.substr(last + 1))
        if (c < '0' || c > '9') return rest;
    return rest.substr(colon + 2);
}

} // namespace

std::string one_line_error(std::string_view raw) {
    std::string out;
    std::string previous_label;
    size_t start = 0;
    while (start <= raw.size()) {
        size_t end = raw.find('\n', start);
        if (end == std::string_view::npos) end = raw.size();
        std::string_view line = raw.substr(start, end - start);
        if (line.rfind("Stack trace:", 0) == 0) break;
        line = strip_location(line);
        while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t')) line.remove_suffix(1);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        if (!line.empty()) {
            // XGBoost lists choices one per line ("Objective candidate: a", "Objective candidate: b"):
            // the same label again continues the list instead of repeating it.
            const size_t colon = line.find(": ");
            const std::string label = colon == std::string_view::npos ? "" : std::string(line.substr(0, colon + 2));
            if (!label.empty() && label == previous_label) out += ", " + std::string(line.substr(colon + 2));
            else out += (out.empty() ? "" : "; ") + std::string(line);
            previous_label = label;
        }
        start = end + 1;
    }
    return out.empty() ? "unknown error" : out;
}

void check(int status, std::string_view doing) {
    if (status == 0) return;
    throw XGBoostError(std::string(doing) + ": " + one_line_error(XGBGetLastError()));
}

DMatrix& DMatrix::operator=(DMatrix&& other) noexcept {
    if (this != &other) {
        if (handle_) XGDMatrixFree(handle_);
        handle_ = other.handle_;
        other.handle_ = nullptr;
    }
    return *this;
}

DMatrix::~DMatrix() {
    if (handle_) XGDMatrixFree(handle_);
}

Booster::Booster(const DMatrixHandle* cache, bst_ulong count) {
    check(XGBoosterCreate(cache, count, &handle_), "creating the booster");
}

Booster::~Booster() {
    if (handle_) XGBoosterFree(handle_);
}

void Booster::set_param(const std::string& key, const std::string& value) {
    check(XGBoosterSetParam(handle_, key.c_str(), value.c_str()), "parameter '" + key + "' = '" + value + "'");
}

void Booster::set_attr(const std::string& key, const std::string& value) {
    check(XGBoosterSetAttr(handle_, key.c_str(), value.c_str()), "setting model attribute '" + key + "'");
}

std::string Booster::attr(const std::string& key, bool& found) const {
    const char* out = nullptr;
    int success = 0;
    check(XGBoosterGetAttr(handle_, key.c_str(), &out, &success), "reading model attribute '" + key + "'");
    found = success != 0;
    return found && out ? std::string(out) : std::string();
}

LogRoute::LogRoute(const trellis::Logger& logger) : previous_(current_logger) {
    // XGBoost keeps one callback per thread, so it is registered on each thread that trains.
    XGBRegisterLogCallback(&log_callback);
    current_logger = &logger;
}
LogRoute::~LogRoute() { current_logger = previous_; }

} // namespace trellis_xgboost
