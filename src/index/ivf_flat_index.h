// IvfFlatIndex: an inverted-file index over raw float vectors (FAISS's IndexIVFFlat).
//
// A coarse quantizer (k-means, nlist centroids) splits the space into lists; each list holds the
// ids and the full vectors of its points contiguously, so a query probes the nprobe closest lists
// and scans them with the SIMD one-against-many kernels. Distances are exact; only the choice of
// lists is approximate, and nprobe = nlist is an exact (slower) search.
//
// Life cycle: create() -> train() (or an add_batch() big enough to train on, see IvfParams) ->
// add / remove / search. add() on an untrained index is FAILED_PRECONDITION.
//
// Thread-safety: one reader-writer lock. search()/search_batch() share it and run concurrently
// with each other; add(), add_batch(), remove() and train() take it exclusively, so a write waits
// for running searches and blocks new ones for its duration (add_batch assigns its rows to lists
// before taking the lock, so the exclusive part is the copy into the lists). Every method may be
// called from any thread.
#pragma once

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>

#include "index/coarse_quantizer.h"
#include "index/index.h"
#include "index/inverted_lists.h"
#include "index/ivf_params.h"

namespace vecstream {

class ThreadPool;

class IvfFlatIndex final : public Index {
 public:
  /// Errors (INVALID_ARGUMENT): dim == 0 or above 65536, nlist == 0, nprobe == 0.
  static Result<std::unique_ptr<IvfFlatIndex>> create(size_t dim, Metric metric,
                                                      const IvfParams& params = {});
  /// `threads` = 0: hardware concurrency (the other parameters come from the file).
  static Result<std::unique_ptr<IvfFlatIndex>> load(const std::string& path, size_t threads = 0);
  ~IvfFlatIndex() override;

  size_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t size() const override;
  std::string describe() const override;
  const IvfParams& params() const { return params_; }
  bool is_trained() const;

  /// Trains the coarse quantizer on n rows (data.size() == n * dim; not added). Errors:
  /// INVALID_ARGUMENT for bad rows or n < nlist, FAILED_PRECONDITION if already trained.
  /// Cost: k-means, O(iterations * min(n, nlist * max_points_per_centroid) * nlist * dim).
  Status train(std::span<const float> data, size_t n);

  /// FAILED_PRECONDITION before training.
  Status add(Id id, std::span<const float> vector) override;
  /// Trains first when untrained and the batch is large enough (IvfParams), else
  /// FAILED_PRECONDITION. Rows are assigned to lists in parallel (GEMM); a repeated id keeps
  /// its last row.
  Status add_batch(std::span<const Id> ids, std::span<const float> vectors) override;
  Status remove(Id id) override;
  bool contains(Id id) const override;

  /// SearchParams::nprobe (0 = params().nprobe, clamped to nlist) and ::filter apply.
  Status search(std::span<const float> query, size_t k, const SearchParams& params,
                std::span<Neighbor> out, size_t* found) const override;
  /// Parallel over queries (params().threads workers).
  Status search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                      std::span<Neighbor> out, std::span<size_t> found) const override;

  Status save(const std::string& path) const override;
  size_t memory_bytes() const override;

  /// Number of points in each list (diagnostics, tests). Empty before training.
  std::vector<size_t> list_sizes() const;

 private:
  IvfFlatIndex(size_t dim, Metric metric, const IvfParams& params);
  Status train_locked(std::span<const float> data, size_t n);
  void search_one(const float* query, size_t k, size_t nprobe, const IdFilter* filter,
                  Neighbor* out, size_t* found) const;

  size_t dim_;
  Metric metric_;
  IvfParams params_;
  std::unique_ptr<ThreadPool> pool_;
  mutable std::shared_mutex mu_;
  std::optional<CoarseQuantizer> quantizer_;  // set once trained
  InvertedLists<float> lists_;                // vectors (normalised for cosine)
};

}  // namespace vecstream
