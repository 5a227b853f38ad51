// Packing, dispatch and the scalar reference of the nearest-centroid kernels (nearest_centroids.h).
#include "core/nearest_centroids.h"

#include <algorithm>
#include <limits>
#include <string>

namespace vecstream {
namespace {

constexpr size_t kLanes = PackedCentroids::kLanes;
constexpr float kInf = std::numeric_limits<float>::infinity();

// Reference kernel: one dot product per (row, centroid), the same tie rule as the SIMD ones.
void scalar_kernel(const float* panels, const float* bias, float scale, size_t npanels, size_t d,
                   const float* x, size_t n, uint32_t* best, float* best_d, float* second_d) {
  for (size_t i = 0; i < n; ++i) {
    const float* row = x + i * d;
    float b1 = kInf, b2 = kInf;
    uint32_t arg = 0;
    for (size_t p = 0; p < npanels; ++p) {
      const float* panel = panels + p * d * kLanes;
      for (size_t t = 0; t < kLanes; ++t) {
        float dot = 0.0f;
        for (size_t j = 0; j < d; ++j) dot += row[j] * panel[j * kLanes + t];
        const float v = bias[p * kLanes + t] + scale * dot;
        if (v < b1) {
          b2 = b1;
          b1 = v;
          arg = static_cast<uint32_t>(p * kLanes + t);
        } else if (v < b2) {
          b2 = v;
        }
      }
    }
    best[i] = arg;
    best_d[i] = b1;
    second_d[i] = b2;
  }
}

}  // namespace

Result<PackedCentroids> pack_centroids(Metric m, const float* centroids, size_t k, size_t d) {
  if (m == Metric::kL1) return Status::invalid_argument("nearest_two: L1 has no dot-product form");
  if (k == 0 || d == 0) return Status::invalid_argument("nearest_two: no centroids or dimension 0");
  if (k > UINT32_MAX) return Status::invalid_argument("nearest_two: k above 2^32");
  PackedCentroids c;
  c.metric = m;
  c.k = k;
  c.d = d;
  c.panels = (k + kLanes - 1) / kLanes;
  c.data.assign(c.panels * d * kLanes, 0.0f);
  c.bias.assign(c.panels * kLanes, kInf);
  c.scale = m == Metric::kL2 ? -2.0f : -1.0f;
  const DistanceKernels& kern = kernels();
  for (size_t l = 0; l < k; ++l) {
    const float* src = centroids + l * d;
    float* dst = c.data.data() + (l / kLanes) * d * kLanes + l % kLanes;
    for (size_t j = 0; j < d; ++j) dst[j * kLanes] = src[j];
    c.bias[l] = m == Metric::kL2 ? kern.dot(src, src, d) : (m == Metric::kCosine ? 1.0f : 0.0f);
  }
  return c;
}

void nearest_two(const PackedCentroids& c, const float* x, size_t n, uint32_t* best,
                 float* best_dist, float* second_dist) {
  static const internal::NearestTwoFn fn = internal::nearest_two_for(detected_simd_level());
  // Scratch for the distance outputs the caller does not want; rows go in chunks so it stays small.
  constexpr size_t kChunk = 256;
  float d1[kChunk], d2[kChunk];
  const DistanceKernels& kern = kernels();
  for (size_t r0 = 0; r0 < n; r0 += kChunk) {
    const size_t nr = std::min(kChunk, n - r0);
    const float* rows = x + r0 * c.d;
    fn(c.data.data(), c.bias.data(), c.scale, c.panels, c.d, rows, nr, best + r0, d1, d2);
    for (size_t i = 0; i < nr; ++i) {
      float b = d1[i], s = d2[i];
      if (c.metric == Metric::kL2) {
        const float xn = kern.dot(rows + i * c.d, rows + i * c.d, c.d);
        b = std::max(0.0f, b + xn);
        s = std::max(0.0f, s + xn);  // stays +inf when there is no runner-up
      }
      if (best_dist != nullptr) best_dist[r0 + i] = b;
      if (second_dist != nullptr) second_dist[r0 + i] = s;
    }
  }
}

namespace internal {
void reduce_lanes(const float* min1, const float* min2, const int32_t* idx1, uint32_t* best,
                  float* best_d, float* second_d) {
  size_t lane = 0;
  for (size_t t = 1; t < kLanes; ++t) {
    if (min1[t] < min1[lane] || (min1[t] == min1[lane] && idx1[t] < idx1[lane])) lane = t;
  }
  float second = min2[lane];
  for (size_t t = 0; t < kLanes; ++t) {
    if (t != lane && min1[t] < second) second = min1[t];
    if (min2[t] < second) second = min2[t];
  }
  *best = static_cast<uint32_t>(idx1[lane]);
  *best_d = min1[lane];
  *second_d = second;
}

NearestTwoFn nearest_two_scalar() { return &scalar_kernel; }

NearestTwoFn nearest_two_for(SimdLevel level) {
  if (kernels_for(level) == nullptr) return nullptr;  // the CPU cannot run this level
  switch (level) {
    case SimdLevel::kScalar: return nearest_two_scalar();
    case SimdLevel::kAvx2: return nearest_two_avx2();
    case SimdLevel::kAvx512: return nearest_two_avx512();
  }
  return nullptr;
}
}  // namespace internal

}  // namespace vecstream
