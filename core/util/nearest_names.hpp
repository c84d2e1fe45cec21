// "Did you mean" hints: the names nearest to a mistyped one.
#pragma once

#include <string>
#include <vector>

namespace trellis::core {

// Up to three of `candidates` within a small edit distance of `wanted`, nearest first, then by name.
std::vector<std::string> nearest_names(const std::string& wanted, const std::vector<std::string>& candidates);

} // namespace trellis::core
