// LruCache: sharded byte-bounded LRU with TTL (see lru_cache.h).
#include "serve/lru_cache.h"

#include <bit>
#include <functional>
#include <list>
#include <mutex>
#include <unordered_map>

namespace vecstream {

namespace {

using Clock = std::chrono::steady_clock;

// List node, map slot and the two strings' headers, roughly: what an entry costs beyond its bytes.
constexpr size_t kEntryOverhead = 128;

}  // namespace

struct LruCache::Shard {
  struct Entry {
    std::string key;
    std::string value;
    Clock::time_point expires;
    size_t charge;
  };
  using List = std::list<Entry>;

  std::mutex mu;
  List lru;  // most recently used first
  // Keys are views of the list nodes' own keys (nodes never move).
  std::unordered_map<std::string_view, List::iterator> map;
  size_t bytes = 0;
  uint64_t hits = 0, misses = 0, puts = 0, evictions = 0;

  void erase(List::iterator it) {
    bytes -= it->charge;
    map.erase(std::string_view(it->key));
    lru.erase(it);
  }
};

LruCache::LruCache(LruCacheOptions options) : options_(options) {
  options_.shards = std::bit_ceil(std::max<size_t>(options_.shards, 1));
  shard_bytes_ = options_.max_bytes / options_.shards;
  shards_ = std::make_unique<Shard[]>(options_.shards);
}

LruCache::~LruCache() = default;

size_t LruCache::charge(std::string_view key, std::string_view value) {
  return key.size() + value.size() + kEntryOverhead;
}

LruCache::Shard& LruCache::shard_of(std::string_view key) const {
  // The low bits of std::hash pick the bucket inside a shard's map; use the high ones here.
  const uint64_t h = std::hash<std::string_view>{}(key) * 0x9e3779b97f4a7c15ull;
  return shards_[(h >> 32) & (options_.shards - 1)];
}

std::optional<std::string> LruCache::get(std::string_view key) {
  Shard& s = shard_of(key);
  std::lock_guard lk(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    ++s.misses;
    return std::nullopt;
  }
  if (options_.ttl.count() > 0 && Clock::now() >= it->second->expires) {
    s.erase(it->second);
    ++s.evictions;
    ++s.misses;
    return std::nullopt;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  ++s.hits;
  return it->second->value;
}

void LruCache::put(std::string_view key, std::string_view value) {
  const size_t c = charge(key, value);
  if (c > shard_bytes_) return;
  Shard& s = shard_of(key);
  // Build the entry outside the lock: copying the value is the expensive part.
  Shard::List node;
  node.push_front(Shard::Entry{std::string(key), std::string(value), Clock::now() + options_.ttl, c});
  std::lock_guard lk(s.mu);
  if (auto it = s.map.find(key); it != s.map.end()) s.erase(it->second);
  while (s.bytes + c > shard_bytes_ && !s.lru.empty()) {
    s.erase(std::prev(s.lru.end()));
    ++s.evictions;
  }
  s.lru.splice(s.lru.begin(), node);
  s.map.emplace(std::string_view(s.lru.front().key), s.lru.begin());
  s.bytes += c;
  ++s.puts;
}

void LruCache::clear() {
  for (size_t i = 0; i < options_.shards; ++i) {
    Shard& s = shards_[i];
    std::lock_guard lk(s.mu);
    s.map.clear();
    s.lru.clear();
    s.bytes = 0;
  }
}

CacheStats LruCache::stats() const {
  CacheStats st;
  for (size_t i = 0; i < options_.shards; ++i) {
    Shard& s = shards_[i];
    std::lock_guard lk(s.mu);
    st.hits += s.hits;
    st.misses += s.misses;
    st.puts += s.puts;
    st.evictions += s.evictions;
    st.bytes += s.bytes;
    st.entries += s.map.size();
  }
  return st;
}

std::string LruCache::describe() const {
  return "lru(max_bytes=" + std::to_string(options_.max_bytes) +
         ", ttl_ms=" + std::to_string(options_.ttl.count()) +
         ", shards=" + std::to_string(options_.shards) + ")";
}

}  // namespace vecstream
