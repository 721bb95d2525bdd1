#include "base/filesystem.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

namespace tidegate::base {
namespace {

class PosixFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tidegate-fs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(PosixFsTest, AppendSyncReadBack) {
  Filesystem& fs = PosixFilesystem();
  const std::string path = JoinPath(dir_, "a.seg");
  auto file = fs.OpenAppend(path);
  ASSERT_TRUE(file) << file.error().message;
  std::string a = "hello ", b = "world";
  iovec parts[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
  ASSERT_TRUE((*file)->Append(parts));
  ASSERT_TRUE((*file)->Sync());
  EXPECT_EQ((*file)->Size(), 11u);
  auto content = fs.ReadWholeFile(path);
  ASSERT_TRUE(content);
  EXPECT_EQ(*content, "hello world");
  ASSERT_TRUE((*file)->Truncate(5));
  EXPECT_EQ(*fs.ReadWholeFile(path), "hello");
}

TEST_F(PosixFsTest, AtomicWriteAndList) {
  Filesystem& fs = PosixFilesystem();
  ASSERT_TRUE(fs.CreateDirs(JoinPath(dir_, "x/y")));
  ASSERT_TRUE(fs.WriteFileAtomic(JoinPath(dir_, "x/y/ids"), "42\n"));
  EXPECT_EQ(*fs.ReadWholeFile(JoinPath(dir_, "x/y/ids")), "42\n");
  auto names = fs.List(JoinPath(dir_, "x/y"));
  ASSERT_TRUE(names);
  ASSERT_EQ(names->size(), 1u);
  EXPECT_EQ((*names)[0], "ids");
  EXPECT_FALSE(fs.OpenRead(JoinPath(dir_, "missing")));
}

}  // namespace
}  // namespace tidegate::base
