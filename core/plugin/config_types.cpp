#include "plugin/config_types.hpp"

#include <trellis/stage.hpp>

namespace trellis::core {

namespace {

// The SDK names its enums (trellis::to_string); the host uses the same names, checking the raw
// code a plugin sent first. The enums have a fixed underlying type, so any code may be cast.
template <class Enum> std::optional<std::string> sdk_name(uint32_t code) {
    const std::string_view name = trellis::to_string(static_cast<Enum>(code));
    if (name == "unknown") return std::nullopt;
    return std::string(name);
}

} // namespace

std::optional<std::string> value_type_name(uint32_t code) { return sdk_name<ValueType>(code); }
std::optional<std::string> artifact_type_name(uint32_t code) { return sdk_name<ArtifactType>(code); }
std::optional<std::string> stage_kind_name(uint32_t code) { return sdk_name<StageKind>(code); }

bool value_matches_type(const nlohmann::json& value, std::string_view type_name) {
    if (type_name == "bool") return value.is_boolean();
    if (type_name == "int") // signed 64-bit: JSON parses large non-negative numbers as unsigned
        return value.is_number_unsigned() ? value.get<uint64_t>() <= uint64_t(INT64_MAX) : value.is_number_integer();
    if (type_name == "float") return value.is_number();
    if (type_name == "string") return value.is_string();
    if (type_name == "string_list") {
        if (!value.is_array()) return false;
        for (const auto& item : value)
            if (!item.is_string()) return false;
        return true;
    }
    return type_name == "json";
}

} // namespace trellis::core
