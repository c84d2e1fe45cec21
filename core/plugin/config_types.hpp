// Names of config value types and the check that a JSON value fits one. Shared by descriptor
// validation (defaults) and pipeline validation (values a script sets).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace trellis::core {

// "bool", "int", ... for a trellis_value_type; nothing for an unknown code.
std::optional<std::string> value_type_name(uint32_t code);
// "table", "model", ... for a trellis_artifact_type; nothing for an unknown code.
std::optional<std::string> artifact_type_name(uint32_t code);
// "data", "train", ... for a trellis_stage_kind; nothing for an unknown code.
std::optional<std::string> stage_kind_name(uint32_t code);

// Whether `value` is acceptable for a config key of type `type_name`.
bool value_matches_type(const nlohmann::json& value, std::string_view type_name);

} // namespace trellis::core
