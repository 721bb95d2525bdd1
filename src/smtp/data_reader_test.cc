#include "smtp/data_reader.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

namespace tidegate::smtp {
namespace {

using namespace std::string_literals;

// What DataReader must compute, written the obvious, non-incremental way.
struct Expected {
  bool done = false;
  std::size_t consumed = 0;  // when done
  std::string message;       // unstuffed
  bool bare = false;
  bool nul = false;
};

Expected Reference(const std::string& input) {
  Expected e;
  // The CR LF that ended the DATA command counts as the first CR LF of the terminator.
  const std::string s = "\r\n" + input;
  const std::size_t p = s.find("\r\n.\r\n");
  if (p == std::string::npos) return e;
  e.done = true;
  e.consumed = p + 3;                              // p - 2 + strlen("\r\n.\r\n")
  const std::string content = input.substr(0, p);  // ends with CR LF unless empty
  std::size_t start = 0;
  while (start < content.size()) {
    std::size_t end = content.find("\r\n", start);
    std::string line = content.substr(start, end - start);
    if (!line.empty() && line[0] == '.') line.erase(0, 1);
    e.message += line + "\r\n";
    start = end + 2;
  }
  for (std::size_t i = 0; i < content.size(); ++i) {
    if (content[i] == '\0') e.nul = true;
    if (content[i] == '\r' && (i + 1 >= content.size() || content[i + 1] != '\n')) e.bare = true;
    if (content[i] == '\n' && (i == 0 || content[i - 1] != '\r')) e.bare = true;
  }
  return e;
}

struct Got {
  bool done = false;
  std::size_t consumed = 0;
  std::string out;
  bool bare = false;
  bool nul = false;
  bool too_big = false;
  std::uint64_t size = 0;
};

// Feeds input in the given chunks; a chunk the reader does not fully consume must be the last.
Got Run(const std::string& input, const std::vector<std::size_t>& cuts, std::uint64_t max) {
  DataReader reader(max);
  Got g;
  std::size_t pos = 0;
  std::vector<std::size_t> bounds = cuts;
  bounds.push_back(input.size());
  for (std::size_t b : bounds) {
    if (b < pos) continue;
    std::string_view chunk(input.data() + pos, b - pos);
    const std::size_t n = reader.Feed(chunk, &g.out);
    g.consumed += n;
    if (n < chunk.size()) {
      EXPECT_TRUE(reader.done());
      break;
    }
    pos = b;
  }
  g.done = reader.done();
  g.bare = reader.bare_line_ending();
  g.nul = reader.has_nul();
  g.too_big = reader.too_big();
  g.size = reader.size();
  return g;
}

std::string Show(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\0')
      out += "\\0";
    else
      out.push_back(c);
  }
  return out;
}

// Compares one split of input against the reference.
::testing::AssertionResult Matches(const std::string& input, const std::vector<std::size_t>& cuts,
                                   std::uint64_t max = 1 << 20) {
  const Expected e = Reference(input);
  const Got g = Run(input, cuts, max);
  auto fail = [&](const char* what) {
    std::string c;
    for (auto x : cuts) c += std::to_string(x) + ",";
    return ::testing::AssertionFailure() << what << " for \"" << Show(input) << "\" cuts " << c
                                         << " got \"" << Show(g.out) << "\"";
  };
  if (g.done != e.done) return fail("done");
  if (!e.done) {
    if (g.consumed != input.size()) return fail("consumed (not done)");
    return ::testing::AssertionSuccess();  // partial state is checked once the end arrives
  }
  if (g.consumed != e.consumed) return fail("consumed");
  if (g.size != e.message.size()) return fail("size");
  if (g.bare != e.bare) return fail("bare");
  if (g.nul != e.nul) return fail("nul");
  if (g.too_big != (e.message.size() > max)) return fail("too_big");
  if (!g.too_big && g.out != e.message) return fail("message");
  if (g.too_big && (g.out.size() > max || e.message.compare(0, g.out.size(), g.out) != 0)) {
    return fail("partial message");
  }
  return ::testing::AssertionSuccess();
}

// Every split into two chunks, every split into three for short inputs, and byte by byte.
void CheckAllSplits(const std::string& input, std::uint64_t max = 1 << 20) {
  EXPECT_TRUE(Matches(input, {}, max));
  std::vector<std::size_t> bytewise;
  for (std::size_t i = 1; i < input.size(); ++i) bytewise.push_back(i);
  EXPECT_TRUE(Matches(input, bytewise, max));
  for (std::size_t i = 0; i <= input.size(); ++i) {
    EXPECT_TRUE(Matches(input, {i}, max));
    if (input.size() <= 24) {
      for (std::size_t j = i; j <= input.size(); ++j) EXPECT_TRUE(Matches(input, {i, j}, max));
    }
  }
}

std::string Unstuffed(const std::string& input, std::size_t* consumed = nullptr) {
  DataReader r(1 << 20);
  std::string out;
  std::size_t n = r.Feed(input, &out);
  EXPECT_TRUE(r.done()) << Show(input);
  if (consumed) *consumed = n;
  return out;
}

TEST(DataReader, SimpleMessageAndPipelinedRemainder) {
  const std::string in = "Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n";
  DataReader r(1000);
  std::string out;
  EXPECT_EQ(r.Feed(in, &out), in.size() - 6);
  EXPECT_TRUE(r.done());
  EXPECT_EQ(out, "Subject: x\r\n\r\nhello\r\n");
  EXPECT_FALSE(r.bare_line_ending());
  EXPECT_FALSE(r.too_big());
  EXPECT_EQ(r.size(), out.size());
  // Done: nothing more is consumed until Reset.
  EXPECT_EQ(r.Feed("more\r\n.\r\n", &out), 0u);
  r.Reset(1000);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.size(), 0u);
}

TEST(DataReader, EmptyMessage) {
  std::size_t n = 0;
  EXPECT_EQ(Unstuffed(".\r\nNOOP\r\n", &n), "");
  EXPECT_EQ(n, 3u);
}

TEST(DataReader, DotUnstuffing) {
  EXPECT_EQ(Unstuffed("..line\r\n.\r\n"), ".line\r\n");
  EXPECT_EQ(Unstuffed("a\r\n..\r\n...x\r\n.\r\n"), "a\r\n.\r\n..x\r\n");
  EXPECT_EQ(Unstuffed("a.b\r\n .\r\n.\r\n"), "a.b\r\n .\r\n");  // only a leading dot
  EXPECT_EQ(Unstuffed(".x\r\n.\r\n"), "x\r\n");  // lone stuffed dot some clients omit
}

TEST(DataReader, SmugglingSequencesNeverEndData) {
  for (const std::string& fake : {"\n.\n"s, "\r\n.\n"s, "\n.\r\n"s, "\r.\r"s, "\r\n.\r"s}) {
    const std::string in = "a" + fake + "MAIL FROM:<evil@x.example>\r\n";
    DataReader r(1000);
    std::string out;
    EXPECT_EQ(r.Feed(in, &out), in.size()) << Show(fake);
    EXPECT_FALSE(r.done()) << Show(fake);
    const std::string end = "\r\n.\r\n";
    EXPECT_EQ(r.Feed(end, &out), end.size());
    EXPECT_TRUE(r.done()) << Show(fake);
    EXPECT_TRUE(r.bare_line_ending()) << Show(fake);
    CheckAllSplits(in + end);
  }
  // At the very start of the data, too.
  for (const std::string& fake : {".\n"s, ".\r"s, "\n.\r\n"s}) {
    DataReader r(1000);
    std::string out;
    r.Feed(fake + "x", &out);
    EXPECT_FALSE(r.done()) << Show(fake);
  }
}

TEST(DataReader, BareCrLfAndNulFlagged) {
  DataReader r(1000);
  std::string out;
  r.Feed("a\rb\r\n.\r\n", &out);
  EXPECT_TRUE(r.done());
  EXPECT_TRUE(r.bare_line_ending());
  r.Reset(1000);
  r.Feed("a\nb\r\n.\r\n", &out);
  EXPECT_TRUE(r.bare_line_ending());
  r.Reset(1000);
  r.Feed("a\r\r\n.\r\n", &out);  // CR CR LF: the first CR is bare
  EXPECT_TRUE(r.done());
  EXPECT_TRUE(r.bare_line_ending());
  r.Reset(1000);
  r.Feed("a\0b\r\n.\r\n"s, &out);
  EXPECT_TRUE(r.has_nul());
  EXPECT_FALSE(r.bare_line_ending());
}

TEST(DataReader, SizeLimitExactlyAtAndOneOver) {
  const std::string body = "0123456789abcdef\r\n";  // 18 bytes
  {
    DataReader r(18);
    std::string out;
    r.Feed(body + ".\r\n", &out);
    EXPECT_TRUE(r.done());
    EXPECT_FALSE(r.too_big());
    EXPECT_EQ(out, body);
    EXPECT_EQ(r.size(), 18u);
  }
  {
    DataReader r(17);
    std::string out;
    const std::string in = body + "still consumed\r\n.\r\nQUIT\r\n";
    EXPECT_EQ(r.Feed(in, &out), in.size() - 6);
    EXPECT_TRUE(r.done());
    EXPECT_TRUE(r.too_big());
    EXPECT_LE(out.size(), 17u);
    EXPECT_EQ(r.size(), 34u);
  }
  // Stuffed dots do not count: "..x" is 1 + 2 bytes of message.
  {
    DataReader r(3);
    std::string out;
    r.Feed("..\r\n.\r\n", &out);
    EXPECT_FALSE(r.too_big());
    EXPECT_EQ(out, ".\r\n");
  }
  CheckAllSplits(body + ".\r\n", 18);
  CheckAllSplits(body + ".\r\n", 17);
}

TEST(DataReader, ChunkBoundariesOnInterestingInputs) {
  const std::string inputs[] = {
      ".\r\n",
      "a\r\n.\r\n",
      "..\r\n.\r\n",
      "a\r\n..b\r\n.\r\nNEXT",
      "\r\n\r\n.\r\n",
      "a\r\r\n.\r\n",
      "a\r\n.\r.\r\n.\r\n",
      "a\n.\nb\r\n.\n\r\n.\r\n",
      "a\r.\rb\r\n.\r\r\n.\r\nX",
      ".\r.\r\n.\r\n",
      "x\0y\r\n.\r\n"s,
      "no end yet\r\n.",
      "no end yet\r\n.\r",
      "no end\r\n",
  };
  for (const std::string& in : inputs) CheckAllSplits(in);
}

// Every string over {CR, LF, '.', 'a'} up to length 7, followed by a real terminator and a
// pipelined command, fed whole, byte by byte and split at every position.
TEST(DataReader, ExhaustiveSmallAlphabet) {
  const char alphabet[] = {'\r', '\n', '.', 'a'};
  std::string s;
  int count = 0;
  std::function<void(int)> rec = [&](int depth) {
    ++count;
    const std::string in = s + "\r\n.\r\nNOOP\r\n";
    std::vector<std::size_t> bytewise;
    for (std::size_t i = 1; i < in.size(); ++i) bytewise.push_back(i);
    ASSERT_TRUE(Matches(in, {}));
    ASSERT_TRUE(Matches(in, bytewise));
    for (std::size_t i = 0; i <= in.size(); ++i) ASSERT_TRUE(Matches(in, {i}));
    if (depth == 0) return;
    for (char c : alphabet) {
      s.push_back(c);
      rec(depth - 1);
      s.pop_back();
      if (::testing::Test::HasFatalFailure()) return;
    }
  };
  rec(7);
  EXPECT_EQ(count, 1 + 4 + 16 + 64 + 256 + 1024 + 4096 + 16384);
}

TEST(DataReader, RandomInputsRandomChunks) {
  std::mt19937 rng(20240216);
  const char alphabet[] = {'\r', '\n', '.', 'a', 'b', '\0'};
  for (int round = 0; round < 3000; ++round) {
    std::string in;
    const int len = static_cast<int>(rng() % 60);
    for (int i = 0; i < len; ++i) in.push_back(alphabet[rng() % sizeof(alphabet)]);
    if (rng() % 2) in += "\r\n.\r\nRSET\r\n";
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < in.size(); ++i) {
      if (rng() % 3 == 0) cuts.push_back(i);
    }
    const std::uint64_t max = rng() % 4 == 0 ? rng() % 40 : 1 << 20;
    ASSERT_TRUE(Matches(in, cuts, max));
  }
}

TEST(DataReader, LargeMessageFastPath) {
  std::string line(998, 'x');
  std::string in;
  for (int i = 0; i < 2000; ++i) in += line + "\r\n";
  in += ".\r\n";
  DataReader r(10 << 20);
  std::string out;
  EXPECT_EQ(r.Feed(in, &out), in.size());
  EXPECT_TRUE(r.done());
  EXPECT_EQ(out.size(), in.size() - 3);
}

}  // namespace
}  // namespace tidegate::smtp
