// LruCache: the in-process result cache — least-recently-used, bounded in bytes, with a TTL.
//
// Design. The key space is split into `shards` independent LRUs by key hash, each a mutex, a
// doubly linked list (most recently used first) and a hash map from key to list node, so that
// concurrent queries contend only when their keys fall in the same shard. Each shard holds at most
// max_bytes / shards bytes; an entry is charged its key, its value and a fixed per-entry overhead
// (list node + map slot). A put evicts from the cold end until the entry fits; an entry larger
// than a shard's budget is not stored. An entry older than the TTL is a miss and is dropped when
// found.
//
// Counters: a hit or miss per get, a put per stored entry, an eviction per entry dropped to make
// room or found expired. Kept per shard under its mutex; stats() sums them.
//
// Thread-safety: every method may be called from any thread at once. get/put are O(1) expected
// plus the evictions they cause.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "serve/result_cache.h"

namespace vecstream {

struct LruCacheOptions {
  size_t max_bytes = 256u << 20;
  std::chrono::milliseconds ttl{60000};  // zero: entries never expire
  size_t shards = 16;                    // rounded up to a power of two, at least 1
};

class LruCache final : public ResultCache {
 public:
  explicit LruCache(LruCacheOptions options = {});
  ~LruCache() override;
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view key, std::string_view value) override;
  CacheStats stats() const override;
  std::string describe() const override;
  bool does_io() const override { return false; }

  /// Drops every entry (counters stay).
  void clear();
  /// Bytes an entry of this key and value is charged.
  static size_t charge(std::string_view key, std::string_view value);

  const LruCacheOptions& options() const { return options_; }

 private:
  struct Shard;
  Shard& shard_of(std::string_view key) const;

  LruCacheOptions options_;
  size_t shard_bytes_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace vecstream
