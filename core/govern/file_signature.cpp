#include "govern/file_signature.hpp"

#include "store/digest.hpp"
#include "util/atomic_file.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace trellis::govern {

namespace fs = std::filesystem;

fs::path signature_path(const fs::path& file) { return fs::path(file.string() + ".sig"); }

FileSignature sign_file(const fs::path& file, const SigningKey& key, const std::string& signed_by, double at) {
    FileSignature signature;
    try {
        signature.sha256 = store::sha256_file(file);
    } catch (const std::exception& e) {
        throw KeyError(file.string() + ": cannot read it to sign: " + e.what());
    }
    signature.public_key = key.public_hex();
    signature.key_id = key_id(signature.public_key);
    signature.signature = key.sign(signature.sha256);
    signature.signed_by = signed_by;
    signature.signed_at = at;
    const nlohmann::json document = {{"algorithm", "ed25519"},           {"sha256", signature.sha256},
                                     {"public_key", signature.public_key}, {"key", signature.key_id},
                                     {"signature", signature.signature},   {"signed_by", signed_by},
                                     {"signed_at", at}};
    try {
        core::write_file_atomically(signature_path(file), document.dump(2) + "\n", 0644, false);
    } catch (const std::runtime_error& e) {
        throw KeyError(e.what());
    }
    return signature;
}

FileSignature read_file_signature(const fs::path& file) {
    const auto path = signature_path(file);
    std::ifstream in(path);
    if (!in) throw KeyError("unsigned (no " + path.filename().string() + ")");
    std::stringstream text;
    text << in.rdbuf();
    const auto document = nlohmann::json::parse(text.str(), nullptr, false);
    auto field = [&](const char* key) -> std::string {
        if (!document.is_object() || !document.contains(key) || !document[key].is_string())
            throw KeyError(path.string() + ": not a trellis signature (no '" + std::string(key) + "')");
        return document[key].get<std::string>();
    };
    if (field("algorithm") != "ed25519") throw KeyError(path.string() + ": unknown algorithm '" + field("algorithm") + "'");
    FileSignature signature;
    signature.sha256 = field("sha256");
    signature.public_key = field("public_key");
    signature.key_id = key_id(signature.public_key);
    signature.signature = field("signature");
    if (document.contains("signed_by") && document["signed_by"].is_string()) signature.signed_by = document["signed_by"];
    if (document.contains("signed_at") && document["signed_at"].is_number()) signature.signed_at = document["signed_at"];
    return signature;
}

std::string file_signature_problem(const fs::path& file, const std::set<std::string>& trusted) {
    FileSignature signature;
    try {
        signature = read_file_signature(file);
    } catch (const KeyError& e) {
        return e.what();
    }
    if (!trusted.count(signature.public_key))
        return "signed by key " + signature.key_id + ", which is not trusted (trellis keys trust)";
    if (!verify_signature(signature.public_key, signature.sha256, signature.signature))
        return "its signature (" + signature_path(file).filename().string() + ") does not verify";
    std::string actual;
    try {
        actual = store::sha256_file(file);
    } catch (const std::exception& e) {
        return std::string("cannot read it: ") + e.what();
    }
    if (actual != signature.sha256) return "changed after it was signed (its SHA-256 is not the one signed)";
    return {};
}

} // namespace trellis::govern
