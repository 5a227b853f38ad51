// AVX-512 SQ8 kernels: 16 codes per step (u8 -> i32 -> f32), two accumulators; the last 1..15
// dimensions use masked loads (masked-off lanes are not read, cannot fault, and load as 0, which
// adds 0 to every reduction since w loads as 0 too). Reached only through sq8_kernels_for() /
// sq8_kernels(); internal linkage throughout (see sq8_kernels_avx2.cc).
// GCC 12 reports its own intrinsics' _mm512_undefined_* placeholders as uninitialised.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "index/sq8_kernels.h"

namespace vecstream {
namespace {

inline __m512 load16(const uint8_t* c) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c))));
}

inline __m512 load16_masked(__mmask16 m, const uint8_t* c) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c)));
}

inline __mmask16 tail_mask(size_t r) { return static_cast<__mmask16>((1u << r) - 1u); }

float l2(const float* q, const float* w, const uint8_t* c, size_t d) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    const __m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(q + j), load16(c + j));
    const __m512 t1 = _mm512_sub_ps(_mm512_loadu_ps(q + j + 16), load16(c + j + 16));
    a0 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(w + j), t0), t0, a0);
    a1 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(w + j + 16), t1), t1, a1);
  }
  for (; j < d; j += 16) {
    const __mmask16 m = d - j >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(d - j);
    const __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + j), load16_masked(m, c + j));
    a0 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, w + j), t), t, a0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

float l1(const float* q, const float* w, const uint8_t* c, size_t d) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    const __m512 t0 = _mm512_abs_ps(_mm512_sub_ps(_mm512_loadu_ps(q + j), load16(c + j)));
    const __m512 t1 = _mm512_abs_ps(_mm512_sub_ps(_mm512_loadu_ps(q + j + 16), load16(c + j + 16)));
    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + j), t0, a0);
    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + j + 16), t1, a1);
  }
  for (; j < d; j += 16) {
    const __mmask16 m = d - j >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(d - j);
    const __m512 t =
        _mm512_abs_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + j), load16_masked(m, c + j)));
    a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + j), t, a0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

float dot(const float* w, const uint8_t* c, size_t d) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + j), load16(c + j), a0);
    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + j + 16), load16(c + j + 16), a1);
  }
  for (; j < d; j += 16) {
    const __mmask16 m = d - j >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(d - j);
    a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + j), load16_masked(m, c + j), a0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

void l2_many(const float* q, const float* w, const uint8_t* codes, size_t n, size_t d,
             size_t stride, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = l2(q, w, codes + i * stride, d);
}

void l1_many(const float* q, const float* w, const uint8_t* codes, size_t n, size_t d,
             size_t stride, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = l1(q, w, codes + i * stride, d);
}

void dot_many(const float* w, const uint8_t* codes, size_t n, size_t d, size_t stride,
              float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot(w, codes + i * stride, d);
}

// 32 codes per step: u8 -> i16, then vpmaddwd sums adjacent products into i32 lanes; the
// accumulation is integer adds (1-cycle latency), so two accumulators keep the ports busy.
int32_t dot_i16(const int16_t* w, const uint8_t* c, size_t d) {
  __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
  size_t j = 0;
  for (; j + 64 <= d; j += 64) {
    const __m512i c0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + j)));
    const __m512i c1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + j + 32)));
    a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(_mm512_loadu_si512(w + j), c0));
    a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(_mm512_loadu_si512(w + j + 32), c1));
  }
  for (; j < d; j += 32) {
    const __mmask32 m = d - j >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << (d - j)) - 1u);
    const __m512i c0 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, c + j));
    a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(_mm512_maskz_loadu_epi16(m, w + j), c0));
  }
  return _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1));
}

void dot_i16_many(const int16_t* w, const uint8_t* codes, size_t n, size_t d, size_t stride,
                  int32_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot_i16(w, codes + i * stride, d);
}

constexpr Sq8Kernels kAvx512 = {SimdLevel::kAvx512, l2, l1, dot, l2_many, l1_many, dot_many, dot_i16_many};

}  // namespace

namespace internal {
const Sq8Kernels& sq8_avx512_kernels() { return kAvx512; }
}  // namespace internal

}  // namespace vecstream
