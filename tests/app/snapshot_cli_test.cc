// `vecstream snapshot create/restore` end to end: the real binary on a real collection.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "segment/collection.h"
#include "support/temp_dir.h"

namespace vecstream {
namespace {

int run(const std::string& args) {
  const std::string cmd = std::string(VECSTREAM_BIN) + " " + args + " >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(SnapshotCliTest, CreateThenRestore) {
  testing::TempDir dir;
  {
    auto config = CollectionConfig::from_json({{"name", "cli"}, {"dim", 4}, {"shards", 2}, {"fsync", "none"}});
    ASSERT_TRUE(config.is_ok());
    auto c = Collection::create(dir / "coll", *config);
    ASSERT_TRUE(c.is_ok());
    std::vector<PointWrite> batch;
    for (uint64_t i = 0; i < 50; ++i) {
      batch.push_back({PointId::number(i), {float(i), 1, 2, 3}, {{"i", i}}});
    }
    ASSERT_TRUE((*c)->upsert(std::move(batch)).is_ok());
  }  // not closed: the WAL holds the writes; the snapshot's checkpoint must include them
  EXPECT_EQ(run("snapshot create --collection " + (dir / "coll") + " --out " + (dir / "snap")), 0);
  EXPECT_EQ(run("snapshot restore --from " + (dir / "snap") + " --collection " + (dir / "copy")), 0);
  auto c = Collection::open(dir / "copy", false);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ((*c)->stats().live, 50u);
  auto rec = (*c)->get(PointId::number(7));
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->payload["i"], 7);
  // Errors: a missing collection, an existing target, a damaged snapshot.
  EXPECT_NE(run("snapshot create --collection " + (dir / "nope") + " --out " + (dir / "s2")), 0);
  EXPECT_NE(run("snapshot restore --from " + (dir / "snap") + " --collection " + (dir / "copy")), 0);
  std::filesystem::remove(dir / "snap/shard-0/data/MANIFEST");
  EXPECT_NE(run("snapshot restore --from " + (dir / "snap") + " --collection " + (dir / "copy2")), 0);
  EXPECT_NE(run("snapshot frobnicate"), 0);
}

}  // namespace
}  // namespace vecstream
