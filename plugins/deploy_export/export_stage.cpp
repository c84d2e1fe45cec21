// deploy.export: writes a Model into a local model registry as the next numbered version, with a
// model.json describing it. A version folder appears in one rename(2), fully written and synced,
// so a serving process that polls the registry never loads a half-written model, and concurrent
// exporters of the same name each get their own version.
#include <trellis/sdk.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using trellis::json_number;
using trellis::json_string;

// strerror, named for call sites that must capture errno before other calls overwrite it.
std::string errno_text(int error) { return std::strerror(error); }

// Model names become folder names, so only a conservative portable set is allowed.
void check_name(const std::string& name) {
    const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    bool ok = !name.empty() && alnum(name[0]) && name.find("..") == std::string::npos;
    for (char c : name) ok = ok && (alnum(c) || c == '_' || c == '.' || c == '-');
    if (!ok)
        throw std::invalid_argument("name: '" + name +
                                    "' is not a valid model name (letters, digits, '_', '.', '-', starting with a "
                                    "letter or digit, no '..')");
}

// A version folder's number, or 0 for anything else (temporary folders, stray files).
uint64_t version_of(const std::string& entry) {
    if (entry.empty() || entry.size() > 18 || entry[0] == '0') return 0;
    uint64_t value = 0;
    for (char c : entry) {
        if (c < '0' || c > '9') return 0;
        value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    return value;
}

// 1 + the highest version already in `dir`: versions only grow, even when older ones were deleted.
uint64_t next_version(const fs::path& dir) {
    uint64_t highest = 0;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_directory(ec)) highest = std::max(highest, version_of(it->path().filename().string()));
    if (ec) throw std::runtime_error("registry: cannot list '" + dir.string() + "': " + ec.message());
    return highest + 1;
}

// fsync of a file or folder, so that what was written survives a crash before it is published.
void sync_path(const fs::path& path, bool directory) {
    const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open '" + path.string() + "' to sync it: " + errno_text(errno));
    const int rc = ::fsync(fd);
    const int error = errno;
    ::close(fd);
    if (rc != 0) throw std::runtime_error("cannot sync '" + path.string() + "': " + errno_text(error));
}

// Writes `size` bytes to a new file and syncs it; a short write or a full disk is an error, not a
// silently truncated model.
void write_file(const fs::path& path, const void* data, size_t size) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot create '" + path.string() + "': " + errno_text(errno));
    const auto* bytes = static_cast<const char*>(data);
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::write(fd, bytes + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int error = n < 0 ? errno : EIO;
            ::close(fd);
            throw std::runtime_error("cannot write '" + path.string() + "': " + errno_text(error));
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const int error = errno;
        ::close(fd);
        throw std::runtime_error("cannot sync '" + path.string() + "': " + errno_text(error));
    }
    if (::close(fd) != 0) throw std::runtime_error("cannot close '" + path.string() + "': " + errno_text(errno));
}

// Makes `dir` (and its parents) unless it exists, syncing the parent of each folder it makes so
// the new entry is durable; a path in the way that is not a folder is a config error.
void ensure_directory(const fs::path& dir, const std::string& key) {
    std::error_code ec;
    const auto status = fs::status(dir, ec);
    if (fs::exists(status)) {
        if (!fs::is_directory(status))
            throw std::invalid_argument(key + ": '" + dir.string() + "' exists but is not a directory");
        return;
    }
    if (dir.has_parent_path() && dir.parent_path() != dir) ensure_directory(dir.parent_path(), key);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        throw std::invalid_argument(key + ": cannot create directory '" + dir.string() + "': " + errno_text(errno));
    if (!fs::is_directory(dir, ec))
        throw std::invalid_argument(key + ": '" + dir.string() + "' exists but is not a directory");
    sync_path(dir.has_parent_path() ? dir.parent_path() : fs::path("."), true);
}

// Publishes `from` as `to` only if `to` does not exist: plain rename(2) would silently replace an
// empty folder, so RENAME_NOREPLACE is used where the file system supports it.
int publish(const fs::path& from, const fs::path& to) {
#ifdef RENAME_NOREPLACE
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return errno;
#endif
    return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

// "2024-05-01T12:34:56Z": UTC so registries written from different time zones sort alike.
std::string utc_now() {
    const std::time_t now = std::time(nullptr);
    std::tm parts{};
    ::gmtime_r(&now, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

// Removes the temporary folder unless it was published, whatever path the export takes out.
class TempFolder {
public:
    explicit TempFolder(fs::path path) : path_(std::move(path)) {}
    ~TempFolder() {
        if (path_.empty()) return;
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempFolder(const TempFolder&) = delete;
    TempFolder& operator=(const TempFolder&) = delete;
    const fs::path& path() const { return path_; }
    void release() { path_.clear(); }

private:
    fs::path path_;
};

// The stage: the hand-over point from a pipeline to whatever serves models from the registry.
class Export : public trellis::DeployStage {
public:
    static trellis::StageSpec spec() {
        return trellis::StageSpec("deploy.export", "writes a model to a local registry as its next version")
            .input("model", trellis::ArtifactType::Model, "the model to export")
            .optional_input("metrics", trellis::ArtifactType::Metrics, "metrics recorded in model.json")
            .output("exported", trellis::ArtifactType::Directory, "the new version folder")
            .required("registry", trellis::ValueType::String, "folder of the local model registry; created if missing")
            .required("name", trellis::ValueType::String, "model name: [A-Za-z0-9][A-Za-z0-9_.-]*, no '..'")
            .option_string("description", "", "free text recorded in model.json");
    }

    void run(trellis::Context& ctx) override {
        const std::string registry_text = ctx.config<std::string>("registry");
        const std::string name = ctx.config<std::string>("name");
        const std::string description = ctx.config<std::string>("description");
        if (registry_text.empty()) throw std::invalid_argument("registry: must not be empty");
        check_name(name);

        const trellis::Model model = ctx.input<trellis::Model>("model");
        const bool with_metrics = ctx.has_input("metrics");
        trellis::Metrics metrics;
        if (with_metrics) metrics = ctx.input<trellis::Metrics>("metrics");
        const std::vector<uint8_t> model_bytes = trellis::serialize(model);

        const fs::path registry = fs::absolute(fs::path(registry_text)).lexically_normal();
        ensure_directory(registry, "registry");
        const fs::path model_dir = registry / name;
        ensure_directory(model_dir, "registry");

        std::string pattern = (model_dir / (".tmp-" + std::to_string(::getpid()) + "-XXXXXX")).string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw std::runtime_error("registry: cannot create a temporary folder in '" + model_dir.string() +
                                     "': " + errno_text(errno));
        TempFolder temp{fs::path(pattern)};
        write_file(temp.path() / "model.trls", model_bytes.data(), model_bytes.size());

        const std::string created_at = utc_now();
        uint64_t version = next_version(model_dir);
        // Another exporter may publish the same number first; then the next number is tried.
        for (int attempt = 0;; ++attempt) {
            ctx.throw_if_cancelled();
            if (attempt == 10000)
                throw std::runtime_error("registry: gave up finding a free version number in '" +
                                         model_dir.string() + "'");
            const std::string json = describe(name, version, model, with_metrics ? &metrics : nullptr, description,
                                              created_at, model_bytes.size());
            write_file(temp.path() / "model.json", json.data(), json.size());
            sync_path(temp.path(), true);
            const fs::path target = model_dir / std::to_string(version);
            const int error = publish(temp.path(), target);
            if (error == 0) break;
            if (error != EEXIST && error != ENOTEMPTY)
                throw std::runtime_error("registry: cannot publish '" + target.string() + "': " + errno_text(error));
            ++version;
        }
        temp.release();
        sync_path(model_dir, true);

        const fs::path published = model_dir / std::to_string(version);
        ctx.log().info("exported model " + name + " version " + std::to_string(version) + " to " + published.string());
        ctx.output("exported", trellis::DirectoryRef{published.string()});
        // The host's registry records the model's lineage; gc keeps it. The folder's version
        // number is the registry's version, so both name the same model.
        ctx.register_model("model", name, version, published.string());
    }

private:
    // model.json: what a reader needs to pick and load a version without deserialising the model.
    static std::string describe(const std::string& name, uint64_t version, const trellis::Model& model,
                                const trellis::Metrics* metrics, const std::string& description,
                                const std::string& created_at, size_t model_size) {
        std::string json = "{\n  \"name\": " + json_string(name) + ",\n  \"version\": " + std::to_string(version) +
                           ",\n  \"flavor\": " + json_string(model.flavor) + ",\n  \"signature\": [";
        for (size_t i = 0; i < model.signature.size(); ++i) {
            json += i ? ", " : "";
            json += "{\"name\": " + json_string(model.signature[i].name) +
                    ", \"type\": " + json_string(trellis::to_string(model.signature[i].type)) + "}";
        }
        json += "],\n";
        if (metrics) {
            json += "  \"metrics\": {";
            bool first = true;
            for (const auto& [metric, value] : metrics->values) {
                json += first ? "" : ", ";
                first = false;
                json += json_string(metric) + ": " + json_number(value);
            }
            json += "},\n";
        }
        json += "  \"description\": " + json_string(description) + ",\n  \"created_at\": " + json_string(created_at) +
                ",\n  \"model_file\": \"model.trls\",\n  \"model_bytes\": " + std::to_string(model_size) + "\n}\n";
        return json;
    }
};

const trellis::PluginInfo info{
    .name = "deploy-export",
    .version = "0.1.0",
    .vendor = "trellis",
    .license = "Apache-2.0",
    .description = "exports models to a local versioned model registry",
};

} // namespace

TRELLIS_PLUGIN(info, Export)
