// data_dir_lock.h — one process per data_dir: an exclusive flock on data_dir/LOCK, held for the
// life of the process (the kernel releases it on exit, also after kill -9). Creates data_dir.
#pragma once

#include <string>

#include "base/result.h"

namespace tidegate::server {

// Returns the locked file descriptor, or an error naming the directory (e.g. another gateway
// is running on it).
base::Result<int> LockDataDir(const std::string& data_dir);

}  // namespace tidegate::server
