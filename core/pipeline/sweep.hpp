// The search space of a hyperparameter sweep and the trials it expands to: a grid (the cartesian
// product, in a fixed order) or random draws from a seeded generator of our own, so that the same
// seed gives the same trials on every platform. Pure functions of their arguments: the Lua binding
// (sweep_script.cpp) reads a space from the script, and these say which trials it means.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trellis::core {

// A continuous or whole-number interval, `range { low, high, log = ..., int = ..., steps = ... }`.
struct SweepRange {
    double low = 0;
    double high = 1;
    bool log = false;     // spaced (grid) or drawn (random) evenly in log(value); low must be > 0
    bool integer = false; // whole numbers only; low and high must be whole
    int steps = 0;        // grid: this many values from low to high (both included); 0 = none given
};

// One named dimension of a space: a list of values, or a range.
struct SweepAxis {
    std::string name;
    std::vector<nlohmann::json> choices; // when the axis is a list
    std::optional<SweepRange> range;     // when the axis is a range
};

// Axes in name order: a Lua table has no order of its own, so the order of trials is fixed by the
// names (as scikit-learn's ParameterGrid does).
struct SweepSpace {
    std::vector<SweepAxis> axes;
};

enum class SweepMethod { Grid, Random };
enum class SweepDirection { Maximize, Minimize };

const char* to_string(SweepMethod method);       // "grid", "random"
const char* to_string(SweepDirection direction); // "maximize", "minimize"

// More trials than this is almost certainly a mistake in the space (a grid grows as a product).
inline constexpr size_t max_sweep_trials = 10'000;

// Checks a range on its own: finite bounds with low < high, log only above zero, whole bounds for
// int, steps of 2 or more. Throws std::invalid_argument naming `what` (e.g. "space.l2").
void check_range(const SweepRange& range, const std::string& what);

// The values a grid takes from a range with `steps`: evenly spaced from low to high (in log space
// when `log`), rounded to whole numbers and with repeats dropped when `integer`.
std::vector<nlohmann::json> range_values(const SweepRange& range);

// Every combination of the axes' values: the first axis (by name) varies slowest, the last fastest,
// as nested loops would in name order. Throws std::invalid_argument for a range without `steps`
// and for more than max_sweep_trials combinations. Each trial is a JSON object name -> value.
std::vector<nlohmann::json> grid_trials(const SweepSpace& space);

// `count` trials drawn with SweepRandom(seed): for each trial, one value per axis in name order. A
// list axis takes one of its values, each equally likely; a range a uniform value in [low, high)
// (log-uniform with `log`; whole numbers in [low, high], each equally likely, with `int`, or with
// both, the log-uniform value rounded to the nearest whole number). `steps` is ignored.
std::vector<nlohmann::json> random_trials(const SweepSpace& space, size_t count, uint64_t seed);

// The space as JSON, for the store and for display: lists as arrays, ranges as
// {"range": [low, high], "log": bool, "int": bool, "steps": n}.
nlohmann::json space_json(const SweepSpace& space);

// xoshiro256** seeded through splitmix64 (Blackman and Vigna): the same sequence on every platform
// and compiler, unlike the distributions of <random>, whose output the standard leaves open.
class SweepRandom {
public:
    explicit SweepRandom(uint64_t seed);
    uint64_t next();
    // A uniform double in [0, 1), from the top 53 bits.
    double uniform();
    // A uniform whole number in [0, bound), without modulo bias (rejection); bound > 0.
    uint64_t below(uint64_t bound);

private:
    uint64_t state_[4];
};

} // namespace trellis::core
