#include "config/yaml_reader.h"

#include <gtest/gtest.h>

namespace tidegate::config::internal {
namespace {

// Reads the value of key "v" in a one-line document "v: <text>" with the given reader.
template <typename F>
auto ReadValue(const std::string& text, F read, std::string* error) {
  Context ctx("t.yaml", "/etc/tidegate");
  auto doc = LoadDocument(ctx, "v: " + text + "\n");
  EXPECT_TRUE(doc.has_value()) << text;
  if (!doc) doc = YAML::Node(YAML::NodeType::Map);
  MapReader m(ctx, *doc);
  auto field = m.Get("v");
  EXPECT_TRUE(field.has_value()) << text;
  decltype(read(ctx, *field)) result;
  if (field) result = read(ctx, *field);
  *error = ctx.failed() ? ctx.ToError().message : "";
  return result;
}

std::optional<Endpoint> Endpointish(const std::string& text, const EndpointRules& rules,
                                    std::string* error) {
  return ReadValue(
      text, [&](Context& ctx, const Field& f) { return ReadEndpoint(ctx, f, rules); }, error);
}

TEST(ReadEndpoint, AcceptsAddressesAndNamesWhereAllowed) {
  std::string error;
  auto e = Endpointish("'[fe80::1]:587'", {}, &error);
  ASSERT_TRUE(e.has_value()) << error;
  EXPECT_EQ(e->host, "fe80::1");
  EXPECT_EQ(e->port, 587);
  EXPECT_FALSE(Endpointish("mx.example.com:25", {}, &error).has_value());
  EXPECT_TRUE(Endpointish("mx.example.com:25", {.allow_names = true}, &error).has_value());
  EXPECT_FALSE(Endpointish("10.0.0.300:25", {.allow_names = true}, &error).has_value());
  EXPECT_EQ(error,
            "t.yaml:1: v: invalid address '10.0.0.300:25': bad host name (expected HOST:PORT, "
            "e.g. mx.example.com:25, 127.0.0.1:25, [::1]:25)");
  EXPECT_FALSE(Endpointish("'[::1]x'", {}, &error).has_value());
  EXPECT_FALSE(Endpointish("'[::1'", {}, &error).has_value());
  EXPECT_FALSE(Endpointish("'[1.2.3.4]:25'", {}, &error).has_value());
  EXPECT_FALSE(Endpointish("'127.0.0.1:'", {}, &error).has_value());
  EXPECT_FALSE(Endpointish("127.0.0.1:+25", {}, &error).has_value());
  EXPECT_FALSE(Endpointish("127.0.0.1:0", {}, &error).has_value());
  EXPECT_TRUE(Endpointish("127.0.0.1:0", {.allow_port_zero = true}, &error).has_value());
  EXPECT_TRUE(Endpointish("127.0.0.1:65535", {}, &error).has_value());
  EXPECT_FALSE(Endpointish("127.0.0.1:65536", {}, &error).has_value());
}

TEST(ReadScalars, BoolsIntegersAndEmptyValues) {
  std::string error;
  auto read_bool = [](Context& ctx, const Field& f) { return ReadBool(ctx, f); };
  EXPECT_EQ(ReadValue("true", read_bool, &error), std::optional<bool>(true));
  EXPECT_EQ(ReadValue("false", read_bool, &error), std::optional<bool>(false));
  EXPECT_EQ(ReadValue("True", read_bool, &error), std::nullopt);
  EXPECT_EQ(ReadValue("1", read_bool, &error), std::nullopt);
  auto read_uint = [](Context& ctx, const Field& f) { return ReadUint(ctx, f, 2, 9); };
  EXPECT_EQ(ReadValue("9", read_uint, &error), std::optional<std::uint64_t>(9));
  EXPECT_EQ(ReadValue("10", read_uint, &error), std::nullopt);
  EXPECT_EQ(ReadValue("1", read_uint, &error), std::nullopt);
  EXPECT_EQ(ReadValue("4x", read_uint, &error), std::nullopt);
  EXPECT_EQ(error, "t.yaml:1: v: expected an integer from 2 to 9, got '4x'");
  auto read_string = [](Context& ctx, const Field& f) { return ReadString(ctx, f); };
  EXPECT_EQ(ReadValue("", read_string, &error), std::nullopt);
  EXPECT_EQ(error, "t.yaml:1: v: missing value");
  EXPECT_EQ(ReadValue("{a: 1}", read_string, &error), std::nullopt);
  EXPECT_EQ(error, "t.yaml:1: v: expected a string, got a mapping");
}

TEST(ResolvePath, RelativeAgainstTheDirectoryAbsoluteKept) {
  EXPECT_EQ(ResolvePath("/etc/tidegate", "cert.pem"), "/etc/tidegate/cert.pem");
  EXPECT_EQ(ResolvePath("/etc/tidegate", "../run/./x"), "/etc/run/x");
  EXPECT_EQ(ResolvePath("/etc/tidegate", "/srv/x"), "/srv/x");
}

TEST(Context, ErrorsAreSortedByLineAndDeduplicated) {
  Context ctx("f.yaml", "/");
  YAML::Mark line3;
  line3.line = 2;
  YAML::Mark line1;
  ctx.Fail(line3, "b", "second");
  ctx.Fail(line1, "a", "first");
  ctx.Fail(line3, "b", "second");
  ctx.Fail(YAML::Mark::null_mark(), "", "unknown position");
  EXPECT_EQ(ctx.ToError().message,
            "f.yaml:1: a: first\nf.yaml:1: unknown position\nf.yaml:3: b: second");
}

TEST(Context, MessagesStayOnOneLine) {
  Context ctx("f.yaml", "/");
  ctx.Fail(YAML::Mark(), "odd\nkey", "got " + Quote("a\tb\x01"));
  EXPECT_EQ(ctx.ToError().message, "f.yaml:1: odd\\nkey: got 'a\\tb\\x01'");
  EXPECT_EQ(Quote(std::string(100, 'x')), "'" + std::string(80, 'x') + "...'");
}

}  // namespace
}  // namespace tidegate::config::internal
