// content_security.cc — see content_security.h.
#include "server/content_security.h"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <future>

#include "base/filesystem.h"
#include "server/acceptance.h"

namespace tidegate::server {

namespace asio = boost::asio;

namespace {
constexpr auto kSweepInterval = std::chrono::seconds(60);

std::string Attr(const spool::MessageMeta& meta, const char* key) {
  auto it = meta.attrs.find(key);
  return it == meta.attrs.end() ? std::string() : it->second;
}

// The original transaction as the message's meta still tells it (for the journal lines).
telemetry::Received TxOf(const spool::MessageMeta& m) {
  return telemetry::Received{.mid = m.mid,
                             .icid = m.icid,
                             .received = m.received,
                             .listener = Attr(m, "listener"),
                             .client_ip = Attr(m, "client_ip"),
                             .helo = Attr(m, "helo"),
                             .tls = false,
                             .sender = m.sender,
                             .message_id = Attr(m, "message_id"),
                             .subject = Attr(m, "subject"),
                             .size = m.body_size};
}
}  // namespace

ContentSecurity::ContentSecurity(Deps deps)
    : deps_(std::move(deps)),
      scan_report_(deps_.log, deps_.counters),
      reception_report_(deps_.log, deps_.counters),
      sweep_timer_(*deps_.io) {
  scan_report_.set_tracking(deps_.track);
  reception_report_.set_tracking({}, deps_.track);
}

base::Result<std::unique_ptr<ContentSecurity>> ContentSecurity::Open(Deps deps) {
  std::unique_ptr<ContentSecurity> cs(new ContentSecurity(std::move(deps)));
  const auto cfg = cs->deps_.config();
  auto store = quarantine::Store::Open(base::JoinPath(cfg->data_dir, "quarantine"),
                                       &base::PosixFilesystem(), &base::SystemClock::Instance());
  if (!store) return store.error();
  cs->store_ = std::move(*store);
  for (const std::string& note : cs->store_->notes()) cs->deps_.log->Warning("Quarantine: " + note);
  ContentSecurity* self = cs.get();
  scan::Stage::Hooks hooks;
  hooks.deliver = [self](std::vector<spool::MessageMeta> metas) {
    self->deps_.enqueue(std::move(metas));
  };
  hooks.journal_copy = [self](const spool::MessageMeta& m, std::string_view body) {
    return self->JournalCopy(m, body);
  };
  hooks.journal_made = [self](const spool::MessageMeta& original, const spool::MessageMeta& copy) {
    self->JournalMade(original, copy);
  };
  hooks.quarantine = [self](std::string name, spool::MessageMeta meta, std::string body,
                            std::string reason, std::function<void(base::Status)> done) {
    // fsyncs: on the worker, never on the event loop.
    asio::post(self->worker_,
               [self, name = std::move(name), meta = std::move(meta), body = std::move(body),
                reason = std::move(reason),
                done = std::move(done)] { done(self->store_->Put(name, meta, body, reason)); });
  };
  cs->stage_ = std::make_unique<scan::Stage>(*cs->deps_.io, cs->deps_.spool, &cs->scan_report_,
                                             cs->deps_.config, std::move(hooks));
  cs->Sweep();
  return cs;
}

ContentSecurity::~ContentSecurity() {
  *alive_ = false;
  sweep_timer_.cancel();
  worker_.join();
  stage_.reset();
}

void ContentSecurity::Route(std::vector<spool::MessageMeta> metas) {
  std::vector<spool::MessageMeta> scan, deliver;
  for (spool::MessageMeta& m : metas) (scan::NeedsScan(m) ? scan : deliver).push_back(std::move(m));
  if (!deliver.empty()) deps_.enqueue(std::move(deliver));
  if (!scan.empty()) stage_->Add(std::move(scan));
}

void ContentSecurity::ConfigChanged() { stage_->ConfigChanged(); }

void ContentSecurity::Stop() {
  stage_->Stop();
  asio::post(*deps_.io, [this, alive = alive_] {
    if (*alive) sweep_timer_.cancel();
  });
}

std::optional<spool::NewMessage> ContentSecurity::JournalCopy(const spool::MessageMeta& meta,
                                                              std::string_view body) {
  const auto cfg = deps_.config();
  const config::Policy* policy = cfg->FindPolicy(meta.policy);
  if (policy == nullptr) policy = &cfg->DefaultPolicy();
  auto intake = cfg->JournalAddress(*policy);
  if (!intake) return std::nullopt;
  const std::size_t backlog = deps_.journal_backlog ? deps_.journal_backlog() : 0;
  if (backlog >= cfg->tdc.max_queued) {
    reception_report_.ReportLate(TxOf(meta),
                                 telemetry::JournalSkipped{.mid = meta.mid, .queued = backlog});
    return std::nullopt;
  }
  const std::uint64_t jmid = deps_.spool->NextMid();
  if (jmid == 0) {
    deps_.log->Critical(fmt::format(
        "TDC: MID {} not journaled: no message id available (spool ids file)", meta.mid));
    return std::nullopt;
  }
  return MakeJournalCopy(*cfg, meta, body, *intake, jmid);
}

void ContentSecurity::JournalMade(const spool::MessageMeta& original,
                                  const spool::MessageMeta& copy) {
  const auto cfg = deps_.config();
  reception_report_.ReportLate(TxOf(original),
                               telemetry::JournalCopyMade{.mid = original.mid,
                                                          .journal_mid = copy.mid,
                                                          .policy = original.policy,
                                                          .intake = copy.recipients.at(0).address,
                                                          .service = cfg->tdc.service_name});
}

base::Status ContentSecurity::Release(std::uint64_t mid, const std::string& user) {
  auto entry = store_->Get(mid);
  if (!entry) return base::MakeError(fmt::format("MID {} is not in a quarantine", mid));
  std::string body;
  if (base::Status s = store_->ReadMessage(mid, body); !s) return s;
  spool::NewMessage message;
  message.meta = entry->meta;
  message.meta.attrs[std::string(scan::kScanAttr)] = std::string(scan::kScanReleased);
  message.meta.body_size = body.size();
  std::optional<spool::NewMessage> copy = JournalCopy(message.meta, body);
  std::vector<spool::MessageMeta> metas{message.meta};
  if (copy) metas.push_back(copy->meta);
  message.body = std::move(body);
  std::vector<spool::NewMessage> commit;
  commit.push_back(std::move(message));
  if (copy) commit.push_back(std::move(*copy));
  std::promise<base::Status> committed;
  deps_.spool->Commit(std::move(commit), {},
                      [&committed](base::Status s) { committed.set_value(std::move(s)); });
  if (base::Status s = committed.get_future().get(); !s) return s;
  // Durable in the spool: now it may leave the quarantine. (A failure here leaves a copy behind
  // that a second release would deliver again: said loudly.)
  if (base::Status s = store_->Delete(mid); !s) {
    deps_.log->Critical(
        fmt::format("Quarantine: MID {} released but not removed: {}", mid, s.error().message));
  }
  scan_report_.Released(mid, entry->quarantine, user);
  if (metas.size() > 1) JournalMade(metas[0], metas[1]);
  deps_.enqueue(std::move(metas));
  return base::Status::Ok();
}

base::Status ContentSecurity::Delete(std::uint64_t mid, const std::string& user) {
  auto entry = store_->Get(mid);
  if (!entry) return base::MakeError(fmt::format("MID {} is not in a quarantine", mid));
  if (base::Status s = store_->Delete(mid); !s) return s;
  scan_report_.QuarantineDeleted(mid, entry->quarantine, "deleted by " + user);
  return base::Status::Ok();
}

void ContentSecurity::Sweep() {
  asio::post(worker_, [this, alive = alive_] {
    if (!*alive) return;
    for (const quarantine::Entry& e : store_->Expire(deps_.config()->quarantine)) {
      scan_report_.QuarantineDeleted(e.meta.mid, e.quarantine, "expired");
    }
  });
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!ec && *alive) Sweep();
  });
}

}  // namespace tidegate::server
