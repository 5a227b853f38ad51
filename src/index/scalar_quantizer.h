// ScalarQuantizer (SQ8): 8-bit codes, one byte per dimension, 4x smaller than float32.
//
// Training fixes a range [vmin_j, vmin_j + 255 * step_j] per dimension from the data: min/max, or
// quantiles when clip_quantile > 0 (a few outliers then no longer stretch the grid for everyone),
// optionally widened by `margin`. With `uniform`, all dimensions share one range (FAISS's
// QT_8bit_uniform). encode: c_j = round((x_j - vmin_j) / step_j) clamped to 0..255;
// decode: x_j ~ vmin_j + c_j * step_j.
//
// Error bound: inside the trained range each coordinate is off by at most step_j / 2, so a
// decoded vector is within E = 0.5 * sqrt(sum_j step_j^2) (max_l2_error()) of the original in L2;
// values outside the range are clamped and lose more.
//
// Query-side distances (prepare() + distances()):
//  - per-dimension ranges, and every metric with `uniform` except L2/L1: asymmetric. The query
//    stays in float, folded into per-query tables that the SIMD kernels of sq8_kernels.h reduce
//    against widened codes. The L2 distance is then the exact distance to the decoded vector, so
//    |sqrt(d_sq8) - sqrt(d_true)| <= E;
//  - `uniform` with L2 or L1: symmetric. The query is encoded too and the distance is an exact
//    integer kernel of core/distance.h (l2sq_u8, l1_u8) times step^2 (step); it adds the query's
//    own rounding, so the bound doubles (2E), but the kernel is pure integer arithmetic.
//
// Immutable once trained: const methods may be called from any number of threads at once.
// Serialised inside index files as:
//   u64 dim | u8 uniform | f64 clip_quantile | f32 margin | u64 dim | dim x f32 vmin |
//   u64 dim | dim x f32 step
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/metric.h"
#include "core/status.h"

namespace vecstream {

class IndexFileReader;
class IndexFileWriter;

struct ScalarQuantizerParams {
  /// One range for all dimensions; L2 and L1 then use the symmetric integer kernels.
  bool uniform = false;
  /// Fraction of values ignored at each tail of every dimension when fixing the range, in
  /// [0, 0.5). 0 = min/max.
  double clip_quantile = 0.0;
  /// Widens each range by this fraction of its width on both sides (room for later data).
  float margin = 0.0f;
};

class ScalarQuantizer {
 public:
  /// Trains on n rows (data.size() == n * dim). Errors (INVALID_ARGUMENT): n == 0, dim == 0 or
  /// above 65536, shape mismatch, non-finite values, clip_quantile outside [0, 0.5), a negative
  /// or non-finite margin. Cost: O(n * dim), O(n * dim) more with clipping (nth_element).
  static Result<ScalarQuantizer> train(std::span<const float> data, size_t n, size_t dim,
                                       const ScalarQuantizerParams& params = {});

  size_t dim() const { return dim_; }
  size_t code_size() const { return dim_; }
  const ScalarQuantizerParams& params() const { return params_; }
  float vmin(size_t j) const { return vmin_[j]; }
  float step(size_t j) const { return step_[j]; }
  /// 0.5 * sqrt(sum_j step_j^2): worst L2 error of a decoded vector inside the range.
  float max_l2_error() const;

  void encode(const float* x, uint8_t* code) const;
  void decode(const uint8_t* code, float* x) const;

  /// A prepared query: distance = scale * kernel(code) + offset. Points into a QueryScratch.
  struct Query {
    Metric metric = Metric::kL2;
    bool integer = false;   // symmetric integer kernel (uniform L2/L1)
    float scale = 1.0f;
    float offset = 0.0f;    // callers may add a per-list term (IVF residuals, inner product)
    const float* q = nullptr;
    const float* w = nullptr;
    const uint8_t* code = nullptr;
  };
  /// Per-thread tables of prepare(); reused, so a warm query allocates nothing.
  struct QueryScratch {
    std::vector<float> q, w;
    std::vector<uint8_t> code;
  };

  /// Prepares distances from `query` (dim floats; cosine: normalised by the caller, and the codes
  /// are of normalised vectors) under `metric`. `shift` (dim floats or null) is subtracted from
  /// the query first: IVF residual codes of list l take shift = centroid(l) for L2 and L1. For
  /// inner product and cosine the shift is not applied; the caller adds -<query, centroid> to
  /// `offset` instead (the code part does not depend on it).
  Query prepare(const float* query, Metric metric, QueryScratch& scratch,
                const float* shift = nullptr) const;
  /// Ordering distances (metric.h) from a prepared query to n codes (code_size() bytes apart).
  void distances(const Query& q, const uint8_t* codes, size_t n, float* out) const;
  float distance(const Query& q, const uint8_t* code) const;

  void save(IndexFileWriter& w) const;
  /// CORRUPTION (through the reader) on a bad shape, non-finite value or non-positive step.
  static Result<ScalarQuantizer> load(IndexFileReader& r);

  size_t memory_bytes() const { return 3 * dim_ * sizeof(float); }

 private:
  ScalarQuantizer(size_t dim, const ScalarQuantizerParams& params, std::vector<float> vmin,
                  std::vector<float> step);

  size_t dim_ = 0;
  ScalarQuantizerParams params_;
  std::vector<float> vmin_, step_, inv_step_;
};

}  // namespace vecstream
