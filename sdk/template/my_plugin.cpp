// A minimal trellis plugin: one govern stage that checks a metric against a threshold.
// Rename things, keep the shape: a class per stage with spec() and run(), then TRELLIS_PLUGIN.
#include <trellis/sdk.hpp>

#include <stdexcept>

namespace {

class MinimumMetric : public trellis::GovernStage {
public:
    static trellis::StageSpec spec() {
        return trellis::StageSpec("my.minimum_metric", "fails when a metric is below a threshold")
            .input("metrics", trellis::ArtifactType::Metrics, "metrics to check")
            .output("verdict", trellis::ArtifactType::Report, "what was checked and the outcome")
            .required("metric", trellis::ValueType::String, "name of the metric to check")
            .option_float("minimum", 0.9, "smallest acceptable value");
    }

    void run(trellis::Context& ctx) override {
        const auto metrics = ctx.input<trellis::Metrics>("metrics");
        const auto name = ctx.config<std::string>("metric");
        const double minimum = ctx.config<double>("minimum");
        const auto found = metrics.values.find(name);
        if (found == metrics.values.end()) throw std::invalid_argument("no metric named '" + name + "'");
        const bool passed = found->second >= minimum;
        ctx.log().info(name + " = " + std::to_string(found->second) + (passed ? " passes" : " fails"));
        ctx.output("verdict", trellis::Report{std::string("{\"passed\":") + (passed ? "true" : "false") + "}"});
        if (!passed) throw trellis::Error(TRELLIS_ERR_FAILED, name + " is below " + std::to_string(minimum));
    }
};

const trellis::PluginInfo info{
    .name = "my-plugin",
    .version = "0.1.0",
    .vendor = "Example Corp",
    .license = "Apache-2.0",
    .description = "an example plugin made from the trellis SDK template",
};

} // namespace

TRELLIS_PLUGIN(info, MinimumMetric)
