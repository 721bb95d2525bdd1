// store.cc — see store.h.
#include "quarantine/store.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

namespace tidegate::quarantine {

using json = nlohmann::json;

namespace {

constexpr std::string_view kMagic = "TGQ1 ";
constexpr std::size_t kMaxHeader = 16 << 20;  // JSON part: a million recipients would not fit

std::int64_t Millis(base::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
base::SystemTime FromMillis(std::int64_t ms) {
  return base::SystemTime(
      std::chrono::duration_cast<base::SystemTime::duration>(std::chrono::milliseconds(ms)));
}

json MetaJson(const spool::MessageMeta& m) {
  json rcpts = json::array();
  for (const spool::Recipient& r : m.recipients) {
    rcpts.push_back({{"rid", r.rid}, {"address", r.address}, {"state", static_cast<int>(r.state)}});
  }
  return json{{"mid", m.mid},
              {"icid", m.icid},
              {"parent_mid", m.parent_mid},
              {"kind", static_cast<int>(m.kind)},
              {"received_ms", Millis(m.received)},
              {"sender", m.sender},
              {"recipients", rcpts},
              {"policy", m.policy},
              {"attrs", m.attrs}};
}

base::Result<spool::MessageMeta> MetaOf(const json& j) {
  try {
    spool::MessageMeta m;
    m.mid = j.at("mid").get<std::uint64_t>();
    m.icid = j.at("icid").get<std::uint64_t>();
    m.parent_mid = j.at("parent_mid").get<std::uint64_t>();
    m.kind = static_cast<spool::MessageKind>(j.at("kind").get<int>());
    m.received = FromMillis(j.at("received_ms").get<std::int64_t>());
    m.sender = j.at("sender").get<std::string>();
    for (const json& r : j.at("recipients")) {
      m.recipients.push_back(
          spool::Recipient{r.at("rid").get<std::uint32_t>(), r.at("address").get<std::string>(),
                           static_cast<spool::RecipientState>(r.at("state").get<int>())});
    }
    m.policy = j.at("policy").get<std::string>();
    m.attrs = j.at("attrs").get<std::map<std::string, std::string>>();
    return m;
  } catch (const std::exception& e) {
    return base::MakeError(std::string("malformed message meta: ") + e.what());
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool Matches(const Entry& e, const std::string& needle) {
  if (needle.empty()) return true;
  auto has = [&](std::string_view s) { return Lower(s).find(needle) != std::string::npos; };
  if (has(e.meta.sender) || has(e.reason) || has(std::to_string(e.meta.mid))) return true;
  for (const spool::Recipient& r : e.meta.recipients) {
    if (has(r.address)) return true;
  }
  for (const char* key : {"subject", "message_id"}) {
    auto it = e.meta.attrs.find(key);
    if (it != e.meta.attrs.end() && has(it->second)) return true;
  }
  return false;
}

}  // namespace

std::string MetaToJson(const spool::MessageMeta& meta) { return MetaJson(meta).dump(); }

base::Result<spool::MessageMeta> MetaFromJson(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return base::MakeError("malformed message meta: not JSON");
  return MetaOf(j);
}

std::string Store::PathOf(const std::string& quarantine, std::uint64_t mid) const {
  return base::JoinPath(base::JoinPath(dir_, quarantine), std::to_string(mid) + ".msg");
}

base::Result<std::unique_ptr<Store>> Store::Open(std::string dir, base::Filesystem* fs,
                                                 const base::Clock* clock) {
  std::unique_ptr<Store> store(new Store(std::move(dir), fs, clock));
  for (const char* q : {kSpam, kVirus}) {
    if (base::Status s = fs->CreateDirs(base::JoinPath(store->dir_, q)); !s) return s.error();
  }
  if (base::Status s = store->Load(); !s) return s.error();
  return store;
}

base::Status Store::Load() {
  for (const char* q : {kSpam, kVirus}) {
    const std::string qdir = base::JoinPath(dir_, q);
    auto names = fs_->List(qdir);
    if (!names) return names.error();
    for (const std::string& name : *names) {
      const std::string path = base::JoinPath(qdir, name);
      if (name.ends_with(".tmp")) {  // an unfinished Put(): never acknowledged
        (void)fs_->Remove(path);
        continue;
      }
      if (!name.ends_with(".msg")) continue;
      auto problem = [&](const std::string& why) {
        const std::string aside = base::JoinPath(dir_, "damaged");
        (void)fs_->CreateDirs(aside);
        (void)fs_->Rename(path, base::JoinPath(aside, std::string(q) + "-" + name));
        notes_.push_back(fmt::format("{}/{}: {}; moved to damaged/", q, name, why));
      };
      auto file = fs_->OpenRead(path);
      if (!file) {
        problem(file.error().message);
        continue;
      }
      std::string head;
      if (base::Status s = (*file)->ReadAt(0, 32, head); !s || !head.starts_with(kMagic)) {
        problem("not a quarantine file");
        continue;
      }
      const auto nl = head.find('\n');
      std::size_t n = 0;
      if (nl == std::string::npos ||
          std::from_chars(head.data() + kMagic.size(), head.data() + nl, n).ec != std::errc() ||
          n > kMaxHeader) {
        problem("bad header line");
        continue;
      }
      std::string text;
      auto size = (*file)->Size();
      if (base::Status s = (*file)->ReadAt(nl + 1, n, text);
          !s || text.size() != n || !size || *size < nl + 1 + n + 1) {
        problem("truncated");
        continue;
      }
      json j = json::parse(text, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        problem("malformed JSON");
        continue;
      }
      auto meta = j.contains("meta") ? MetaOf(j["meta"]) : base::MakeError("no meta");
      if (!meta) {
        problem(meta.error().message);
        continue;
      }
      Entry e;
      e.quarantine = q;
      e.meta = std::move(*meta);
      e.reason = j.value("reason", "");
      e.stored = FromMillis(j.value("stored_ms", std::int64_t{0}));
      e.size = *size - (nl + 1 + n + 1);
      index_[e.meta.mid] = std::move(e);
    }
  }
  return base::Status::Ok();
}

base::Status Store::Put(const std::string& quarantine, const spool::MessageMeta& meta,
                        std::string_view body, const std::string& reason) {
  if (quarantine != kSpam && quarantine != kVirus) {
    return base::MakeError("no quarantine named " + quarantine);
  }
  const base::SystemTime now = clock_->Now();
  const std::string text =
      json{{"meta", MetaJson(meta)}, {"reason", reason}, {"stored_ms", Millis(now)}}.dump();
  std::string data = fmt::format("{}{}\n", kMagic, text.size());
  data.reserve(data.size() + text.size() + 1 + body.size());
  data += text;
  data += '\n';
  data.append(body);
  if (base::Status s = fs_->WriteFileAtomic(PathOf(quarantine, meta.mid), data); !s) return s;
  std::lock_guard lock(mu_);
  auto it = index_.find(meta.mid);
  if (it != index_.end() && it->second.quarantine != quarantine) {
    (void)fs_->Remove(PathOf(it->second.quarantine, meta.mid));
  }
  index_[meta.mid] = Entry{quarantine, now, reason, meta, body.size()};
  return base::Status::Ok();
}

Page Store::List(const Query& query) const {
  const std::string needle = Lower(query.search);
  std::vector<const Entry*> hits;
  {
    std::lock_guard lock(mu_);
    for (const auto& [mid, e] : index_) {
      if (!query.quarantine.empty() && e.quarantine != query.quarantine) continue;
      if (Matches(e, needle)) hits.push_back(&e);
    }
    std::sort(hits.begin(), hits.end(), [](const Entry* a, const Entry* b) {
      return a->stored != b->stored ? a->stored > b->stored : a->meta.mid > b->meta.mid;
    });
    Page page;
    page.total = hits.size();
    for (std::size_t i = query.offset; i < hits.size() && page.entries.size() < query.limit; ++i) {
      page.entries.push_back(*hits[i]);
    }
    return page;
  }
}

std::optional<Entry> Store::Get(std::uint64_t mid) const {
  std::lock_guard lock(mu_);
  auto it = index_.find(mid);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

base::Status Store::ReadMessage(std::uint64_t mid, std::string& out) const {
  auto e = Get(mid);
  if (!e) return base::MakeError(fmt::format("MID {} is not in a quarantine", mid));
  auto data = fs_->ReadWholeFile(PathOf(e->quarantine, mid));
  if (!data) return data.error();
  const auto nl = data->find('\n');
  std::size_t n = 0;
  if (nl == std::string::npos ||
      std::from_chars(data->data() + kMagic.size(), data->data() + nl, n).ec != std::errc() ||
      nl + 1 + n + 1 > data->size()) {
    return base::MakeError(fmt::format("quarantine file of MID {} is damaged", mid));
  }
  out = data->substr(nl + 1 + n + 1);
  return base::Status::Ok();
}

base::Status Store::Delete(std::uint64_t mid) {
  std::lock_guard lock(mu_);
  auto it = index_.find(mid);
  if (it == index_.end()) return base::MakeError(fmt::format("MID {} is not in a quarantine", mid));
  const std::string path = PathOf(it->second.quarantine, mid);
  if (base::Status s = fs_->Remove(path); !s) return s;
  (void)fs_->SyncDir(base::JoinPath(dir_, it->second.quarantine));
  index_.erase(it);
  return base::Status::Ok();
}

std::vector<Entry> Store::Expire(const config::QuarantineSettings& settings) {
  std::vector<Entry> removed;
  std::vector<const Entry*> by_age;
  const base::SystemTime cutoff = clock_->Now() - settings.retention;
  {
    std::lock_guard lock(mu_);
    std::uint64_t total = 0;
    for (const auto& [mid, e] : index_) {
      by_age.push_back(&e);
      total += e.size;
    }
    std::sort(by_age.begin(), by_age.end(),
              [](const Entry* a, const Entry* b) { return a->stored < b->stored; });
    for (const Entry* e : by_age) {
      if (e->stored >= cutoff && total <= settings.max_size) break;
      total -= e->size;
      removed.push_back(*e);
    }
  }
  for (const Entry& e : removed) (void)Delete(e.meta.mid);
  return removed;
}

Store::Stats Store::stats() const {
  Stats s;
  std::lock_guard lock(mu_);
  for (const char* q : {kSpam, kVirus}) {
    s.messages[q] = 0;
    s.bytes[q] = 0;
  }
  for (const auto& [mid, e] : index_) {
    ++s.messages[e.quarantine];
    s.bytes[e.quarantine] += e.size;
  }
  return s;
}

}  // namespace tidegate::quarantine
