// Runs the real trellis binary in a scratch folder and captures its exit code, stdout and stderr.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace trellis::testing {

struct Result {
    int exit_code = -1;
    std::string out;
    std::string err;
    nlohmann::json json() const { return nlohmann::json::parse(out); }
};

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

inline std::string quote(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// A fresh folder per test, with its own plugin cache, so tests do not see each other's state.
class Sandbox {
public:
    Sandbox() {
        static std::atomic<int> counter{0};
        dir_ = std::filesystem::temp_directory_path() /
               ("trellis-it-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    ~Sandbox() { std::filesystem::remove_all(dir_); }
    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path cache() const { return dir_ / "cache"; }

    // Runs `trellis <args>` with `env` (NAME=value words) in the sandbox folder.
    Result run(const std::string& args, const std::string& env = "") const {
        const auto out = dir_ / "stdout.txt";
        const auto err = dir_ / "stderr.txt";
        const std::string command = "cd " + quote(dir_.string()) + " && env -u TRELLIS_PLUGIN_PATH -u TRELLIS_CONFIG " +
                                    "TRELLIS_CACHE_DIR=" + quote(cache().string()) + " TRELLIS_SCAN_TIMEOUT=2 " + env +
                                    " " + quote(TRELLIS_BINARY) + " " + args + " >" + quote(out.string()) + " 2>" +
                                    quote(err.string()) + " </dev/null";
        const int status = std::system(command.c_str());
        Result result;
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        result.out = read_file(out);
        result.err = read_file(err);
        return result;
    }

    void write(const std::string& name, const std::string& text) const { std::ofstream(dir_ / name) << text; }

private:
    std::filesystem::path dir_;
};

} // namespace trellis::testing
