// RefineIndex: approximate search re-scored exactly ("hybrid ANN + exact rerank of the top-k").
//
// Wraps any Index (the base: IVF-SQ8, IVF-PQ, an RP-forest, HNSW ...) and keeps its own copy of
// the raw vectors. A query asks the base for k * rerank_factor candidates (SearchParams::
// rerank_factor, else the index default), computes their exact distances from the raw vectors and
// returns the best k. Quantized bases then recover near-exact ordering for the cost of
// k * rerank_factor distance computations per query. Base-specific knobs (nprobe, ef, search_k)
// and the filter pass through to the base; ef is raised to the candidate count when smaller.
//
// Raw vectors live in dense slots (swap-remove, id map), on the heap; or, for an index loaded with
// map_vectors, straight from the memory-mapped index file that save() wrote (page cache, not heap:
// the OS can evict and re-read it). The first write to a mapped index copies the vectors to the
// heap (copy-on-write) and unmaps the file.
//
// add/add_batch/remove keep base and raw vectors in sync: the base is updated first, and a base
// failure changes nothing here.
//
// Thread-safety: a reader-writer lock over the raw vectors. Searches share it (and the base's own
// concurrency applies inside); writes take it exclusively around the base write and the local
// one, so a search never sees the two out of step. Every method may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "index/index.h"

namespace vecstream {

class IndexFileReader;
class ThreadPool;

struct RefineParams {
  float rerank_factor = 4.0f;  // candidates = ceil(k * factor), at least k; must be >= 1
  size_t threads = 0;          // search_batch re-scoring workers; 0 = hardware
};

struct RefineLoadOptions {
  /// Serve the raw vectors from the mapped index file instead of copying them to the heap.
  bool map_vectors = false;
  size_t threads = 0;
};

class RefineIndex final : public Index {
 public:
  /// Opens the base index saved beside a refine file (at "<path>.base").
  using BaseLoader = std::function<Result<std::unique_ptr<Index>>(const std::string& path)>;

  /// Wraps `base`; its current points are not copied (only points added through the RefineIndex
  /// are re-scored), so pass an empty base. Errors (INVALID_ARGUMENT): null base, a non-empty
  /// base, rerank_factor < 1 or not finite.
  static Result<std::unique_ptr<RefineIndex>> create(std::unique_ptr<Index> base,
                                                     const RefineParams& params = {});
  /// Loads the raw vectors from `path` and the base through `load_base(path + ".base")`.
  /// CORRUPTION if the file is damaged or does not match the base (dimension, metric, ids).
  static Result<std::unique_ptr<RefineIndex>> load(const std::string& path,
                                                   const BaseLoader& load_base,
                                                   const RefineLoadOptions& options = {});
  ~RefineIndex() override;

  size_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t size() const override;
  std::string describe() const override;
  const Index& base() const { return *base_; }
  /// True while the raw vectors are served from the mapped file.
  bool vectors_mapped() const;

  Status add(Id id, std::span<const float> vector) override;
  Status add_batch(std::span<const Id> ids, std::span<const float> vectors) override;
  Status remove(Id id) override;
  bool contains(Id id) const override;

  /// SearchParams::rerank_factor (0 = default; else >= 1) sets the candidate count; the other
  /// knobs and the filter go to the base.
  Status search(std::span<const float> query, size_t k, const SearchParams& params,
                std::span<Neighbor> out, size_t* found) const override;
  /// One base search_batch for all queries, then re-scoring in parallel.
  Status search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                      std::span<Neighbor> out, std::span<size_t> found) const override;

  /// Saves the base to "<path>.base" (its own save) and the raw vectors to `path`.
  Status save(const std::string& path) const override;
  /// Heap bytes of the raw vectors and maps plus the base's memory_bytes(); mapped vectors are
  /// not counted (see mapped_bytes()).
  size_t memory_bytes() const override;
  size_t mapped_bytes() const;

 private:
  RefineIndex(std::unique_ptr<Index> base, const RefineParams& params);
  const float* vec(uint32_t slot) const { return data_ + static_cast<size_t>(slot) * dim_; }
  void unmap_locked();  // copy-on-write: mapped vectors -> heap
  void store_locked(Id id, const float* vector);
  Status resolve(const SearchParams& params, size_t k, size_t* candidates,
                 SearchParams* base_params) const;
  void rerank(const float* query, const Neighbor* cands, size_t n, size_t k, Neighbor* out,
              size_t* found) const;

  size_t dim_;
  Metric metric_;
  RefineParams params_;
  std::unique_ptr<Index> base_;
  std::unique_ptr<ThreadPool> pool_;
  mutable std::shared_mutex mu_;
  std::vector<float> heap_data_;            // slot-major rows when not mapped
  std::unique_ptr<IndexFileReader> mapped_; // the file the rows come from when mapped
  const float* data_ = nullptr;             // rows: heap_data_ or the mapping
  size_t mapped_rows_ = 0;
  std::vector<Id> slot_ids_;
  std::unordered_map<Id, uint32_t> slots_;
};

}  // namespace vecstream
