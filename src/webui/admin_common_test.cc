// admin_common_test.cc — the pure helpers of admin_common.h: DestinationName, which guards the
// Delivery Status Details page and /api/v1/hoststatus against names from the URL.
#include "webui/admin_common.h"

#include <gtest/gtest.h>

namespace tidegate::webui {
namespace {

TEST(DestinationName, LowerCasesDomainsAndNamedQueues) {
  EXPECT_EQ(DestinationName("Example.COM"), "example.com");
  EXPECT_EQ(DestinationName("the.tdc.queue"), "the.tdc.queue");
  EXPECT_EQ(DestinationName("mx-1_a.example.org"), "mx-1_a.example.org");
  EXPECT_EQ(DestinationName("[192.0.2.1]"), "[192.0.2.1]");
  EXPECT_EQ(DestinationName("[IPv6:2001:db8::1]"), "[ipv6:2001:db8::1]");
  EXPECT_EQ(DestinationName(std::string(253, 'a')), std::string(253, 'a'));
}

TEST(DestinationName, RefusesAnythingElse) {
  for (const std::string& bad : std::vector<std::string>{
           "", "a/b", "a b", "<script>", "x\"y", "a%2Fb", "a&b", "\xff\xfe", "caf\xc3\xa9.test",
           std::string("a\0b", 3), std::string(254, 'a'), "..\\x"}) {
    EXPECT_FALSE(DestinationName(bad)) << bad;
  }
}

}  // namespace
}  // namespace tidegate::webui
