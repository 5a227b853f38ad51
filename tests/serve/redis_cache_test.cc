// RedisCache against a real redis-server that the test starts on a free port: get/put, TTL,
// prefix isolation, binary values; a killed or frozen server makes misses and counted errors,
// never exceptions, within a bounded latency; the cache reconnects once the server is back.
#include "serve/redis_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "support/redis_server.h"

namespace vecstream {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

RedisCacheOptions options_for(const testing::RedisServer& s, std::string prefix = "t:") {
  RedisCacheOptions o;
  o.host = "127.0.0.1";
  o.port = s.port();
  o.key_prefix = std::move(prefix);
  o.ttl = milliseconds(60000);
  o.backoff_min = milliseconds(20);
  o.backoff_max = milliseconds(100);
  // Generous: a loaded 2-core CI machine under ASan can stall a live server's reply for tens of
  // milliseconds, which must not count as an error in the functional tests. The failure tests
  // below set short timeouts of their own.
  o.connect_timeout = milliseconds(1000);
  o.command_timeout = milliseconds(1000);
  return o;
}

// Short timeouts for the tests of a dead or frozen server, and the bound their calls must keep:
// the timeouts plus scheduling slack, far below "hangs".
RedisCacheOptions failing_options_for(const testing::RedisServer& s) {
  RedisCacheOptions o = options_for(s);
  o.connect_timeout = milliseconds(50);
  o.command_timeout = milliseconds(50);
  return o;
}

constexpr double kFailureBoundSeconds = 2.0;

// scripts/install-deps.sh installs redis-server: its absence is a failure, not a skip.
#define REQUIRE_REDIS(server)                                          \
  if (!(server).available()) GTEST_FAIL() << "redis-server not installed (scripts/install-deps.sh)"

TEST(RedisCacheTest, GetPutBinaryAndPrefixIsolation) {
  testing::RedisServer server;
  REQUIRE_REDIS(server);
  RedisCache a(options_for(server, "a:"));
  RedisCache b(options_for(server, "b:"));
  EXPECT_FALSE(a.get("q1"));
  const std::string binary("x\0y\r\n\xff", 6);
  a.put("q1", binary);
  auto v = a.get("q1");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, binary);
  EXPECT_FALSE(b.get("q1"));  // another prefix never sees it
  b.put("q1", "other");
  EXPECT_EQ(*a.get("q1"), binary);
  EXPECT_EQ(*b.get("q1"), "other");
  CacheStats st = a.stats();
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.puts, 1u);
  EXPECT_EQ(st.errors, 0u);
  EXPECT_NE(a.describe().find(std::to_string(server.port())), std::string::npos);
}

TEST(RedisCacheTest, EntriesExpireAfterTtl) {
  testing::RedisServer server;
  REQUIRE_REDIS(server);
  RedisCacheOptions o = options_for(server);
  o.ttl = milliseconds(100);
  RedisCache c(o);
  c.put("k", "v");
  EXPECT_TRUE(c.get("k"));
  std::this_thread::sleep_for(milliseconds(250));
  EXPECT_FALSE(c.get("k"));
}

TEST(RedisCacheTest, ConcurrentCallersShareTheBoundedPool) {
  testing::RedisServer server;
  REQUIRE_REDIS(server);
  RedisCacheOptions o = options_for(server);
  o.pool_size = 2;
  o.pool_wait = std::chrono::microseconds(20000);
  RedisCache c(o);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        std::string key = "k";
        key += std::to_string(t * 100 + i % 10);
        std::string value = key;
        value += '!';
        c.put(key, value);
        auto v = c.get(key);
        if (v && *v != value) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  CacheStats st = c.stats();
  EXPECT_EQ(st.errors, 0u);
  EXPECT_GT(st.hits, 500u);  // a few calls may find the pool busy; most do not
}

TEST(RedisCacheTest, DeadRedisMakesBoundedMissesAndErrors) {
  testing::RedisServer server;
  REQUIRE_REDIS(server);
  RedisCache c(failing_options_for(server));
  c.put("k", "v");
  ASSERT_TRUE(c.get("k"));
  server.kill();
  double worst = 0;
  for (int i = 0; i < 50; ++i) {
    const auto t0 = Clock::now();
    EXPECT_FALSE(c.get("k"));
    c.put("k2", "v2");
    worst = std::max(worst, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  CacheStats st = c.stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 50u);
  EXPECT_GE(st.errors, 50u);
  // Connection refused is immediate; even a timeout costs at most connect + command timeouts.
  EXPECT_LT(worst, kFailureBoundSeconds) << "slowest get+put against a dead Redis took " << worst << " s";
}

TEST(RedisCacheTest, FrozenRedisTimesOutThenRecovers) {
  testing::RedisServer server;
  REQUIRE_REDIS(server);
  RedisCacheOptions o = failing_options_for(server);
  o.pool_size = 1;
  RedisCache c(o);
  c.put("k", "v");
  ASSERT_TRUE(c.get("k"));
  server.pause();
  double worst = 0;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    EXPECT_FALSE(c.get("k"));
    worst = std::max(worst, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  EXPECT_GE(c.stats().errors, 1u);
  EXPECT_LT(worst, kFailureBoundSeconds) << "slowest get against a frozen Redis took " << worst << " s";
  server.resume();
  // After the backoff the pool reconnects and the entry is there again.
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
    back = c.get("k").has_value();
  }
  EXPECT_TRUE(back);
}

TEST(RedisCacheTest, RestartedRedisIsReconnected) {
  testing::RedisServer server;
  REQUIRE_REDIS(server);
  RedisCache c(options_for(server));
  c.put("k", "v");
  ASSERT_TRUE(c.get("k"));
  const int port = server.port();
  server.kill();
  EXPECT_FALSE(c.get("k"));
  ASSERT_TRUE(server.start(port));
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
    c.put("k", "again");
    back = c.get("k") == std::optional<std::string>("again");
  }
  EXPECT_TRUE(back);
}

TEST(RedisCacheTest, NothingListeningFromTheStart) {
  RedisCacheOptions o;
  o.port = testing::free_tcp_port();
  RedisCache c(o);
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(c.get("k"));
    c.put("k", "v");
  }
  CacheStats st = c.stats();
  EXPECT_EQ(st.misses, 10u);
  EXPECT_GE(st.errors, 10u);
  EXPECT_EQ(st.puts, 0u);
}

}  // namespace
}  // namespace vecstream
