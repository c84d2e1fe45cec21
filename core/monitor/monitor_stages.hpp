// The core stages of a monitoring policy: monitor.window, the window of the prediction log being
// checked (or the one before it), with its delayed labels; and monitor.reference, the data the
// served model learned from, found through the registry and lineage rather than configured. Run by
// the executor like govern.promote, on the scheduler thread; every other core stage is passed on.
#pragma once

#include "exec/core_stages.hpp"
#include "exec/run_recorder.hpp"
#include "monitor/prediction_window.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace trellis::monitor {

// Which rows make the window being checked and the one before it.
struct WindowBounds {
    std::string endpoint;
    WindowQuery current;
    WindowQuery previous;
};

// What the run's monitor.window stages read, for the monitor's own record of the window.
struct WindowSummary {
    size_t rows = 0;
    size_t records = 0;
    std::optional<size_t> labelled; // when labels were joined
    std::optional<double> first, last; // times of the first and last row
    std::optional<std::string> reference; // "NAME:VERSION port digest" the reference came from
};

class MonitorStages : public core::CoreStageRunner {
public:
    // `others` runs the core stages that are not the monitor's (registry.model, govern.promote).
    // `current`: the current window, when the caller has read it already. What the window
    // stages read is summed up in `summary`.
    MonitorStages(core::CoreStageRunner& others, core::RunRecorder& recorder, std::filesystem::path root, WindowBounds bounds,
                  std::optional<PredictionWindow> current, WindowSummary& summary);

    core::AttemptResult run(const core::StageNode& node, const std::map<std::string, core::ArtifactBytes>& inputs) override;

private:
    core::AttemptResult window(const core::StageNode& node);
    core::AttemptResult reference(const core::StageNode& node);
    // The current (or previous) window, with or without the shadow's rows, read once per run
    // whichever stages ask for it.
    const PredictionWindow& read(bool previous, bool shadow);

    core::CoreStageRunner& others_;
    core::RunRecorder& recorder_;
    std::filesystem::path root_;
    WindowBounds bounds_;
    std::map<std::pair<bool, bool>, PredictionWindow> windows_;
    WindowSummary& summary_;
};

} // namespace trellis::monitor
