// layout_test.cc — the page frame: navigation, escaping, CSRF field, no external assets.
#include "admin/layout.h"

#include <gtest/gtest.h>

namespace tidegate::admin {
namespace {

Request LoggedIn() {
  Request r;
  r.path = "/ui/policies/Sales";
  r.user = "ad<min>";
  r.csrf_token = std::string(64, 'a');
  r.via_session = true;
  return r;
}

TEST(Layout, RendersNavigationUserAndLogout) {
  std::string html = Layout(LoggedIn(), "Incoming <Mail> Policies", "<p id=\"body\">x</p>");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  for (const char* text :
       {"Security Services", "Threat Defense Connector Settings", "href=\"/ui/tdc\"",
        "Mail Policies", "Incoming Mail Policies", "href=\"/ui/policies\"", "Monitor",
        "Delivery Status", "href=\"/ui/status\"", "Message Tracking", "href=\"/ui/tracking\"",
        "href=\"/ui/security/antispam\"", "href=\"/ui/security/antivirus\"",
        "href=\"/ui/recipient-validation\"", "href=\"/ui/quarantine\"",
        "<form method=\"post\" action=\"/logout\">", "<style>", "</html>"}) {
    EXPECT_NE(html.find(text), std::string::npos) << text;
  }
  EXPECT_NE(html.find("System Administration</span><a href=\"/ui/cluster\">Cluster</a>"),
            std::string::npos);
  EXPECT_NE(html.find("<a href=\"/ui/policies\" class=\"current\">"), std::string::npos);
  EXPECT_NE(html.find("ad&lt;min&gt;"), std::string::npos);
  EXPECT_EQ(html.find("ad<min>"), std::string::npos);
  EXPECT_NE(html.find("<title>Incoming &lt;Mail&gt; Policies"), std::string::npos);
  EXPECT_NE(html.find("<p id=\"body\">x</p>"), std::string::npos);
  EXPECT_NE(html.find(CsrfField(LoggedIn())), std::string::npos);
  // Self-contained: no scripts, no links to other hosts.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("refresh"), std::string::npos);
}

TEST(Layout, AnonymousPagesHaveNoNavigationAndRefreshIsOptional) {
  Request anonymous;
  std::string html = Layout(anonymous, "Log In", "", 10);
  EXPECT_EQ(html.find("/ui/tdc"), std::string::npos);
  EXPECT_EQ(html.find("/logout"), std::string::npos);
  EXPECT_NE(html.find("<meta http-equiv=\"refresh\" content=\"10\">"), std::string::npos);
}

TEST(CsrfField, IsAHiddenInputWithTheSessionToken) {
  Request r = LoggedIn();
  EXPECT_EQ(CsrfField(r),
            "<input type=\"hidden\" name=\"csrf_token\" value=\"" + std::string(64, 'a') + "\">");
}

TEST(LoginPage, CarriesTokenAndEscapedNext) {
  Request r;
  std::string html = LoginPage(r, "tok", "/ui/x?a=\"b\"", "Bad <password>");
  EXPECT_NE(html.find("name=\"csrf_token\" value=\"tok\""), std::string::npos);
  EXPECT_NE(html.find("name=\"next\" value=\"/ui/x?a=&quot;b&quot;\""), std::string::npos);
  EXPECT_NE(html.find("Bad &lt;password&gt;"), std::string::npos);
  EXPECT_NE(html.find("type=\"password\""), std::string::npos);
}

}  // namespace
}  // namespace tidegate::admin
