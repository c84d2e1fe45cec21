// Model cards (Mitchell et al., 2019) built from what the store knows of a version: lineage,
// training data with its statistics and schema, parameters, evaluation metrics, approvals,
// signatures, aliases, and the intended use and limitations its pipeline declared
// (pipeline { model_card = {...} }).
#pragma once

#include "registry/model_registry.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace trellis::registry {

// The card as JSON: the version (version_json) with the training run's params, and each training
// table's shape and, when data.validate described it, statistics and schema.
nlohmann::json model_card_json(store::Database& db, const std::filesystem::path& root, const ModelVersion& version);
// The same as Markdown, for people.
std::string model_card_markdown(const nlohmann::json& card);

} // namespace trellis::registry
