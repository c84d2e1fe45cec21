#include "plugin/config_types.hpp"

#include <trellis/plugin_abi.h>

namespace trellis::core {

std::optional<std::string> value_type_name(uint32_t code) {
    switch (code) {
    case TRELLIS_VALUE_BOOL: return "bool";
    case TRELLIS_VALUE_INT: return "int";
    case TRELLIS_VALUE_FLOAT: return "float";
    case TRELLIS_VALUE_STRING: return "string";
    case TRELLIS_VALUE_STRING_LIST: return "string_list";
    case TRELLIS_VALUE_JSON: return "json";
    default: return std::nullopt;
    }
}

std::optional<std::string> artifact_type_name(uint32_t code) {
    switch (code) {
    case TRELLIS_ARTIFACT_TABLE: return "table";
    case TRELLIS_ARTIFACT_MODEL: return "model";
    case TRELLIS_ARTIFACT_METRICS: return "metrics";
    case TRELLIS_ARTIFACT_REPORT: return "report";
    case TRELLIS_ARTIFACT_FILE: return "file";
    case TRELLIS_ARTIFACT_DIRECTORY: return "directory";
    default: return std::nullopt;
    }
}

std::optional<std::string> stage_kind_name(uint32_t code) {
    switch (code) {
    case TRELLIS_STAGE_DATA: return "data";
    case TRELLIS_STAGE_TRAIN: return "train";
    case TRELLIS_STAGE_DEPLOY: return "deploy";
    case TRELLIS_STAGE_MONITOR: return "monitor";
    case TRELLIS_STAGE_GOVERN: return "govern";
    default: return std::nullopt;
    }
}

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
