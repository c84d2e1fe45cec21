// Model flavors: how a model trained by one plugin is loaded and served by the core later.
// A flavor class derives from trellis::Flavor, has `static FlavorSpec spec()` and
// `static std::unique_ptr<Predictor> load(const Model&)`.
#pragma once

#include <trellis/artifacts.hpp>

#include <memory>
#include <string>

namespace trellis {

/// Name and description of a flavor; the name is what Model::flavor holds.
struct FlavorSpec {
    std::string name;        ///< flavor name, e.g. "linear"
    std::string description; ///< one line
};

/// A loaded model that turns a Table of features into a Table of predictions.
class Predictor {
public:
    virtual ~Predictor() = default;
    /// Predicts for every row of `input`; throw to fail the request.
    virtual Table predict(const Table& input) = 0;
};

/// Tag base of flavor classes, so the export macro can tell flavors from stages.
struct Flavor {};

} // namespace trellis
