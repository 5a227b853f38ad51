// Bitset: a fixed-size set of small integers (allow-lists for filtered search, live masks).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vecstream {

class Bitset {
 public:
  Bitset() = default;
  explicit Bitset(size_t n) : n_(n), words_((n + 63) / 64, 0) {}

  size_t size() const { return n_; }
  /// Grows to at least n bits (new bits clear). Not thread-safe.
  void resize(size_t n) { n_ = n; words_.resize((n + 63) / 64, 0); }

  bool test(size_t i) const { return i < n_ && ((words_[i >> 6] >> (i & 63)) & 1u); }
  void set(size_t i) { words_[i >> 6] |= (uint64_t{1} << (i & 63)); }
  void reset(size_t i) { words_[i >> 6] &= ~(uint64_t{1} << (i & 63)); }
  void clear_all() { std::fill(words_.begin(), words_.end(), 0); }
  size_t count() const;

  const uint64_t* words() const { return words_.data(); }

 private:
  size_t n_ = 0;
  std::vector<uint64_t> words_;
};

}  // namespace vecstream
