// TieredCache: L1 in front of L2 (see tiered_cache.h).
#include "serve/tiered_cache.h"

namespace vecstream {

TieredCache::TieredCache(std::unique_ptr<ResultCache> l1, std::unique_ptr<ResultCache> l2)
    : l1_(std::move(l1)), l2_(std::move(l2)) {}

TieredCache::~TieredCache() = default;

std::optional<std::string> TieredCache::get(std::string_view key) {
  if (auto v = l1_->get(key)) {
    ++l1_hits_;
    return v;
  }
  if (auto v = l2_->get(key)) {
    ++l2_hits_;
    l1_->put(key, *v);
    return v;
  }
  ++misses_;
  return std::nullopt;
}

void TieredCache::put(std::string_view key, std::string_view value) {
  l1_->put(key, value);
  l2_->put(key, value);
}

CacheStats TieredCache::stats() const {
  const CacheStats a = l1_->stats();
  const CacheStats b = l2_->stats();
  CacheStats st = a;
  st.hits = l1_hits_.load() + l2_hits_.load();
  st.misses = misses_.load();
  st.errors = a.errors + b.errors;
  return st;
}

std::string TieredCache::describe() const {
  return "tiered(l1=" + l1_->describe() + ", l2=" + l2_->describe() + ")";
}

bool TieredCache::does_io() const { return l1_->does_io() || l2_->does_io(); }

}  // namespace vecstream
