#include "column_pool.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

namespace drift {

std::vector<ColumnDrift> compare_columns(const trellis::Table& reference, const trellis::Table& current,
                                         const std::vector<std::string>& names, const OptionsFor& options_for,
                                         const std::function<bool()>& cancelled) {
    std::vector<ColumnDrift> results(names.size());
    std::atomic<size_t> next{0};
    std::atomic<bool> stop{false}, was_cancelled{false};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    const auto work = [&](bool asks_host) {
        while (!stop) {
            if (asks_host && cancelled()) {
                was_cancelled = stop = true;
                break;
            }
            const size_t i = next++;
            if (i >= names.size()) break;
            try {
                results[i] = column_drift(reference.column(names[i]), current.column(names[i]), options_for(names[i]));
            } catch (...) {
                std::lock_guard lock(failure_mutex);
                if (!failure) failure = std::current_exception();
                stop = true;
            }
        }
    };
    const size_t cores = std::max(1u, std::thread::hardware_concurrency());
    const size_t helpers = std::min(cores, names.size()) - (names.empty() ? 0 : 1);
    std::vector<std::thread> threads;
    threads.reserve(helpers);
    // Joins whatever was started on every way out: a joinable thread destroyed would terminate the
    // host. A thread that cannot be started (a pids limit) leaves its share to the others.
    struct JoinAll {
        std::vector<std::thread>& threads;
        ~JoinAll() {
            for (auto& thread : threads)
                if (thread.joinable()) thread.join();
        }
    } join_all{threads};
    try {
        for (size_t t = 0; t < helpers; ++t) threads.emplace_back(work, false);
    } catch (const std::system_error&) {
    }
    try {
        work(true);
    } catch (...) {
        stop = true;
        throw;
    }
    for (auto& thread : threads) thread.join();
    if (failure) std::rethrow_exception(failure);
    if (was_cancelled) return {};
    return results;
}

} // namespace drift
