#include "govern/store_key.hpp"

#include "util/atomic_file.hpp"

#include <system_error>

namespace trellis::govern {

namespace fs = std::filesystem;

fs::path store_private_key_path(const fs::path& root) { return root / "keys" / "store.pem"; }
fs::path store_public_key_path(const fs::path& root) { return root / "keys" / "store.pub"; }

SigningKey store_signing_key(const fs::path& root) {
    const auto private_path = store_private_key_path(root);
    std::error_code error;
    if (!fs::exists(private_path, error)) {
        // The public half outlives a lost private key: a new key would sign on where the old one
        // stopped, and no key would verify the whole log again.
        if (fs::exists(store_public_key_path(root), error))
            throw KeyError(private_path.string() + " is missing, but " + store_public_key_path(root).string() +
                           " is there: the audit log is signed with that key; restore store.pem from a backup");
        fs::create_directories(private_path.parent_path(), error);
        if (error) throw KeyError(private_path.parent_path().string() + ": cannot create the key folder: " + error.message());
        try {
            SigningKey::generate().save(private_path, true);
        } catch (const KeyError&) {
            if (!fs::exists(private_path, error)) throw; // else another process made it first: use that one
        }
    }
    SigningKey key = SigningKey::load(private_path);
    const auto public_path = store_public_key_path(root);
    if (!fs::exists(public_path, error)) {
        try {
            core::write_file_atomically(public_path, key.public_pem(), 0644, true); // another process may win
        } catch (const std::runtime_error& e) {
            throw KeyError(e.what());
        }
    }
    return key;
}

} // namespace trellis::govern
