// Top-k selection: bounded heaps over (distance, id) pairs, smaller distance = better.
//
// MaxHeap keeps the k best seen so far with the worst on top, so `worst()` is the admission bar
// and a candidate that does not beat it costs one comparison. The storage is caller-reusable
// (clear() keeps capacity), so a search context allocates it once.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace vecstream {

template <typename IdT>
struct DistId {
  float distance;
  IdT id;
};

template <typename IdT>
inline bool operator<(const DistId<IdT>& a, const DistId<IdT>& b) {
  return a.distance < b.distance;
}

/// Bounded max-heap keeping the `capacity` smallest distances.
template <typename IdT>
class TopK {
 public:
  TopK() = default;
  explicit TopK(size_t capacity) { reset(capacity); }

  void reset(size_t capacity) {
    capacity_ = capacity;
    heap_.clear();
    heap_.reserve(capacity);
  }
  size_t size() const { return heap_.size(); }
  bool full() const { return heap_.size() >= capacity_; }
  float worst() const {
    return full() ? heap_.front().distance : std::numeric_limits<float>::infinity();
  }
  /// Offers a candidate; keeps it if it is among the best `capacity` so far.
  void push(float distance, IdT id) {
    if (heap_.size() < capacity_) {
      heap_.push_back({distance, id});
      std::push_heap(heap_.begin(), heap_.end());
    } else if (distance < heap_.front().distance) {
      std::pop_heap(heap_.begin(), heap_.end());
      heap_.back() = {distance, id};
      std::push_heap(heap_.begin(), heap_.end());
    }
  }
  /// Sorts ascending in place and exposes the items; the heap is unusable until reset().
  const std::vector<DistId<IdT>>& sorted() {
    std::sort_heap(heap_.begin(), heap_.end());
    return heap_;
  }

 private:
  size_t capacity_ = 0;
  std::vector<DistId<IdT>> heap_;
};

}  // namespace vecstream
