// admin_common.cc — see admin_common.h.
#include "webui/admin_common.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <map>

#include "queue/rule_book.h"

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

std::optional<std::string> DestinationName(std::string_view name) {
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string out;
  out.reserve(name.size());
  for (char ch : name) {
    const char c = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                    c == '_' || c == '[' || c == ']' || c == ':';
    if (!ok) return std::nullopt;
    out += c;
  }
  return out;
}

std::optional<HostStatus> FindHostStatus(const AdminContext& ctx, const std::string& host) {
  const bool tdc = host == queue::kTdcQueue;
  if (tdc && !ctx.config()->tdc.enabled) return std::nullopt;  // as TophostsRows hides it
  HostStatus h;
  h.host = host;
  h.journal = tdc;
  bool queued = false;
  for (const auto& s : ctx.queue->Status()) {
    if (s.destination.Display() != host) continue;
    queued = true;
    h.active += s.active_recipients;
    h.ready += s.ready_entries;
    h.scheduled += s.scheduled_entries;
    h.in_flight += s.in_flight_entries;
    h.window = std::max(h.window, s.window);
    h.down = h.down || s.down;
  }
  auto all = ctx.counters->Destinations();
  if (auto it = all.find(host); it != all.end()) {
    h.counted = true;
    h.counters = std::move(it->second);
    h.down = h.counters.down;  // as tophosts shows it: as of the last delivery attempt
  }
  if (!queued && !h.counted && !tdc) return std::nullopt;
  h.next_attempt = ctx.queue->NextAttempt(host);
  return h;
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

const char* PolicyScanModeName(config::PolicyScanMode mode) {
  switch (mode) {
    case config::PolicyScanMode::kDefault:
      return "default";
    case config::PolicyScanMode::kOff:
      return "off";
    case config::PolicyScanMode::kOn:
      return "on";
  }
  return "default";
}

std::pair<const char*, const char*> ScanActionFields(bool spam) {
  return spam ? std::pair("positive", "suspect") : std::pair("infected", "unscannable");
}

base::Result<ScanChange> ParseScanChange(std::string_view kind, const ScanFields& fields) {
  ScanChange c;
  if (kind != "antispam" && kind != "antivirus") return base::MakeError("unknown setting");
  c.spam = kind == "antispam";
  const auto [first, second] = ScanActionFields(c.spam);
  for (const auto& [key, value] : fields) {
    // csrf_token (forms) and the commit fields CommitFields reads (comment, base_revision,
    // cli_user) travel with every change; they are not part of the setting.
    if (key != "mode" && key != first && key != second && key != "subject_tag" &&
        key != "csrf_token" && key != "comment" && key != "base_revision" && key != "cli_user") {
      return base::MakeError(fmt::format("unknown field {}", key));
    }
  }
  auto field = [&](const char* key) {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second;
  };
  const std::string mode = field("mode");
  if (mode == "default") {
    c.mode = config::PolicyScanMode::kDefault;
  } else if (mode == "off") {
    c.mode = config::PolicyScanMode::kOff;
  } else if (mode == "on") {
    c.mode = config::PolicyScanMode::kOn;
  } else {
    return base::MakeError("mode must be default, off or on");
  }
  if (c.spam) {
    const config::AntiSpamSettings d;
    c.first = d.positive;
    c.second = d.suspect;
    c.subject_tag = d.subject_tag;
  } else {
    const config::AntiVirusSettings d;
    c.first = d.infected;
    c.second = d.unscannable;
    c.subject_tag = d.subject_tag;
  }
  for (auto [key, out] : {std::pair{first, &c.first}, std::pair{second, &c.second}}) {
    const std::string value = field(key);
    if (value.empty()) continue;
    auto action = config::ParseScanAction(value);
    if (!action) {
      return base::MakeError(
          fmt::format("{} must be deliver, tag, quarantine or drop, not \"{}\"", key, value));
    }
    *out = *action;
  }
  if (!field("subject_tag").empty()) c.subject_tag = field("subject_tag");
  return c;
}

base::Status ApplyScanChange(config::ConfigEditor& editor, const std::string& policy,
                             const ScanChange& c) {
  if (c.spam) {
    config::PolicyAntiSpam s{c.mode, {}};
    s.settings.enabled = c.mode == config::PolicyScanMode::kOn;
    s.settings.positive = c.first;
    s.settings.suspect = c.second;
    s.settings.subject_tag = c.subject_tag;
    return editor.SetPolicyAntiSpam(policy, s);
  }
  config::PolicyAntiVirus s{c.mode, {}};
  s.settings.enabled = c.mode == config::PolicyScanMode::kOn;
  s.settings.infected = c.first;
  s.settings.unscannable = c.second;
  s.settings.subject_tag = c.subject_tag;
  return editor.SetPolicyAntiVirus(policy, s);
}

std::string ScanAuditLine(const std::string& policy, const ScanChange& c) {
  std::string line = fmt::format("policyconfig {} {} {}", c.spam ? "antispam" : "antivirus", policy,
                                 PolicyScanModeName(c.mode));
  if (c.mode == config::PolicyScanMode::kOn) {
    const auto [first, second] = ScanActionFields(c.spam);
    line += fmt::format(" {}={} {}={} subject_tag=\"{}\"", first, config::ScanActionName(c.first),
                        second, config::ScanActionName(c.second), c.subject_tag);
  }
  return line;
}

boost::asio::awaitable<base::Status> OnWorker(boost::asio::thread_pool& pool,
                                              std::function<base::Status()> f) {
  auto task = [f = std::move(f)]() -> boost::asio::awaitable<base::Status> { co_return f(); };
  base::Status s =
      co_await boost::asio::co_spawn(pool, std::move(task), boost::asio::use_awaitable);
  co_return s;
}

base::Result<config::ConfigEditor> LoadEditor(const AdminContext& ctx) {
  if (ctx.cluster != nullptr) {
    return config::ConfigEditor::FromText(ctx.config()->path, ctx.cluster->EffectiveText());
  }
  return config::ConfigEditor::Load(ctx.config()->path);
}

base::Result<cluster::CommitRequest> CommitFields(const admin::Request& req) {
  cluster::CommitRequest out;
  out.user = req.user;
  auto get = [&req](const char* name) -> std::string {
    if (std::string v = req.field(name); !v.empty()) return v;
    if (std::string v = req.param(name); !v.empty()) return v;
    if (req.form.empty() && !req.body.empty()) {
      auto j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains(name)) {
        const auto& v = j[name];
        if (v.is_string()) return v.get<std::string>();
        if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
      }
    }
    return "";
  };
  out.comment = get("comment");
  for (char& c : out.comment) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';  // one log line
  }
  // The CLI authenticates with the admin credentials and names the Unix user who ran it; any
  // holder of those credentials may name itself, so this attributes, it does not authenticate.
  if (std::string cli_user = get("cli_user"); !cli_user.empty()) {
    cli_user.resize(std::min<std::size_t>(cli_user.size(), 64));
    for (char& c : cli_user) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) c = '_';
    }
    out.user = std::move(cli_user);
  }
  if (const std::string base = get("base_revision"); !base.empty()) {
    auto n = ParseU64(base);
    if (!n || *n > static_cast<std::uint64_t>(INT64_MAX)) {
      return base::MakeError("base_revision must be a revision number, got \"" + base + "\"");
    }
    out.base_revision = static_cast<std::int64_t>(*n);
  }
  return out;
}

boost::asio::awaitable<EditOutcome> CommitEdit(const AdminContext& ctx,
                                               config::ConfigEditor& editor,
                                               const admin::Request& req,
                                               const std::string* comment) {
  if (auto v = editor.Validate(); !v) co_return EditOutcome{400, v.error().message};
  auto fields = CommitFields(req);
  if (fields && comment != nullptr) fields->comment = *comment;
  if (ctx.cluster != nullptr) {
    if (!fields) co_return EditOutcome{400, fields.error().message};
    cluster::CommitResult r =
        co_await ctx.cluster->Commit(editor.original(), editor.text(), std::move(*fields));
    if (!r.ok()) co_return EditOutcome{r.http_status(), r.message};
    co_return EditOutcome{200, "", r.history_entry};
  }
  const std::string before = editor.original();
  if (base::Status s = editor.Commit(); !s) co_return EditOutcome{409, s.error().message};
  std::string unrecorded;
  std::uint64_t entry = 0;
  if (ctx.history != nullptr && editor.text() != before) {
    const auto now = base::SystemClock::Instance().Now();
    // A hand edit not yet loaded is the file's doing, not this user's: its own entry first.
    auto hand = ctx.history->RecordIfChanged(before, "file", "configuration file edited by hand",
                                             now);
    auto n = hand ? ctx.history->Record(editor.text(), fields ? fields->user : req.user,
                                        fields ? fields->comment : std::string(), now)
                  : base::Result<std::uint64_t>(hand.error());
    if (n) {
      entry = *n;
    } else {
      unrecorded = n.error().message;
    }
  }
  if (base::Status s = ctx.reload(); !s) co_return EditOutcome{500, s.error().message};
  if (!unrecorded.empty()) {
    co_return EditOutcome{500, "committed and applied, but not recorded in the configuration "
                               "history: " + unrecorded};
  }
  co_return EditOutcome{200, "", entry};
}

}  // namespace tidegate::webui
