// LruCache: byte bound, TTL expiry, LRU order, counters, and 8 threads at once (run under TSan).
#include "serve/lru_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace vecstream {
namespace {

// a + b without operator+(const char*, string&&), which GCC 12 -O3 flags with a false -Wrestrict.
std::string cat(std::string a, const std::string& b) {
  a += b;
  return a;
}

TEST(LruCacheTest, GetPutAndCounters) {
  LruCache c;
  EXPECT_FALSE(c.get("a"));
  c.put("a", "alpha");
  auto v = c.get("a");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "alpha");
  c.put("a", "beta");  // replaces, still one entry
  EXPECT_EQ(*c.get("a"), "beta");
  CacheStats st = c.stats();
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.puts, 2u);
  EXPECT_EQ(st.entries, 1u);
  EXPECT_EQ(st.bytes, LruCache::charge("a", "beta"));
  EXPECT_NE(c.describe().find("lru"), std::string::npos);
}

TEST(LruCacheTest, BoundedInBytesEvictingLeastRecentlyUsed) {
  // One shard so that the order is global.
  const std::string value(100, 'x');
  const size_t per = LruCache::charge("k00", value);
  LruCache c(LruCacheOptions{.max_bytes = per * 4, .ttl = std::chrono::milliseconds(0), .shards = 1});
  for (int i = 0; i < 4; ++i) c.put(cat("k0", std::to_string(i)), value);
  EXPECT_EQ(c.stats().entries, 4u);
  ASSERT_TRUE(c.get("k00"));  // k00 is now the most recent; k01 the least
  c.put("k04", value);
  EXPECT_FALSE(c.get("k01"));
  EXPECT_TRUE(c.get("k00"));
  EXPECT_TRUE(c.get("k02"));
  EXPECT_TRUE(c.get("k04"));
  CacheStats st = c.stats();
  EXPECT_EQ(st.evictions, 1u);
  EXPECT_LE(st.bytes, per * 4);
  // A bigger entry evicts as many as it needs.
  c.put("big", std::string(per * 2, 'y'));
  EXPECT_LE(c.stats().bytes, per * 4);
  EXPECT_TRUE(c.get("big"));
  // An entry larger than the whole budget is not stored (and evicts nothing).
  const size_t before = c.stats().entries;
  c.put("huge", std::string(per * 8, 'z'));
  EXPECT_FALSE(c.get("huge"));
  EXPECT_EQ(c.stats().entries, before);
}

TEST(LruCacheTest, ManyShardsStayWithinBudget) {
  LruCache c(LruCacheOptions{.max_bytes = 64 << 10, .ttl = std::chrono::milliseconds(0), .shards = 16});
  for (int i = 0; i < 5000; ++i) c.put(cat("key-", std::to_string(i)), std::string(200, 'v'));
  CacheStats st = c.stats();
  EXPECT_LE(st.bytes, 64u << 10);
  EXPECT_GT(st.entries, 100u);
  EXPECT_EQ(st.entries + st.evictions, 5000u);
}

TEST(LruCacheTest, EntriesExpireAfterTtl) {
  LruCache c(LruCacheOptions{.max_bytes = 1 << 20, .ttl = std::chrono::milliseconds(50), .shards = 4});
  c.put("a", "1");
  EXPECT_TRUE(c.get("a"));
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_FALSE(c.get("a"));
  CacheStats st = c.stats();
  EXPECT_EQ(st.entries, 0u);
  EXPECT_EQ(st.bytes, 0u);
  c.put("a", "2");  // a fresh put starts a fresh TTL
  EXPECT_EQ(*c.get("a"), "2");
}

TEST(LruCacheTest, EightThreadsAtOnce) {
  LruCache c(LruCacheOptions{.max_bytes = 256 << 10, .ttl = std::chrono::milliseconds(0), .shards = 16});
  constexpr int kThreads = 8, kOps = 4000;
  std::atomic<uint64_t> hits{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps; ++i) {
        const std::string key = cat("k", std::to_string((i * 7 + t) % 500));
        if (auto v = c.get(key)) {
          ++hits;
          if (*v != cat("value-of-", key)) ++wrong;
        } else {
          c.put(key, cat("value-of-", key));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CacheStats st = c.stats();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(st.hits, hits.load());
  EXPECT_EQ(st.hits + st.misses, static_cast<uint64_t>(kThreads * kOps));
  EXPECT_GT(st.hits, 0u);
  EXPECT_LE(st.bytes, 256u << 10);
}

}  // namespace
}  // namespace vecstream
