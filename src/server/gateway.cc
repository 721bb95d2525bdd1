// gateway.cc — see gateway.h.
#include "server/gateway.h"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <thread>

#include "base/filesystem.h"
#include "base/version.h"
#include "cluster/agent.h"
#include "server/data_dir_lock.h"
#include "telemetry/pg_tracking.h"
#include "validation/call_ahead.h"
#include "validation/ldap_lookup.h"
#include "webui/admin_api.h"
#include "webui/admin_ui.h"
#include "webui/metrics.h"

namespace tidegate::server {

namespace asio = boost::asio;

namespace {
// How long a graceful shutdown waits for open sessions to finish their transaction.
constexpr auto kDrainTimeout = std::chrono::seconds(30);

telemetry::SyslogSenderOptions SyslogOptions(const config::GatewayConfig& cfg) {
  const config::SyslogTarget& t = *cfg.log.syslog;
  telemetry::SyslogSenderOptions o;
  if (!t.unix_path.empty()) {
    o.transport = telemetry::SyslogTransport::kUnix;
    o.path = t.unix_path;
  } else {
    o.transport = t.protocol == config::SyslogTarget::Protocol::kTcp
                      ? telemetry::SyslogTransport::kTcp
                      : telemetry::SyslogTransport::kUdp;
    o.host = t.endpoint.host;
    o.port = t.endpoint.port;
  }
  o.header.format = t.format == config::SyslogTarget::Format::kRfc3164
                        ? telemetry::SyslogFormat::kRfc3164
                        : telemetry::SyslogFormat::kRfc5424;
  o.header.facility = t.facility;
  o.header.hostname = cfg.hostname;
  o.header.procid = static_cast<std::uint32_t>(::getpid());
  o.max_buffer_bytes = t.buffer;
  return o;
}

// What of log.syslog a reload cannot change (it applies at start), for the warning.
std::string SyslogSummary(const config::GatewayConfig& cfg) {
  if (!cfg.log.syslog) return "off";
  const config::SyslogTarget& t = *cfg.log.syslog;
  return fmt::format("{} {} facility {} format {} buffer {}", t.address,
                     t.protocol == config::SyslogTarget::Protocol::kTcp ? "tcp" : "udp",
                     t.facility_name,
                     t.format == config::SyslogTarget::Format::kRfc3164 ? "rfc3164" : "rfc5424",
                     t.buffer);
}
}  // namespace

Gateway::Gateway(std::shared_ptr<const config::GatewayConfig> config)
    : config_(std::move(config)),
      signals_(io_, SIGTERM, SIGINT, SIGHUP) {}

std::shared_ptr<const inbound::SessionPolicy> Gateway::MakeSessionPolicy(
    const std::shared_ptr<const config::GatewayConfig>& cfg) {
  auto policy = std::make_shared<inbound::SessionPolicy>();
  policy->hostname = cfg->hostname;
  policy->remote_ip_header = cfg->tdc.remote_ip_header;
  // Recipient validation (§13): the Validator of this configuration, kept by each session.
  std::shared_ptr<validation::Validator> validator =
      validation_ ? validation_->current() : nullptr;
  // Never an open relay: only accepted domains, never address literals.
  policy->check_recipient = [cfg, validator](const mail::Address& rcpt) {
    if (rcpt.domain_literal() || !cfg->IsAcceptedDomain(rcpt.domain_lower())) {
      return smtp::RcptVerdict::kRelayDenied;
    }
    if (validator && validator->MethodFor(rcpt) != validation::Method::kNone) {
      return smtp::RcptVerdict::kLookup;
    }
    return smtp::RcptVerdict::kAccept;
  };
  if (validator) {
    policy->lookup_recipient = [validator, counters = &counters_](
                                   std::uint64_t icid, const std::string& client_ip,
                                   const mail::Address& rcpt,
                                   std::function<void(inbound::RecipientLookupAnswer)> done) {
      RecipientValidation::Lookup(validator, counters, icid, client_ip, rcpt, std::move(done));
    };
  }
  return policy;
}

Gateway::~Gateway() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::shared_ptr<const config::GatewayConfig> Gateway::config() const {
  std::lock_guard lock(config_mu_);
  return config_;
}

base::Status Gateway::Start() {
  auto cfg = config();
  auto lock = LockDataDir(cfg->data_dir);
  if (!lock) return lock.error();
  lock_fd_ = *lock;
  telemetry::MailLogOptions log_options;
  log_options.path = cfg->log.mail_log;
  log_options.max_size = cfg->log.max_size;
  log_options.rotate_interval = cfg->log.rotate_interval;
  log_options.keep = cfg->log.keep;
  log_options.version =
      fmt::format("{} Build: {} SN: {}", base::Version(), base::Build(), cfg->hostname);
  if (cfg->log.syslog) {
    // CONTRACT §12: every mail-log line also goes to syslog, from the sender's own thread.
    auto sender = telemetry::SyslogSender::Start(SyslogOptions(*cfg));
    if (!sender) return sender.error();
    syslog_ = std::move(*sender);
    log_options.mirror = [sender = syslog_.get()](base::SystemTime t, telemetry::Level level,
                                                  std::string_view line) {
      sender->Submit(t, level, line);
    };
  }
  auto log = telemetry::MailLog::Open(log_options);
  if (!log) return log.error();
  log_ = std::move(*log);
  log_->Info(fmt::format("tidegate starting: config {}, data_dir {}", cfg->path, cfg->data_dir));
  if (syslog_) {
    log_->Info("Mail log lines also go to syslog: " + syslog_->stats().target + " " +
               SyslogSummary(*cfg));
  }
  if (cfg->cluster) {
    // Cluster mode (§11): the shared sections come from etcd (or the last applied revision on
    // disk while it is unreachable); the local file gives the machine-local keys.
    auto initial = cluster::Agent::Initial(cfg, *log_);
    if (!initial) return initial.error();
    cluster_ = std::make_unique<cluster::Agent>(
        io_, cluster::Agent::Options{.local = cfg,
                                     .admin_url = "",
                                     .apply = [this](std::shared_ptr<const config::GatewayConfig>
                                                         c) { return ApplyConfig(std::move(c)); },
                                     .log = log_.get()});
    cfg = *initial;
    std::lock_guard lock(config_mu_);
    config_ = cfg;
  }

  // The configuration history (§12): entry 1 is the configuration at first start; a file
  // changed while the gateway was stopped is recorded as such. In cluster mode the history is
  // kept in etcd per level by the agent (cluster/history.h), not here.
  if (!cluster_) {
    auto history = config::ConfigHistory::Open(base::JoinPath(cfg->data_dir, "config-history"));
    if (history) {
      history_ = std::move(*history);
      for (const std::string& note : history_->notes()) {
        log_->Warning("Configuration history: " + note);
      }
      RecordHistory(CurrentText(), "file",
                    !history_->newest() ? "configuration at first start"
                                        : "configuration file edited by hand (found at start)");
    } else {
      log_->Critical("Configuration history unavailable: " + history.error().message);
    }
  }

  spool::Options spool_options;
  spool_options.dir = base::JoinPath(cfg->data_dir, "spool");
  spool_options.fs = &base::PosixFilesystem();
  spool_options.clock = &base::SystemClock::Instance();
  spool_options.segment_size = cfg->spool.segment_size;
  spool_options.min_free_bytes = cfg->spool.min_free_space;
  auto spool = spool::Spool::Open(spool_options);
  if (!spool) return spool.error();
  spool_ = std::move(*spool);
  const auto& report = spool_->recovery();
  for (const std::string& note : report.notes) log_->Warning("Spool recovery: " + note);
  for (const std::string& damage : report.damage) log_->Critical("Spool damage: " + damage);
  std::string_view last_run = "the last run did not stop cleanly";
  if (report.segments == 0) last_run = "a new spool";
  if (report.clean_shutdown) last_run = "the last run stopped cleanly";
  log_->Info(
      fmt::format("Spool recovery: {} messages queued, {} corrupt regions moved aside, "
                  "{} bytes of unfinished writes discarded; {}",
                  report.messages, report.corrupt_regions, report.truncated_bytes, last_run));

  queue_ = std::make_unique<delivery::QueueManager>(io_, spool_.get(), log_.get(), &counters_,
                                                    &base::SystemClock::Instance(),
                                                    [this] { return config(); });
  if (base::Status s = queue_->Start(); !s) return s;
  auto tracking = OpenTracking(*cfg);
  if (tracking) {
    tracking_ = std::move(*tracking);
    for (const std::string& note : tracking_->notes()) log_->Warning("Message tracking: " + note);
  } else {
    // Tracking is not the durability path: mail must flow without it, e.g. after a restart on a
    // full disk where SQLite cannot even open its journal. The spool still guards every message.
    log_->Critical("Message tracking unavailable until the next restart: " +
                   tracking.error().message);
  }
  // Tracking is fed one way, by the reports, through these (a no-op without tracking).
  const telemetry::TrackingSink track = [this](std::uint64_t mid, std::string text,
                                               std::string status) {
    if (!tracking_) return;
    tracking_->AddEvent(mid, base::SystemClock::Instance().Now(), std::move(text));
    if (!status.empty()) tracking_->SetStatus(mid, std::move(status));
  };
  queue_->set_tracking(track);
  auto content_security = ContentSecurity::Open(ContentSecurity::Deps{
      .io = &io_,
      .spool = spool_.get(),
      .log = log_.get(),
      .counters = &counters_,
      .config = [this] { return config(); },
      .enqueue = [this](std::vector<spool::MessageMeta> metas) { queue_->Enqueue(std::move(metas)); },
      .journal_backlog = [this] { return queue_->journal_backlog(); },
      .track = track});
  if (!content_security) return content_security.error();
  content_security_ = std::move(*content_security);
  // Messages found at recovery: those still waiting for a verdict are scanned (again).
  content_security_->Route(spool_->TakeRecovered());
  pipeline_ = std::make_unique<MessagePipeline>(
      spool_.get(), log_.get(), &counters_, [this] { return config(); },
      MessagePipeline::Hooks{
          .queued = [this](std::vector<spool::MessageMeta> metas) {
            content_security_->Route(std::move(metas));
          },
          .journal_backlog = [this] { return queue_->journal_backlog(); }});
  pipeline_->set_tracking(
      [this](telemetry::MessageSummary summary) {
        if (tracking_) tracking_->RecordMessage(std::move(summary));
      },
      track);
  services_.next_icid = [this] { return spool_->NextIcid(); };
  services_.next_mid = [this] { return spool_->NextMid(); };
  // Recipient validation (§13): its Validator is part of the session policy.
  validation_ = std::make_unique<RecipientValidation>(
      io_.get_executor(), &counters_, &base::SystemClock::Instance(),
      [this, running = loop_running_](const config::GatewayConfig& c) {
        validation::Validator::Methods methods;
        if (c.recipient_validation.call_ahead) {
          // On the event loop (its resolver and sockets live there); destroyed there too.
          if (auto call_ahead = validation::CallAhead::Create(io_, c)) {
            methods.call_ahead = std::shared_ptr<validation::Lookup>(std::move(*call_ahead));
          } else {
            log_->Critical("Recipient validation: call-ahead not started: " +
                           call_ahead.error().message);
          }
        }
        if (c.recipient_validation.ldap && !c.recipient_validation.ldap->uris.empty()) {
          // Its destructor joins worker threads that may sit in a network call for up to the
          // timeout: never on the running event loop (a reload retires the old Validator there);
          // after the loop stopped (shutdown), where it is let go, so none outlives the process.
          methods.ldap = std::shared_ptr<validation::Lookup>(
              new validation::LdapLookup(*c.recipient_validation.ldap),
              [running](validation::Lookup* lookup) {
                if (running->load()) {
                  std::thread([lookup] { delete lookup; }).detach();
                } else {
                  delete lookup;
                }
              });
        }
        return methods;
      });
  validation_->ApplyConfig(cfg);
  {
    std::lock_guard lock(config_mu_);
    session_policy_ = MakeSessionPolicy(cfg);
  }
  services_.log = log_.get();
  services_.acceptor = pipeline_.get();
  services_.on_connection = [this] {
    counters_.UpdateGlobal([](telemetry::GlobalCounters& g) { ++g.connections_in; });
  };
  services_.clock = &base::SystemClock::Instance();
  services_.policy = [this] {
    std::lock_guard lock(config_mu_);
    return session_policy_;
  };

  if (base::Status s = StartAdmin(); !s) return s;
  if (cluster_) {
    if (admin_) {
      // A wildcard bind is reached by the machine's name.
      const bool wildcard = cfg->admin.bind.host == "0.0.0.0" || cfg->admin.bind.host == "::";
      cluster_->set_admin_url(
          "http://" +
          config::Endpoint{wildcard ? cfg->hostname : cfg->admin.bind.host, admin_->port()}.str());
    }
    cluster_->Start();
  }
  for (const config::Listener& l : cfg->listeners) {
    auto listener = std::make_unique<inbound::Listener>(io_, l, &services_);
    if (base::Status s = listener->Start(); !s) return s;
    log_->Info(fmt::format("Listener {} accepting on {}:{}", l.name, l.bind.host,
                           listener->local_endpoint().port()));
    listeners_[l.name] = std::move(listener);
  }
  return base::Status::Ok();
}

namespace {

base::Result<std::string> ReadPasswordFile(const std::string& path) {
  auto text = base::PosixFilesystem().ReadWholeFile(path);
  if (!text) return text.error();
  std::string p = *text;
  if (auto nl = p.find_first_of("\r\n"); nl != std::string::npos) p.resize(nl);
  if (p.empty()) return base::MakeError("admin password file " + path + " is empty");
  return p;
}

}  // namespace

base::Result<std::unique_ptr<telemetry::TrackingStore>> Gateway::OpenTracking(
    const config::GatewayConfig& cfg) {
  const auto retention = std::chrono::duration_cast<std::chrono::hours>(cfg.tracking.retention);
  if (cfg.tracking.backend == config::TrackingBackend::kPostgresql) {
    // CONTRACT §11: MIDs are per machine; the machine's name tags every row it writes.
    std::string machine = cfg.cluster ? cfg.cluster->machine : std::string();
    if (machine.empty()) {
      char host[256] = {};
      if (::gethostname(host, sizeof host - 1) == 0) machine = host;
    }
    telemetry::PgTrackingOptions o;
    o.machine = machine;
    o.buffer_dir = base::JoinPath(cfg.data_dir, "tracking-buffer");
    o.buffer_max = cfg.tracking.buffer_max;
    o.conninfo = cfg.tracking.postgresql.conninfo;
    o.password = cfg.tracking.postgresql.password;
    o.retention = retention;
    o.log = [log = log_.get()](const std::string& line, bool warning) {
      if (warning) {
        log->Warning(line);
      } else {
        log->Info(line);
      }
    };
    auto pg = telemetry::PgTracking::Open(std::move(o));
    if (!pg) return pg.error();
    return std::unique_ptr<telemetry::TrackingStore>(std::move(*pg));
  }
  telemetry::TrackingOptions o;
  o.path = base::JoinPath(cfg.data_dir, "tracking.db");
  o.retention = retention;
  auto sqlite = telemetry::Tracking::Open(o);
  if (!sqlite) return sqlite.error();
  return std::unique_ptr<telemetry::TrackingStore>(std::move(*sqlite));
}

base::Status Gateway::StartAdmin() {
  auto cfg = config();
  if (cfg->admin.password_file.empty()) {
    log_->Warning("No admin section with a password_file: the admin API and Web UI are off");
    return base::Status::Ok();
  }
  auto password = ReadPasswordFile(cfg->admin.password_file);
  if (!password) return password.error();
  admin::ServerOptions options;
  options.bind_host = cfg->admin.bind.host;
  options.port = cfg->admin.bind.port;
  options.user = cfg->admin.user;
  options.password = *password;
  // Both kinds of line already start with "admin: " (ServerOptions::log_prefix). The operational
  // lines (failed logins, CSRF, Host and size refusals) are what shows an attack on the admin
  // surface: they go to the mail log like everything else (they never hold a secret).
  options.audit = [this](std::string line) { log_->Info(std::move(line)); };
  options.log = [this](std::string line) { log_->Info(std::move(line)); };
  admin_ = std::make_unique<admin::Server>(io_, options);
  webui::AdminContext admin_context{.counters = &counters_,
                                    .queue = queue_.get(),
                                    .tracking = tracking_.get(),
                                    .log = log_.get(),
                                    .spool = spool_.get(),
                                    .config = [this] { return config(); },
                                    .reload = [this] { return Reload(); },
                                    .connections_in =
                                        [this] {
                                          std::uint32_t n = 0;
                                          for (auto& [name, l] : listeners_)
                                            n += l->active_sessions();
                                          return n;
                                        },
                                    .started = started_,
                                    .quarantine = &content_security_->store(),
                                    .quarantine_release =
                                        [this](std::uint64_t mid, const std::string& user) {
                                          return content_security_->Release(mid, user);
                                        },
                                    .quarantine_delete =
                                        [this](std::uint64_t mid, const std::string& user) {
                                          return content_security_->Delete(mid, user);
                                        },
                                    .worker = &content_security_->worker(),
                                    .scan_backlog =
                                        [this] { return content_security_->scan_backlog(); },
                                    .test_recipient =
                                        [this](const mail::Address& address,
                                               std::function<void(validation::Verdict)> done) {
                                          auto validator = validation_->current();
                                          if (!validator) {
                                            asio::post(io_, [done = std::move(done)] {
                                              done(validation::Verdict{});
                                            });
                                            return;
                                          }
                                          validator->Explain(address, std::move(done));
                                        }};
  admin_context.cluster = cluster_.get();
  admin_context.syslog = syslog_.get();
  admin_context.history = history_.get();
  webui::RegisterAdminApi(*admin_, admin_context);
  if (base::Status s = StartMetrics(admin_context); !s) return s;
  webui::RegisterAdminUi(*admin_, std::move(admin_context));
  if (base::Status s = admin_->Start(); !s) return s;
  log_->Info(fmt::format("Admin API and Web UI on http://{}:{}/", cfg->admin.bind.host,
                         admin_->port()));
  return base::Status::Ok();
}

// CONTRACT §12: /metrics on admin.bind (HTTP Basic) and, with `metrics.bind`, on a listener of
// its own without a login, as exporters are scraped.
base::Status Gateway::StartMetrics(const webui::AdminContext& context) {
  auto shared = std::make_shared<const webui::AdminContext>(context);
  webui::RegisterMetrics(*admin_, shared, /*open=*/false);
  auto cfg = config();
  if (!cfg->metrics) return base::Status::Ok();
  admin::ServerOptions options;
  options.bind_host = cfg->metrics->bind.host;
  options.port = cfg->metrics->bind.port;
  options.log_prefix = "metrics";
  options.log = [this](std::string line) { log_->Info(std::move(line)); };
  metrics_ = std::make_unique<admin::Server>(io_, options);  // no password: nobody logs in
  webui::RegisterMetrics(*metrics_, shared, /*open=*/true);
  if (base::Status s = metrics_->Start(); !s) return s;
  log_->Info(fmt::format("Metrics on http://{}:{}/metrics", cfg->metrics->bind.host,
                         metrics_->port()));
  return base::Status::Ok();
}

void Gateway::WaitForSignals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      (void)Reload();
      WaitForSignals();
      return;
    }
    BeginShutdown();
  });
}

base::Status Gateway::Reload() {
  auto loaded = config::LoadGatewayConfig(config()->path);
  if (!loaded) {
    log_->Critical("Configuration reload refused, keeping the running configuration: " +
                   loaded.error().message);
    return loaded.error();
  }
  if (cluster_) {
    // The local file's machine-local keys, merged with the levels the agent holds.
    base::Status s = cluster_->ReloadLocal(*loaded);
    if (!s) {
      log_->Critical("Configuration reload refused, keeping the running configuration: " +
                     s.error().message);
    }
    return s;
  }
  base::Status s = ApplyConfig(*loaded);
  // A change committed through the admin API is already the newest entry: this records only
  // a file edited by hand and loaded by SIGHUP.
  if (s) RecordHistory(CurrentText(), "file", "configuration file edited by hand");
  return s;
}

std::string Gateway::CurrentText() const {
  auto text = base::PosixFilesystem().ReadWholeFile(config()->path);
  return text ? *text : std::string();
}

void Gateway::RecordHistory(const std::string& text, const std::string& user,
                            const std::string& comment) {
  if (!history_ || text.empty()) return;
  auto n = history_->RecordIfChanged(text, user, comment, base::SystemClock::Instance().Now());
  if (!n) {
    log_->Critical("Configuration history: cannot record the configuration: " +
                   n.error().message);
  } else if (*n) {
    log_->Info(fmt::format("Configuration history: entry {} recorded (by {}: {})", **n, user,
                           comment));
  }
}

base::Status Gateway::ApplyConfig(std::shared_ptr<const config::GatewayConfig> cfg) {
  auto old_cfg = config();
  if (cfg->data_dir != old_cfg->data_dir) {
    log_->Critical("Configuration reload refused: data_dir cannot change while running");
    return base::MakeError("data_dir cannot change while running");
  }
  // Listeners: update in place, start new ones, stop removed ones. Open sessions keep going.
  std::map<std::string, std::unique_ptr<inbound::Listener>> next;
  for (const config::Listener& l : cfg->listeners) {
    auto it = listeners_.find(l.name);
    const config::Listener* old = nullptr;
    for (const auto& ol : old_cfg->listeners) {
      if (ol.name == l.name) old = &ol;
    }
    if (it != listeners_.end() && old != nullptr && old->bind.str() == l.bind.str()) {
      if (base::Status s = it->second->UpdateConfig(l); !s) {
        log_->Critical("Configuration reload refused: " + s.error().message);
        return s;
      }
      next[l.name] = std::move(it->second);
      listeners_.erase(it);
      continue;
    }
    auto listener = std::make_unique<inbound::Listener>(io_, l, &services_);
    if (base::Status s = listener->Start(); !s) {
      log_->Critical("Configuration reload: " + s.error().message);
      continue;
    }
    next[l.name] = std::move(listener);
  }
  for (auto& [name, listener] : listeners_) listener->Stop();
  // Stopped listeners are kept alive until shutdown: their sessions still reference them.
  for (auto& [name, listener] : listeners_) next["~retired~" + name] = std::move(listener);
  listeners_ = std::move(next);
  {
    std::lock_guard lock(config_mu_);
    config_ = cfg;
    validation_->ApplyConfig(cfg);
    session_policy_ = MakeSessionPolicy(cfg);
  }
  if (SyslogSummary(*cfg) != SyslogSummary(*old_cfg)) {
    log_->Warning("log.syslog changed: the change takes effect at the next restart");
  }
  queue_->ConfigChanged();
  content_security_->ConfigChanged();
  if (admin_) {
    if (auto password = ReadPasswordFile(cfg->admin.password_file)) {
      admin_->UpdateCredentials(cfg->admin.user, *password);
    }
  }
  log_->Info("Configuration reloaded from " + cfg->path);
  return base::Status::Ok();
}

void Gateway::BeginShutdown() {
  if (stopping_) return;
  stopping_ = true;
  log_->Info("Shutting down: no new connections, draining open sessions");
  for (auto& [name, listener] : listeners_) listener->Stop();
  if (admin_) admin_->Stop();
  if (metrics_) metrics_->Stop();
  if (cluster_) cluster_->Stop();
  content_security_->Stop();
  queue_->Stop();
  auto deadline = std::chrono::steady_clock::now() + kDrainTimeout;
  auto timer = std::make_shared<asio::steady_timer>(io_);
  auto poll = std::make_shared<std::function<void()>>();
  *poll = [this, timer, deadline, poll] {
    std::uint32_t active = 0;
    for (auto& [name, listener] : listeners_) active += listener->active_sessions();
    active += queue_->open_connections();
    if (active == 0 || std::chrono::steady_clock::now() >= deadline) {
      signals_.cancel();
      io_.stop();
      *poll = nullptr;  // break the self-reference
      return;
    }
    timer->expires_after(std::chrono::milliseconds(50));
    timer->async_wait([poll](const boost::system::error_code&) {
      if (*poll) (*poll)();
    });
  };
  (*poll)();
}

int Gateway::Run() {
  WaitForSignals();
  io_.run();
  loop_running_->store(false);  // from here a retired LDAP method is deleted where it is let go
  listeners_.clear();
  admin_.reset();
  metrics_.reset();
  cluster_.reset();
  if (content_security_) content_security_->worker().join();  // an operator's release in progress
  // The spool finishes its queued commits first: their callbacks still log through the pipeline,
  // route and enqueue (a session the drain deadline cut may have left one queued).
  spool_.reset();
  pipeline_.reset();
  content_security_.reset();
  queue_.reset();
  tracking_.reset();  // flushes queued tracking writes
  if (log_) log_->Info("tidegate stopped");
  log_.reset();
  syslog_.reset();  // the log's last lines get up to its drain_timeout to go out
  return 0;
}

}  // namespace tidegate::server
