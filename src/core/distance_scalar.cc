// Scalar reference kernels: the level every CPU can run and the one every SIMD level is tested
// against (tests/core/distance_test.cc).
//
// Compiled at the baseline ISA (x86-64 = SSE2). The code stays plain C++ so it is obviously right;
// the float loops keep four independent accumulators so the compiler can overlap the additions
// (and vectorise them) without -ffast-math, and the integer loops accumulate in 32 bits, which is
// exact for d up to 65536 (255^2 * 65536 < 2^32).
#include <cmath>

#include "core/distance.h"

namespace vecstream {
namespace {

// ---- float32 ----

float l2sq_f32(const float* a, const float* b, size_t d) {
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
  size_t i = 0;
  for (; i + 4 <= d; i += 4) {
    const float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
    const float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < d; ++i) {
    const float t = a[i] - b[i];
    s0 += t * t;
  }
  return (s0 + s1) + (s2 + s3);
}

float dot_f32(const float* a, const float* b, size_t d) {
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
  size_t i = 0;
  for (; i + 4 <= d; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < d; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

float l1_f32(const float* a, const float* b, size_t d) {
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
  size_t i = 0;
  for (; i + 4 <= d; i += 4) {
    s0 += std::fabs(a[i] - b[i]);
    s1 += std::fabs(a[i + 1] - b[i + 1]);
    s2 += std::fabs(a[i + 2] - b[i + 2]);
    s3 += std::fabs(a[i + 3] - b[i + 3]);
  }
  for (; i < d; ++i) s0 += std::fabs(a[i] - b[i]);
  return (s0 + s1) + (s2 + s3);
}

// ---- 8-bit codes: exact 32-bit integer arithmetic ----

uint32_t l2sq_u8(const uint8_t* a, const uint8_t* b, size_t d) {
  uint32_t s = 0;
  for (size_t i = 0; i < d; ++i) {
    const int32_t t = int32_t{a[i]} - int32_t{b[i]};
    s += static_cast<uint32_t>(t * t);
  }
  return s;
}

uint32_t dot_u8(const uint8_t* a, const uint8_t* b, size_t d) {
  uint32_t s = 0;
  for (size_t i = 0; i < d; ++i) s += uint32_t{a[i]} * uint32_t{b[i]};
  return s;
}

uint32_t l1_u8(const uint8_t* a, const uint8_t* b, size_t d) {
  uint32_t s = 0;
  for (size_t i = 0; i < d; ++i) {
    const int32_t t = int32_t{a[i]} - int32_t{b[i]};
    s += static_cast<uint32_t>(t < 0 ? -t : t);
  }
  return s;
}

int32_t dot_i8(const int8_t* a, const int8_t* b, size_t d) {
  int32_t s = 0;
  for (size_t i = 0; i < d; ++i) s += int32_t{a[i]} * int32_t{b[i]};
  return s;
}

uint32_t l2sq_i8(const int8_t* a, const int8_t* b, size_t d) {
  uint32_t s = 0;
  for (size_t i = 0; i < d; ++i) {
    const int32_t t = int32_t{a[i]} - int32_t{b[i]};
    s += static_cast<uint32_t>(t * t);
  }
  return s;
}

// ---- one query against n rows ----

void l2sq_many(const float* q, const float* base, size_t n, size_t d, size_t stride, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = l2sq_f32(q, base + i * stride, d);
}

void dot_many(const float* q, const float* base, size_t n, size_t d, size_t stride, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot_f32(q, base + i * stride, d);
}

void l1_many(const float* q, const float* base, size_t n, size_t d, size_t stride, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = l1_f32(q, base + i * stride, d);
}

constexpr DistanceKernels kScalarKernels = {
    .level = SimdLevel::kScalar,
    .l2sq = l2sq_f32,
    .dot = dot_f32,
    .l1 = l1_f32,
    .l2sq_u8 = l2sq_u8,
    .dot_u8 = dot_u8,
    .l1_u8 = l1_u8,
    .dot_i8 = dot_i8,
    .l2sq_i8 = l2sq_i8,
    .l2sq_many = l2sq_many,
    .dot_many = dot_many,
    .l1_many = l1_many,
};

}  // namespace

namespace internal {
const DistanceKernels& scalar_kernels() { return kScalarKernels; }
}  // namespace internal

}  // namespace vecstream
