// ldap_probe.cc — tidegate_ldap_probe: a test driver for LdapLookup (built for the tests only;
// tests/e2e/test_ldap_lookup.py runs it against a real slapd).
//
// One LdapLookup lives for the whole run, built from the command line's settings. Each line on
// stdin is a batch: tab-separated addresses, all given to Find() at once (the pool answers them
// concurrently). For each address, in the batch's order, one line is printed:
//   <known|unknown|failure|bad-address> TAB <milliseconds from the batch's start> TAB <reason>
// then a line "." ends the batch. EOF ends the run (the destructor's time is printed as
// "shutdown <ms>"). The password is read from --password-file (a trailing newline dropped), as
// the configuration loader does.
#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "validation/ldap_lookup.h"

namespace {

using tidegate::validation::Answer;
using tidegate::validation::LdapLookup;
using tidegate::validation::Outcome;
using Clock = std::chrono::steady_clock;

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kKnown:
      return "known";
    case Outcome::kUnknown:
      return "unknown";
    case Outcome::kFailure:
      break;
  }
  return "failure";
}

long long MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  tidegate::config::LdapValidation settings;
  long long timeout_ms = 5000;
  std::size_t workers = LdapLookup::kDefaultWorkers;
  std::size_t max_queued = LdapLookup::kDefaultMaxQueued;
  CLI::App app{"tidegate_ldap_probe: LdapLookup answers for addresses read from stdin"};
  app.add_option("--uri", settings.uris, "LDAP URI (repeat to fail over)")->required();
  app.add_option("--base", settings.base, "search base")->required();
  app.add_option("--bind-dn", settings.bind_dn, "bind DN (anonymous without)");
  app.add_option("--password-file", settings.password_file, "the bind password's file");
  app.add_option("--filter", settings.filter, "filter template ({a} {u} {d})");
  app.add_flag("--starttls", settings.starttls, "StartTLS on ldap:// URIs");
  app.add_option("--timeout-ms", timeout_ms, "the whole lookup's timeout");
  app.add_option("--workers", workers, "worker threads");
  app.add_option("--max-queued", max_queued, "bounded queue length");
  CLI11_PARSE(app, argc, argv);
  settings.timeout = std::chrono::milliseconds(timeout_ms);
  if (!settings.password_file.empty()) {
    std::ifstream in(settings.password_file, std::ios::binary);
    if (!in) {
      std::cerr << "cannot read " << settings.password_file << "\n";
      return 2;
    }
    std::ostringstream text;
    text << in.rdbuf();
    settings.password = text.str();
    if (settings.password.ends_with('\n')) settings.password.pop_back();
    if (settings.password.ends_with('\r')) settings.password.pop_back();
  }

  auto lookup = std::make_unique<LdapLookup>(settings, workers, max_queued);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::vector<std::string> addresses;
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, '\t');) addresses.push_back(field);
    auto start = Clock::now();
    std::vector<std::future<std::pair<Answer, long long>>> answers;
    std::vector<std::string> bad(addresses.size());
    for (std::size_t i = 0; i < addresses.size(); ++i) {
      auto parsed = tidegate::mail::ParseMailbox(addresses[i], /*allow_utf8=*/true);
      auto promise = std::make_shared<std::promise<std::pair<Answer, long long>>>();
      answers.push_back(promise->get_future());
      if (!parsed) {
        promise->set_value({Answer{Outcome::kFailure, parsed.error().message}, 0});
        bad[i] = "bad-address";
        continue;
      }
      lookup->Find(*parsed, [promise, start](Answer answer) {
        promise->set_value({std::move(answer), MillisecondsSince(start)});
      });
    }
    for (std::size_t i = 0; i < answers.size(); ++i) {
      auto [answer, ms] = answers[i].get();
      std::cout << (bad[i].empty() ? OutcomeName(answer.outcome) : bad[i].c_str()) << '\t' << ms
                << '\t' << answer.reason << '\n';
    }
    std::cout << ".\n" << std::flush;
  }
  auto start = Clock::now();
  lookup.reset();
  std::cout << "shutdown " << MillisecondsSince(start) << "\n" << std::flush;
  return 0;
}
