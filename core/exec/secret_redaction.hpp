// Credentials a pipeline wrote into a stage's config, blanked before the config is recorded: the
// store keeps every execution's config and `trellis runs show` and `trellis lineage` print it.
// Plugins should refuse such values (data.sql does); this makes sure that even a refused value,
// or one a plugin accepts, never reaches the metadata store.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace trellis::core {

// `text` with the password of every URL's user info (scheme://user:PASSWORD@host), of every
// password=VALUE query parameter of a URL, and, in a libpq-style key=value string
// ("host=db password=VALUE"), of its password pair replaced by "***". Other text (a SQL query
// that mentions a password column) is left as it is.
std::string redact_secret_text(std::string_view text);

// `config` with redact_secret_text applied to every string in it, at any depth.
nlohmann::json redact_secrets(const nlohmann::json& config);

} // namespace trellis::core
