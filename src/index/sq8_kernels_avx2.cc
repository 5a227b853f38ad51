// AVX2 + FMA SQ8 kernels: 8 codes per step (u8 -> i32 -> f32), two accumulators, a scalar tail.
// Reached only through sq8_kernels_for()/sq8_kernels(), which check the CPU first. Everything has
// internal linkage, so no AVX2-compiled inline copy can be picked for baseline code.
#include <immintrin.h>

#include "index/sq8_kernels.h"

namespace vecstream {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 load8(const uint8_t* c) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c))));
}

float l2(const float* q, const float* w, const uint8_t* c, size_t d) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= d; j += 16) {
    const __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(q + j), load8(c + j));
    const __m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(q + j + 8), load8(c + j + 8));
    a0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(w + j), t0), t0, a0);
    a1 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(w + j + 8), t1), t1, a1);
  }
  if (j + 8 <= d) {
    const __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(q + j), load8(c + j));
    a0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(w + j), t0), t0, a0);
    j += 8;
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; j < d; ++j) {
    const float t = q[j] - static_cast<float>(c[j]);
    s += w[j] * t * t;
  }
  return s;
}

float l1(const float* q, const float* w, const uint8_t* c, size_t d) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= d; j += 16) {
    const __m256 t0 = _mm256_and_ps(abs_mask, _mm256_sub_ps(_mm256_loadu_ps(q + j), load8(c + j)));
    const __m256 t1 =
        _mm256_and_ps(abs_mask, _mm256_sub_ps(_mm256_loadu_ps(q + j + 8), load8(c + j + 8)));
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j), t0, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j + 8), t1, a1);
  }
  if (j + 8 <= d) {
    const __m256 t0 = _mm256_and_ps(abs_mask, _mm256_sub_ps(_mm256_loadu_ps(q + j), load8(c + j)));
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j), t0, a0);
    j += 8;
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; j < d; ++j) {
    const float t = q[j] - static_cast<float>(c[j]);
    s += w[j] * (t < 0 ? -t : t);
  }
  return s;
}

float dot(const float* w, const uint8_t* c, size_t d) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= d; j += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j), load8(c + j), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j + 8), load8(c + j + 8), a1);
  }
  if (j + 8 <= d) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j), load8(c + j), a0);
    j += 8;
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; j < d; ++j) s += w[j] * static_cast<float>(c[j]);
  return s;
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

// 16 codes per step: u8 -> i16, then vpmaddwd sums adjacent products into i32 lanes.
int32_t dot_i16(const int16_t* w, const uint8_t* c, size_t d) {
  __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    const __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + j)));
    const __m256i c1 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + j + 16)));
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j)), c0));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j + 16)), c1));
  }
  if (j + 16 <= d) {
    const __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + j)));
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j)), c0));
    j += 16;
  }
  const __m256i a = _mm256_add_epi32(a0, a1);
  __m128i r = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(1, 0, 3, 2)));
  r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(2, 3, 0, 1)));
  int32_t s = _mm_cvtsi128_si32(r);
  for (; j < d; ++j) s += int32_t{w[j]} * int32_t{c[j]};
  return s;
}

void dot_i16_many(const int16_t* w, const uint8_t* codes, size_t n, size_t d, size_t stride,
                  int32_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot_i16(w, codes + i * stride, d);
}

constexpr Sq8Kernels kAvx2 = {SimdLevel::kAvx2, l2, l1, dot, l2_many, l1_many, dot_many, dot_i16_many};

}  // namespace

namespace internal {
const Sq8Kernels& sq8_avx2_kernels() { return kAvx2; }
}  // namespace internal

}  // namespace vecstream
