// data_dir_lock.cc — see data_dir_lock.h.
#include "server/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/filesystem.h"

namespace tidegate::server {

base::Result<int> LockDataDir(const std::string& data_dir) {
  if (base::Status s = base::PosixFilesystem().CreateDirs(data_dir); !s) return s.error();
  const std::string path = base::JoinPath(data_dir, "LOCK");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return base::MakeError("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return base::MakeError("data_dir " + data_dir + " is in use by another tidegate process");
    }
    return base::MakeError("cannot lock " + path + ": " + std::strerror(err));
  }
  return fd;
}

}  // namespace tidegate::server
