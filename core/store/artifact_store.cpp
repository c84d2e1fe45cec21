#include "store/artifact_store.hpp"

#include "store/digest.hpp"
#include "store/sqlite.hpp"
#include "store/store_paths.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <random>
#include <system_error>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace trellis::store {

namespace fs = std::filesystem;

namespace {

// Above this size put() hashes on a second thread while it writes: SHA-256 (~1.8 GB/s with SHA-NI)
// and copying into the page cache then overlap instead of adding up. Below it a thread costs more
// than it saves, and hashing first lets an existing object skip the write altogether.
constexpr size_t parallel_threshold = size_t{16} << 20;
// Per write(2) and per hash update: large enough that call overhead vanishes, small enough that
// the hashing thread notices a failed write soon.
constexpr size_t chunk_size = size_t{8} << 20;

constexpr std::string_view objects_dir = "objects/sha256";
constexpr std::string_view temporaries_dir = "tmp";

std::string errno_text() { return std::strerror(errno); }
std::string path_text(const fs::path& path) { return printable(path.string(), 1024); }

// An owned file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

// The root opened for reading (not O_PATH), so that it can be fsync'ed after creating in it.
Fd open_root(const fs::path& root) {
    const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw StoreError("cannot open the artifact store " + path_text(root) + ": " + errno_text());
    return Fd(fd);
}

// Opens the directory `name` beneath the root, creating the missing components (0755). Each one is
// created with mkdirat in its parent, which was itself opened beneath the root, and reopened
// beneath the root, so a component that is (or becomes) a symlink leading outside is refused. A
// parent that gained an entry is fsync'ed, so a later rename into the new directory survives a
// crash.
Fd ensure_directory(int root_fd, const fs::path& root, std::string_view name) {
    Fd current;
    size_t start = 0;
    for (;;) {
        const size_t end = std::min(name.find('/', start), name.size());
        const std::string prefix(name.substr(0, end));
        const std::string component(name.substr(start, end - start));
        int fd = try_open_beneath_at(root_fd, root, prefix, O_RDONLY | O_DIRECTORY);
        if (fd < 0 && errno == ENOENT) {
            const int parent = current.get() >= 0 ? current.get() : root_fd;
            if (::mkdirat(parent, component.c_str(), 0755) == 0) {
                if (::fsync(parent) != 0)
                    throw StoreError("cannot sync the folder holding " + path_text(root / prefix) + ": " +
                                     errno_text());
            } else if (errno != EEXIST) {
                throw StoreError("cannot create " + path_text(root / prefix) + ": " + errno_text());
            }
            fd = try_open_beneath_at(root_fd, root, prefix, O_RDONLY | O_DIRECTORY);
        }
        if (fd < 0) throw StoreError("cannot open the folder " + path_text(root / prefix) + ": " + errno_text());
        current = Fd(fd);
        if (end == name.size()) return current;
        start = end + 1;
    }
}

// Calls `visit` with the name of every entry of the directory `dir` but "." and "..".
template <typename Visit>
void for_each_entry(Fd dir, const fs::path& path, Visit&& visit) {
    DIR* stream = ::fdopendir(dir.get());
    if (stream == nullptr) throw StoreError("cannot list " + path_text(path) + ": " + errno_text());
    dir.release();
    struct Closer {
        DIR* stream;
        ~Closer() { ::closedir(stream); }
    } closer{stream};
    for (;;) {
        errno = 0;
        const dirent* entry = ::readdir(stream);
        if (entry == nullptr) {
            if (errno != 0) throw StoreError("cannot list " + path_text(path) + ": " + errno_text());
            return;
        }
        const std::string_view name = entry->d_name;
        if (name == "." || name == "..") continue;
        visit(name);
    }
}

bool is_lower_hex(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A file in tmp/ with a random name, unlinked when dropped unless it was renamed into place.
class Temporary {
public:
    Temporary(int root_fd, const fs::path& root) : root_(root) {
        dir_ = ensure_directory(root_fd, root, temporaries_dir);
        std::random_device random;
        for (int attempt = 0;; ++attempt) {
            name_ = "put-" + std::to_string(::getpid()) + "-" + hex_word(random()) + hex_word(random());
            // O_EXCL: never reuse a file (or follow a symlink) someone else put there. 0444: objects
            // are immutable; the permission applies to later opens, not to this descriptor.
            const int fd =
                try_open_beneath_at(dir_.get(), path(), name_, O_WRONLY | O_CREAT | O_EXCL, 0444);
            if (fd >= 0) {
                fd_ = Fd(fd);
                return;
            }
            if (errno != EEXIST || attempt >= 8) {
                name_.clear();
                throw StoreError("cannot create a temporary file in " + path_text(path()) + ": " + errno_text());
            }
        }
    }
    ~Temporary() {
        fd_.reset();
        if (!name_.empty()) ::unlinkat(dir_.get(), name_.c_str(), 0);
    }
    Temporary(const Temporary&) = delete;
    Temporary& operator=(const Temporary&) = delete;

    fs::path path() const { return root_ / temporaries_dir; }
    fs::path file() const { return path() / name_; }

    // Writes all of `bytes`. With `early_writeback`, each chunk is handed to the disk as soon as it
    // is written, so that the disk works while the other thread is still hashing and the final
    // fsync waits only for the tail (a third or more off a 1 GB put() in measurements).
    void write(std::span<const uint8_t> bytes, bool early_writeback) {
        const uint8_t* next = bytes.data();
        size_t left = bytes.size();
        while (left > 0) {
            const ssize_t done = ::write(fd_.get(), next, std::min(left, chunk_size));
            if (done < 0) {
                if (errno == EINTR) continue;
                throw StoreError("cannot write " + path_text(file()) + ": " + errno_text());
            }
            // Only a start of writeback, not a durability point (fsync in publish() is), so a
            // failure here changes nothing.
            if (early_writeback)
                ::sync_file_range(fd_.get(), next - bytes.data(), done, SYNC_FILE_RANGE_WRITE);
            next += done;
            left -= static_cast<size_t>(done);
        }
    }

    // Makes the content durable, then gives the file the name `target` in `target_dir` (replacing
    // an identical object another writer put there meanwhile) and makes that rename durable.
    void publish(int target_dir, const std::string& target, const fs::path& target_path) {
        if (::fsync(fd_.get()) != 0) throw StoreError("cannot sync " + path_text(file()) + ": " + errno_text());
        if (::close(fd_.release()) != 0)
            throw StoreError("cannot write " + path_text(file()) + ": " + errno_text());
        if (::renameat(dir_.get(), name_.c_str(), target_dir, target.c_str()) != 0)
            throw StoreError("cannot move " + path_text(file()) + " to " + path_text(target_path) + ": " +
                             errno_text());
        name_.clear();
        if (::fsync(target_dir) != 0)
            throw StoreError("cannot sync the folder of " + path_text(target_path) + ": " + errno_text());
    }

private:
    static std::string hex_word(uint32_t value) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string hex(8, '0');
        for (int i = 7; i >= 0; --i, value >>= 4) hex[static_cast<size_t>(i)] = digits[value & 0x0f];
        return hex;
    }

    fs::path root_;
    Fd dir_;
    Fd fd_;
    std::string name_;
};

// SHA-256 of `bytes` in chunks, giving up (returning "") as soon as `stop` is set.
std::string hash_until_stopped(std::span<const uint8_t> bytes, const std::atomic<bool>& stop) {
    Sha256 hash;
    for (size_t offset = 0; offset < bytes.size(); offset += chunk_size) {
        if (stop.load(std::memory_order_relaxed)) return {};
        hash.update(bytes.subspan(offset, std::min(chunk_size, bytes.size() - offset)));
    }
    return hash.hex();
}

} // namespace

MappedObject::~MappedObject() {
    if (size_ > 0) ::munmap(const_cast<uint8_t*>(data_), size_);
}

ArtifactStore::ArtifactStore(fs::path root) : root_(std::move(root)) {
    std::error_code error;
    fs::create_directories(root_, error);
    if (error) throw StoreError("cannot create the artifact store " + path_text(root_) + ": " + error.message());
    const Fd root_fd = open_root(root_);
    ensure_directory(root_fd.get(), root_, objects_dir);
    ensure_directory(root_fd.get(), root_, temporaries_dir);
}

std::string ArtifactStore::object_name(const std::string& digest) {
    if (!is_sha256_hex(digest)) throw StoreError("'" + printable(digest) + "' is not an artifact digest");
    return std::string(objects_dir) + "/" + digest.substr(0, 2) + "/" + digest.substr(2);
}

namespace {

// Whether the object `name` exists as a regular file of `size` bytes. Only the size is checked:
// reading a large object back to compare would cost as much as writing it.
bool whole_object_exists(int root_fd, const fs::path& root, const std::string& name, uint64_t size) {
    const int fd = try_open_beneath_at(root_fd, root, name, O_PATH);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return false;
        throw StoreError("cannot open " + path_text(root / name) + ": " + errno_text());
    }
    const Fd owned(fd);
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw StoreError("cannot stat " + path_text(root / name) + ": " + errno_text());
    return S_ISREG(info.st_mode) && static_cast<uint64_t>(info.st_size) == size;
}

} // namespace

PutResult ArtifactStore::put(std::span<const uint8_t> bytes) {
    const Fd root_fd = open_root(root_);
    PutResult result;
    result.size = bytes.size();
    std::optional<Temporary> temporary;

    if (bytes.size() < parallel_threshold) {
        result.digest = sha256_hex(bytes);
        if (whole_object_exists(root_fd.get(), root_, object_name(result.digest), result.size)) {
            result.existed = true;
            return result;
        }
        temporary.emplace(root_fd.get(), root_);
        temporary->write(bytes, false);
    } else {
        // The digest is known only once all bytes are hashed, so a large object is written to tmp/
        // while it is hashed, and the copy is dropped when the store turns out to hold it already.
        // That trades a wasted write for identical re-puts against a put of new bytes that costs
        // little more than the write itself: hashing first would add the whole hash time
        // (~0.6 s per GB) to every new object.
        temporary.emplace(root_fd.get(), root_);
        std::atomic<bool> stop{false};
        std::future<std::string> hashing;
        try {
            hashing = std::async(std::launch::async, hash_until_stopped, bytes, std::cref(stop));
        } catch (const std::system_error&) {
            // No thread to be had: hash after writing instead.
        }
        try {
            temporary->write(bytes, true);
        } catch (...) {
            stop = true;
            if (hashing.valid()) hashing.wait();
            throw;
        }
        result.digest = hashing.valid() ? hashing.get() : sha256_hex(bytes);
        if (whole_object_exists(root_fd.get(), root_, object_name(result.digest), result.size)) {
            result.existed = true;
            return result;
        }
    }

    const auto name = object_name(result.digest);
    const auto slash = name.rfind('/');
    const Fd fan_out = ensure_directory(root_fd.get(), root_, std::string_view(name).substr(0, slash));
    temporary->publish(fan_out.get(), name.substr(slash + 1), root_ / name);
    return result;
}

std::shared_ptr<const MappedObject> ArtifactStore::get(const std::string& digest, bool verify) const {
    const auto name = object_name(digest);
    const auto path = root_ / name;
    // O_NONBLOCK: a FIFO planted under the name must not hang the reader (it is refused below).
    const int raw = try_open_beneath(root_, name, O_RDONLY | O_NONBLOCK);
    if (raw < 0) {
        if (errno == ENOENT) throw StoreError("artifact " + digest + " is not in the store (" + path_text(root_) + ")");
        throw StoreError("cannot open artifact " + digest + " (" + path_text(path) + "): " + errno_text());
    }
    const Fd fd(raw);
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) throw StoreError("cannot stat " + path_text(path) + ": " + errno_text());
    if (!S_ISREG(info.st_mode))
        throw DamagedArtifact("artifact " + digest + " is damaged: " + path_text(path) + " is not a regular file");

    // Objects are never modified in place (a rewrite renames a new file over the name, and the
    // mapping keeps the old one), so the mapping stays valid until it is dropped. Someone
    // truncating an object file by hand would still make reading past the new end fault.
    const auto size = static_cast<size_t>(info.st_size);
    std::shared_ptr<MappedObject> object;
    if (size == 0) {
        object.reset(new MappedObject(nullptr, 0)); // mmap refuses a length of 0
    } else {
        void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
        if (data == MAP_FAILED) throw StoreError("cannot map " + path_text(path) + ": " + errno_text());
        object.reset(new MappedObject(static_cast<const uint8_t*>(data), size));
    }
    if (verify) {
        // Read-ahead for the one pass of hashing; then back to normal, as tables are used in place
        // in any order. Both are hints, so their failure changes nothing.
        void* data = const_cast<uint8_t*>(object->bytes().data());
        if (size > 0) ::madvise(data, size, MADV_SEQUENTIAL);
        const auto actual = sha256_hex(object->bytes());
        if (size > 0) ::madvise(data, size, MADV_NORMAL);
        if (actual != digest)
            throw DamagedArtifact("artifact " + digest + " is damaged: its content no longer matches its digest (" +
                             path_text(path) + ")");
    }
    return object;
}

std::optional<uint64_t> ArtifactStore::size_of(const std::string& digest) const {
    const auto name = object_name(digest);
    const int fd = try_open_beneath(root_, name, O_PATH);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
        throw StoreError("cannot open " + path_text(root_ / name) + ": " + errno_text());
    }
    const Fd owned(fd);
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw StoreError("cannot stat " + path_text(root_ / name) + ": " + errno_text());
    if (!S_ISREG(info.st_mode)) return std::nullopt;
    return static_cast<uint64_t>(info.st_size);
}

bool ArtifactStore::contains(const std::string& digest) const { return size_of(digest).has_value(); }

bool ArtifactStore::remove(const std::string& digest) {
    const auto name = object_name(digest);
    const auto slash = name.rfind('/');
    const int dir = try_open_beneath(root_, std::string_view(name).substr(0, slash), O_PATH | O_DIRECTORY);
    if (dir < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return false;
        throw StoreError("cannot open " + path_text(root_ / name.substr(0, slash)) + ": " + errno_text());
    }
    const Fd owned(dir);
    if (::unlinkat(dir, name.c_str() + slash + 1, 0) == 0) return true;
    if (errno == ENOENT) return false;
    throw StoreError("cannot remove " + path_text(root_ / name) + ": " + errno_text());
}

bool ArtifactStore::quarantine(const std::string& digest) {
    const auto name = object_name(digest);
    const Fd root_fd = open_root(root_);
    if (::mkdirat(root_fd.get(), "damaged", 0755) != 0 && errno != EEXIST)
        throw StoreError("cannot create " + path_text(root_ / "damaged") + ": " + errno_text());
    const int damaged = try_open_beneath_at(root_fd.get(), root_, "damaged", O_PATH | O_DIRECTORY);
    if (damaged < 0) throw StoreError("cannot open " + path_text(root_ / "damaged") + ": " + errno_text());
    const Fd damaged_fd(damaged);
    const auto slash = name.rfind('/');
    const int dir = try_open_beneath_at(root_fd.get(), root_, std::string_view(name).substr(0, slash), O_PATH | O_DIRECTORY);
    if (dir < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return false;
        throw StoreError("cannot open " + path_text(root_ / name.substr(0, slash)) + ": " + errno_text());
    }
    const Fd dir_fd(dir);
    if (::renameat(dir, name.c_str() + slash + 1, damaged, digest.c_str()) == 0) return true;
    if (errno == ENOENT) return false;
    throw StoreError("cannot move " + path_text(root_ / name) + " to " + path_text(root_ / "damaged") + ": " + errno_text());
}

std::vector<std::string> ArtifactStore::list() const {
    const Fd root_fd = open_root(root_);
    const int objects = try_open_beneath_at(root_fd.get(), root_, objects_dir, O_RDONLY | O_DIRECTORY);
    if (objects < 0) {
        if (errno == ENOENT) return {};
        throw StoreError("cannot open " + path_text(root_ / objects_dir) + ": " + errno_text());
    }
    std::vector<std::string> digests;
    for_each_entry(Fd(objects), root_ / objects_dir, [&](std::string_view prefix) {
        if (prefix.size() != 2 || !is_lower_hex(prefix)) return; // not a fan-out folder of ours
        const auto fan_name = std::string(objects_dir) + "/" + std::string(prefix);
        const int fan = try_open_beneath_at(root_fd.get(), root_, fan_name, O_RDONLY | O_DIRECTORY);
        if (fan < 0) {
            if (errno == ENOENT || errno == ENOTDIR) return; // removed meanwhile, or a stray file
            throw StoreError("cannot open " + path_text(root_ / fan_name) + ": " + errno_text());
        }
        Fd fan_fd(fan);
        const int fan_raw = fan_fd.get();
        for_each_entry(std::move(fan_fd), root_ / fan_name, [&](std::string_view rest) {
            if (rest.size() != 62 || !is_lower_hex(rest)) return; // not an object file name
            struct stat info {};
            if (::fstatat(fan_raw, std::string(rest).c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) return;
            if (S_ISREG(info.st_mode)) digests.push_back(std::string(prefix) + std::string(rest));
        });
    });
    std::sort(digests.begin(), digests.end());
    return digests;
}

size_t ArtifactStore::remove_stale_temporaries(std::chrono::seconds age) {
    const Fd root_fd = open_root(root_);
    const int dir = try_open_beneath_at(root_fd.get(), root_, temporaries_dir, O_RDONLY | O_DIRECTORY);
    if (dir < 0) {
        if (errno == ENOENT) return 0;
        throw StoreError("cannot open " + path_text(root_ / temporaries_dir) + ": " + errno_text());
    }
    // A writer updates its file's modification time with every write, so an old one is abandoned.
    const auto cutoff = std::chrono::system_clock::now() - age;
    const auto cutoff_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(cutoff.time_since_epoch()).count();
    Fd dir_fd(dir);
    const int dir_raw = dir_fd.get();
    size_t removed = 0;
    for_each_entry(std::move(dir_fd), root_ / temporaries_dir, [&](std::string_view entry) {
        const std::string name(entry);
        struct stat info {};
        if (::fstatat(dir_raw, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) return; // gone meanwhile
        if (S_ISDIR(info.st_mode)) return; // not something put() leaves
        const auto modified = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
        if (modified > cutoff_ns) return;
        if (::unlinkat(dir_raw, name.c_str(), 0) == 0) {
            ++removed;
        } else if (errno != ENOENT) { // ENOENT: another process cleaned it first
            throw StoreError("cannot remove " + path_text(root_ / temporaries_dir / name) + ": " + errno_text());
        }
    });
    return removed;
}

} // namespace trellis::store
