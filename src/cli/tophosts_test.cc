#include "cli/tophosts.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace tidegate::cli {
namespace {

TEST(Tophosts, ContractLayoutLineByLine) {
  setenv("TZ", "CST6CDT", 1);
  tzset();
  // Fri Feb 16 19:55:34 2024 CST
  const base::SystemTime t{std::chrono::seconds(1708134934)};
  std::string out = FormatTophosts(
      {{"example.com", 0, 0, 12, 3, 0, true}, {"the.tdc.queue", 1, 0, 104163, 0, 0, false}},
      SortKey::kActive, t);
  EXPECT_EQ(out,
            "Status as of:                Fri Feb 16 19:55:34 2024 CST\n"
            "Hosts marked with '*' were down as of the last delivery attempt.\n"
            "\n"
            "                                  Active   Conn.   Deliv.     Soft     Hard\n"
            "#   Recipient Host                Recip.    Out    Recip.   Bounced  Bounced\n"
            "1   the.tdc.queue                      1       0  104,163        0        0\n"
            "2*  example.com                        0       0       12        3        0\n");
}

TEST(Tophosts, SortOrders) {
  std::vector<HostRow> rows = {{"a.test", 1, 5, 10, 7, 1, false}, {"b.test", 2, 1, 30, 0, 9, false},
                               {"c.test", 3, 2, 20, 4, 0, false}};
  auto first = [&](std::string_view key) {
    std::string out = FormatTophosts(rows, *ParseSortKey(key), base::SystemTime{});
    auto line = out.find("\n1 ");
    return out.substr(line + 5, 6);
  };
  EXPECT_EQ(first("active"), "c.test");
  EXPECT_EQ(first("conn"), "a.test");
  EXPECT_EQ(first("delivered"), "b.test");
  EXPECT_EQ(first("hard"), "b.test");
  EXPECT_EQ(first("soft"), "a.test");
  EXPECT_FALSE(ParseSortKey("bogus"));
}

}  // namespace
}  // namespace tidegate::cli
