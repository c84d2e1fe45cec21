// One registered model version loaded for serving: its bytes read from the artifact store, checked
// to be a trellis model and not something that runs code when read (a pickle, YAML with tags), and
// loaded once through the flavor plugin that train.evaluate scores it with. Predictions go through
// that same flavor. A ServedModel keeps its plugin library loaded, so the predictor it holds never
// outlives the code that made it; requests hold a shared_ptr, so a replaced version is unloaded
// only when its last request ends.
#pragma once

#include "plugin/host_api.hpp"

#include <trellis/artifacts.hpp>

#include <memory>
#include <string>

namespace trellis::serve {

class ServedModel {
public:
    // Loads `bytes` (a serialised Model artifact) through `flavor` and predicts once on a row of
    // zeros to warm it. Throws std::runtime_error naming what failed.
    ServedModel(std::string name, int64_t version, std::string digest, std::span<const uint8_t> bytes,
                core::FlavorEntry flavor);
    ~ServedModel();

    const std::string& name() const { return name_; }
    int64_t version() const { return version_; }
    const std::string& digest() const { return digest_; }
    const std::string& flavor_name() const { return flavor_name_; }
    // Input columns, in the order the model expects them.
    const std::vector<Field>& inputs() const { return inputs_; }
    // Prediction columns, as the warm-up prediction returned them.
    const std::vector<Field>& outputs() const { return outputs_; }

    // Predicts for every row of `features`; throws std::runtime_error with the flavor's message.
    Table predict(const Table& features) const;

    ServedModel(const ServedModel&) = delete;
    ServedModel& operator=(const ServedModel&) = delete;

private:
    std::string name_;
    int64_t version_ = 0;
    std::string digest_;
    std::string flavor_name_;
    std::vector<Field> inputs_;
    std::vector<Field> outputs_;
    core::FlavorEntry flavor_;
    trellis_predictor* predictor_ = nullptr;
};

// Why `model_bytes` (the flavor's own encoding inside a Model) must not be handed to anything:
// a Python pickle or YAML carrying tags. Empty when it is neither.
std::string code_carrying_format(std::span<const uint8_t> model_bytes);

} // namespace trellis::serve
