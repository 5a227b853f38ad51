// VisitedSet: "have I seen node i in this search?" in O(1) with O(1) reset.
//
// Each slot holds the epoch of the search that last marked it; a new search bumps the epoch, so
// clearing is free except once every 65535 searches. One per search context: never shared.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vecstream {

class VisitedSet {
 public:
  /// Starts a new search over node ids < n (grows if needed).
  void begin(size_t n) {
    if (marks_.size() < n) marks_.resize(n + n / 4 + 64, 0);
    if (++epoch_ == 0) {
      std::fill(marks_.begin(), marks_.end(), 0);
      epoch_ = 1;
    }
  }
  /// Marks i; returns true if it was already marked in this search.
  bool test_and_set(uint32_t i) {
    if (marks_[i] == epoch_) return true;
    marks_[i] = epoch_;
    return false;
  }
  bool test(uint32_t i) const { return marks_[i] == epoch_; }
  const uint16_t* prefetch_address(uint32_t i) const { return marks_.data() + i; }
  size_t memory_bytes() const { return marks_.capacity() * sizeof(uint16_t); }

 private:
  std::vector<uint16_t> marks_;
  uint16_t epoch_ = 0;
};

}  // namespace vecstream
