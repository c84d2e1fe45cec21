// The few pieces of XGBoost's C API this plugin uses, wrapped so that handles are freed on every
// path and a failed call becomes one readable exception line instead of a status code.
#pragma once

#include <trellis/stage.hpp>

#include <xgboost/c_api.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace trellis_xgboost {

// An XGBoost call that failed; the message is XGBoost's own, cut to one line.
class XGBoostError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// XGBoost's last error text cut to one line: without the "[12:00:00] /path/file.cc:42: " prefix
// and the stack trace, the remaining lines joined with "; ".
std::string one_line_error(std::string_view raw);

// Throws XGBoostError("<doing>: <XGBoost's message>") when `status` is not 0.
void check(int status, std::string_view doing);

// An owned DMatrixHandle.
class DMatrix {
public:
    DMatrix() = default;
    explicit DMatrix(DMatrixHandle handle) : handle_(handle) {}
    DMatrix(DMatrix&& other) noexcept : handle_(other.handle_) { other.handle_ = nullptr; }
    DMatrix& operator=(DMatrix&& other) noexcept;
    DMatrix(const DMatrix&) = delete;
    DMatrix& operator=(const DMatrix&) = delete;
    ~DMatrix();
    // The raw handle for C API calls.
    DMatrixHandle get() const noexcept { return handle_; }

private:
    DMatrixHandle handle_ = nullptr;
};

// An owned BoosterHandle.
class Booster {
public:
    // A booster caching predictions for `cache` (the training and evaluation matrices), as
    // python's xgboost.Booster(params, cache) makes it.
    Booster(const DMatrixHandle* cache, bst_ulong count);
    Booster(Booster&& other) noexcept : handle_(other.handle_) { other.handle_ = nullptr; }
    Booster(const Booster&) = delete;
    Booster& operator=(const Booster&) = delete;
    Booster& operator=(Booster&&) = delete;
    ~Booster();
    // The raw handle for C API calls.
    BoosterHandle get() const noexcept { return handle_; }

    // Sets one parameter; the error names the parameter.
    void set_param(const std::string& key, const std::string& value);
    // Sets a string attribute, stored in the saved model's learner.attributes.
    void set_attr(const std::string& key, const std::string& value);
    // A string attribute, or "" with `found` false when the model has none of that name.
    std::string attr(const std::string& key, bool& found) const;

private:
    BoosterHandle handle_ = nullptr;
};

// Routes XGBoost's log messages (warnings such as unused parameters) to the logger of the stage
// running on this thread while the object lives; afterwards, and from XGBoost's own threads, they
// go to stderr.
class LogRoute {
public:
    explicit LogRoute(const trellis::Logger& logger);
    ~LogRoute();
    LogRoute(const LogRoute&) = delete;
    LogRoute& operator=(const LogRoute&) = delete;

private:
    const trellis::Logger* previous_;
};

} // namespace trellis_xgboost
