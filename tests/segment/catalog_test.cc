// Catalog: create / list / get / drop, reopen at start-up, a dropped collection still serves the
// queries that hold it.
#include "segment/catalog.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.h"

namespace vecstream {
namespace {

CollectionConfig cfg(const std::string& name, size_t dim) {
  auto c = CollectionConfig::from_json({{"name", name}, {"dim", dim}, {"fsync", "none"}});
  return *c;
}

TEST(CatalogTest, CreateListDropReopen) {
  testing::TempDir dir;
  {
    auto cat = Catalog::open(dir.path());
    ASSERT_TRUE(cat.is_ok()) << cat.status().to_string();
    ASSERT_TRUE((*cat)->create(cfg("a", 4)).is_ok());
    ASSERT_TRUE((*cat)->create(cfg("b", 8)).is_ok());
    EXPECT_EQ((*cat)->create(cfg("a", 4)).status().code(), StatusCode::kAlreadyExists);
    EXPECT_EQ((*cat)->list(), (std::vector<std::string>{"a", "b"}));
    auto a = (*cat)->get("a");
    ASSERT_TRUE(a.is_ok());
    ASSERT_TRUE((*a)->upsert({PointWrite{PointId::number(1), {1, 2, 3, 4}, nullptr}}).is_ok());
    EXPECT_EQ((*cat)->get("zzz").status().code(), StatusCode::kNotFound);
    // Drop b while a query holds it: the holder keeps working, new lookups fail.
    auto b = (*cat)->get("b");
    ASSERT_TRUE(b.is_ok());
    ASSERT_TRUE((*b)->upsert({PointWrite{PointId::number(9), std::vector<float>(8, 1.0f), nullptr}}).is_ok());
    ASSERT_TRUE((*cat)->drop("b").is_ok());
    EXPECT_EQ((*cat)->get("b").status().code(), StatusCode::kNotFound);
    EXPECT_EQ((*cat)->drop("b").code(), StatusCode::kNotFound);
    std::vector<ScoredPoint> out;
    ShardQuery q;
    q.k = 1;
    ASSERT_TRUE((*b)->search(std::vector<float>(8, 1.0f), q, &out).is_ok());
    EXPECT_EQ(out.size(), 1u);
    EXPECT_FALSE(std::filesystem::exists(dir / "collections/b"));
    CollectionConfig bad = cfg("ok", 4);
    bad.name = "bad name";
    EXPECT_EQ((*cat)->create(bad).status().code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE((*cat)->close().is_ok());
  }
  auto cat = Catalog::open(dir.path());
  ASSERT_TRUE(cat.is_ok());
  EXPECT_EQ((*cat)->list(), (std::vector<std::string>{"a"}));
  auto a = (*cat)->get("a");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ((*a)->stats().live, 1u);
  // A damaged collection stops start-up with its name in the error.
  ASSERT_TRUE((*cat)->close().is_ok());
  cat->reset();
  std::filesystem::resize_file(dir / "collections/a/collection.json", 3);
  auto broken = Catalog::open(dir.path());
  ASSERT_FALSE(broken.is_ok());
  EXPECT_NE(broken.status().message().find("collection a"), std::string::npos) << broken.status().message();
}

}  // namespace
}  // namespace vecstream
