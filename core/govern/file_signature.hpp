// Detached signatures of files (plugins, or anything else): FILE.sig beside FILE, a small JSON
// document with the signer's public key and an Ed25519 signature over the file's SHA-256 (hex).
// A signature counts when its key is trusted, it verifies, and the file still hashes to what was
// signed.
#pragma once

#include "govern/ed25519.hpp"

#include <filesystem>
#include <set>
#include <string>

namespace trellis::govern {

struct FileSignature {
    std::string sha256;
    std::string public_key; // hex
    std::string key_id;
    std::string signature;  // hex
    std::string signed_by;
    double signed_at = 0;
};

std::filesystem::path signature_path(const std::filesystem::path& file);

// Signs `file` with `key` and writes FILE.sig (atomically); returns what it wrote.
FileSignature sign_file(const std::filesystem::path& file, const SigningKey& key, const std::string& signed_by,
                        double at);

// Reads FILE.sig; throws KeyError naming it when it is missing or malformed.
FileSignature read_file_signature(const std::filesystem::path& file);

// Empty when `file` has a signature by one of `trusted` (hex public keys) that verifies and the
// file is unchanged since; else the reason, e.g. "unsigned (no x.so.sig)".
std::string file_signature_problem(const std::filesystem::path& file, const std::set<std::string>& trusted);

} // namespace trellis::govern
