// IvfSq8Index: an inverted-file index whose lists hold 8-bit scalar-quantized codes (FAISS's
// IndexIVFScalarQuantizer): IVF's pruning and SQ8's 4x smaller lists together.
//
// A coarse quantizer picks the lists (coarse_quantizer.h); each list holds ids and SQ8 codes
// (scalar_quantizer.h). With `by_residual` (the default) a point is encoded as its residual
// x - centroid(list), which is much smaller than x, so the same 256 levels resolve it more finely;
// the quantizer's ranges are trained on residuals of the training rows. At query time a residual
// list is scanned with the query shifted by the list's centroid (L2, L1: one dim-sized table per
// probed list), or with the query prepared once plus a per-list offset <q, centroid> (inner
// product, cosine). Distances are approximate; a RefineIndex on top re-scores them exactly.
//
// Life cycle and thread-safety are those of IvfFlatIndex (ivf_flat_index.h): train() or a large
// enough first add_batch(), then add/remove/search; one reader-writer lock.
#pragma once

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>

#include "index/coarse_quantizer.h"
#include "index/index.h"
#include "index/inverted_lists.h"
#include "index/ivf_params.h"
#include "index/scalar_quantizer.h"

namespace vecstream {

class ThreadPool;

struct IvfSq8Params {
  IvfParams ivf;
  ScalarQuantizerParams sq;
  bool by_residual = true;  // encode x - centroid(list) rather than x
};

class IvfSq8Index final : public Index {
 public:
  /// Errors (INVALID_ARGUMENT): as IvfFlatIndex::create, and bad sq parameters.
  static Result<std::unique_ptr<IvfSq8Index>> create(size_t dim, Metric metric,
                                                     const IvfSq8Params& params = {});
  static Result<std::unique_ptr<IvfSq8Index>> load(const std::string& path, size_t threads = 0);
  ~IvfSq8Index() override;

  size_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t size() const override;
  std::string describe() const override;
  const IvfSq8Params& params() const { return params_; }
  bool is_trained() const;

  /// Trains the coarse quantizer, then the scalar quantizer (on residuals when by_residual), on n
  /// rows (not added). INVALID_ARGUMENT for bad rows or n < nlist; FAILED_PRECONDITION if trained.
  Status train(std::span<const float> data, size_t n);

  Status add(Id id, std::span<const float> vector) override;
  /// Trains first when untrained and the batch is large enough (IvfParams), else
  /// FAILED_PRECONDITION. Assignment (GEMM) and encoding run in parallel before the lock.
  Status add_batch(std::span<const Id> ids, std::span<const float> vectors) override;
  Status remove(Id id) override;
  bool contains(Id id) const override;

  /// SearchParams::nprobe (0 = default, clamped to nlist) and ::filter apply.
  Status search(std::span<const float> query, size_t k, const SearchParams& params,
                std::span<Neighbor> out, size_t* found) const override;
  Status search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                      std::span<Neighbor> out, std::span<size_t> found) const override;

  Status save(const std::string& path) const override;
  size_t memory_bytes() const override;

 private:
  IvfSq8Index(size_t dim, Metric metric, const IvfSq8Params& params);
  Status train_unlocked(std::span<const float> data, size_t n);
  void encode_row(const float* x, uint32_t list, float* residual, uint8_t* code) const;
  void search_one(const float* query, size_t k, size_t nprobe, const IdFilter* filter,
                  Neighbor* out, size_t* found) const;

  size_t dim_;
  Metric metric_;
  IvfSq8Params params_;
  std::unique_ptr<ThreadPool> pool_;
  mutable std::shared_mutex mu_;
  std::optional<CoarseQuantizer> quantizer_;  // both set together, once
  std::optional<ScalarQuantizer> sq_;
  InvertedLists<uint8_t> lists_;
};

}  // namespace vecstream
