// validator_test.cc — Validator with scripted methods: which method, always_accept, the cache,
// on_failure, the deadline, the harvest limit.
#include "validation/validator.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <optional>

namespace tidegate::validation {
namespace {

namespace asio = boost::asio;

// A method that answers from a table (posting the answer), or never (`hang`).
class ScriptedLookup : public Lookup {
 public:
  ScriptedLookup(asio::io_context& io, Method m) : io_(io), method_(m) {}
  Method method() const override { return method_; }
  void Find(const mail::Address& address, Done done) override {
    ++calls;
    last = address.str();
    if (hang) {
      held = std::move(done);
      return;
    }
    Answer a = answer;
    if (known_local && address.local == *known_local) a = Answer{Outcome::kKnown, "entry"};
    asio::post(io_, [done = std::move(done), a]() { done(a); });
  }
  asio::io_context& io_;
  Method method_;
  Answer answer{Outcome::kUnknown, "no entry"};
  std::optional<std::string> known_local;
  bool hang = false;
  Done held;
  int calls = 0;
  std::string last;
};

mail::Address A(std::string local, std::string domain) { return {std::move(local), std::move(domain)}; }

class ValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings.ldap = config::LdapValidation{};
    settings.ldap->timeout = std::chrono::milliseconds(200);
    settings.call_ahead = config::CallAheadValidation{};
    settings.call_ahead->domains = {*mail::ParseDomainPattern("example.org")};
    settings.call_ahead->timeout = std::chrono::milliseconds(200);
    accepted = {*mail::ParseDomainPattern("example.com"), *mail::ParseDomainPattern("example.org"),
                *mail::ParseDomainPattern(".sub.example.net")};
  }
  std::shared_ptr<Validator> Make() {
    return std::make_shared<Validator>(io.get_executor(), settings, accepted,
                                       Validator::Methods{ldap, call_ahead}, harvest, &clock);
  }
  Verdict Check(Validator& v, mail::Address a, std::string ip = "192.0.2.1") {
    std::optional<Verdict> got;
    int calls = 0;
    v.Validate(Query{1, ip, std::move(a)}, [&](Verdict verdict) {
      ++calls;
      got = verdict;
    });
    io.restart();
    io.run();
    EXPECT_EQ(calls, 1);
    return got.value_or(Verdict{});
  }

  asio::io_context io;
  base::FakeClock clock;
  config::RecipientValidation settings;
  std::vector<config::DomainPattern> accepted;
  std::shared_ptr<ScriptedLookup> ldap = std::make_shared<ScriptedLookup>(io, Method::kLdap);
  std::shared_ptr<ScriptedLookup> call_ahead =
      std::make_shared<ScriptedLookup>(io, Method::kCallAhead);
  std::shared_ptr<HarvestLimiter> harvest = std::make_shared<HarvestLimiter>(&clock);
};

TEST_F(ValidatorTest, UnknownKnownAndWhichMethod) {
  ldap->known_local = "alice";
  auto v = Make();
  Verdict r = Check(*v, A("nobody", "Example.COM"));
  EXPECT_EQ(r.kind, Verdict::Kind::kUnknown);
  EXPECT_EQ(r.method, Method::kLdap);
  EXPECT_EQ(r.reason, "no entry");
  EXPECT_TRUE(r.looked_up);
  EXPECT_EQ(Check(*v, A("alice", "example.com")).kind, Verdict::Kind::kAccept);
  // example.org is call-ahead's: it takes precedence over LDAP.
  Verdict c = Check(*v, A("alice", "example.org"));
  EXPECT_EQ(c.method, Method::kCallAhead);
  EXPECT_EQ(c.kind, Verdict::Kind::kUnknown);
  EXPECT_EQ(ldap->calls, 2);
  EXPECT_EQ(call_ahead->calls, 1);
}

TEST_F(ValidatorTest, LdapDomainsDefaultToAcceptedDomainsAndCanBeNarrowed) {
  auto v = Make();
  EXPECT_EQ(v->MethodFor(A("x", "a.sub.example.net")), Method::kLdap);
  EXPECT_EQ(v->MethodFor(A("x", "[192.0.2.1]")), Method::kNone);
  settings.ldap->domains = {*mail::ParseDomainPattern("example.com")};
  v = Make();
  EXPECT_EQ(v->MethodFor(A("x", "a.sub.example.net")), Method::kNone);
  Verdict r = Check(*v, A("x", "a.sub.example.net"));
  EXPECT_EQ(r.kind, Verdict::Kind::kAccept);
  EXPECT_FALSE(r.looked_up);
  EXPECT_EQ(ldap->calls, 0);
}

TEST_F(ValidatorTest, AlwaysAcceptIsNeverLookedUp) {
  settings.always_accept = {"postmaster@", "abuse@example.com"};
  auto v = Make();
  Verdict r = Check(*v, A("PostMaster", "example.com"));
  EXPECT_EQ(r.kind, Verdict::Kind::kAccept);
  EXPECT_TRUE(r.always_accept);
  EXPECT_EQ(Check(*v, A("postmaster", "example.org")).kind, Verdict::Kind::kAccept);
  EXPECT_EQ(Check(*v, A("Abuse", "EXAMPLE.com")).kind, Verdict::Kind::kAccept);
  EXPECT_EQ(ldap->calls + call_ahead->calls, 0);
  EXPECT_EQ(Check(*v, A("abuse", "example.org")).kind, Verdict::Kind::kUnknown);  // full address only
  EXPECT_EQ(Check(*v, A("postmasterx", "example.com")).kind, Verdict::Kind::kUnknown);
}

TEST_F(ValidatorTest, AnswersAreCachedFailuresAreNot) {
  auto v = Make();
  EXPECT_EQ(Check(*v, A("nobody", "example.com")).kind, Verdict::Kind::kUnknown);
  Verdict again = Check(*v, A("nobody", "example.com"));
  EXPECT_EQ(again.kind, Verdict::Kind::kUnknown);
  EXPECT_TRUE(again.cached);
  EXPECT_EQ(ldap->calls, 1);
  clock.Advance(settings.cache_ttl);
  Check(*v, A("nobody", "example.com"));
  EXPECT_EQ(ldap->calls, 2);

  ldap->answer = Answer{Outcome::kFailure, "timeout"};
  EXPECT_EQ(Check(*v, A("carol", "example.com")).kind, Verdict::Kind::kTempFail);
  EXPECT_EQ(Check(*v, A("carol", "example.com")).kind, Verdict::Kind::kTempFail);
  EXPECT_EQ(ldap->calls, 4);
}

TEST_F(ValidatorTest, OnFailureAccept) {
  settings.ldap->on_failure = config::OnLookupFailure::kAccept;
  ldap->answer = Answer{Outcome::kFailure, "cannot reach ldap://127.0.0.1:1"};
  auto v = Make();
  Verdict r = Check(*v, A("carol", "example.com"));
  EXPECT_EQ(r.kind, Verdict::Kind::kAccept);
  EXPECT_TRUE(r.failure);
  EXPECT_EQ(r.reason, "cannot reach ldap://127.0.0.1:1");
}

TEST_F(ValidatorTest, AMethodThatNeverAnswersIsAFailureAtTheDeadline) {
  ldap->hang = true;
  auto v = Make();
  auto start = std::chrono::steady_clock::now();
  Verdict r = Check(*v, A("carol", "example.com"));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.kind, Verdict::Kind::kTempFail);
  EXPECT_TRUE(r.failure);
  EXPECT_GE(took, std::chrono::milliseconds(200));
  EXPECT_LT(took, std::chrono::milliseconds(200 + 1000));
  // Its late answer is dropped: done was called once (Check asserts it), nothing cached.
  ldap->held(Answer{Outcome::kKnown, "late"});
  ldap->held = nullptr;  // a method lets go of `done` once it answered (it holds the Validator)
  io.restart();
  io.run();
  ldap->hang = false;
  ldap->answer = Answer{Outcome::kUnknown, "no entry"};
  EXPECT_EQ(Check(*v, A("carol", "example.com")).kind, Verdict::Kind::kUnknown);
}

TEST_F(ValidatorTest, HarvestLimitPerIpAndNotForTheLookupTest) {
  settings.max_invalid_recipients_per_hour = 2;
  auto v = Make();
  EXPECT_EQ(Check(*v, A("u1", "example.com")).kind, Verdict::Kind::kUnknown);
  EXPECT_EQ(Check(*v, A("u2", "example.com")).kind, Verdict::Kind::kUnknown);
  EXPECT_EQ(Check(*v, A("u3", "example.com")).kind, Verdict::Kind::kHarvestLimit);
  // A cached unknown counts too; another IP is unaffected.
  EXPECT_EQ(Check(*v, A("u1", "example.com")).kind, Verdict::Kind::kHarvestLimit);
  EXPECT_EQ(Check(*v, A("u1", "example.com"), "192.0.2.99").kind, Verdict::Kind::kUnknown);
  std::optional<Verdict> explained;
  for (int i = 0; i < 5; ++i) v->Explain(A("u9", "example.com"), [&](Verdict r) { explained = r; });
  io.restart();
  io.run();
  EXPECT_EQ(explained->kind, Verdict::Kind::kUnknown);
  EXPECT_EQ(harvest->Recent("192.0.2.99"), 1u);
  // The counts survive a new Validator (a reload) that shares the limiter.
  auto reloaded = Make();
  EXPECT_EQ(Check(*reloaded, A("u4", "example.com")).kind, Verdict::Kind::kHarvestLimit);
}

TEST_F(ValidatorTest, DoneIsNeverCalledInline) {
  auto v = Make();
  bool called = false;
  v->Validate(Query{1, "192.0.2.1", A("x", "not-validated.test")}, [&](Verdict) { called = true; });
  EXPECT_FALSE(called);
  io.run();
  EXPECT_TRUE(called);
}

}  // namespace
}  // namespace tidegate::validation
