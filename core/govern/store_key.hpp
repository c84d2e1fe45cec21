// The store's own Ed25519 key, which signs the audit log: <root>/keys/store.pem (readable by its
// owner only), made on first use, with its public half beside it in store.pub. Whoever can read
// the private key can rewrite history undetectably, so keep the store folder's owner apart from
// the people it records; `trellis audit verify --key` checks against a public key kept elsewhere.
#pragma once

#include "govern/ed25519.hpp"

#include <filesystem>
#include <string>

namespace trellis::govern {

std::filesystem::path store_private_key_path(const std::filesystem::path& root);
std::filesystem::path store_public_key_path(const std::filesystem::path& root);

// Loads the store key, creating it when there is none (two processes creating it at once agree
// on one). Throws KeyError naming the file when it cannot.
SigningKey store_signing_key(const std::filesystem::path& root);

} // namespace trellis::govern
