// One thread working through a bounded queue of jobs: what a shadow challenger runs on, so the
// copies of requests it answers never wait on, or slow, the request threads. A job that finds the
// queue full is refused at once (the caller counts it), never queued without bound.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace trellis::serve {

class BoundedWorker {
public:
    explicit BoundedWorker(size_t capacity) : capacity_(capacity), thread_([this] { work(); }) {}

    // Finishes the jobs already queued, then stops.
    ~BoundedWorker() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wakeup_.notify_all();
        thread_.join();
    }

    // Queues `job`; false (and nothing queued) when the queue is full. Never blocks on the work.
    bool try_post(std::function<void()> job) {
        {
            std::lock_guard lock(mutex_);
            if (jobs_.size() >= capacity_) return false;
            jobs_.push_back(std::move(job));
        }
        wakeup_.notify_one();
        return true;
    }

    BoundedWorker(const BoundedWorker&) = delete;
    BoundedWorker& operator=(const BoundedWorker&) = delete;

private:
    void work() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wakeup_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) return; // stopping, and nothing left
            auto job = std::move(jobs_.front());
            jobs_.pop_front();
            lock.unlock();
            job();
            lock.lock();
        }
    }

    size_t capacity_;
    std::mutex mutex_;
    std::condition_variable wakeup_;
    std::deque<std::function<void()>> jobs_;
    bool stopping_ = false;
    std::thread thread_; // last: starts after the members it uses exist
};

} // namespace trellis::serve
