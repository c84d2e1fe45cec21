#include "pipeline/sweep.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace trellis::core {

namespace {

uint64_t rotate_left(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// A whole-number double as a JSON integer, so that a config key of type int accepts it.
nlohmann::json whole(double value) { return static_cast<int64_t>(value); }

std::string number_text(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

nlohmann::json random_value(const SweepAxis& axis, SweepRandom& random) {
    if (!axis.range) return axis.choices.at(random.below(axis.choices.size()));
    const SweepRange& range = *axis.range;
    if (range.integer && !range.log) {
        const auto low = static_cast<int64_t>(range.low), high = static_cast<int64_t>(range.high);
        return low + static_cast<int64_t>(random.below(static_cast<uint64_t>(high - low) + 1));
    }
    const double u = random.uniform();
    double value = range.log ? std::exp(std::log(range.low) + u * (std::log(range.high) - std::log(range.low)))
                             : range.low + u * (range.high - range.low);
    if (range.integer) return whole(std::clamp(std::round(value), range.low, range.high));
    // Rounding of low + u * (high - low) can reach high itself; the interval is half-open.
    if (value >= range.high) value = std::nextafter(range.high, range.low);
    return std::max(value, range.low);
}

} // namespace

const char* to_string(SweepMethod method) { return method == SweepMethod::Grid ? "grid" : "random"; }
const char* to_string(SweepDirection direction) {
    return direction == SweepDirection::Maximize ? "maximize" : "minimize";
}

SweepRandom::SweepRandom(uint64_t seed) {
    uint64_t state = seed;
    for (auto& word : state_) word = splitmix64(state);
}

uint64_t SweepRandom::next() {
    const uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotate_left(state_[3], 45);
    return result;
}

double SweepRandom::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t SweepRandom::below(uint64_t bound) {
    if (bound == 0) throw std::invalid_argument("SweepRandom::below(0)");
    // The largest multiple of `bound` that fits: values at or above it would favour small results.
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t value;
    do value = next();
    while (value >= limit);
    return value % bound;
}

void check_range(const SweepRange& range, const std::string& what) {
    if (!std::isfinite(range.low) || !std::isfinite(range.high) || !(range.low < range.high))
        throw std::invalid_argument(what + ": a range needs two finite numbers, low < high (got " +
                                    number_text(range.low) + ", " + number_text(range.high) + ")");
    if (range.log && range.low <= 0)
        throw std::invalid_argument(what + ": a range with log = true needs low > 0 (got " + number_text(range.low) + ")");
    if (range.integer && (range.low != std::floor(range.low) || range.high != std::floor(range.high)))
        throw std::invalid_argument(what + ": a range with int = true needs whole numbers as low and high");
    if (range.integer && (std::fabs(range.low) > 9e15 || std::fabs(range.high) > 9e15))
        throw std::invalid_argument(what + ": a range with int = true must stay within +-9e15");
    if (range.steps != 0 && (range.steps < 2 || static_cast<size_t>(range.steps) > max_sweep_trials))
        throw std::invalid_argument(what + ": steps must be a whole number from 2 to " + std::to_string(max_sweep_trials));
}

std::vector<nlohmann::json> range_values(const SweepRange& range) {
    std::vector<nlohmann::json> values;
    const int n = range.steps;
    for (int i = 0; i < n; ++i) {
        const double t = static_cast<double>(i) / (n - 1);
        // The ends are exact: low and high themselves, not what the arithmetic makes of them.
        double value = i == 0 ? range.low
                       : i == n - 1 ? range.high
                       : range.log ? std::exp(std::log(range.low) + t * (std::log(range.high) - std::log(range.low)))
                                   : range.low + t * (range.high - range.low);
        if (range.integer) {
            const nlohmann::json rounded = whole(std::round(value));
            if (values.empty() || values.back() != rounded) values.push_back(rounded);
        } else {
            values.emplace_back(value);
        }
    }
    return values;
}

std::vector<nlohmann::json> grid_trials(const SweepSpace& space) {
    std::vector<std::vector<nlohmann::json>> axes;
    size_t total = 1;
    for (const auto& axis : space.axes) {
        if (axis.range && axis.range->steps == 0)
            throw std::invalid_argument("space." + axis.name +
                                        ": a grid needs a list of values, or a range with steps = n (e.g. range { " +
                                        number_text(axis.range->low) + ", " + number_text(axis.range->high) +
                                        ", steps = 5 })");
        axes.push_back(axis.range ? range_values(*axis.range) : axis.choices);
        total *= axes.back().size();
        if (total > max_sweep_trials)
            throw std::invalid_argument("the grid has more than " + std::to_string(max_sweep_trials) +
                                        " combinations; use fewer values, or method = \"random\" with trials = n");
    }
    std::vector<nlohmann::json> trials;
    if (axes.empty()) return trials;
    std::vector<size_t> at(axes.size(), 0);
    for (size_t made = 0; made < total; ++made) {
        nlohmann::json trial = nlohmann::json::object();
        for (size_t a = 0; a < axes.size(); ++a) trial[space.axes[a].name] = axes[a][at[a]];
        trials.push_back(std::move(trial));
        // An odometer: the last axis turns fastest.
        for (size_t a = axes.size(); a-- > 0;) {
            if (++at[a] < axes[a].size()) break;
            at[a] = 0;
        }
    }
    return trials;
}

std::vector<nlohmann::json> random_trials(const SweepSpace& space, size_t count, uint64_t seed) {
    if (count > max_sweep_trials)
        throw std::invalid_argument("trials must be at most " + std::to_string(max_sweep_trials));
    SweepRandom random(seed);
    std::vector<nlohmann::json> trials;
    for (size_t t = 0; t < count; ++t) {
        nlohmann::json trial = nlohmann::json::object();
        for (const auto& axis : space.axes) trial[axis.name] = random_value(axis, random);
        trials.push_back(std::move(trial));
    }
    return trials;
}

nlohmann::json space_json(const SweepSpace& space) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& axis : space.axes) {
        if (axis.range) {
            const SweepRange& range = *axis.range;
            nlohmann::json item = {{"range", {range.low, range.high}}, {"log", range.log}, {"int", range.integer}};
            if (range.integer) item["range"] = {whole(range.low), whole(range.high)};
            if (range.steps) item["steps"] = range.steps;
            out[axis.name] = std::move(item);
        } else {
            out[axis.name] = axis.choices;
        }
    }
    return out;
}

} // namespace trellis::core
