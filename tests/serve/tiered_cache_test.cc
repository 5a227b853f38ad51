// TieredCache: L1 answers first, an L2 hit fills L1, puts reach both levels, counters add up; and
// with Redis as L2, a second node (its own L1) answers from the first node's entries.
#include "serve/tiered_cache.h"

#include <gtest/gtest.h>

#include "serve/lru_cache.h"
#include "serve/redis_cache.h"
#include "support/redis_server.h"

namespace vecstream {
namespace {

TEST(TieredCacheTest, L2HitFillsL1) {
  auto l1 = std::make_unique<LruCache>();
  auto l2 = std::make_unique<LruCache>();
  LruCache* l1p = l1.get();
  LruCache* l2p = l2.get();
  TieredCache c(std::move(l1), std::move(l2));
  EXPECT_FALSE(c.get("a"));
  c.put("a", "1");
  EXPECT_EQ(l1p->stats().entries, 1u);
  EXPECT_EQ(l2p->stats().entries, 1u);
  EXPECT_EQ(*c.get("a"), "1");
  EXPECT_EQ(c.l1_hits(), 1u);
  l1p->clear();
  EXPECT_EQ(*c.get("a"), "1");  // from L2 ...
  EXPECT_EQ(c.l2_hits(), 1u);
  EXPECT_EQ(l1p->stats().entries, 1u);  // ... and now in L1 again
  EXPECT_EQ(*c.get("a"), "1");
  EXPECT_EQ(c.l1_hits(), 2u);
  CacheStats st = c.stats();
  EXPECT_EQ(st.hits, 3u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_NE(c.describe().find("tiered"), std::string::npos);
}

TEST(TieredCacheTest, TwoNodesShareRedis) {
  testing::RedisServer server;
  if (!server.available()) GTEST_FAIL() << "redis-server not installed (scripts/install-deps.sh)";
  auto node = [&] {
    RedisCacheOptions o;
    o.port = server.port();
    return TieredCache(std::make_unique<LruCache>(), std::make_unique<RedisCache>(o));
  };
  TieredCache a = node();
  TieredCache b = node();
  a.put("q", "answer");
  EXPECT_EQ(*b.get("q"), "answer");
  EXPECT_EQ(b.l2_hits(), 1u);
  EXPECT_EQ(*b.get("q"), "answer");
  EXPECT_EQ(b.l1_hits(), 1u);
  // Redis gone: L1 still answers, L2 errors are counted, nothing throws.
  server.kill();
  EXPECT_EQ(*b.get("q"), "answer");
  EXPECT_FALSE(b.get("other"));
  EXPECT_GE(b.stats().errors, 1u);
}

}  // namespace
}  // namespace vecstream
