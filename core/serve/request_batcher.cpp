#include "serve/request_batcher.hpp"

#include <stdexcept>

namespace trellis::serve {

void append_cell(Column& to, const Column& from, size_t row) {
    if (from.is_null(row)) return to.append_null();
    switch (from.type()) {
    case ColumnType::Int64: return to.append_int(from.int_at(row));
    case ColumnType::Float64: return to.append_float(from.float_at(row));
    case ColumnType::Bool: return to.append_bool(from.bool_at(row));
    case ColumnType::String: return to.append_string(from.string_at(row));
    }
}

RequestBatcher::RequestBatcher(BatchingSpec spec) : spec_(spec), thread_([this] { work(); }) {}

RequestBatcher::~RequestBatcher() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    arrived_.notify_all();
    thread_.join();
}

Table RequestBatcher::predict(const std::shared_ptr<const ServedModel>& model, const Table& features) {
    Pending pending{model, &features, {}};
    auto result = pending.result.get_future();
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(&pending);
    }
    arrived_.notify_one();
    return result.get();
}

void RequestBatcher::work() {
    std::unique_lock lock(mutex_);
    for (;;) {
        arrived_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        // Wait for others to join the first request, up to max_delay or a full batch.
        const auto deadline = std::chrono::steady_clock::now() + spec_.max_delay;
        const auto rows_queued = [this] {
            size_t rows = 0;
            for (const Pending* p : queue_)
                if (p->model == queue_.front()->model) rows += p->features->num_rows();
            return rows;
        };
        while (!stopping_ && rows_queued() < spec_.max_batch_size &&
               arrived_.wait_until(lock, deadline) != std::cv_status::timeout) {
        }
        std::vector<Pending*> batch;
        size_t rows = 0;
        const auto model = queue_.front()->model;
        for (auto it = queue_.begin(); it != queue_.end();) {
            const size_t n = (*it)->features->num_rows();
            if ((*it)->model != model || (!batch.empty() && rows + n > spec_.max_batch_size)) {
                ++it;
                continue;
            }
            rows += n;
            batch.push_back(*it);
            it = queue_.erase(it);
        }
        lock.unlock();
        run_batch(batch);
        lock.lock();
    }
}

void RequestBatcher::run_batch(std::vector<Pending*>& batch) {
    const auto& model = batch.front()->model;
    try {
        if (batch.size() == 1) {
            batch.front()->result.set_value(model->predict(*batch.front()->features));
            return;
        }
        Table joined;
        for (const auto& first : batch.front()->features->columns()) {
            Column column(first.name(), first.type());
            for (const Pending* p : batch) {
                const Column& part = p->features->column(first.name());
                for (size_t r = 0; r < part.size(); ++r) append_cell(column, part, r);
            }
            joined.add_column(std::move(column));
        }
        const Table predicted = model->predict(joined);
        if (predicted.num_rows() != joined.num_rows())
            throw std::runtime_error("the model returned " + std::to_string(predicted.num_rows()) + " rows for a batch of " +
                                     std::to_string(joined.num_rows()));
        // Every slice is made before any request is answered: an answered request may return (and
        // its Pending go) at once, so a failure after that must not reach it.
        std::vector<Table> slices;
        slices.reserve(batch.size());
        size_t offset = 0;
        for (Pending* p : batch) {
            const size_t n = p->features->num_rows();
            Table slice;
            for (const auto& whole : predicted.columns()) {
                Column column(whole.name(), whole.type());
                column.reserve(n);
                for (size_t r = offset; r < offset + n && r < whole.size(); ++r) append_cell(column, whole, r);
                slice.add_column(std::move(column));
            }
            offset += n;
            slices.push_back(std::move(slice));
        }
        for (size_t i = 0; i < batch.size(); ++i) batch[i]->result.set_value(std::move(slices[i]));
        return;
    } catch (...) {
        for (Pending* p : batch) p->result.set_exception(std::current_exception());
    }
}

} // namespace trellis::serve
