// admin_common.cc — see admin_common.h.
#include "webui/admin_common.h"

#include "queue/rule_book.h"

#include <charconv>
#include <map>

namespace tidegate::webui {

std::vector<TophostsRow> TophostsRows(const AdminContext& ctx) {
  const bool tdc_enabled = ctx.config()->tdc.enabled;
  std::map<std::string, TophostsRow> rows;
  for (const auto& [name, c] : ctx.counters->Destinations()) {
    // A disabled connector's old figures would only confuse: the row comes back with it.
    if (name == queue::kTdcQueue && !tdc_enabled) continue;
    TophostsRow& r = rows[name];
    r.connections_out = c.connections_out;
    r.delivered = c.delivered;
    r.soft_bounced = c.soft_bounced;
    r.hard_bounced = c.hard_bounced;
    r.down = c.down;
  }
  if (tdc_enabled) rows[queue::kTdcQueue];
  for (const auto& s : ctx.queue->Status()) {
    rows[s.destination.Display()].active += s.active_recipients;
  }
  std::vector<TophostsRow> out;
  out.reserve(rows.size());
  for (auto& [name, row] : rows) {
    row.host = name;
    out.push_back(std::move(row));
  }
  return out;
}

std::optional<std::uint64_t> ParseU64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

const char* PolicyTdcModeName(config::PolicyTdcMode mode) {
  switch (mode) {
    case config::PolicyTdcMode::kDefault:
      return "default";
    case config::PolicyTdcMode::kGlobal:
      return "global";
    case config::PolicyTdcMode::kOff:
      return "off";
    case config::PolicyTdcMode::kCustom:
      return "custom";
  }
  return "default";
}

base::Result<config::ConfigEditor> LoadEditor(const AdminContext& ctx) {
  return config::ConfigEditor::Load(ctx.config()->path);
}

EditOutcome CommitEdit(const AdminContext& ctx, config::ConfigEditor& editor) {
  if (auto v = editor.Validate(); !v) return {400, v.error().message};
  if (base::Status s = editor.Commit(); !s) return {409, s.error().message};
  if (base::Status s = ctx.reload(); !s) return {500, s.error().message};
  return {};
}

}  // namespace tidegate::webui
