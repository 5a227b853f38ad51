// AVX2 nearest-centroid kernel (nearest_centroids.h). Compiled with -mavx2 -mfma; reached only
// through internal::nearest_two_for(), which checks CPUID first.
//
// Same blocking as the AVX-512 kernel (48-row blocks, lane states of 16 per row), but one panel
// (16 centroids = 2 ymm) at a time: 6 rows x 2 ymm = 12 accumulators of the 16 ymm registers.
//
// Everything here has internal linkage and uses no inline function from a shared header: a
// COMDAT copy compiled with -mavx2 must never be picked by the linker for baseline code.
#include <immintrin.h>

#include <limits>

#include "core/nearest_centroids.h"

namespace vecstream {
namespace {

constexpr size_t kLanes = 16;
constexpr size_t kRowBlock = 48;
constexpr int kRows = 6;

struct alignas(32) LaneState {
  float min1[kLanes];
  float min2[kLanes];
  int32_t idx1[kLanes];
};

template <int R>
void micro(const float* panel, size_t d, const float* x, size_t stride, const float* bias,
           __m256 scale, int32_t base_index, LaneState* state) {
  __m256 acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    acc[r][0] = _mm256_setzero_ps();
    acc[r][1] = _mm256_setzero_ps();
  }
  const float* rows[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) rows[r] = x + static_cast<size_t>(r) * stride;
  for (size_t j = 0; j < d; ++j) {
    const __m256 b0 = _mm256_loadu_ps(panel + j * kLanes);
    const __m256 b1 = _mm256_loadu_ps(panel + j * kLanes + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(rows[r] + j);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  const __m256i lane_ids = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    const __m256 bv = _mm256_loadu_ps(bias + h * 8);
    const __m256i ids = _mm256_add_epi32(lane_ids, _mm256_set1_epi32(base_index + h * 8));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 v = _mm256_fmadd_ps(acc[r][h], scale, bv);
      LaneState& s = state[r];
      const __m256 m1 = _mm256_load_ps(s.min1 + h * 8), m2 = _mm256_load_ps(s.min2 + h * 8);
      const __m256 lt = _mm256_cmp_ps(v, m1, _CMP_LT_OQ);
      _mm256_store_ps(s.min2 + h * 8, _mm256_min_ps(m2, _mm256_max_ps(m1, v)));
      _mm256_store_ps(s.min1 + h * 8, _mm256_blendv_ps(m1, v, lt));
      const __m256 old_ids = _mm256_castsi256_ps(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(s.idx1 + h * 8)));
      _mm256_store_si256(reinterpret_cast<__m256i*>(s.idx1 + h * 8),
                         _mm256_castps_si256(_mm256_blendv_ps(old_ids, _mm256_castsi256_ps(ids), lt)));
    }
  }
}

void micro_rows(int rows, const float* panel, size_t d, const float* x, size_t stride,
                const float* bias, __m256 scale, int32_t base, LaneState* state) {
  switch (rows) {
    case 6: return micro<6>(panel, d, x, stride, bias, scale, base, state);
    case 5: return micro<5>(panel, d, x, stride, bias, scale, base, state);
    case 4: return micro<4>(panel, d, x, stride, bias, scale, base, state);
    case 3: return micro<3>(panel, d, x, stride, bias, scale, base, state);
    case 2: return micro<2>(panel, d, x, stride, bias, scale, base, state);
    default: return micro<1>(panel, d, x, stride, bias, scale, base, state);
  }
}

void kernel(const float* panels, const float* bias, float scale, size_t npanels, size_t d,
            const float* x, size_t n, uint32_t* best, float* best_d, float* second_d) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  LaneState state[kRowBlock];
  const __m256 sv = _mm256_set1_ps(scale);
  for (size_t r0 = 0; r0 < n; r0 += kRowBlock) {
    const size_t nb = n - r0 < kRowBlock ? n - r0 : kRowBlock;
    for (size_t r = 0; r < nb; ++r) {
      for (size_t t = 0; t < kLanes; ++t) {
        state[r].min1[t] = kInf;
        state[r].min2[t] = kInf;
        state[r].idx1[t] = 0;
      }
    }
    for (size_t p = 0; p < npanels; ++p) {
      const float* panel = panels + p * d * kLanes;
      const int32_t base = static_cast<int32_t>(p * kLanes);
      for (size_t g = 0; g < nb; g += kRows) {
        const int rows = static_cast<int>(nb - g < kRows ? nb - g : kRows);
        micro_rows(rows, panel, d, x + (r0 + g) * d, d, bias + p * kLanes, sv, base, state + g);
      }
    }
    for (size_t r = 0; r < nb; ++r) {
      internal::reduce_lanes(state[r].min1, state[r].min2, state[r].idx1, best + r0 + r,
                             best_d + r0 + r, second_d + r0 + r);
    }
  }
}

}  // namespace

namespace internal {
NearestTwoFn nearest_two_avx2() { return &kernel; }
}  // namespace internal

}  // namespace vecstream
