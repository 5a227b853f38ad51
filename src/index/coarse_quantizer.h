// CoarseQuantizer: the first level of every IVF index: nlist centroids that split the space into
// inverted lists, a batched assignment for inserts and a top-nprobe probe for queries.
//
// Metric-aware, as FAISS's IndexIVF pairs its quantizer with the index metric:
//   kL2           k-means on the raw rows; a row belongs to its nearest centroid;
//   kInnerProduct k-means (L2, or spherical if the caller asks) on the raw rows; a row belongs to
//                 the centroid of largest inner product, which is also the probe order;
//   kCosine       rows are normalised before spherical k-means; assign() and probe() expect
//                 normalised rows (the indexes store and query them so) and order by 1 - <x, c>;
//   kL1           k-means (L2) for the centroids, assignment and probe by L1 distance.
//
// Immutable once trained: every const method may be called from any number of threads at once.
// Serialised inside an index file (save/load), as:
//   u64 dim | u64 nlist | u32 metric | u64 count = nlist*dim | count x f32 centroids
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/metric.h"
#include "core/status.h"
#include "index/kmeans.h"
#include "index/scalar_quantizer.h"

namespace vecstream {

class IndexFileReader;
class IndexFileWriter;

class CoarseQuantizer {
 public:
  /// Trains nlist centroids on n rows (data.size() == n * dim). `base` supplies iterations, the
  /// sample size, seed, threads and progress; its k is ignored (nlist is used) and `spherical` is
  /// forced on for cosine. Errors (INVALID_ARGUMENT): nlist == 0, nlist > n, dim == 0, shape
  /// mismatch, non-finite values, a zero row under cosine.
  static Result<CoarseQuantizer> train(std::span<const float> data, size_t n, size_t dim,
                                       Metric metric, size_t nlist, const KMeansParams& base);
  /// A quantizer with the given centroids (nlist * dim floats, finite). Cosine centroids are
  /// normalised. Used by tests and by callers that train elsewhere.
  static Result<CoarseQuantizer> from_centroids(std::vector<float> centroids, size_t nlist,
                                                size_t dim, Metric metric);

  size_t nlist() const { return nlist_; }
  size_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  /// Row `list` of the centroid table (dim floats); list < nlist().
  const float* centroid(size_t list) const { return centroids_.data() + list * dim_; }
  std::span<const float> centroids() const { return centroids_; }

  /// List of each of n rows (batched GEMM, split over `threads`; 0 = hardware). `lists` holds n.
  /// Errors (INVALID_ARGUMENT): shape mismatch.
  Status assign(std::span<const float> data, size_t n, std::span<uint32_t> lists,
                size_t threads = 0) const;
  /// The min(nprobe, nlist) closest lists to one query, closest first (ordering distance in
  /// dists; ties to the lower list). `scratch` holds nlist floats, `lists` and `dists`
  /// min(nprobe, nlist) entries; no allocation once a thread has probed. Returns the count written.
  ///
  /// With many lists (kMinCodedLists and more; not L1) the first pass reads 8-bit codes of the
  /// centroids (a quarter of the bytes of the float table, which dominates a probe's cost at
  /// nlist ~1000 and d ~800) with integer kernels, keeps the nprobe + max(nprobe, 16) best
  /// estimates (when that pool is under half the lists) and scores them exactly. The lists are the exact scan's (up to float rounding of
  /// exact ties): a decoded code is at most code_error_ (L2) from its centroid and the integer
  /// query adds a known rounding bound, so every list outside that pool is provably no closer
  /// than a bound derived from the pool's worst estimate; when the nprobe-th exact distance
  /// does not beat that bound, the probe falls back to the exact scan of every centroid.
  size_t probe(const float* query, size_t nprobe, uint32_t* lists, float* dists,
               float* scratch) const;

  /// Appends the quantizer to an index file body (layout in the banner).
  void save(IndexFileWriter& w) const;
  /// Reads what save() wrote; CORRUPTION (via the reader) on any inconsistency.
  static Result<CoarseQuantizer> load(IndexFileReader& r);

  size_t memory_bytes() const {
    return (centroids_.capacity() + norms_.capacity() + code_norms_.capacity()) * sizeof(float) +
           codes_.capacity() + (code_sq_ ? code_sq_->memory_bytes() : 0);
  }

 private:
  CoarseQuantizer(std::vector<float> centroids, size_t nlist, size_t dim, Metric metric);
  void build_codes();
  /// The coded probe (see probe()); false when its result could differ from the exact scan's.
  bool probe_coded(const float* query, size_t want, size_t pool, uint32_t* lists, float* dists,
                   float* scratch) const;

  static constexpr size_t kMinCodedLists = 64;
  static constexpr size_t kMinExtraCandidates = 16;

  size_t nlist_ = 0;
  size_t dim_ = 0;
  Metric metric_ = Metric::kL2;
  std::vector<float> centroids_;  // nlist * dim, row-major
  std::vector<float> norms_;      // squared norms of the centroids (L2 GEMM)
  // SQ8 copy of the centroids for the probe's first pass (empty: exact scan only). Derived from
  // the centroids, never saved.
  std::shared_ptr<const ScalarQuantizer> code_sq_;
  std::vector<uint8_t> codes_;      // nlist * dim
  std::vector<float> code_norms_;   // squared norms of the decoded centroids
  double max_code_norm_ = 0.0;
  double max_code_sum_ = 0.0;       // largest sum of one centroid's codes
  double code_weight_limit_ = 0.0;  // largest integer query weight (see probe_coded)
  float code_error_ = 0.0f;         // L2 distance from a centroid to its decoded code, at most
};

}  // namespace vecstream
