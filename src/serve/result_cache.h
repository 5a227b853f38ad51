// ResultCache: where the Service keeps search answers, keyed by a string that already includes
// the collection's write epoch (so a hit is never stale: any acknowledged write changes the key).
// Entries also expire after a TTL and the cache is bounded in bytes. Implementations: an
// in-process LRU (lru_cache.h), Redis through hiredis (redis_cache.h), and the two tiered.
//
// Thread-safety: every method may be called from any thread at once. Failures of a remote cache
// are misses, never errors: the cache can only make answers faster, not wrong or unavailable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vecstream {

struct CacheStats {
  uint64_t hits = 0, misses = 0, puts = 0, evictions = 0, errors = 0;
  uint64_t bytes = 0, entries = 0;
};

class ResultCache {
 public:
  virtual ~ResultCache() = default;
  virtual std::optional<std::string> get(std::string_view key) = 0;
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual CacheStats stats() const = 0;
  virtual std::string describe() const = 0;
  /// Whether get/put may wait on I/O (a network round trip): callers that must not block, such
  /// as a search run on a transport's event thread, then leave the cache to a worker.
  virtual bool does_io() const = 0;
};

}  // namespace vecstream
