// Adaptive batching for one endpoint: requests that arrive together are predicted in one call to
// the model, up to max_batch_size rows, each waiting at most max_delay for others to join. A lone
// request under light load waits max_delay at most; under load, batches fill before the delay
// runs out. Requests are only batched with others for the same loaded model version, so a switch
// or a canary never mixes versions in a batch.
#pragma once

#include "serve/deployment_file.hpp"
#include "serve/served_model.hpp"

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace trellis::serve {

class RequestBatcher {
public:
    explicit RequestBatcher(BatchingSpec spec);
    ~RequestBatcher(); // predicts what is queued, then stops

    // Predicts `features` with `model` in a batch with whatever else arrives meanwhile; blocks
    // until done. Throws what the model's predict throws (for every request in that batch).
    Table predict(const std::shared_ptr<const ServedModel>& model, const Table& features);

    RequestBatcher(const RequestBatcher&) = delete;
    RequestBatcher& operator=(const RequestBatcher&) = delete;

private:
    struct Pending {
        std::shared_ptr<const ServedModel> model;
        const Table* features = nullptr;
        std::promise<Table> result;
    };
    void work();
    void run_batch(std::vector<Pending*>& batch);

    BatchingSpec spec_;
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::deque<Pending*> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

// Appends row `row` of `from` to `to` (same type).
void append_cell(Column& to, const Column& from, size_t row);

} // namespace trellis::serve
