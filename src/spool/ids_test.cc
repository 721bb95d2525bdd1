#include "spool/ids.h"

#include <gtest/gtest.h>

#include "spool/testing/test_util.h"

namespace tidegate::spool {
namespace {

TEST(IdAllocatorTest, StartsAtOneAndReservesBeforeHandingOut) {
  testing::TempDir dir;
  base::Filesystem& fs = base::PosixFilesystem();
  const std::string path = base::JoinPath(dir.path(), "ids");
  auto ids = IdAllocator::Open(fs, path, {1, 1, 1}, 10);
  ASSERT_TRUE(ids);
  EXPECT_EQ((*ids)->Next(IdAllocator::kMid), 1u);
  EXPECT_EQ((*ids)->Next(IdAllocator::kMid), 2u);
  EXPECT_EQ((*ids)->Next(IdAllocator::kIcid), 1u);
  // The file already covers the whole first block of each kind used.
  EXPECT_EQ(*fs.ReadWholeFile(path), "tidegate-ids 1\nmid 11\nicid 11\ndcid 1\n");
  for (int i = 0; i < 9; ++i) (*ids)->Next(IdAllocator::kMid);
  EXPECT_EQ(*fs.ReadWholeFile(path), "tidegate-ids 1\nmid 21\nicid 11\ndcid 1\n");

  // A restart (crash or not) continues above everything reserved.
  auto again = IdAllocator::Open(fs, path, {1, 1, 1}, 10);
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)->Next(IdAllocator::kMid), 21u);
  EXPECT_EQ((*again)->Next(IdAllocator::kIcid), 11u);
  EXPECT_EQ((*again)->Next(IdAllocator::kDcid), 1u);
}

TEST(IdAllocatorTest, FloorAndDamagedFile) {
  testing::TempDir dir;
  base::Filesystem& fs = base::PosixFilesystem();
  const std::string path = base::JoinPath(dir.path(), "ids");
  auto ids = IdAllocator::Open(fs, path, {500, 1, 1}, 10);
  ASSERT_TRUE(ids);
  EXPECT_EQ((*ids)->Next(IdAllocator::kMid), 500u);
  ASSERT_TRUE(fs.WriteFileAtomic(path, "tidegate-ids 1\nmid 12x\n"));
  EXPECT_FALSE(IdAllocator::Open(fs, path, {1, 1, 1}, 10));
}

}  // namespace
}  // namespace tidegate::spool
