#include "serve/prediction_log.hpp"

#include "serve/json_text.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <optional>
#include <random>
#include <unistd.h>

namespace trellis::serve {

namespace {

std::string utc_day(double time) {
    const std::time_t seconds = static_cast<std::time_t>(time);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char text[16];
    std::strftime(text, sizeof text, "%Y-%m-%d", &parts);
    return text;
}

void append_record(std::string& out, const PredictionRecord& record) {
    out += "{\"time\":";
    append_json_number(out, record.time);
    out += ",\"request_id\":";
    append_json_string(out, record.request_id);
    out += ",\"endpoint\":";
    append_json_string(out, record.endpoint);
    out += ",\"model\":";
    append_json_string(out, record.model);
    out += ",\"version\":";
    append_json_number(out, record.version);
    out += ",\"variant\":";
    append_json_string(out, record.variant);
    out += ",\"status\":";
    append_json_number(out, static_cast<int64_t>(record.status));
    out += ",\"latency_ms\":";
    append_json_number(out, record.latency_ms);
    out += ",\"inputs\":";
    if (record.inputs) append_json_table(out, *record.inputs);
    else out += "{}";
    out += ",\"outputs\":";
    append_json_table(out, record.outputs);
    out += "}\n";
}

bool write_all(int fd, const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

} // namespace

PredictionLog::PredictionLog(std::filesystem::path folder, double sample, size_t capacity)
    : folder_(std::move(folder)), sample_(sample), capacity_(capacity) {
    writer_ = std::thread([this] { write_loop(); });
}

PredictionLog::~PredictionLog() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wakeup_.notify_all();
    writer_.join();
    for (const auto& [endpoint, file] : open_files_) ::close(file.second);
}

bool PredictionLog::sampled() const {
    if (sample_ >= 1) return true;
    if (sample_ <= 0) return false;
    thread_local std::mt19937_64 random{std::random_device{}()};
    return std::uniform_real_distribution<double>(0, 1)(random) < sample_;
}

void PredictionLog::append(const PredictionRecord& record) {
    // Read without the lock: a record that would be dropped is not worth encoding.
    if (queued_.load(std::memory_order_relaxed) >= capacity_) {
        ++dropped_;
        return;
    }
    Line line{record.endpoint, record.time, {}};
    line.text.reserve(512);
    append_record(line.text, record);
    bool half_full = false;
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() >= capacity_) {
            ++dropped_;
            return;
        }
        queue_.push_back(std::move(line));
        queued_.store(queue_.size(), std::memory_order_relaxed);
        half_full = queue_.size() == std::max<size_t>(capacity_ / 2, 1);
    }
    // The writer wakes on its own every flush interval; waking it for every record would cost a
    // futex call and a context switch per request.
    if (half_full) wakeup_.notify_one();
}

void PredictionLog::write_loop() {
    constexpr auto flush_interval = std::chrono::milliseconds(50);
    std::unique_lock lock(mutex_);
    for (;;) {
        wakeup_.wait_for(lock, flush_interval,
                         [this] { return stopping_ || queue_.size() >= std::max<size_t>(capacity_ / 2, 1); });
        if (queue_.empty()) {
            if (stopping_) return;
            continue;
        }
        std::deque<Line> batch;
        batch.swap(queue_);
        queued_.store(0, std::memory_order_relaxed);
        lock.unlock();
        write_batch(batch);
        lock.lock();
    }
}

// One write() per endpoint and batch: a line is never split between writers, and a killed
// process loses at most the records still queued.
void PredictionLog::write_batch(std::deque<Line>& batch) {
    struct Lines {
        std::string text;
        size_t records = 0;
    };
    std::map<std::pair<std::string, std::string>, Lines> files; // (endpoint, day) -> its lines
    // Request threads share the cores with this one, and the scheduler may let it run a whole time
    // slice before a woken request thread; a batch of thousands of lines is yielded every few
    // hundred microseconds, so a request waits no longer than that.
    constexpr size_t lines_between_yields = 256;
    Lines* last = nullptr;   // consecutive lines mostly share endpoint and day: one lookup for them
    std::optional<std::time_t> last_second;
    const std::string* last_endpoint = nullptr;
    std::string day;
    size_t done = 0;
    for (auto& line : batch) {
        const auto second = static_cast<std::time_t>(line.time);
        if (second != last_second) {
            std::string now = utc_day(line.time);
            if (now != day) last = nullptr;
            day = std::move(now);
            last_second = second;
        }
        if (!last || *last_endpoint != line.endpoint) last = &files[{line.endpoint, day}];
        last_endpoint = &line.endpoint;
        last->text += line.text;
        ++last->records;
        if (++done % lines_between_yields == 0) std::this_thread::yield();
    }
    for (const auto& [where, lines] : files) {
        const auto& [endpoint, day] = where;
        const std::string& text = lines.text;
        const size_t records = lines.records;
        auto& file = open_files_[endpoint];
        if (file.first != day || file.second <= 0) {
            if (file.second > 0) ::close(file.second);
            std::error_code error;
            std::filesystem::create_directories(folder_ / endpoint, error);
            const auto path = folder_ / endpoint / (day + ".jsonl");
            file = {day, ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)};
            if (file.second < 0) {
                spdlog::error("prediction log: cannot open {}: {}; {} record(s) dropped", path.string(), std::strerror(errno),
                              records);
                dropped_ += static_cast<int64_t>(records);
                file = {"", -1};
                continue;
            }
        }
        if (write_all(file.second, text)) {
            written_ += static_cast<int64_t>(records);
        } else {
            spdlog::error("prediction log: cannot write for endpoint {}: {}; {} record(s) dropped", endpoint,
                          std::strerror(errno), records);
            dropped_ += static_cast<int64_t>(records);
        }
    }
}

} // namespace trellis::serve
