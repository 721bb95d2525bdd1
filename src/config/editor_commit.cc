// editor_commit.cc — ConfigEditor::Commit(): the atomic replacement of the config file.
//
// Protocol, under an exclusive flock of the current file (so that tidegate processes commit one
// at a time, and the compare below cannot race another commit):
//   1. the file's content must still be what was loaded (else refuse: someone else changed it);
//   2. the new text goes to FILE.tmp, with the file's mode and owner, and is fsynced;
//   3. the current file is hard-linked as FILE.prev (through FILE.prev.tmp and a rename, so an
//      existing .prev is replaced atomically; a copy when the filesystem cannot link);
//   4. FILE.tmp is renamed over FILE and the directory is fsynced.
// Linking rather than renaming the current file to .prev keeps FILE present at every instant:
// a reload (SIGHUP) or check-config running meanwhile reads the old or the new text, never
// nothing. The real POSIX calls are used directly: the config file is not spool data, and the
// crash tests of the Filesystem interface do not cover it.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "config/editor.h"

namespace tidegate::config {
namespace {

base::Error Errno(const std::string& what, const std::string& file, int err) {
  return base::MakeError("cannot " + what + " " + file + ": " + std::strerror(err));
}

// Closes a descriptor (and so releases its flock) on every return path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

base::Result<std::string> ReadAll(int fd, const std::string& file) {
  std::string out;
  char buffer[65536];
  off_t offset = 0;
  while (true) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("read", file, errno);
    }
    if (n == 0) return out;
    out.append(buffer, static_cast<size_t>(n));
    offset += n;
  }
}

// Writes and fsyncs a whole new file with the mode and (when allowed) owner of `like`.
base::Status WriteSynced(const std::string& file, const std::string& data,
                         const struct stat& like) {
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Errno("create", file, errno);
  // Mode and owner of the config it replaces: it may hold secrets and be readable by a group.
  if (::fchmod(fd.get(), like.st_mode & 07777) != 0) return Errno("chmod", file, errno);
  if (::fchown(fd.get(), like.st_uid, like.st_gid) != 0) {
    // Only root may give a file away; an unprivileged operator keeps it as their own.
  }
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", file, errno);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return Errno("fsync", file, errno);
  return {};
}

base::Status SyncDirectory(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Errno("open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return Errno("fsync directory", dir, errno);
  return {};
}

}  // namespace

base::Status ConfigEditor::Commit() {
  // A symlinked config (/etc/tidegate/gateway.yaml -> elsewhere) stays a symlink: the file it
  // points at is the one replaced.
  std::error_code ec;
  const std::string file = std::filesystem::canonical(path_, ec).string();
  if (ec) return base::MakeError("cannot commit " + path_ + ": " + ec.message());

  // Lock the inode that is the file *now*: if another commit replaced it while we waited for the
  // lock, ours is the old inode (.prev); try again on the new one.
  std::unique_ptr<Fd> locked;
  struct stat st {};
  for (int attempt = 0; !locked; ++attempt) {
    auto fd = std::make_unique<Fd>(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd->get() < 0) return Errno("open", file, errno);
    while (::flock(fd->get(), LOCK_EX) != 0) {
      if (errno != EINTR) return Errno("lock", file, errno);
    }
    struct stat now {};
    if (::fstat(fd->get(), &st) != 0) return Errno("stat", file, errno);
    if (::stat(file.c_str(), &now) != 0) return Errno("stat", file, errno);
    if (st.st_dev == now.st_dev && st.st_ino == now.st_ino) {
      locked = std::move(fd);
    } else if (attempt >= 100) {
      return base::MakeError("cannot commit " + path_ + ": the file keeps being replaced");
    }
  }

  auto current = ReadAll(locked->get(), file);
  if (!current) return current.error();
  if (*current != on_disk_) {
    return base::MakeError(path_ +
                           " was changed on disk since it was loaded (by another administrator "
                           "or an editor); nothing was written: reload it and make the change "
                           "again");
  }
  if (text_ == on_disk_) return {};

  const std::string tmp = file + ".tmp";
  const std::string prev = file + ".prev";
  const std::string prev_tmp = prev + ".tmp";
  if (auto s = WriteSynced(tmp, text_, st); !s) {
    ::unlink(tmp.c_str());
    return s;
  }
  ::unlink(prev_tmp.c_str());
  if (::link(file.c_str(), prev_tmp.c_str()) != 0) {
    if (auto s = WriteSynced(prev_tmp, on_disk_, st); !s) {
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(prev_tmp.c_str(), prev.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Errno("keep the previous version as", prev, err);
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Errno("replace", file, err);
  }
  // From here the new text is the file: later edits compare against it even if the directory
  // fsync fails (which only weakens durability across a crash, and is reported).
  on_disk_ = text_;
  return SyncDirectory(std::filesystem::path(file).parent_path().string());
}

}  // namespace tidegate::config
