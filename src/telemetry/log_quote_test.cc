// log_quote_test.cc — ReprQuote against Python's repr() (the table below was produced by running
// repr() in Python 3.11 on each input), and the UTF-8 cases Python never sees.
#include "telemetry/log_quote.h"

#include <gtest/gtest.h>

#include <string_view>

namespace tidegate::telemetry {
namespace {

using namespace std::string_view_literals;

struct ReprCase {
  std::string_view input;
  std::string_view repr;  // Python's repr(input), UTF-8
};

// Generated once: for each input, print(repr(input)) in python3, bytes written as C escapes.
constexpr ReprCase kCases[] = {
    {"Hello"sv, "'Hello'"sv},
    {""sv, "''"sv},
    {"It's done"sv, "\"It's done\""sv},
    {"say \"hi\""sv, "'say \"hi\"'"sv},
    {"It's \"both\""sv, "'It\\'s \"both\"'"sv},
    {"back\\slash"sv, "'back\\\\slash'"sv},
    {"tab\x09here"sv, "'tab\\there'"sv},
    {"line\x0d\x0a" "break"sv, "'line\\r\\nbreak'"sv},
    {"nul\x00" "bell\x07" "esc\x1b" "del\x7f"sv, "'nul\\x00bell\\x07esc\\x1bdel\\x7f'"sv},
    {"Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln"sv, "'Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln'"sv},
    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe4\xbb\xb6\xe5\x90\x8d"sv,
     "'\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe4\xbb\xb6\xe5\x90\x8d'"sv},
    {"emoji \xf0\x9f\x98\x80"sv, "'emoji \xf0\x9f\x98\x80'"sv},
    {"c1\xc2\x85next"sv, "'c1\\x85next'"sv},
    {"nbsp\xc2\xa0here"sv, "'nbsp\\xa0here'"sv},
    {"soft\xc2\xadhyphen"sv, "'soft\\xadhyphen'"sv},
    {"zw\xe2\x80\x8bsp"sv, "'zw\\u200bsp'"sv},
    {"bidi\xe2\x80\xae" "evil"sv, "'bidi\\u202eevil'"sv},
    {"ls\xe2\x80\xa8ps\xe2\x80\xa9"sv, "'ls\\u2028ps\\u2029'"sv},
    {"bom\xef\xbb\xbf"sv, "'bom\\ufeff'"sv},
    {"tag\xf3\xa0\x81\x81"sv, "'tag\\U000e0041'"sv},
    {"'"sv, "\"'\""sv},
    {"\""sv, "'\"'"sv},
    {"'\""sv, "'\\'\"'"sv},
    {"\\'"sv, "\"\\\\'\""sv},
    {"<a'b@example.org>"sv, "\"<a'b@example.org>\""sv},
    {"x\\n"sv, "'x\\\\n'"sv},
    {"\x1f\x01"sv, "'\\x1f\\x01'"sv},
};

TEST(ReprQuoteTest, MatchesPythonRepr) {
  for (const ReprCase& c : kCases) {
    EXPECT_EQ(ReprQuote(c.input), c.repr) << "input: " << c.input;
  }
}

TEST(ReprQuoteTest, BytesThatAreNotUtf8BecomeHexEscapes) {
  // A stray continuation, an overlong '/', a surrogate, a truncated sequence at the end.
  EXPECT_EQ(ReprQuote("a\x80z"sv), "'a\\x80z'");
  EXPECT_EQ(ReprQuote("\xc0\xaf"sv), "'\\xc0\\xaf'");
  EXPECT_EQ(ReprQuote("\xed\xa0\x80"sv), "'\\xed\\xa0\\x80'");
  EXPECT_EQ(ReprQuote("end\xe2\x82"sv), "'end\\xe2\\x82'");
  // Resynchronises: the valid character after the bad byte is kept.
  EXPECT_EQ(ReprQuote("\xff\xc3\xa9"sv), "'\\xff\xc3\xa9'");
}

TEST(ReprQuoteTest, ResultHoldsNoControlCharacter) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (char c : ReprQuote(all)) {
    const auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u >= 0x20 && u != 0x7F) << static_cast<int>(u);
  }
}

TEST(Utf8LengthTest, SequenceLengths) {
  EXPECT_EQ(Utf8Length("a", 0), 1u);
  EXPECT_EQ(Utf8Length("\xc3\xa9", 0), 2u);
  EXPECT_EQ(Utf8Length("\xe2\x80\xae", 0), 3u);
  EXPECT_EQ(Utf8Length("\xf0\x9f\x98\x80", 0), 4u);
  EXPECT_EQ(Utf8Length("\xf4\x90\x80\x80", 0), 0u);  // above U+10FFFF
  EXPECT_EQ(Utf8Length("\xc3", 0), 0u);              // truncated
}

}  // namespace
}  // namespace tidegate::telemetry
