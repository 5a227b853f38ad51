// RedisCache: the shared result cache, in Redis through hiredis — so that every node of a cluster
// (and a restarted node) answers a repeated query from the cache.
//
// Commands: GET <prefix><key> and SET <prefix><key> <value> PX <ttl_ms>; Redis evicts on its own
// (maxmemory policy), so bytes/entries/evictions are not counted here.
//
// Design. A fixed pool of `pool_size` connections, each used by one thread at a time. A call takes
// a free connection, waiting at most `pool_wait`; if none frees up it is a miss (a busy pool must
// not queue queries behind the cache). A connection is opened lazily with `connect_timeout`, then
// AUTHs and SELECTs if configured; every command runs under `command_timeout`. A connection that
// fails is closed and may only be reopened after a backoff that doubles from `backoff_min` to
// `backoff_max` (reset by a success), so a dead Redis costs a query at most one connect timeout
// per connection per backoff period and otherwise nothing. So the worst latency a call adds is
// pool_wait + connect_timeout + command_timeout (+ AUTH/SELECT round trips on a fresh connection).
//
// Errors: a failed connect, command, timeout or unexpected reply counts as an error (and a get as
// a miss); the caller never sees one.
//
// Thread-safety: every method may be called from any thread at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/result_cache.h"

namespace vecstream {

struct RedisCacheOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_socket;  // when set, used instead of host:port
  std::string password;     // AUTH when set
  std::string username;     // AUTH username password (Redis 6 ACL) when both are set
  int db = 0;               // SELECT when not 0
  std::string key_prefix = "vecstream:";
  std::chrono::milliseconds ttl{60000};  // PX; at least 1 ms
  std::chrono::milliseconds connect_timeout{50};
  std::chrono::milliseconds command_timeout{50};
  size_t pool_size = 4;
  std::chrono::microseconds pool_wait{2000};
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{5000};
  size_t max_value_bytes = 4u << 20;  // larger answers are not cached
};

class RedisCache final : public ResultCache {
 public:
  /// Connects lazily: a Redis that is down at start-up only makes misses until it comes up.
  explicit RedisCache(RedisCacheOptions options);
  ~RedisCache() override;
  RedisCache(const RedisCache&) = delete;
  RedisCache& operator=(const RedisCache&) = delete;

  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view key, std::string_view value) override;
  CacheStats stats() const override;
  std::string describe() const override;
  bool does_io() const override { return true; }

  const RedisCacheOptions& options() const { return options_; }

 private:
  struct Conn;

  /// A connected connection for the caller's exclusive use, or null (pool busy, Redis down or in
  /// backoff: counted as an error when it is not just a busy pool).
  Conn* acquire();
  void release(Conn* c, bool failed);
  bool connect(Conn* c);

  RedisCacheOptions options_;
  std::mutex mu_;
  std::condition_variable free_cv_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> free_;  // guarded by mu_

  std::atomic<uint64_t> hits_{0}, misses_{0}, puts_{0}, errors_{0};
  std::atomic<uint64_t> busy_{0};  // calls that found no free connection in time (misses)
};

}  // namespace vecstream
