// The store-wide lock between runs and gc: every `trellis run` holds it shared for its whole life,
// `trellis gc` holds it exclusive, so gc never deletes an object a live run has stored but not yet
// recorded. An flock on <root>/gc.lock, dropped by the kernel however the holder ends.
#pragma once

#include <filesystem>

namespace trellis::store {

class StoreLock {
public:
    enum class Mode { Shared, Exclusive };
    // Blocks until the lock is granted (a run waits for a gc in progress, and gc for running runs,
    // printing once that it waits). Throws StoreError when the lock file cannot be opened.
    StoreLock(const std::filesystem::path& root, Mode mode);
    ~StoreLock();
    StoreLock(const StoreLock&) = delete;
    StoreLock& operator=(const StoreLock&) = delete;

private:
    int fd_ = -1;
};

} // namespace trellis::store
