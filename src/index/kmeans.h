// k-means clustering: the trainer behind every partitioned and product-quantized index (IVF lists,
// PQ sub-quantizers).
//
// Why it looks like this: training cost is dominated by "nearest centroid of every point", which is
// one GEMM per block of points (|x - c|^2 = |x|^2 + |c|^2 - 2<x, c>, core/distance_matrix.h) split
// over a thread pool; everything else is linear in n*dim. Large inputs are trained on a seeded
// sample of k * max_points_per_centroid rows (FAISS's rule), which costs little quality and bounds
// the time.
//
//  - init: batched k-means++ (D^2 sampling) on a seeded subsample of at most 16 rows per centroid.
//    Centres are drawn in rounds of growing size (1, 1, 2, 4, ... up to k/8 per round) from the
//    current D^2 weights, and the weights are refreshed after each round with one GEMM against
//    the new centres, so the whole init costs a fraction of one Lloyd iteration instead of k
//    passes over the data;
//  - Lloyd iterations: GEMM assignment, centroid update accumulated in double in a fixed order;
//    Hamerly's bounds (one upper and one lower bound per row) let rows whose centroid cannot have
//    changed skip the GEMM, which pays in the later iterations; stops early once no row changes
//    cluster;
//  - empty clusters are re-seeded FAISS-style by splitting the largest cluster: its centroid is
//    copied and both copies are nudged apart symmetrically, and its count is shared between them;
//  - spherical: centroids are L2-normalised after every update (cosine / inner-product training).
//
// Determinism: the same data, parameters and seed give the same centroids for any thread count
// (threads only split blocks of fixed size, and every reduction runs in block order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/metric.h"
#include "core/status.h"

namespace vecstream {

struct KMeansParams {
  size_t k = 0;
  size_t iterations = 20;
  /// Train on a seeded sample of k * max_points_per_centroid rows when n is larger (0 = all rows).
  size_t max_points_per_centroid = 256;
  uint64_t seed = 1;
  size_t threads = 0;      // 0 = hardware concurrency
  bool spherical = false;  // normalise centroids (cosine / inner product)
  /// Called after each Lloyd iteration with the objective (sum of squared distances to the
  /// assigned centroids, on the training sample) measured in that iteration. Runs on the calling
  /// thread.
  std::function<void(size_t iteration, double objective)> progress;
};

struct KMeansResult {
  std::vector<float> centroids;  // k * dim, row-major
  double objective = 0;          // of the last iteration run
  size_t iterations_run = 0;
};

/// Clusters n rows of `dim` floats (data.size() == n * dim) into p.k centroids. With
/// iterations == 0 the result is the k-means++ seeds (objective 0, iterations_run 0).
/// Errors (INVALID_ARGUMENT): k == 0, k > n, dim == 0, data.size() != n * dim, non-finite values.
/// Thread-safety: pure function; any number of calls may run at once (each uses its own pool).
/// Cost: O(iterations * n_sample * k * dim) in GEMM.
Result<KMeansResult> kmeans(std::span<const float> data, size_t n, size_t dim,
                            const KMeansParams& p);

/// Nearest centroid (squared L2) of each of n rows by batched GEMM, split over threads.
/// `assign` holds n entries; `dist` is empty (not wanted) or holds n squared distances.
/// Ties go to the lower centroid index. Errors (INVALID_ARGUMENT): shape mismatches, k == 0.
/// Thread-safety: pure function.
Status assign_nearest(std::span<const float> data, size_t n, size_t dim,
                      std::span<const float> centroids, size_t k, std::span<uint32_t> assign,
                      std::span<float> dist, size_t threads = 0);

/// As above under any metric: nearest by the metric's ordering distance (metric.h), so kL2 is
/// squared L2, kInnerProduct is the largest inner product (dist = -<x, c>), kCosine is 1 - <x, c>
/// on rows and centroids the caller has normalised, kL1 uses the SIMD kernels (no GEMM form).
Status assign_nearest(Metric metric, std::span<const float> data, size_t n, size_t dim,
                      std::span<const float> centroids, size_t k, std::span<uint32_t> assign,
                      std::span<float> dist, size_t threads = 0);

}  // namespace vecstream
