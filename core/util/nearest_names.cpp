#include "util/nearest_names.hpp"

#include <algorithm>

namespace trellis::core {

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}
} // namespace

std::vector<std::string> nearest_names(const std::string& wanted, const std::vector<std::string>& candidates) {
    std::vector<std::pair<size_t, std::string>> scored;
    for (const auto& candidate : candidates) {
        const size_t distance = edit_distance(wanted, candidate);
        if (distance <= std::max<size_t>(2, wanted.size() / 3)) scored.emplace_back(distance, candidate);
    }
    std::sort(scored.begin(), scored.end());
    std::vector<std::string> out;
    for (size_t i = 0; i < scored.size() && i < 3; ++i) out.push_back(scored[i].second);
    return out;
}

} // namespace trellis::core
