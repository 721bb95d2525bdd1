// validation_page_test.cc — Security Services › Recipient Validation and
// POST /api/v1/recipient-validation/test against a real admin server, with a fake
// AdminContext::test_recipient (the gateway wires the real Validator): the verdict display for
// every kind, "not running" without the hook, a hook that never answers (the request ends at the
// deadline, other requests are served meanwhile), escaping, CSRF, and saving the settings
// through the editor and the reload.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>

#include "admin/server_test_util.h"
#include "admin/text_codec.h"
#include "config/config.h"
#include "config/test_util.h"
#include "webui/admin_api.h"
#include "webui/admin_ui_internal.h"

namespace tidegate::webui {
namespace {

using admin::ClientRequest;
using admin::ClientResponse;
using admin::testing::Browser;
using validation::Method;
using validation::Verdict;

const std::string kConfig =
    "hostname: gw.example.com\n"
    "data_dir: /var/lib/tidegate\n"
    "listeners: [{name: In, bind: 127.0.0.1:0}]\n"
    "accepted_domains: [example.com, example.org]\n"
    "incoming_mail_policies:\n"
    "  - name: DEFAULT\n"
    "recipient_validation:\n"
    "  always_accept: [\"postmaster@\"]\n"
    "  ldap: {uri: ldap://127.0.0.1:389, base: \"dc=example,dc=com\", timeout: 200ms}\n";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The fake Validator answers by local part, posted like the real one (never inline).
Verdict FakeVerdict(const std::string& local) {
  Verdict v;
  if (local == "known") {
    v.method = Method::kLdap;
    v.looked_up = true;
  } else if (local == "unknown") {
    v.kind = Verdict::Kind::kUnknown;
    v.method = Method::kLdap;
    v.reason = "no entry";
    v.looked_up = true;
  } else if (local == "down") {
    v.kind = Verdict::Kind::kTempFail;
    v.method = Method::kCallAhead;
    v.reason = "timeout after 10s <script>x</script>";
    v.failure = true;
    v.looked_up = true;
  } else if (local == "soft") {
    v.method = Method::kLdap;
    v.reason = "bind failed: Invalid credentials";
    v.failure = true;
    v.looked_up = true;
  } else if (local == "again") {
    v.kind = Verdict::Kind::kUnknown;
    v.method = Method::kLdap;
    v.reason = "no entry";
    v.cached = true;
  } else if (local == "postmaster") {
    v.always_accept = true;
  }
  return v;  // anything else: accepted, not validated
}

class ValidationPageTest : public admin::testing::AdminServerTest {
 protected:
  void Start(bool with_hook) {
    path_ = dir_ / "gateway.yaml";
    std::ofstream(path_) << kConfig;
    ASSERT_TRUE(Reload());
    AdminContext ctx;
    ctx.config = [this] {
      std::lock_guard lock(config_mu_);
      return config_;
    };
    ctx.reload = [this]() -> base::Status {
      if (!Reload()) return base::MakeError("reload failed");
      return {};
    };
    if (with_hook) {
      ctx.test_recipient = [this](const mail::Address& a, std::function<void(Verdict)> done) {
        {
          std::lock_guard lock(config_mu_);
          asked_.push_back(a.str());
        }
        if (a.local == "never") return;  // a Validator replaced by a reload
        boost::asio::post(io_, [done, v = FakeVerdict(a.local)] { done(v); });
      };
    }
    extra_routes_ = [ctx](admin::Server& server) {
      RegisterAdminApi(server, ctx);
      auto ui = std::make_shared<const ui::UiContext>(ui::UiContext{ctx, &server});
      ui::RegisterValidationPages(server, ui);
      ui::RegisterStagingPages(server, ui);  // Commit Changes (CONTRACT §12)
    };
    StartServer();
    browser_ = LogIn();
  }

  bool Reload() {
    auto c = config::LoadGatewayConfig(path_);
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    if (!c) return false;
    std::lock_guard lock(config_mu_);
    config_ = *c;
    return true;
  }

  ClientResponse PostForm(const std::string& target, const std::string& body,
                          bool with_csrf = true) {
    ClientRequest r = AsBrowser(browser_, "POST", target);
    r.content_type = "application/x-www-form-urlencoded";
    r.body = (with_csrf ? "csrf_token=" + browser_.csrf + "&" : std::string()) + body;
    return Call(r);
  }

  ClientResponse TestAddress(const std::string& address) {
    return PostForm("/ui/recipient-validation/test", "address=" + admin::PercentEncode(address));
  }

  nlohmann::json ApiTest(const std::string& address, int expected_status = 200) {
    ClientResponse r = CallBasic("POST", "/api/v1/recipient-validation/test",
                                 nlohmann::json{{"address", address}}.dump());
    EXPECT_EQ(r.status, expected_status) << r.body;
    return nlohmann::json::parse(r.body, nullptr, false);
  }

  config::testing::TempDir dir_;
  std::string path_;
  std::mutex config_mu_;
  std::shared_ptr<const config::GatewayConfig> config_;
  std::vector<std::string> asked_;
  Browser browser_;
};

bool Has(const std::string& html, const std::string& needle) {
  return html.find(needle) != std::string::npos;
}

TEST_F(ValidationPageTest, ShowsTheSettingsAndALookupFormBehindLoginWithCsrf) {
  Start(true);
  ClientResponse anonymous = Call(Req("GET", "/ui/recipient-validation"));
  EXPECT_NE(anonymous.status, 200);
  ClientResponse page = Call(AsBrowser(browser_, "GET", "/ui/recipient-validation"));
  ASSERT_EQ(page.status, 200);
  EXPECT_TRUE(Has(page.body, "value=\"postmaster@\"")) << page.body;
  EXPECT_TRUE(Has(page.body, "value=\"ldap://127.0.0.1:389\""));
  EXPECT_TRUE(Has(page.body, "value=\"200ms\""));
  EXPECT_TRUE(Has(page.body, "id=\"ldap\" name=\"ldap\" value=\"on\" checked"));
  EXPECT_FALSE(Has(page.body, "not-running"));
  // Both forms carry the session's CSRF token.
  size_t forms = 0;
  for (size_t at = page.body.find("<form method=\"post\" action=\"/ui/recipient-validation");
       at != std::string::npos;
       at = page.body.find("<form method=\"post\" action=\"/ui/recipient-validation", at + 1)) {
    ++forms;
    EXPECT_EQ(page.body.find("name=\"csrf_token\" value=\"" + browser_.csrf, at),
              page.body.find("name=\"csrf_token\"", at));
  }
  EXPECT_EQ(forms, 2u);
  // Without the token, neither form does anything.
  EXPECT_EQ(PostForm("/ui/recipient-validation/test", "address=known%40example.com", false).status,
            403);
  EXPECT_TRUE(asked_.empty());
}

TEST_F(ValidationPageTest, LookupTestShowsVerdictMethodAndReason) {
  Start(true);
  struct Case {
    std::string address, verdict, method, reason;
  };
  const std::vector<Case> cases = {
      {"known@example.com", "accepted", "ldap", "(none)"},
      {"unknown@example.com",
       "refused: 550 5.1.1 &lt;unknown@example.com&gt;: Recipient address rejected: User unknown",
       "ldap", "no entry"},
      {"down@example.org", "temporary failure: 451 4.4.3", "call-ahead",
       "timeout after 10s &lt;script&gt;x&lt;/script&gt;"},
      {"soft@example.com", "accepted on failure (on_failure: accept)", "ldap",
       "bind failed: Invalid credentials"},
      {"again@example.com", "refused: 550 5.1.1", "cached (ldap)", "no entry"},
      {"postmaster@example.com", "accepted", "always_accept", "(none)"},
      {"other@example.org", "accepted", "not validated", "(none)"},
  };
  for (const Case& c : cases) {
    ClientResponse r = TestAddress(c.address);
    ASSERT_EQ(r.status, 200) << c.address << r.body;
    EXPECT_TRUE(Has(r.body, "<td id=\"verdict\">" + c.verdict)) << c.address << r.body;
    EXPECT_TRUE(Has(r.body, "<td id=\"method\">" + c.method + "</td>")) << c.address;
    EXPECT_TRUE(Has(r.body, c.reason + "</")) << c.address;
    EXPECT_TRUE(Has(r.body, "value=\"" + c.address + "\"")) << c.address;  // kept in the field
  }
  EXPECT_FALSE(Has(TestAddress("down@example.org").body, "<script>x"));
  EXPECT_EQ(asked_.size(), cases.size() + 1);
}

TEST_F(ValidationPageTest, ApiGivesTheVerdictAsJson) {
  Start(true);
  nlohmann::json j = ApiTest("unknown@example.com");
  EXPECT_EQ(j["address"], "unknown@example.com");
  EXPECT_EQ(j["verdict"], "unknown");
  EXPECT_EQ(j["method"], "ldap");
  EXPECT_EQ(j["reason"], "no entry");
  EXPECT_EQ(j["cached"], false);
  EXPECT_EQ(j["always_accept"], false);
  EXPECT_EQ(j["validated"], true);
  j = ApiTest("down@example.org");
  EXPECT_EQ(j["verdict"], "tempfail");
  EXPECT_EQ(j["method"], "call-ahead");
  EXPECT_EQ(j["failure"], true);
  j = ApiTest("postmaster@example.com");
  EXPECT_EQ(j["verdict"], "accept");
  EXPECT_EQ(j["always_accept"], true);
  EXPECT_EQ(j["validated"], true);
  EXPECT_EQ(j["method"], "none");
  j = ApiTest("other@example.org");
  EXPECT_EQ(j["validated"], false);
  EXPECT_EQ(ApiTest("again@example.com")["cached"], true);
  // Not an address, not an accepted domain: 400 without asking.
  const size_t asked = asked_.size();
  ApiTest("no-at-sign", 400);
  ApiTest("x@example.net", 400);
  ClientResponse r = CallBasic("POST", "/api/v1/recipient-validation/test", "{\"address\": 5}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(asked_.size(), asked);
}

TEST_F(ValidationPageTest, WithoutTheHookThePageSaysNotRunning) {
  Start(false);
  ClientResponse page = Call(AsBrowser(browser_, "GET", "/ui/recipient-validation"));
  ASSERT_EQ(page.status, 200);
  EXPECT_TRUE(Has(page.body, "id=\"not-running\">recipient validation is not running"))
      << page.body;
  ClientResponse r = TestAddress("known@example.com");
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(Has(r.body, "Lookup test: recipient validation is not running")) << r.body;
  nlohmann::json j = ApiTest("known@example.com", 503);
  EXPECT_EQ(j["error"], "recipient validation is not running in this gateway") << j.dump();
}

TEST_F(ValidationPageTest, AHookThatNeverAnswersEndsAtTheDeadlineWithoutBlocking) {
  Start(true);
  // ldap.timeout 200ms: the deadline is 5.2 s.
  const auto started = std::chrono::steady_clock::now();
  auto pending =
      std::async(std::launch::async, [this] { return TestAddress("never@example.com"); });
  // Wait until the hook was called, then the io thread must still serve other requests.
  for (int i = 0; i < 200 && OnIo([this] {
                    std::lock_guard lock(config_mu_);
                    return asked_.empty();
                  });
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ClientResponse other = Call(AsBrowser(browser_, "GET", "/ui/recipient-validation"));
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(pending.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the test request ended before the other one was served";
  ClientResponse r = pending.get();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, 504);
  EXPECT_TRUE(Has(r.body, "Lookup test: no answer within 5200ms")) << r.body;
  EXPECT_GE(took, std::chrono::milliseconds(5000));
  EXPECT_LT(took, std::chrono::seconds(15));
}

TEST_F(ValidationPageTest, SavingWritesTheSectionReloadsAndAudits) {
  Start(true);
  std::filesystem::path secret = std::filesystem::path(path_).parent_path() / "ldap.secret";
  std::ofstream(secret) << "pw\n";
  const std::string form =
      "always_accept=postmaster%40%2C+abuse%40&cache_ttl=5m&max_invalid=25&ldap=on"
      "&ldap_uri=ldap%3A%2F%2F127.0.0.1%3A389&ldap_base=dc%3Dexample%2Cdc%3Dcom"
      "&ldap_bind_dn=cn%3Dgw&ldap_password_file=ldap.secret&ldap_filter=%28uid%3D%7Bu%7D%29"
      "&ldap_domains=example.com&ldap_timeout=3s&ldap_on_failure=accept"
      "&call_ahead=on&call_ahead_domains=example.org&call_ahead_timeout=10s"
      "&call_ahead_on_failure=tempfail";
  ClientResponse saved = PostForm("/ui/recipient-validation", form);
  ASSERT_EQ(saved.status, 303) << saved.body;
  // Staged (CONTRACT §12): in effect once committed.
  ClientResponse committed = PostForm("/ui/changes/commit", "return_to=%2Fui%2Frecipient-validation");
  ASSERT_EQ(committed.status, 303) << committed.body;
  const config::RecipientValidation& rv = config_->recipient_validation;
  EXPECT_EQ(rv.always_accept, (std::vector<std::string>{"postmaster@", "abuse@"}));
  EXPECT_EQ(rv.max_invalid_recipients_per_hour, 25u);
  ASSERT_TRUE(rv.ldap && rv.call_ahead);
  EXPECT_EQ(rv.ldap->password, "pw");
  EXPECT_EQ(rv.ldap->filter, "(uid={u})");
  EXPECT_EQ(rv.ldap->on_failure, config::OnLookupFailure::kAccept);
  EXPECT_EQ(rv.call_ahead->domains[0].str(), "example.org");
  const std::string file = ReadFile(path_);
  EXPECT_TRUE(Has(file, "password_file: \"ldap.secret\"")) << file;
  EXPECT_FALSE(Has(file, "pw\n"));
  bool audited = false;
  for (const std::string& line : Audits()) {
    if (Has(line, "recipient_validation always_accept=2")) audited = true;
    EXPECT_FALSE(Has(line, "pw ")) << line;
  }
  EXPECT_TRUE(audited);
  ClientResponse page = Call(AsBrowser(browser_, "GET", "/ui/recipient-validation?saved=1"));
  EXPECT_TRUE(Has(page.body, "Recipient validation settings saved."));
  EXPECT_TRUE(Has(page.body, "value=\"(uid={u})\""));
}

TEST_F(ValidationPageTest, InvalidSettingsAreRefusedAndShownAsTyped) {
  Start(true);
  const std::string before = ReadFile(path_);
  struct Bad {
    std::string form, message;
  };
  const std::vector<Bad> cases = {
      {"cache_ttl=soon&max_invalid=0", "Cache TTL: invalid duration"},
      {"cache_ttl=1m&max_invalid=-3", "Harvest limit: expected a whole number"},
      {"cache_ttl=1m&max_invalid=0&call_ahead=on&call_ahead_domains=&call_ahead_timeout=1s"
       "&call_ahead_on_failure=tempfail",
       "Call-ahead domains: at least one is required"},
      {"cache_ttl=1m&max_invalid=0&call_ahead=on&call_ahead_domains=example.net"
       "&call_ahead_timeout=1s&call_ahead_on_failure=tempfail",
       "&#39;example.net&#39; is not an accepted domain"},
      {"cache_ttl=1m&max_invalid=0&ldap=on&ldap_uri=ldap%3A%2F%2Fh&ldap_base=o%3Dx"
       "&ldap_filter=%28mail%3D%3Cb%3E%29&ldap_timeout=1s&ldap_on_failure=tempfail",
       "the filter must contain {a}"},
  };
  for (const Bad& bad : cases) {
    ClientResponse r = PostForm("/ui/recipient-validation", bad.form);
    EXPECT_EQ(r.status, 400) << bad.form;
    EXPECT_TRUE(Has(r.body, bad.message)) << bad.form << "\n" << r.body;
    EXPECT_FALSE(Has(r.body, "<b>")) << r.body;  // the typed filter is escaped
  }
  EXPECT_EQ(ReadFile(path_), before);
}

}  // namespace
}  // namespace tidegate::webui
