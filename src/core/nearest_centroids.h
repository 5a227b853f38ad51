// Nearest and second-nearest centroid of many rows at once: the assignment step of k-means and of
// IVF adds (coarse quantizer), where k centroids are compared with every row.
//
// Why not GEMM: the assignment only needs the two smallest distances per row, so a fused kernel
// keeps the dot products in registers (a micro-kernel of 6 rows x 32 centroids, AVX-512 or AVX2,
// chosen at run time) and never writes a distance matrix. It also frees k-means from OpenBLAS's
// own CPU detection, which runs AVX2 kernels on CPUs it does not know (AMD Zen 5 under Debian 12's
// OpenBLAS 0.3.21), at half the speed this kernel reaches there.
//
// Layout: centroids are packed in panels of 16 (dimension-major inside a panel: the 16 centroids'
// values of dimension j are adjacent), padded to a whole panel with lanes that can never win.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/distance.h"
#include "core/metric.h"
#include "core/status.h"

namespace vecstream {

/// Centroids in the panel layout of the kernels. Build with pack_centroids(); immutable after.
struct PackedCentroids {
  static constexpr size_t kLanes = 16;  // centroids per panel
  Metric metric = Metric::kL2;
  size_t k = 0;       // real centroids
  size_t d = 0;       // dimension
  size_t panels = 0;  // ceil(k / 16)
  std::vector<float> data;  // panels * d * 16
  std::vector<float> bias;  // panels * 16: L2 |c|^2, IP 0, cosine 1; +inf on padding lanes
  float scale = -2.0f;      // distance = bias + scale * <x, c> (+ |x|^2 for L2)
};

/// Packs k centroids of dimension d (row-major). L2, inner product and cosine (rows and centroids
/// already normalised); L1 has no dot-product form and is refused.
Result<PackedCentroids> pack_centroids(Metric m, const float* centroids, size_t k, size_t d);

/// For rows x[0..n) (contiguous, stride c.d): best[i] = index of the nearest centroid (ties go to
/// the smaller index), best_dist[i] = its ordering distance (metric.h; L2: squared distance,
/// clamped at 0), second_dist[i] = the distance to the runner-up (+inf when k == 1).
/// best_dist and second_dist may be null. Single-threaded: callers split rows over threads.
void nearest_two(const PackedCentroids& c, const float* x, size_t n, uint32_t* best,
                 float* best_dist, float* second_dist);

namespace internal {
/// One SIMD level's kernel: biased distances (bias + scale * dot, without |x|^2) of the two best.
using NearestTwoFn = void (*)(const float* panels, const float* bias, float scale, size_t npanels,
                              size_t d, const float* x, size_t n, uint32_t* best, float* best_d,
                              float* second_d);
/// Folds a row's 16 lane states (per lane: smallest and second-smallest distance, index of the
/// smallest) into its two best; ties go to the smaller index. Shared by the SIMD kernels.
void reduce_lanes(const float* min1, const float* min2, const int32_t* idx1, uint32_t* best,
                  float* best_d, float* second_d);
NearestTwoFn nearest_two_scalar();
NearestTwoFn nearest_two_avx2();
NearestTwoFn nearest_two_avx512();
/// The kernel of `level`, or nullptr if this CPU cannot run it (tests compare levels).
NearestTwoFn nearest_two_for(SimdLevel level);
}  // namespace internal

}  // namespace vecstream
