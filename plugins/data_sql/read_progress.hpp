// Progress and cancellation while rows stream in: the readers call tick() after each batch of
// rows, which stops the stage if the run was cancelled, reports the count to the host's status
// line and writes a log line every few seconds, so a long read is visible off a terminal too.
#pragma once

#include <trellis/stage.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

namespace data_sql {

/// Counts rows read for one query and reports them.
class ReadProgress {
public:
    /// Reports through `ctx`; `source` names the database in log lines (never with a password).
    ReadProgress(trellis::Context& ctx, std::string source)
        : ctx_(ctx), source_(std::move(source)), started_(Clock::now()), last_line_(started_), last_report_(started_) {}

    /// After a batch: `rows` read so far. Throws trellis::Cancelled if the run was cancelled.
    void tick(size_t rows) {
        rows_ = rows;
        ctx_.throw_if_cancelled();
        const auto now = Clock::now();
        // Once a second is enough for a status line, and a host without one may log each report.
        if (now - last_report_ >= std::chrono::seconds(1)) {
            last_report_ = now;
            ctx_.progress(static_cast<double>(rows), 0);
        }
        if (now - last_line_ < std::chrono::seconds(5)) return;
        last_line_ = now;
        const double seconds = std::chrono::duration<double>(now - started_).count();
        ctx_.log().info(std::to_string(rows) + " rows read from " + source_ + " (" +
                        std::to_string(static_cast<long long>(seconds)) + " s)");
    }

    /// While the database works on the query (a sort, a join) and no new rows arrive: a log line
    /// every 5 seconds, so a long wait is visible too. Cheap enough to call in a polling loop.
    void waiting() {
        const auto now = Clock::now();
        if (now - last_line_ < std::chrono::seconds(5)) return;
        last_line_ = now;
        const double seconds = std::chrono::duration<double>(now - started_).count();
        ctx_.log().info("query still running on " + source_ + " after " + std::to_string(static_cast<long long>(seconds)) +
                        " s, " + std::to_string(rows_) + " rows read");
    }

    /// Whether the run was cancelled (for polling loops that must clean up before throwing).
    bool cancelled() const { return ctx_.cancelled(); }

    /// The stage's context.
    trellis::Context& context() { return ctx_; }

private:
    using Clock = std::chrono::steady_clock;
    trellis::Context& ctx_;
    std::string source_;
    Clock::time_point started_;
    Clock::time_point last_line_;
    Clock::time_point last_report_;
    size_t rows_ = 0;
};

} // namespace data_sql
