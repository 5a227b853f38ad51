// AVX-512 nearest-centroid kernel (nearest_centroids.h). Compiled with the AVX-512 flags; reached
// only through internal::nearest_two_for(), which checks CPUID first.
//
// Blocking: rows go in blocks of 48 (150 KiB at d = 784: they stay in L2 while every panel pair
// streams past); inside a block, a micro-kernel multiplies 6 rows by 2 panels (32 centroids) with
// 12 zmm accumulators, one broadcast per row and one load per panel per dimension. Each result
// updates, per row and per lane, the smallest and second-smallest distance and the smallest's
// index; a row's lanes are reduced to its two best once, at the end of the block.
//
// Everything here has internal linkage and uses no inline function from a shared header: a
// COMDAT copy compiled with AVX-512 must never be picked by the linker for baseline code.

// GCC 12's immintrin.h builds 512-bit values from _mm256_undefined_*(), a self-initialised
// variable that trips -Werror=uninitialized once inlined (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <limits>

#include "core/nearest_centroids.h"

namespace vecstream {
namespace {

constexpr size_t kLanes = 16;
constexpr size_t kRowBlock = 48;
constexpr int kRows = 6;

struct alignas(64) LaneState {
  float min1[kLanes];
  float min2[kLanes];
  int32_t idx1[kLanes];
};

// R rows x P panels: accumulate the dot products, then fold them into the rows' lane states.
template <int R, int P>
void micro(const float* panel, size_t d, const float* x, size_t stride, const float* bias,
           __m512 scale, int32_t base_index, LaneState* state) {
  __m512 acc[R][P];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  }
  const float* rows[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) rows[r] = x + static_cast<size_t>(r) * stride;
  const size_t panel_stride = d * kLanes;
  for (size_t j = 0; j < d; ++j) {
    __m512 b[P];
#pragma GCC unroll 2
    for (int p = 0; p < P; ++p) b[p] = _mm512_loadu_ps(panel + p * panel_stride + j * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(rows[r][j]);
#pragma GCC unroll 2
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(a, b[p], acc[r][p]);
    }
  }
  const __m512i lane_ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#pragma GCC unroll 2
  for (int p = 0; p < P; ++p) {
    const __m512 bv = _mm512_loadu_ps(bias + p * kLanes);
    const __m512i ids = _mm512_add_epi32(lane_ids, _mm512_set1_epi32(base_index + p * 16));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 v = _mm512_fmadd_ps(acc[r][p], scale, bv);
      LaneState& s = state[r];
      const __m512 m1 = _mm512_load_ps(s.min1), m2 = _mm512_load_ps(s.min2);
      const __mmask16 lt = _mm512_cmp_ps_mask(v, m1, _CMP_LT_OQ);
      _mm512_store_ps(s.min2, _mm512_min_ps(m2, _mm512_max_ps(m1, v)));
      _mm512_store_ps(s.min1, _mm512_mask_blend_ps(lt, m1, v));
      _mm512_store_si512(s.idx1, _mm512_mask_blend_epi32(lt, _mm512_load_si512(s.idx1), ids));
    }
  }
}

template <int P>
void micro_rows(int rows, const float* panel, size_t d, const float* x, size_t stride,
                const float* bias, __m512 scale, int32_t base, LaneState* state) {
  switch (rows) {
    case 6: return micro<6, P>(panel, d, x, stride, bias, scale, base, state);
    case 5: return micro<5, P>(panel, d, x, stride, bias, scale, base, state);
    case 4: return micro<4, P>(panel, d, x, stride, bias, scale, base, state);
    case 3: return micro<3, P>(panel, d, x, stride, bias, scale, base, state);
    case 2: return micro<2, P>(panel, d, x, stride, bias, scale, base, state);
    default: return micro<1, P>(panel, d, x, stride, bias, scale, base, state);
  }
}

void kernel(const float* panels, const float* bias, float scale, size_t npanels, size_t d,
            const float* x, size_t n, uint32_t* best, float* best_d, float* second_d) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  LaneState state[kRowBlock];
  const __m512 sv = _mm512_set1_ps(scale);
  for (size_t r0 = 0; r0 < n; r0 += kRowBlock) {
    const size_t nb = n - r0 < kRowBlock ? n - r0 : kRowBlock;
    for (size_t r = 0; r < nb; ++r) {
      for (size_t t = 0; t < kLanes; ++t) {
        state[r].min1[t] = kInf;
        state[r].min2[t] = kInf;
        state[r].idx1[t] = 0;
      }
    }
    for (size_t p = 0; p < npanels; p += 2) {
      const float* panel = panels + p * d * kLanes;
      const int32_t base = static_cast<int32_t>(p * kLanes);
      for (size_t g = 0; g < nb; g += kRows) {
        const int rows = static_cast<int>(nb - g < kRows ? nb - g : kRows);
        const float* xr = x + (r0 + g) * d;
        if (p + 1 < npanels) {
          micro_rows<2>(rows, panel, d, xr, d, bias + p * kLanes, sv, base, state + g);
        } else {
          micro_rows<1>(rows, panel, d, xr, d, bias + p * kLanes, sv, base, state + g);
        }
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
NearestTwoFn nearest_two_avx512() { return &kernel; }
}  // namespace internal

}  // namespace vecstream
