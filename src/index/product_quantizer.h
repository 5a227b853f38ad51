// ProductQuantizer: the vector codec behind IVF-PQ and the 4-bit fast-scan index (Jégou et al.,
// "Product quantization for nearest neighbor search", 2011).
//
// A d-dimensional vector is cut into M sub-vectors of d/M dimensions; each is replaced by the index
// of its nearest centroid in a codebook of 2^nbits entries learned by k-means on that sub-space.
// A code is M bytes (one code per byte; 4-bit codes are packed by the fast-scan layout, not here).
// Distances to a query come from a lookup table (ADC): one row of 2^nbits partial distances per
// sub-space, summed over the M codes.
//
// Two optional refinements, chosen at training time:
//  - OPQ (Ge et al., 2013): a learned orthogonal rotation R applied before splitting, so that the
//    sub-spaces carry balanced and decorrelated variance. Training alternates PQ training on the
//    rotated sample and an orthogonal Procrustes step (R from the SVD of X^T Y). The SVD is
//    LAPACK's sgesvd when the linked BLAS provides it (OpenBLAS does), else a built-in one-sided
//    Jacobi SVD (d <= 1024).
//  - Anisotropic (score-aware) quantization for inner products (Guo et al., "Accelerating
//    large-scale inference with anisotropic vector quantization", ScaNN, 2020): the error e = x - x~
//    is charged ||e||^2 + (eta - 1) (e . x^)^2, i.e. its component parallel to the datapoint weighs
//    eta times the orthogonal one, because only that component changes <q, x> for the queries that
//    score x highly. Codes are assigned by coordinate descent on that loss (sub-space by sub-space,
//    starting from the plain nearest-centroid codes) and each codebook entry is updated by the
//    weighted least-squares solution of the same loss. `directions` lets a caller that codes
//    residuals (IVF) say which vector the error must be parallel to (the datapoint, not the
//    residual).
//
// Immutable once trained: every const method may be called from any number of threads at once.
// Serialised inside an index file (save/load) as:
//   u64 dim | u64 M | u32 nbits | f32 eta | u64 n = M*2^nbits*dsub | n x f32 codebooks (sub-space
//   major, then centroid, then dimension) | u64 r = 0 or dim*dim | r x f32 rotation (row-major R,
//   rotated = R x)
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/metric.h"
#include "core/status.h"
#include "index/build_progress.h"

namespace vecstream {

class IndexFileReader;
class IndexFileWriter;

struct PqParams {
  size_t m = 8;       // sub-quantizers; must divide the dimension
  size_t nbits = 8;   // bits per code: 4 (16 centroids) or 8 (256)
  size_t iterations = 25;                // k-means iterations per sub-space
  size_t max_points_per_centroid = 256;  // training sample = 2^nbits * this rows (0 = all)
  uint64_t seed = 1;
  size_t threads = 0;  // training workers; 0 = hardware concurrency
  /// Weight of the error parallel to the datapoint relative to the orthogonal error; 0 = plain
  /// PQ. Must be 0 or >= 1 (1 is plain PQ's loss). Typical MIPS values: 2..10.
  float anisotropic_eta = 0.0f;
  size_t anisotropic_iterations = 6;  // alternations of code assignment and codebook update
  bool opq = false;                   // learn a rotation first
  size_t opq_iterations = 8;          // alternations of PQ training and Procrustes
  /// Called on the training thread: ("train-opq", iteration, opq_iterations), ("train-pq",
  /// sub-quantizers done, M), ("train-anisotropic", iteration, anisotropic_iterations).
  ProgressFn progress;
};

/// Reconstruction error of a trained quantizer on a set of rows (means over the rows).
struct PqErrorStats {
  double mse = 0;             // |x - x~|^2
  double relative_mse = 0;    // mse / mean |x|^2
  double parallel_mse = 0;    // ((x - x~) . x^)^2, the part that moves <q, x> for q along x
  double orthogonal_mse = 0;  // mse - parallel_mse
};

class ProductQuantizer {
 public:
  /// Trains on n rows (data.size() == n * dim). `directions` is empty or n * dim floats: the
  /// vectors whose direction the anisotropic loss uses (default: the rows themselves).
  /// Errors (INVALID_ARGUMENT): dim == 0, M == 0 or not dividing dim, nbits not 4 or 8, fewer
  /// than 2^nbits rows, shape mismatches, non-finite values, eta in (0, 1), OPQ past d = 1024
  /// without LAPACK. Thread-safety: pure function. Cost: O(iterations * sample * 2^nbits * dim),
  /// plus O(opq_iterations * (sample * dim^2 + dim^3)) with OPQ.
  static Result<ProductQuantizer> train(std::span<const float> data, size_t n, size_t dim,
                                        const PqParams& params,
                                        std::span<const float> directions = {});

  ProductQuantizer() = default;

  size_t dim() const { return dim_; }
  size_t m() const { return m_; }
  size_t nbits() const { return nbits_; }
  size_t ksub() const { return ksub_; }
  size_t dsub() const { return dsub_; }
  /// Bytes of one unpacked code (one byte per sub-quantizer).
  size_t code_size() const { return m_; }
  bool has_rotation() const { return !rotation_.empty(); }
  float anisotropic_eta() const { return eta_; }
  /// Codebook of sub-space sq: ksub() rows of dsub() floats.
  const float* codebook(size_t sq) const { return codebooks_.data() + sq * ksub_ * dsub_; }

  /// out = R x (a copy without OPQ). The codebooks and tables live in this rotated space.
  void rotate(const float* x, float* out) const;
  /// out = R^T y: back from the rotated space.
  void unrotate(const float* y, float* out) const;

  /// Codes of n rows (codes: n * code_size() bytes). `directions` as in train() (null = rows).
  /// Single-threaded (callers split rows over their pool); allocates per call.
  void encode(const float* x, size_t n, uint8_t* codes, const float* directions = nullptr) const;
  /// As encode(), for rows already rotated (R x and R dir), e.g. IVF residuals.
  void encode_rotated(const float* xr, size_t n, uint8_t* codes, const float* dirs_r = nullptr) const;
  /// Reconstructions of n codes, in the original space (out: n * dim floats).
  void decode(const uint8_t* codes, size_t n, float* out) const;
  /// Reconstructions in the rotated space.
  void decode_rotated(const uint8_t* codes, size_t n, float* out) const;

  /// ADC table of a query already in the rotated space: lut[sq * ksub() + j] is, for sub-space
  /// sq and centroid j, |q_sq - y_j|^2 (kL2), -<q_sq, y_j> (kInnerProduct and kCosine), or
  /// |q_sq - y_j|_1 (kL1). The ordering distance of a code is the sum of its M entries.
  void compute_lut(Metric metric, const float* q_rotated, float* lut) const;
  /// Sum of a code's table entries (reference ADC; indexes inline their own loops).
  float adc(const float* lut, const uint8_t* code) const;

  /// Reconstruction error over n rows (data.size() == n * dim).
  PqErrorStats error_stats(std::span<const float> data, size_t n) const;

  void save(IndexFileWriter& w) const;
  /// Reads what save() wrote; CORRUPTION (via the reader) on any inconsistency.
  static Result<ProductQuantizer> load(IndexFileReader& r);

  size_t memory_bytes() const {
    return (codebooks_.capacity() + transposed_.capacity() + rotation_.capacity() +
            norms_.capacity()) * sizeof(float);
  }

 private:
  ProductQuantizer(size_t dim, size_t m, size_t nbits);
  void finish();  // derived tables (centroid norms, transposed codebooks)
  void train_codebooks(const float* xr, size_t n, const PqParams& p, size_t iterations,
                       uint64_t seed, bool report);
  void anisotropic_refine(const float* xr, const float* dirs_r, size_t n, const PqParams& p);
  void encode_block(const float* xr, const float* dirs_r, size_t n, uint8_t* codes,
                    std::vector<float>& scratch) const;

  size_t dim_ = 0, m_ = 0, nbits_ = 0, ksub_ = 0, dsub_ = 0;
  float eta_ = 0.0f;
  std::vector<float> codebooks_;  // m * ksub * dsub
  std::vector<float> norms_;      // m * ksub squared centroid norms
  std::vector<float> transposed_; // m * dsub * ksub: codebooks dimension-major (table loops)
  std::vector<float> rotation_;   // dim * dim row-major, empty without OPQ
};

/// Test hook: makes OPQ use the built-in Jacobi SVD even when LAPACK is linked (process-wide,
/// not thread-safe; tests only).
void TEST_pq_force_jacobi_svd(bool force);

}  // namespace vecstream
