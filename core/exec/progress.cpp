#include "exec/progress.hpp"

#include "log/logging.hpp"

#include <algorithm>
#include <cstdio>

namespace trellis::core {

std::string format_duration(double seconds) {
    char text[32];
    if (seconds < 0.9995) std::snprintf(text, sizeof text, "%.0f ms", seconds * 1000);
    else if (seconds < 60) std::snprintf(text, sizeof text, "%.1f s", seconds);
    else std::snprintf(text, sizeof text, "%dm%02ds", static_cast<int>(seconds) / 60, static_cast<int>(seconds) % 60);
    return text;
}

namespace {
// "40/100 (40%)", or "1234" for a stage that does not know its total.
std::string progress_text(const std::pair<double, double>& progress) {
    const auto [done, total] = progress;
    char text[64];
    if (total > 0) std::snprintf(text, sizeof text, "%.0f/%.0f (%.0f%%)", done, total, 100 * std::min(done, total) / total);
    else std::snprintf(text, sizeof text, "%.0f", done);
    return text;
}
} // namespace

RunProgress::RunProgress(const Pipeline& pipeline, bool terminal)
    : pipeline_(pipeline), terminal_(terminal && logging::console_shows(spdlog::level::info)),
      trials_done_(pipeline.sweeps.size(), 0), sweep_ended_(pipeline.sweeps.size(), false) {
    for (size_t s = 0; s < pipeline.sweeps.size(); ++s) {
        trial_stages_left_.emplace_back();
        for (const auto& trial : pipeline.sweeps[s].trials) {
            trial_stages_left_[s].push_back(trial.stages.size());
            if (trial.stages.empty()) ++trials_done_[s];
        }
    }
}

RunProgress::~RunProgress() { close(); }

void RunProgress::close() {
    if (terminal_ && !closed_) logging::set_status_line("");
    closed_ = true;
}

void RunProgress::stage_started(size_t stage, int attempt) {
    running_.push_back(stage);
    if (attempt == 0) return; // reused from the cache: stage_finished says so
    const auto& node = pipeline_.stages[stage];
    // On a terminal the status line shows what runs; the log says it off one.
    spdlog::log(terminal_ ? spdlog::level::debug : spdlog::level::info, "stage '{}' ({}) started{}", node.id,
                node.stage_name, attempt > 1 ? " (attempt " + std::to_string(attempt) + ")" : "");
}

void RunProgress::stage_finished(size_t stage, const StageRecord& record) {
    if (auto it = std::find(running_.begin(), running_.end(), stage); it != running_.end()) running_.erase(it);
    progress_.erase(stage);
    ++done_;
    const auto& node = pipeline_.stages[stage];
    if (node.sweep != no_sweep && node.is_sweep()) sweep_ended_[node.sweep] = true;
    else if (node.sweep != no_sweep && node.trial > 0 && --trial_stages_left_[node.sweep][node.trial - 1] == 0)
        ++trials_done_[node.sweep];
    switch (record.state) {
    case StageState::Succeeded:
        if (record.reused) spdlog::info("stage '{}' ({}) cached: reused an earlier execution's outputs", node.id, node.stage_name);
        else spdlog::info("stage '{}' ({}) succeeded in {}", node.id, node.stage_name, format_duration(record.seconds));
        break;
    case StageState::Failed:
        spdlog::error("stage '{}' ({}) failed after {}: {}", node.id, node.stage_name, format_duration(record.seconds),
                      record.message);
        break;
    default:
        spdlog::warn("stage '{}' ({}) {}: {}", node.id, node.stage_name, to_string(record.state), record.message);
    }
    if (terminal_) logging::set_status_line(status_text());
}

std::string RunProgress::status_text() const {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    std::string text = "[" + std::to_string(done_) + "/" + std::to_string(pipeline_.stages.size()) + " stages] " +
                       format_duration(elapsed);
    for (size_t s = 0; s < pipeline_.sweeps.size(); ++s)
        if (!sweep_ended_[s])
            text += "  " + pipeline_.sweeps[s].id + ": " + std::to_string(trials_done_[s]) + "/" +
                    std::to_string(pipeline_.sweeps[s].trials.size()) + " trials";
    if (!running_.empty()) {
        text += "  running: ";
        for (size_t i = 0; i < running_.size() && i < 4; ++i) {
            text += (i ? ", " : "") + pipeline_.stages[running_[i]].id;
            if (auto it = progress_.find(running_[i]); it != progress_.end()) text += " " + progress_text(it->second);
        }
        if (running_.size() > 4) text += " and " + std::to_string(running_.size() - 4) + " more";
    }
    return text;
}

void RunProgress::stage_progress(size_t stage, double done, double total) { progress_[stage] = {done, total}; }

void RunProgress::tick() {
    if (closed_) return;
    if (terminal_) {
        logging::set_status_line(status_text());
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report_ >= std::chrono::seconds(10)) {
        last_report_ = now;
        spdlog::info("progress: {}", status_text());
    }
}

} // namespace trellis::core
