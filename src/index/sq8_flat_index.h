// Sq8FlatIndex: brute-force search over 8-bit scalar-quantized codes (FAISS's IndexScalarQuantizer
// with QT_8bit): a quarter of FlatIndex's memory and memory traffic, approximate distances.
//
// Points live as one byte per dimension in a single dense list (ids + codes, swap-remove on
// delete, id map for O(1) lookups). A query is prepared once (scalar_quantizer.h: asymmetric float
// tables, or an encoded query for the uniform integer path) and scanned block by block with the
// SIMD kernels. Recall is bounded by the quantization error only; wrap it in a RefineIndex to
// re-score the top candidates exactly.
//
// Life cycle: create() -> train() (or an add_batch() of at least min_train_rows rows) -> add /
// remove / search. add() before training is FAILED_PRECONDITION.
//
// Thread-safety: one reader-writer lock, as IvfFlatIndex: searches share it, writes take it
// exclusively. Every method may be called from any thread.
#pragma once

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>

#include "index/build_progress.h"
#include "index/index.h"
#include "index/inverted_lists.h"
#include "index/scalar_quantizer.h"

namespace vecstream {

class ThreadPool;

struct Sq8FlatParams {
  ScalarQuantizerParams sq;
  /// add_batch() on an untrained index trains on the batch when it has at least this many rows.
  size_t min_train_rows = 1000;
  /// Training uses a seeded sample of at most this many rows.
  size_t max_train_rows = 100000;
  uint64_t seed = 1;
  size_t threads = 0;  // search_batch workers; 0 = hardware
  ProgressFn progress; // "add" every progress_every rows of an add_batch
  size_t progress_every = 65536;
};

class Sq8FlatIndex final : public Index {
 public:
  /// Errors (INVALID_ARGUMENT): dim == 0 or above 65536, min_train_rows == 0, bad sq params.
  static Result<std::unique_ptr<Sq8FlatIndex>> create(size_t dim, Metric metric,
                                                      const Sq8FlatParams& params = {});
  static Result<std::unique_ptr<Sq8FlatIndex>> load(const std::string& path, size_t threads = 0);
  ~Sq8FlatIndex() override;

  size_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t size() const override;
  std::string describe() const override;
  bool is_trained() const;
  /// The trained quantizer (null before training); immutable once set.
  const ScalarQuantizer* quantizer() const;

  /// Trains the quantizer on n rows (not added). INVALID_ARGUMENT for bad rows or n == 0,
  /// FAILED_PRECONDITION if already trained.
  Status train(std::span<const float> data, size_t n);

  Status add(Id id, std::span<const float> vector) override;
  Status add_batch(std::span<const Id> ids, std::span<const float> vectors) override;
  Status remove(Id id) override;
  bool contains(Id id) const override;

  Status search(std::span<const float> query, size_t k, const SearchParams& params,
                std::span<Neighbor> out, size_t* found) const override;
  /// Parallel over queries.
  Status search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                      std::span<Neighbor> out, std::span<size_t> found) const override;

  Status save(const std::string& path) const override;
  size_t memory_bytes() const override;

 private:
  Sq8FlatIndex(size_t dim, Metric metric, const Sq8FlatParams& params);
  Status train_unlocked(std::span<const float> data, size_t n);
  void search_one(const float* query, size_t k, const IdFilter* filter, Neighbor* out,
                  size_t* found) const;

  size_t dim_;
  Metric metric_;
  Sq8FlatParams params_;
  std::unique_ptr<ThreadPool> pool_;
  mutable std::shared_mutex mu_;
  std::optional<ScalarQuantizer> sq_;
  InvertedLists<uint8_t> codes_;  // one list
};

}  // namespace vecstream
