// Query-side distance kernels over 8-bit scalar-quantized codes, with runtime CPU dispatch.
//
// A per-dimension scalar quantizer (scalar_quantizer.h) stores x_j as a code c_j in 0..255 with
// x_j ~ vmin_j + c_j * step_j. The query stays in float ("asymmetric" distance: only the database
// side carries quantization error), and is folded into per-query tables so every kernel is a
// weighted reduction of widened codes:
//   l2:  sum_j w_j * (q_j - c_j)^2     q_j = (query_j - vmin_j) / step_j, w_j = step_j^2
//   l1:  sum_j w_j * |q_j - c_j|       same q, w_j = step_j
//   dot: sum_j w_j * c_j               w_j = query_j * step_j (+ sum_j query_j * vmin_j outside)
// One translation unit per instruction set (sq8_kernels.cc scalar + dispatch, sq8_kernels_avx2.cc,
// sq8_kernels_avx512.cc): codes are widened u8 -> i32 -> f32 8 or 16 lanes at a time and reduced
// with FMAs. Callers fetch the table once per query (sq8_kernels()); one indirect call per block
// of codes via the *_many entries.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/distance.h"

namespace vecstream {

struct Sq8Kernels {
  SimdLevel level;
  float (*l2)(const float* q, const float* w, const uint8_t* code, size_t d);
  float (*l1)(const float* q, const float* w, const uint8_t* code, size_t d);
  float (*dot)(const float* w, const uint8_t* code, size_t d);
  // n codes, code i at codes + i * stride bytes; out[i] = the single-code kernel's value.
  void (*l2_many)(const float* q, const float* w, const uint8_t* codes, size_t n, size_t d,
                  size_t stride, float* out);
  void (*l1_many)(const float* q, const float* w, const uint8_t* codes, size_t n, size_t d,
                  size_t stride, float* out);
  void (*dot_many)(const float* w, const uint8_t* codes, size_t n, size_t d, size_t stride,
                   float* out);
  // Integer form of dot_many: out[i] = sum_j w[j] * code_i[j], exact in int32 when
  // max|w| * 255 * d < 2^31 (the caller's job). Codes are widened to 16 bits and multiplied in
  // pairs (madd), twice the lanes of the float kernels; for first passes that are re-scored.
  void (*dot_i16_many)(const int16_t* w, const uint8_t* codes, size_t n, size_t d, size_t stride,
                       int32_t* out);
};

/// Kernels of detected_simd_level() (honours VECSTREAM_SIMD). Thread-safe.
const Sq8Kernels& sq8_kernels();
/// Kernels of a given level, or nullptr if this CPU cannot run them (tests compare the levels).
const Sq8Kernels* sq8_kernels_for(SimdLevel level);

namespace internal {
const Sq8Kernels& sq8_scalar_kernels();
const Sq8Kernels& sq8_avx2_kernels();
const Sq8Kernels& sq8_avx512_kernels();
}  // namespace internal

}  // namespace vecstream
