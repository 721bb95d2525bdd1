#include "inbound/trace_headers.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace tidegate::inbound {
namespace {

TEST(TraceHeaders, ReceivedIsFoldedAndSafe) {
  setenv("TZ", "UTC", 1);
  tzset();
  TraceInfo info{.helo = "client (evil)\\",
                 .client_ip = "127.0.0.1",
                 .reverse_dns = "",
                 .hostname = "gw.example.com",
                 .mid = 42,
                 .esmtp = true,
                 .tls = true,
                 .tls_protocol = "TLSv1.3",
                 .tls_cipher = "TLS_AES_256_GCM_SHA384",
                 .for_recipient = "a@example.com",
                 .when = base::SystemTime(std::chrono::seconds(1708139962))};
  std::string h = BuildReceivedHeader(info);
  EXPECT_EQ(h,
            "Received: from client??evil?? (unknown [127.0.0.1])\r\n"
            "\tby gw.example.com (tidegate) with ESMTPS id 42\r\n"
            "\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384)\r\n"
            "\tfor <a@example.com>; Sat, 17 Feb 2024 03:19:22 +0000\r\n");
}

// The "with" clause names the protocol as registered with IANA (RFC 3848, RFC 6531 §4.3).
TEST(TraceHeaders, WithProtocolNamesSmtputf8AndTls) {
  struct Case {
    bool esmtp, smtputf8, tls;
    const char* with;
  };
  for (const Case& c :
       {Case{false, false, false, " with SMTP id "}, Case{true, false, false, " with ESMTP id "},
        Case{true, false, true, " with ESMTPS id "}, Case{true, true, false, " with UTF8SMTP id "},
        Case{true, true, true, " with UTF8SMTPS id "}}) {
    TraceInfo info;
    info.helo = "c";
    info.client_ip = "127.0.0.1";
    info.hostname = "gw";
    info.esmtp = c.esmtp;
    info.smtputf8 = c.smtputf8;
    info.tls = c.tls;
    EXPECT_NE(BuildReceivedHeader(info).find(c.with), std::string::npos)
        << c.with << " in " << BuildReceivedHeader(info);
  }
}

TEST(TraceHeaders, RemoteIp) {
  EXPECT_EQ(BuildRemoteIpHeader("X-IronPort-RemoteIP", "10.1.2.3"),
            "X-IronPort-RemoteIP: 10.1.2.3\r\n");
  EXPECT_EQ(BuildRemoteIpHeader("X-Bad\r\nInjected", "1.2.3.4"), "X-Bad??Injected: 1.2.3.4\r\n");
}

}  // namespace
}  // namespace tidegate::inbound
