#include "base/units.h"

#include <gtest/gtest.h>

namespace tidegate::base {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsContractForms) {
  EXPECT_EQ(*ParseDuration("120s"), milliseconds(120'000));
  EXPECT_EQ(*ParseDuration("5m"), milliseconds(300'000));
  EXPECT_EQ(*ParseDuration("72h"), milliseconds(72ll * 3'600'000));
  EXPECT_EQ(*ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("30"), milliseconds(30'000));
  EXPECT_EQ(*ParseDuration("2d"), milliseconds(2ll * 86'400'000));
}

TEST(ParseDuration, RejectsGarbage) {
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("s"));
  EXPECT_FALSE(ParseDuration("-5s"));
  EXPECT_FALSE(ParseDuration("5x"));
  EXPECT_FALSE(ParseDuration("99999999999999999999s"));
  EXPECT_FALSE(ParseDuration("9999999999999999d"));
}

TEST(ParseSize, AcceptsUnits) {
  EXPECT_EQ(*ParseSize("10M"), 10u << 20);
  EXPECT_EQ(*ParseSize("512k"), 512u << 10);
  EXPECT_EQ(*ParseSize("1G"), 1u << 30);
  EXPECT_EQ(*ParseSize("1000"), 1000u);
  EXPECT_FALSE(ParseSize("10Q"));
  EXPECT_FALSE(ParseSize("M"));
}

TEST(Format, DurationsAndThousands) {
  EXPECT_EQ(FormatDuration(milliseconds(120'000)), "2m");
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "90s");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(WithThousands(0), "0");
  EXPECT_EQ(WithThousands(999), "999");
  EXPECT_EQ(WithThousands(104163), "104,163");
  EXPECT_EQ(WithThousands(1234567), "1,234,567");
}

}  // namespace
}  // namespace tidegate::base
