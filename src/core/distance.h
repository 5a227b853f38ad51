// Distance kernels with runtime CPU dispatch.
//
// One translation unit per instruction set (distance_scalar.cc, distance_avx2.cc,
// distance_avx512.cc), each compiled with its own -m flags; the shipped binary is built for baseline
// x86-64 and picks the best table once, at first use, from CPUID. Hot loops fetch the table once
// per query/batch (`kernels()`) and call through its function pointers: one predictable indirect
// call per distance, no virtual dispatch, no per-call CPU checks.
//
// All float kernels return the *raw* quantity (squared L2, dot product, L1); metric.h says how a
// metric turns them into an ordering distance. Every kernel is correct for any dimension >= 0,
// including tails that do not fill a register; a test compares every level with the scalar one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/metric.h"

namespace vecstream {

enum class SimdLevel : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

const char* simd_level_name(SimdLevel level);

struct DistanceKernels {
  SimdLevel level;

  // ---- float32, one pair ----
  float (*l2sq)(const float* a, const float* b, size_t d);
  float (*dot)(const float* a, const float* b, size_t d);
  float (*l1)(const float* a, const float* b, size_t d);

  // ---- 8-bit codes (scalar quantization), one pair; exact integer results while the true sum
  //      fits in 32 bits (always for d <= 65536), wrapping beyond ----
  uint32_t (*l2sq_u8)(const uint8_t* a, const uint8_t* b, size_t d);
  uint32_t (*dot_u8)(const uint8_t* a, const uint8_t* b, size_t d);
  uint32_t (*l1_u8)(const uint8_t* a, const uint8_t* b, size_t d);
  int32_t (*dot_i8)(const int8_t* a, const int8_t* b, size_t d);
  uint32_t (*l2sq_i8)(const int8_t* a, const int8_t* b, size_t d);

  // ---- float32, one query against n rows (row i starts at base + i*stride floats) ----
  void (*l2sq_many)(const float* q, const float* base, size_t n, size_t d, size_t stride, float* out);
  void (*dot_many)(const float* q, const float* base, size_t n, size_t d, size_t stride, float* out);
  void (*l1_many)(const float* q, const float* base, size_t n, size_t d, size_t stride, float* out);
};

/// The best level this CPU supports (AVX-512 needs F+BW+VL+DQ; AVX2 needs AVX2+FMA), detected
/// once. Honours the environment variable VECSTREAM_SIMD=scalar|avx2|avx512 as an upper bound.
SimdLevel detected_simd_level();

/// Kernels of the detected level. Thread-safe; the first call detects.
const DistanceKernels& kernels();

/// Kernels of a given level, or nullptr if this CPU cannot run them (used by tests and benches).
/// Reports what the CPU can run: VECSTREAM_SIMD does not apply here.
const DistanceKernels* kernels_for(SimdLevel level);

/// Ordering distance of one pair under `m` (see metric.h). Cosine expects normalised inputs.
inline float metric_distance(const DistanceKernels& k, Metric m, const float* a, const float* b,
                             size_t d) {
  switch (m) {
    case Metric::kL2: return k.l2sq(a, b, d);
    case Metric::kInnerProduct: return -k.dot(a, b, d);
    case Metric::kCosine: return 1.0f - k.dot(a, b, d);
    case Metric::kL1: return k.l1(a, b, d);
  }
  return 0.0f;
}

/// Ordering distances of one query against n rows under `m`.
void metric_distance_many(const DistanceKernels& k, Metric m, const float* q, const float* base,
                          size_t n, size_t d, size_t stride, float* out);

/// L2-normalises v in place; returns false (and leaves v unchanged) if its norm is 0 or not finite.
bool normalize_l2(float* v, size_t d);

/// True if every element is finite (no NaN, no Inf).
bool all_finite(const float* v, size_t d);

// Per-level tables, defined in their own translation units. Do not call the AVX ones on a CPU
// that lacks the instructions: go through kernels_for().
namespace internal {
const DistanceKernels& scalar_kernels();
const DistanceKernels& avx2_kernels();
const DistanceKernels& avx512_kernels();
}  // namespace internal

}  // namespace vecstream
