// FlatIndex: exact nearest-neighbour search, the ground truth for every recall figure.
//
// Vectors live in one contiguous row-major array (dense slots); an id map gives id -> slot and a
// parallel array slot -> id. Remove moves the last row into the freed slot, so the array stays
// dense and a scan touches only live rows.
//
// search(): one query is a SIMD scan with a bounded top-k heap. search_batch(): queries are split
// over the thread pool and each block of queries x block of rows is one OpenBLAS GEMM (L2, IP,
// cosine); L1 uses the SIMD one-against-many kernel.
//
// Thread-safety: a reader-writer lock; searches share it, add/remove take it exclusively. This
// is the reference index: simple and exact first. (The real-time path, where reads never wait for
// writes, is the segment layer's growing segment.)
#pragma once

#include <memory>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "index/index.h"

namespace vecstream {

class ThreadPool;

class FlatIndex final : public Index {
 public:
  /// dim >= 1. `threads` = 0 means hardware concurrency, for search_batch.
  static Result<std::unique_ptr<FlatIndex>> create(size_t dim, Metric metric, size_t threads = 0);
  static Result<std::unique_ptr<FlatIndex>> load(const std::string& path, size_t threads = 0);
  ~FlatIndex() override;

  size_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t size() const override;
  std::string describe() const override { return "flat"; }

  Status add(Id id, std::span<const float> vector) override;
  Status add_batch(std::span<const Id> ids, std::span<const float> vectors) override;
  Status remove(Id id) override;
  bool contains(Id id) const override;

  Status search(std::span<const float> query, size_t k, const SearchParams& params,
                std::span<Neighbor> out, size_t* found) const override;
  Status search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                      std::span<Neighbor> out, std::span<size_t> found) const override;

  Status save(const std::string& path) const override;
  size_t memory_bytes() const override;

 private:
  FlatIndex(size_t dim, Metric metric, size_t threads);
  void add_locked(Id id, const float* vector);  // validated
  void search_block(const float* queries, size_t nq, size_t k, const IdFilter* filter,
                    Neighbor* out, size_t* found, std::vector<float>& scratch) const;

  size_t dim_;
  Metric metric_;
  std::unique_ptr<ThreadPool> pool_;
  mutable std::shared_mutex mu_;
  std::vector<float> data_;        // slot-major rows
  std::vector<float> norms_sq_;    // per slot, for L2 GEMM
  std::vector<Id> slot_ids_;       // slot -> id
  std::unordered_map<Id, uint32_t> slots_;  // id -> slot
};

}  // namespace vecstream
