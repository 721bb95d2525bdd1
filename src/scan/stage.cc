// stage.cc — see stage.h.
#include "scan/stage.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cassert>

#include "engines/clamd_client.h"
#include "engines/rspamd_client.h"
#include "mail/auth_results.h"
#include "mail/edits.h"
#include "mail/headers.h"
#include "scan/decide.h"

namespace tidegate::scan {

namespace asio = boost::asio;

namespace {

// The real engines behind the stage's interfaces.
class RspamdEngine final : public SpamEngine {
 public:
  RspamdEngine(asio::any_io_executor ex, const config::AntiSpamEngine& s)
      : client_(ex, Options(s)) {}
  static engines::RspamdOptions Options(const config::AntiSpamEngine& s) {
    engines::RspamdOptions o;
    o.host = s.host;
    o.port = s.port;
    o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(s.timeout);
    o.max_concurrency = s.max_concurrency;
    return o;
  }
  ~RspamdEngine() override { client_.Stop(); }
  void Check(const engines::Envelope& envelope, std::shared_ptr<const std::string> message,
             std::function<void(base::Result<engines::SpamResult>)> done) override {
    client_.Check(envelope, std::move(message), std::move(done));
  }

 private:
  engines::RspamdClient client_;
};

class ClamdEngine final : public VirusEngine {
 public:
  ClamdEngine(asio::any_io_executor ex, const config::AntiVirusEngine& s)
      : client_(ex, Options(s)) {}
  static engines::ClamdOptions Options(const config::AntiVirusEngine& s) {
    engines::ClamdOptions o;
    o.address = s.address;
    o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(s.timeout);
    o.max_concurrency = s.max_concurrency;
    return o;
  }
  ~ClamdEngine() override { client_.Stop(); }
  void Scan(std::shared_ptr<const std::string> message,
            std::function<void(base::Result<engines::VirusResult>)> done) override {
    client_.Scan(std::move(message), std::move(done));
  }

 private:
  engines::ClamdClient client_;
};

std::string Attr(const spool::MessageMeta& meta, const char* key) {
  auto it = meta.attrs.find(key);
  return it == meta.attrs.end() ? std::string() : it->second;
}

std::string_view DomainOf(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

std::string_view SpamWord(engines::SpamVerdict v) {
  switch (v) {
    case engines::SpamVerdict::kPositive:
      return "positive";
    case engines::SpamVerdict::kSuspect:
      return "suspect";
    case engines::SpamVerdict::kNegative:
      break;
  }
  return "negative";
}

// Header fields a sender must not be able to forge: incoming Authentication-Results claiming
// our name (RFC 8601 §5) and our own verdict headers. Indexes as Edits::remove reads them.
std::vector<std::uint32_t> FieldsToRemove(std::string_view message, std::string_view hostname) {
  std::vector<std::uint32_t> out = mail::FindOwnAuthResults(message, hostname);
  const auto fields = mail::ParseHeaderFields(mail::HeaderSection(message));
  for (std::uint32_t i = 0; i < fields.size(); ++i) {
    if (mail::HeaderNameIs(fields[i], kSpamHeader) || mail::HeaderNameIs(fields[i], kVirusHeader)) {
      out.push_back(i);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::int64_t Seconds(config::Duration d) {
  return std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

}  // namespace

// One message on its way through the stage.
struct Stage::Job {
  spool::MessageMeta meta;
  std::shared_ptr<const std::string> body;
  std::shared_ptr<const config::GatewayConfig> cfg;
  config::AntiSpamSettings as;
  config::AntiVirusSettings av;
  int pending = 0;  // engine answers still awaited
  bool spam_skipped = false, virus_skipped = false;
  std::optional<base::Result<engines::SpamResult>> spam;
  std::optional<base::Result<engines::VirusResult>> virus;
};

Stage::Stage(asio::io_context& io, spool::Spool* spool, telemetry::ScanReport* report,
             std::function<std::shared_ptr<const config::GatewayConfig>()> config, Hooks hooks)
    : io_(io),
      spool_(spool),
      report_(report),
      config_(std::move(config)),
      hooks_(std::move(hooks)) {
  ApplyConfig();
}

Stage::~Stage() {
  *alive_ = false;
  retry_timers_.clear();
  spam_.reset();
  virus_.reset();
}

void Stage::ApplyConfig() {
  // The new engines are in place before the old ones go: destroying an old client fails its
  // scans in flight ("stopped"), and those are retried at once — on the new engine. Never a
  // moment where a configured engine is missing (a scan would be skipped).
  std::shared_ptr<SpamEngine> old_spam;
  std::shared_ptr<VirusEngine> old_virus;
  cfg_ = config_();
  if (cfg_->anti_spam != spam_settings_) {
    spam_settings_ = cfg_->anti_spam;
    old_spam = std::move(spam_);
    if (spam_settings_) {
      spam_ = hooks_.make_spam
                  ? hooks_.make_spam(*spam_settings_)
                  : std::make_unique<RspamdEngine>(io_.get_executor(), *spam_settings_);
    }
  }
  if (cfg_->anti_virus != virus_settings_) {
    virus_settings_ = cfg_->anti_virus;
    old_virus = std::move(virus_);
    if (virus_settings_) {
      virus_ = hooks_.make_virus
                   ? hooks_.make_virus(*virus_settings_)
                   : std::make_unique<ClamdEngine>(io_.get_executor(), *virus_settings_);
    }
  }
  old_spam.reset();
  old_virus.reset();
}

// Bodies in memory are bounded by this: every engine slot busy, plus as many loaded and waiting.
std::size_t Stage::MaxInFlight() const {
  std::size_t n = 0;
  if (spam_settings_) n += spam_settings_->max_concurrency;
  if (virus_settings_) n += virus_settings_->max_concurrency;
  return std::max<std::size_t>(1, n);
}

void Stage::Add(std::vector<spool::MessageMeta> metas) {
  if (metas.empty()) return;
  backlog_ += metas.size();
  asio::post(io_, [this, alive = alive_, metas = std::move(metas)]() mutable {
    if (!*alive) return;
    for (spool::MessageMeta& m : metas) waiting_.push_back(std::move(m));
    Pump();
  });
}

void Stage::ConfigChanged() {
  asio::post(io_, [this, alive = alive_] {
    if (!*alive || stopped_) return;
    ApplyConfig();
    Pump();
  });
}

void Stage::Stop() {
  asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    stopped_ = true;
    waiting_.clear();
    retry_timers_.clear();
  });
}

void Stage::Pump() {
  while (!stopped_ && !waiting_.empty() && in_flight_ < MaxInFlight()) {
    auto job = std::make_shared<Job>();
    job->meta = std::move(waiting_.front());
    waiting_.pop_front();
    ++in_flight_;
    StartJob(std::move(job));
  }
}

void Stage::StartJob(std::shared_ptr<Job> job) {
  job->cfg = cfg_;
  const config::Policy* policy = cfg_->FindPolicy(job->meta.policy);
  // A policy removed by a reload: its messages follow DEFAULT, as new mail would.
  if (policy == nullptr) policy = &cfg_->DefaultPolicy();
  job->as = cfg_->AntiSpamFor(*policy);
  job->av = cfg_->AntiVirusFor(*policy);
  // The live form, read once for both engines (no copy per engine).
  auto body = std::make_shared<std::string>();
  if (base::Status s = spool_->ReadBody(job->meta.mid, *body); !s) {
    // Not live any more (finished meanwhile) or unreadable: nothing to decide here; the spool's
    // own recovery report names damage.
    --in_flight_;
    --backlog_;
    retry_timers_.erase(job->meta.mid);
    return;
  }
  job->body = std::move(body);
  const std::uint64_t size = job->body->size();
  // The configuration and the engines change together (ApplyConfig), so an enabled side always
  // has its engine; checked anyway: a side that is on is never skipped for want of a client.
  assert(!job->as.enabled || spam_ != nullptr);
  assert(!job->av.enabled || virus_ != nullptr);
  const bool want_spam = job->as.enabled;
  const bool want_virus = job->av.enabled;
  job->spam_skipped = want_spam && size > spam_settings_->max_message_size;
  job->virus_skipped = want_virus && size > virus_settings_->max_message_size;
  job->pending =
      (want_spam && !job->spam_skipped ? 1 : 0) + (want_virus && !job->virus_skipped ? 1 : 0);
  if (job->pending == 0) {
    Decided(job);
    return;
  }
  auto on_answer = [this, alive = alive_, job](auto setter) {
    return [this, alive, job, setter](auto result) {
      if (!*alive) return;
      setter(*job, std::move(result));
      if (--job->pending == 0) EngineDone(job);
    };
  };
  if (want_spam && !job->spam_skipped) {
    engines::Envelope envelope{.mid = job->meta.mid,
                               .client_ip = Attr(job->meta, "client_ip"),
                               .helo = Attr(job->meta, "helo"),
                               .sender = job->meta.sender,
                               .recipients = {},
                               // rspamd's Hostname is the client's verified reverse-DNS name;
                               // the gateway does no PTR lookup yet (its ICID line says "reverse
                               // dns host unknown"), so it says so rather than name itself.
                               .hostname = "unknown"};
    for (const spool::Recipient& r : job->meta.recipients) {
      if (!spool::IsFinal(r.state)) envelope.recipients.push_back(r.address);
    }
    const auto asked = std::chrono::steady_clock::now();
    spam_->Check(envelope, job->body,
                 on_answer([report = report_, asked](Job& j, base::Result<engines::SpamResult> r) {
                   report->EngineAnswered(telemetry::ScanReport::Engine::kRspamd,
                                          std::chrono::steady_clock::now() - asked);
                   j.spam = std::move(r);
                 }));
  }
  if (want_virus && !job->virus_skipped) {
    const auto asked = std::chrono::steady_clock::now();
    virus_->Scan(job->body, on_answer([report = report_, asked](
                                          Job& j, base::Result<engines::VirusResult> r) {
                   report->EngineAnswered(telemetry::ScanReport::Engine::kClamd,
                                          std::chrono::steady_clock::now() - asked);
                   j.virus = std::move(r);
                 }));
  }
}

void Stage::EngineDone(const std::shared_ptr<Job>& job) {
  // Any engine unavailable: no verdict at all this time (a scan has no side effects; both are
  // asked again), logged per engine that failed.
  config::Duration delay{0};
  if (job->spam && !*job->spam) {
    const auto d = spam_settings_ ? spam_settings_->retry_delay : config::Duration(30000);
    report_->ScanFailed(job->meta.mid, "anti-spam", job->spam->error().message, Seconds(d));
    delay = std::max(delay, d);
  }
  if (job->virus && !*job->virus) {
    const auto d = virus_settings_ ? virus_settings_->retry_delay : config::Duration(30000);
    report_->ScanFailed(job->meta.mid, "anti-virus", job->virus->error().message, Seconds(d));
    delay = std::max(delay, d);
  }
  if (delay.count() > 0) {
    Retry(job, std::chrono::duration_cast<std::chrono::milliseconds>(delay));
    return;
  }
  Decided(job);
}

void Stage::Retry(const std::shared_ptr<Job>& job, std::chrono::milliseconds delay) {
  --in_flight_;
  const std::uint64_t mid = job->meta.mid;
  auto timer = std::make_unique<asio::steady_timer>(io_, delay);
  timer->async_wait([this, alive = alive_, meta = job->meta](const boost::system::error_code& ec) {
    if (ec || !*alive || stopped_) return;
    retry_timers_.erase(meta.mid);
    waiting_.push_back(meta);
    Pump();
  });
  retry_timers_[mid] = std::move(timer);
  Pump();
}

void Stage::Done(const std::shared_ptr<Job>& job) {
  (void)job;
  --in_flight_;
  --backlog_;
  Pump();
}

void Stage::Decided(const std::shared_ptr<Job>& job) {
  const std::uint64_t mid = job->meta.mid;
  const std::string& body = *job->body;
  ScanFacts facts;
  mail::Edits edits;
  edits.remove = FieldsToRemove(body, job->cfg->hostname);
  // The log lines in the policy table's order: anti-spam (and what rspamd found about the
  // sender's authentication), then anti-virus.
  if (job->spam_skipped) report_->SpamSkipped(mid, body.size());
  if (job->spam) {
    const engines::SpamResult& r = **job->spam;
    report_->Spam(mid, SpamWord(r.verdict), r.score);
    facts.spam = r.verdict == engines::SpamVerdict::kPositive  ? SpamOutcome::kPositive
                 : r.verdict == engines::SpamVerdict::kSuspect ? SpamOutcome::kSuspect
                                                               : SpamOutcome::kNegative;
    facts.spam_score = r.score;
    const mail::AuthResults auth = mail::AuthResultsFromRspamdSymbols(r.symbols);
    report_->Authentication(mid, auth.spf, auth.dkim, auth.dmarc);
    edits.prepend.push_back(mail::FormatAuthResults(
        job->cfg->hostname, auth, DomainOf(job->meta.sender), mail::HeaderFromDomain(body)));
    for (const auto& [name, value] : r.add_headers) edits.prepend.push_back(name + ": " + value);
  }
  if (job->virus_skipped) report_->VirusSkipped(mid, body.size());
  if (job->virus) {
    const engines::VirusResult& r = **job->virus;
    switch (r.verdict) {
      case engines::VirusVerdict::kNegative:
        report_->VirusNegative(mid);
        facts.virus = VirusOutcome::kNegative;
        break;
      case engines::VirusVerdict::kPositive:
        report_->VirusPositive(mid, r.detail);
        facts.virus = VirusOutcome::kPositive;
        break;
      case engines::VirusVerdict::kUnscannable:
        report_->VirusUnscannable(mid, r.detail);
        facts.virus = VirusOutcome::kUnscannable;
        break;
    }
    facts.virus_detail = r.detail;
  }
  const Decision decision = Decide(job->as, job->av, facts);
  for (const std::string& h : decision.verdict_headers) edits.prepend.push_back(h);
  edits.subject_tag = decision.SubjectTag();

  if (decision.kind == Decision::Kind::kDrop) {
    // The spool's callback runs on its commit thread, possibly after this stage is gone: it
    // touches only the io_context (which outlives both) until `alive` says otherwise.
    spool_->Finish(mid, [this, io = &io_, alive = alive_, job, by = decision.by](base::Status s) {
      asio::post(*io, [this, alive, job, by, s] {
        if (!*alive) return;
        if (!s) {
          report_->DecisionFailed(job->meta.mid, "spool: " + s.error().message, 30);
          Retry(job, std::chrono::seconds(30));
          return;
        }
        report_->Dropped(job->meta.mid, by);
        Done(job);
      });
    });
    return;
  }

  spool::NewMessage delivered;
  delivered.meta = job->meta;
  delivered.meta.attrs.erase(std::string(kScanAttr));
  delivered.body = mail::ApplyEdits(body, edits);
  delivered.meta.body_size = delivered.body.size();
  delivered.replace = true;

  if (decision.kind == Decision::Kind::kQuarantine) {
    const std::string reason = decision.by == "antivirus"
                                   ? "virus " + facts.virus_detail
                                   : fmt::format("spam score {:.2f}", facts.spam_score);
    hooks_.quarantine(
        decision.quarantine, delivered.meta, std::move(delivered.body), reason,
        [this, io = &io_, alive = alive_, job, decision](base::Status s) {
          asio::post(*io, [this, io, alive, job, decision, s] {
            if (!*alive) return;
            if (!s) {
              report_->DecisionFailed(job->meta.mid, "quarantine: " + s.error().message, 30);
              Retry(job, std::chrono::seconds(30));
              return;
            }
            // Stored first, finished second: a crash between the two scans it again, and the
            // quarantine, keyed by MID, keeps one copy.
            spool_->Finish(job->meta.mid, [this, io, alive, job, decision](base::Status) {
              asio::post(*io, [this, alive, job, decision] {
                if (!*alive) return;
                report_->Quarantined(job->meta.mid, decision.quarantine, decision.by);
                Done(job);
              });
            });
          });
        });
    return;
  }

  // Deliver: the delivered form and its journal copy in one commit, so the copy exists iff the
  // message goes on to delivery, and is of exactly that form.
  std::vector<spool::NewMessage> commit;
  std::optional<spool::NewMessage> copy =
      hooks_.journal_copy ? hooks_.journal_copy(delivered.meta, delivered.body) : std::nullopt;
  auto metas = std::make_shared<std::vector<spool::MessageMeta>>();
  metas->push_back(delivered.meta);
  if (copy) metas->push_back(copy->meta);
  commit.push_back(std::move(delivered));
  if (copy) commit.push_back(std::move(*copy));
  spool_->Commit(std::move(commit), {},
                 [this, io = &io_, alive = alive_, job, metas](base::Status s) {
                   asio::post(*io, [this, alive, job, metas, s] {
                     if (!*alive) return;
                     if (!s) {
                       report_->DecisionFailed(job->meta.mid, "spool: " + s.error().message, 30);
                       Retry(job, std::chrono::seconds(30));
                       return;
                     }
                     report_->Clean(job->meta.mid);
                     if (metas->size() > 1 && hooks_.journal_made)
                       hooks_.journal_made((*metas)[0], (*metas)[1]);
                     hooks_.deliver(std::move(*metas));
                     Done(job);
                   });
                 });
}

}  // namespace tidegate::scan
