// monitor.performance, declared apart so the plugin's one TRELLIS_PLUGIN line can list it beside
// train.evaluate.
#pragma once

#include <trellis/sdk.hpp>

namespace trellis_evaluate {

class Performance : public trellis::MonitorStage {
public:
    static trellis::StageSpec spec();
    void run(trellis::Context& ctx) override;
};

} // namespace trellis_evaluate
