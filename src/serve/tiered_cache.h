// TieredCache: an in-process cache (L1, usually LruCache) in front of a shared one (L2, usually
// RedisCache). get() asks L1, then L2, and fills L1 with what L2 had; put() writes both. A node
// thus answers its own hot queries from memory and its cluster's from Redis.
//
// Counters: a hit is an answer from either level, a miss one found in neither; puts, bytes,
// entries and evictions are L1's; errors are both levels'. Each level's own stats stay available.
//
// Thread-safety: every method may be called from any thread at once (as the levels allow).
#pragma once

#include <atomic>
#include <memory>

#include "serve/result_cache.h"

namespace vecstream {

class TieredCache final : public ResultCache {
 public:
  TieredCache(std::unique_ptr<ResultCache> l1, std::unique_ptr<ResultCache> l2);
  ~TieredCache() override;

  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view key, std::string_view value) override;
  CacheStats stats() const override;
  std::string describe() const override;
  bool does_io() const override;

  ResultCache& l1() { return *l1_; }
  ResultCache& l2() { return *l2_; }
  /// Answers found in L1 and in L2 respectively.
  uint64_t l1_hits() const { return l1_hits_.load(); }
  uint64_t l2_hits() const { return l2_hits_.load(); }

 private:
  std::unique_ptr<ResultCache> l1_, l2_;
  std::atomic<uint64_t> l1_hits_{0}, l2_hits_{0}, misses_{0};
};

}  // namespace vecstream
