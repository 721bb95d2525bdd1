// fault_filesystem.cc — the power-cut simulating Filesystem for tests (see fault_filesystem.h).
#include "spool/testing/fault_filesystem.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tidegate::spool::testing {

class FaultAppendFile final : public base::AppendFile {
 public:
  FaultAppendFile(FaultFilesystem& fs, std::string path, std::uint64_t generation,
                  std::unique_ptr<base::AppendFile> real)
      : fs_(fs), path_(std::move(path)), generation_(generation), real_(std::move(real)) {}

  base::Status Append(std::span<const iovec> parts) override {
    std::lock_guard lock(fs_.mu_);
    if (base::Status s = fs_.CheckAliveLocked(generation_); !s) return s;
    std::uint64_t total = 0;
    for (const iovec& p : parts) total += p.iov_len;
    if (fs_.space_left_ && total > *fs_.space_left_) {
      // A full disk may take part of a write: keep what fits, like a real short write.
      std::vector<iovec> fit;
      std::uint64_t room = *fs_.space_left_;
      for (const iovec& p : parts) {
        if (room == 0) break;
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(room, p.iov_len));
        fit.push_back({p.iov_base, n});
        room -= n;
      }
      if (!fit.empty()) (void)real_->Append(fit);
      fs_.space_left_ = 0;
      return base::MakeError("write " + path_ + ": " + std::strerror(ENOSPC));
    }
    if (base::Status s = real_->Append(parts); !s) return s;
    if (fs_.space_left_) *fs_.space_left_ -= total;
    return base::Status::Ok();
  }

  base::Status Sync() override {
    std::lock_guard lock(fs_.mu_);
    if (base::Status s = fs_.CheckAliveLocked(generation_); !s) return s;
    if (fs_.sync_lies_) return base::Status::Ok();
    if (base::Status s = real_->Sync(); !s) return s;
    fs_.files_[path_].synced = real_->Size();
    ++fs_.syncs_;
    return base::Status::Ok();
  }

  base::Status Truncate(std::uint64_t size) override {
    std::lock_guard lock(fs_.mu_);
    if (base::Status s = fs_.CheckAliveLocked(generation_); !s) return s;
    if (base::Status s = real_->Truncate(size); !s) return s;
    FaultFilesystem::FileState& st = fs_.files_[path_];
    st.synced = std::min(st.synced, size);
    return base::Status::Ok();
  }

  std::uint64_t Size() const override { return real_->Size(); }

 private:
  FaultFilesystem& fs_;
  const std::string path_;
  const std::uint64_t generation_;
  std::unique_ptr<base::AppendFile> real_;
};

base::Status FaultFilesystem::CheckAliveLocked(std::uint64_t generation) const {
  if (dead_ || generation != generation_) {
    return base::MakeError("fault filesystem: crashed (simulated power loss)");
  }
  return base::Status::Ok();
}

void FaultFilesystem::Crash() {
  std::lock_guard lock(mu_);
  dead_ = true;
  ++generation_;
  for (auto it = files_.begin(); it != files_.end();) {
    if (!it->second.entry_durable) {
      (void)real_.Remove(it->first);
      it = files_.erase(it);
      continue;
    }
    if (auto file = real_.OpenAppend(it->first); file && (*file)->Size() > it->second.synced) {
      (void)(*file)->Truncate(it->second.synced);
    }
    ++it;
  }
  for (auto& [path, content] : atomic_undo_) {
    files_.erase(path);
    if (content) {
      (void)real_.WriteFileAtomic(path, *content);
    } else {
      (void)real_.Remove(path);
    }
  }
  atomic_undo_.clear();
}

void FaultFilesystem::Revive() {
  std::lock_guard lock(mu_);
  dead_ = false;
}

void FaultFilesystem::SetSpaceLeft(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  space_left_ = bytes;
}

void FaultFilesystem::UnlimitedSpace() {
  std::lock_guard lock(mu_);
  space_left_.reset();
}

void FaultFilesystem::SetSyncLies(bool lies) {
  std::lock_guard lock(mu_);
  sync_lies_ = lies;
}

void FaultFilesystem::SetDirSyncLies(bool lies) {
  std::lock_guard lock(mu_);
  dir_sync_lies_ = lies;
}

void FaultFilesystem::SetFailRemove(bool fail) {
  std::lock_guard lock(mu_);
  fail_remove_ = fail;
}

std::uint64_t FaultFilesystem::syncs() const {
  std::lock_guard lock(mu_);
  return syncs_;
}

base::Result<std::unique_ptr<base::AppendFile>> FaultFilesystem::OpenAppend(
    const std::string& path) {
  std::lock_guard lock(mu_);
  if (base::Status s = CheckAliveLocked(generation_); !s) return s.error();
  const bool existed = real_.Exists(path);
  auto file = real_.OpenAppend(path);
  if (!file) return file.error();
  if (!files_.count(path)) {
    // A file from before this object knew it counts as fully durable.
    files_[path] = FileState{existed ? (*file)->Size() : 0, existed};
  }
  return std::unique_ptr<base::AppendFile>(
      new FaultAppendFile(*this, path, generation_, std::move(*file)));
}

base::Result<std::unique_ptr<base::ReadFile>> FaultFilesystem::OpenRead(const std::string& path) {
  std::lock_guard lock(mu_);
  if (base::Status s = CheckAliveLocked(generation_); !s) return s.error();
  return real_.OpenRead(path);
}

base::Status FaultFilesystem::CreateDirs(const std::string& path) {
  std::lock_guard lock(mu_);
  if (base::Status s = CheckAliveLocked(generation_); !s) return s;
  return real_.CreateDirs(path);
}

base::Status FaultFilesystem::SyncDir(const std::string& path) {
  std::lock_guard lock(mu_);
  if (base::Status s = CheckAliveLocked(generation_); !s) return s;
  if (sync_lies_ || dir_sync_lies_) return base::Status::Ok();
  if (base::Status s = real_.SyncDir(path); !s) return s;
  for (auto& [file, st] : files_) {
    if (base::DirName(file) == base::DirName(base::JoinPath(path, "x"))) st.entry_durable = true;
  }
  return base::Status::Ok();
}

base::Status FaultFilesystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  if (base::Status s = CheckAliveLocked(generation_); !s) return s;
  std::uint64_t size = 0;
  if (auto file = real_.OpenRead(from); file) {
    if (auto n = (*file)->Size(); n) size = *n;
  }
  if (base::Status s = real_.Rename(from, to); !s) return s;
  FileState st{size, false};
  if (auto it = files_.find(from); it != files_.end()) {
    st.synced = it->second.synced;
    files_.erase(it);
  }
  files_[to] = st;
  return base::Status::Ok();
}

base::Status FaultFilesystem::Remove(const std::string& path) {
  std::lock_guard lock(mu_);
  if (base::Status s = CheckAliveLocked(generation_); !s) return s;
  if (fail_remove_) return base::MakeError("unlink " + path + ": " + std::strerror(EIO));
  if (base::Status s = real_.Remove(path); !s) return s;
  files_.erase(path);
  return base::Status::Ok();
}

bool FaultFilesystem::Exists(const std::string& path) {
  std::lock_guard lock(mu_);
  return real_.Exists(path);
}

base::Result<std::vector<std::string>> FaultFilesystem::List(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (base::Status s = CheckAliveLocked(generation_); !s) return s.error();
  return real_.List(dir);
}

base::Status FaultFilesystem::WriteFileAtomic(const std::string& path, const std::string& data) {
  std::lock_guard lock(mu_);
  if (base::Status s = CheckAliveLocked(generation_); !s) return s;
  if (space_left_ && data.size() > *space_left_) {
    return base::MakeError("write " + path + ".tmp: " + std::strerror(ENOSPC));
  }
  if (sync_lies_ || dir_sync_lies_) {
    // Its syncs would lie: remember what a crash brings back (the last durable content).
    if (!atomic_undo_.count(path)) {
      std::optional<std::string> before;
      if (real_.Exists(path)) {
        auto content = real_.ReadWholeFile(path);
        if (!content) return content.error();
        before = std::move(*content);
      }
      atomic_undo_[path] = std::move(before);
    }
  } else {
    atomic_undo_.erase(path);
  }
  // The real implementation syncs the file and the directory: fully durable once it returns
  // (unless the syncs lie: then atomic_undo_ above undoes it at a crash).
  if (base::Status s = real_.WriteFileAtomic(path, data); !s) return s;
  files_[path] = FileState{data.size(), true};
  return base::Status::Ok();
}

base::Result<std::string> FaultFilesystem::ReadWholeFile(const std::string& path) {
  std::lock_guard lock(mu_);
  if (base::Status s = CheckAliveLocked(generation_); !s) return s.error();
  return real_.ReadWholeFile(path);
}

}  // namespace tidegate::spool::testing
