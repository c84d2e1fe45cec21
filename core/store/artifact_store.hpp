// The content-addressed artifact store: each artifact's serialised bytes (trellis/artifacts.hpp)
// stored once, as objects/sha256/<2 hex>/<62 hex> under the store root, named by their SHA-256.
//
// Writes are atomic: bytes go to tmp/ under a random name, are fsync'ed, and are renamed into
// place (then the directory is fsync'ed), so a reader or a process killed at any instant sees an
// object whole or not at all. Reads map the file (tables are laid out to be used in place) and
// verify its digest, so a damaged object is reported instead of being used.
#pragma once

#include "store/sqlite.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace trellis::store {

// An object whose bytes no longer match its digest (or that is not a regular file): the only
// failure that justifies moving an object out of the way.
class DamagedArtifact : public StoreError {
public:
    using StoreError::StoreError;
};

// A stored object mapped read-only into memory; unmapped when the last reference goes.
class MappedObject {
public:
    MappedObject(const MappedObject&) = delete;
    MappedObject& operator=(const MappedObject&) = delete;
    ~MappedObject();
    std::span<const uint8_t> bytes() const { return {data_, size_}; }

private:
    friend class ArtifactStore;
    MappedObject(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    const uint8_t* data_;
    size_t size_;
};

struct PutResult {
    std::string digest; // SHA-256, lowercase hex
    uint64_t size = 0;
    bool existed = false; // the store already held these bytes
};

class ArtifactStore {
public:
    // `root` is the store folder (e.g. .trellis); objects/ and tmp/ are created below it.
    explicit ArtifactStore(std::filesystem::path root);

    // Stores `bytes`, hashing while writing (two threads for large objects). A byte-identical
    // object is stored once: when an object of that digest and size exists already, it is kept and
    // `existed` is set. Only the size is compared (reading the object back would cost as much as
    // writing it), so an object damaged in place without changing size stays until get() reports
    // it; remove() then put() rewrites it. A small object (< 16 MiB) is hashed first and nothing
    // is written when it exists; a large one is hashed while it is written to tmp/ (the digest is
    // known only at the end), and that copy is dropped when the object turns out to exist. Safe
    // for concurrent puts of the same bytes from several processes: each renames its own complete
    // copy into place.
    PutResult put(std::span<const uint8_t> bytes);

    // Maps the object `digest` and verifies its SHA-256 (unless `verify` is false). Throws
    // StoreError: "artifact <digest> is not in the store", or "... is damaged: ..." naming the file.
    // The mapping stays valid after remove() or a rewrite (they replace the name, not the file).
    std::shared_ptr<const MappedObject> get(const std::string& digest, bool verify = true) const;

    // Whether an object file exists (its content is not checked).
    bool contains(const std::string& digest) const;
    // Size of the object file, or nothing when there is none. contains(), size_of() and remove()
    // throw StoreError for a text that is not a digest, as get() does.
    std::optional<uint64_t> size_of(const std::string& digest) const;
    // Deletes the object; true if it existed.
    bool remove(const std::string& digest);
    // Moves a damaged object to <root>/damaged/<digest> (kept for inspection, out of the way of a
    // rewrite); true if it existed.
    bool quarantine(const std::string& digest);
    // Digests of every object file present.
    std::vector<std::string> list() const;
    // Deletes files in tmp/ not modified for `age` (left by killed writers; a live writer touches
    // its file with every write); returns how many.
    size_t remove_stale_temporaries(std::chrono::seconds age);

    const std::filesystem::path& root() const { return root_; }
    // objects/sha256/ab/cdef..., relative to the root (the digest is checked).
    static std::string object_name(const std::string& digest);

private:
    std::filesystem::path root_;
};

} // namespace trellis::store
