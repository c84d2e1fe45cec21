// Shows a run's progress: on a terminal a live status line (stages done of total, the trials done
// of each running sweep, the running stages, elapsed time) under the log; off a terminal, plain log lines, with a progress line every
// ten seconds so a long run in CI still says what it is doing.
#pragma once

#include "exec/executor.hpp"

#include <chrono>
#include <map>
#include <string>

namespace trellis::core {

class RunProgress : public ExecutionObserver {
public:
    RunProgress(const Pipeline& pipeline, bool terminal);
    ~RunProgress() override;

    void stage_started(size_t stage, int attempt) override;
    void stage_finished(size_t stage, const StageRecord& record) override;
    void stage_progress(size_t stage, double done, double total) override;
    void tick() override;
    // Removes the status line before the summary is printed.
    void close();

private:
    std::string status_text() const;

    const Pipeline& pipeline_;
    bool terminal_;
    size_t done_ = 0;
    std::vector<size_t> running_;
    // Sweeps: stages each trial has left (by sweep, then trial number - 1), trials done, and
    // whether the selector has ended (then the sweep is no longer shown).
    std::vector<std::vector<size_t>> trial_stages_left_;
    std::vector<size_t> trials_done_;
    std::vector<bool> sweep_ended_;
    std::map<size_t, std::pair<double, double>> progress_; // running stage -> done, total
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_report_ = started_;
    bool closed_ = false;
};

// "12 ms", "3.4 s", "2m05s".
std::string format_duration(double seconds);

} // namespace trellis::core
