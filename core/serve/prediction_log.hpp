// The append-only prediction log: one JSON line per sampled request (and per shadow answer) in
// <store>/predictions/<endpoint>/<YYYY-MM-DD>.jsonl (UTC days), with the request id, time, model
// version, variant, status, latency, inputs and outputs. The monitor reads it; labels that arrive
// later are joined to it by request id. The request thread encodes its record (a few microseconds,
// and its tables are freed by the thread that made them) and queues the line; a thread of the
// log's own writes the queued lines (every 50 ms, or sooner when the queue is half full), so a
// slow or full disk never delays or fails a request:
// a record that finds the queue full, or that cannot be written, is dropped and counted.
#pragma once

#include <trellis/table.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace trellis::serve {

struct PredictionRecord {
    double time = 0;                       // Unix seconds when the request arrived
    std::string request_id;
    std::string endpoint;
    std::string model;                     // the registered model's name
    int64_t version = 0;
    std::string variant;                   // primary, canary, shadow or version (a pinned path)
    int status = 200;
    double latency_ms = 0;
    std::shared_ptr<const Table> inputs;   // shared with a shadow copy of the same request
    Table outputs;
};

class PredictionLog {
public:
    // Writes under `folder` (<store>/predictions); `sample` is the share of requests recorded,
    // `capacity` the records that may wait for the writer.
    PredictionLog(std::filesystem::path folder, double sample, size_t capacity);
    ~PredictionLog(); // writes what is queued, then stops

    // Whether this request is recorded (drawn per request, so a request and its shadow copy agree).
    bool sampled() const;
    // Encodes and queues a record; never waits for the disk. Dropped (and counted) when the queue
    // is full.
    void append(const PredictionRecord& record);

    int64_t written() const { return written_; }
    int64_t dropped() const { return dropped_; }

    PredictionLog(const PredictionLog&) = delete;
    PredictionLog& operator=(const PredictionLog&) = delete;

private:
    struct Line {
        std::string endpoint;
        double time = 0;
        std::string text; // the JSON record and its newline
    };
    void write_loop();
    void write_batch(std::deque<Line>& batch);

    std::filesystem::path folder_;
    double sample_;
    size_t capacity_;
    std::mutex mutex_;
    std::condition_variable wakeup_;
    std::deque<Line> queue_;
    std::atomic<size_t> queued_{0}; // queue_.size(), for a look without the lock
    bool stopping_ = false;
    std::atomic<int64_t> written_{0};
    std::atomic<int64_t> dropped_{0};
    std::map<std::string, std::pair<std::string, int>> open_files_; // endpoint -> (day, fd)
    std::thread writer_;
};

} // namespace trellis::serve
