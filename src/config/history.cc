// history.cc — see history.h.
#include "config/history.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace tidegate::config {

using nlohmann::json;

namespace {

// "<digits>.json" → the number.
std::optional<std::uint64_t> EntryNumber(const std::string& name) {
  if (!name.ends_with(".json") || name.size() <= 5 || name.size() > 5 + 19) return std::nullopt;
  std::uint64_t n = 0;
  for (std::size_t i = 0; i + 5 < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  if (n == 0) return std::nullopt;
  return n;
}

}  // namespace

std::string Rfc3339Utc(base::SystemTime t) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch());
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(static_cast<std::time_t>(secs.count())));
}

ConfigHistory::ConfigHistory(std::string dir, std::size_t keep, base::Filesystem* fs)
    : dir_(std::move(dir)), keep_(std::max<std::size_t>(keep, 1)), fs_(fs) {}

std::string ConfigHistory::PathOf(std::uint64_t number) const {
  return base::JoinPath(dir_, std::to_string(number) + ".json");
}

base::Result<std::unique_ptr<ConfigHistory>> ConfigHistory::Open(std::string dir,
                                                                  std::size_t keep,
                                                                  base::Filesystem* fs) {
  if (base::Status s = fs->CreateDirs(dir); !s) return s.error();
  std::unique_ptr<ConfigHistory> h(new ConfigHistory(std::move(dir), keep, fs));
  auto names = fs->List(h->dir_);
  if (!names) return names.error();
  std::vector<std::uint64_t> numbers;
  for (const std::string& name : *names) {
    if (name.ends_with(".tmp")) {
      // An entry whose Record did not finish: it was never reported committed.
      (void)fs->Remove(base::JoinPath(h->dir_, name));
      continue;
    }
    if (auto n = EntryNumber(name)) numbers.push_back(*n);
  }
  std::sort(numbers.begin(), numbers.end());
  for (std::uint64_t n : numbers) {
    auto e = h->ReadEntry(n);
    if (!e) {
      h->notes_.push_back(e.error().message);
      continue;
    }
    if (n == numbers.back()) h->newest_text_ = e->text;
    e->text.clear();
    h->entries_.push_back(std::move(*e));
  }
  // A malformed newest file still holds its number: the next one goes above it.
  if (!numbers.empty() && (h->entries_.empty() || h->entries_.back().number != numbers.back())) {
    h->entries_.push_back(HistoryEntry{numbers.back(), "", "", "(unreadable entry)", "", ""});
  }
  return h;
}

base::Result<HistoryEntry> ConfigHistory::ReadEntry(std::uint64_t number) const {
  const std::string path = PathOf(number);
  auto text = fs_->ReadWholeFile(path);
  if (!text) return text.error();
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("number") || !j["number"].is_number_unsigned() ||
      j["number"].get<std::uint64_t>() != number || !j.contains("text") ||
      !j["text"].is_string()) {
    return base::MakeError(path + ": not a configuration history entry");
  }
  auto str = [&j](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  return HistoryEntry{number, str("time"), str("user"), str("comment"), str("text"), ""};
}

base::Result<std::uint64_t> ConfigHistory::Record(const std::string& text, const std::string& user,
                                                  const std::string& comment,
                                                  base::SystemTime now) {
  std::lock_guard lock(mu_);
  return RecordLocked(text, user, comment, now);
}

base::Result<std::optional<std::uint64_t>> ConfigHistory::RecordIfChanged(
    const std::string& text, const std::string& user, const std::string& comment,
    base::SystemTime now) {
  std::lock_guard lock(mu_);
  if (!entries_.empty() && newest_text_ == text) return std::optional<std::uint64_t>();
  auto n = RecordLocked(text, user, comment, now);
  if (!n) return n.error();
  return std::optional<std::uint64_t>(*n);
}

base::Result<std::uint64_t> ConfigHistory::RecordLocked(const std::string& text,
                                                        const std::string& user,
                                                        const std::string& comment,
                                                        base::SystemTime now) {
  HistoryEntry e{entries_.empty() ? 1 : entries_.back().number + 1, Rfc3339Utc(now), user, comment,
                 "", ""};
  const json j{{"number", e.number},
               {"time", e.time},
               {"user", e.user},
               {"comment", e.comment},
               {"text", text}};
  // WriteFileAtomic: <path>.tmp, fsync, rename, fsync the directory.
  if (base::Status s = fs_->WriteFileAtomic(
          PathOf(e.number), j.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
      !s) {
    return s.error();
  }
  entries_.push_back(e);
  newest_text_ = text;
  while (entries_.size() > keep_) {
    (void)fs_->Remove(PathOf(entries_.front().number));  // a leftover is pruned next time
    entries_.erase(entries_.begin());
  }
  return e.number;
}

std::vector<HistoryEntry> ConfigHistory::List() const {
  std::lock_guard lock(mu_);
  return entries_;
}

base::Result<HistoryEntry> ConfigHistory::Get(std::uint64_t number) const {
  {
    std::lock_guard lock(mu_);
    const bool known = std::any_of(entries_.begin(), entries_.end(),
                                   [&](const HistoryEntry& e) { return e.number == number; });
    if (!known) {
      return base::MakeError(fmt::format("no configuration history entry {}", number));
    }
  }
  return ReadEntry(number);
}

std::optional<std::uint64_t> ConfigHistory::newest() const {
  std::lock_guard lock(mu_);
  if (entries_.empty()) return std::nullopt;
  return entries_.back().number;
}

}  // namespace tidegate::config
