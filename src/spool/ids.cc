// ids.cc — durable id block reservation (see ids.h).
#include "spool/ids.h"

#include <algorithm>
#include <sstream>

namespace tidegate::spool {
namespace {

constexpr const char* kNames[3] = {"mid", "icid", "dcid"};

std::string Format(const std::array<std::uint64_t, 3>& limits) {
  std::string out = "tidegate-ids 1\n";
  for (int k = 0; k < 3; ++k)
    out += std::string(kNames[k]) + " " + std::to_string(limits[k]) + "\n";
  return out;
}

base::Result<std::array<std::uint64_t, 3>> Parse(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::string magic;
  int version = 0;
  if (!(in >> magic >> version) || magic != "tidegate-ids" || version != 1) {
    return base::MakeError("ids file " + path + ": unknown format");
  }
  std::array<std::uint64_t, 3> out{};
  std::array<bool, 3> seen{};
  std::string key;
  std::uint64_t value;
  while (in >> key >> value) {
    for (int k = 0; k < 3; ++k) {
      if (key == kNames[k]) {
        out[k] = value;
        seen[k] = true;
      }
    }
  }
  if (!in.eof() || !seen[0] || !seen[1] || !seen[2]) {
    return base::MakeError("ids file " + path +
                           ": damaged (refusing to guess, ids must not repeat)");
  }
  return out;
}

}  // namespace

base::Result<std::unique_ptr<IdAllocator>> IdAllocator::Open(base::Filesystem& fs, std::string path,
                                                             std::array<std::uint64_t, 3> floor,
                                                             std::uint64_t block) {
  std::array<std::uint64_t, 3> start = {1, 1, 1};
  if (fs.Exists(path)) {
    auto text = fs.ReadWholeFile(path);
    if (!text) return text.error();
    auto parsed = Parse(*text, path);
    if (!parsed) return parsed.error();
    start = *parsed;
  }
  std::unique_ptr<IdAllocator> ids(
      new IdAllocator(fs, std::move(path), std::max<std::uint64_t>(block, 1)));
  for (int k = 0; k < 3; ++k) {
    ids->next_[k] = std::max({start[k], floor[k], std::uint64_t{1}});
    // Nothing is reserved yet in this process: the first Next() writes a new block.
    ids->limit_[k] = ids->next_[k];
  }
  return ids;
}

std::uint64_t IdAllocator::Next(Kind kind) {
  std::lock_guard lock(mu_);
  if (next_[kind] == limit_[kind]) {
    std::array<std::uint64_t, 3> limits = limit_;
    limits[kind] += block_;
    // Durable before any id of the new block leaves: after a crash we restart above it.
    if (!fs_.WriteFileAtomic(path_, Format(limits))) return 0;
    limit_ = limits;
  }
  return next_[kind]++;
}

}  // namespace tidegate::spool
