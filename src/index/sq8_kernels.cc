// Scalar reference of the SQ8 kernels (the level every other is tested against) and the dispatch.
// Compiled at the baseline ISA; plain loops with four accumulators, no -ffast-math.
#include "index/sq8_kernels.h"

#include <cmath>

namespace vecstream {
namespace {

float l2(const float* q, const float* w, const uint8_t* c, size_t d) {
  float s[4] = {0, 0, 0, 0};
  size_t j = 0;
  for (; j + 4 <= d; j += 4) {
    for (size_t l = 0; l < 4; ++l) {
      const float t = q[j + l] - static_cast<float>(c[j + l]);
      s[l] += w[j + l] * t * t;
    }
  }
  for (; j < d; ++j) {
    const float t = q[j] - static_cast<float>(c[j]);
    s[0] += w[j] * t * t;
  }
  return (s[0] + s[1]) + (s[2] + s[3]);
}

float l1(const float* q, const float* w, const uint8_t* c, size_t d) {
  float s[4] = {0, 0, 0, 0};
  size_t j = 0;
  for (; j + 4 <= d; j += 4) {
    for (size_t l = 0; l < 4; ++l) s[l] += w[j + l] * std::fabs(q[j + l] - static_cast<float>(c[j + l]));
  }
  for (; j < d; ++j) s[0] += w[j] * std::fabs(q[j] - static_cast<float>(c[j]));
  return (s[0] + s[1]) + (s[2] + s[3]);
}

float dot(const float* w, const uint8_t* c, size_t d) {
  float s[4] = {0, 0, 0, 0};
  size_t j = 0;
  for (; j + 4 <= d; j += 4) {
    for (size_t l = 0; l < 4; ++l) s[l] += w[j + l] * static_cast<float>(c[j + l]);
  }
  for (; j < d; ++j) s[0] += w[j] * static_cast<float>(c[j]);
  return (s[0] + s[1]) + (s[2] + s[3]);
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

void dot_i16_many(const int16_t* w, const uint8_t* codes, size_t n, size_t d, size_t stride,
                  int32_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* c = codes + i * stride;
    int32_t s = 0;
    for (size_t j = 0; j < d; ++j) s += int32_t{w[j]} * int32_t{c[j]};
    out[i] = s;
  }
}

constexpr Sq8Kernels kScalar = {SimdLevel::kScalar, l2, l1, dot, l2_many, l1_many, dot_many, dot_i16_many};

}  // namespace

namespace internal {
const Sq8Kernels& sq8_scalar_kernels() { return kScalar; }
}  // namespace internal

const Sq8Kernels* sq8_kernels_for(SimdLevel level) {
  if (kernels_for(level) == nullptr) return nullptr;  // the CPU cannot run this level
  switch (level) {
    case SimdLevel::kScalar: return &internal::sq8_scalar_kernels();
    case SimdLevel::kAvx2: return &internal::sq8_avx2_kernels();
    case SimdLevel::kAvx512: return &internal::sq8_avx512_kernels();
  }
  return nullptr;
}

const Sq8Kernels& sq8_kernels() {
  static const Sq8Kernels* const table = sq8_kernels_for(detected_simd_level());
  return *table;
}

}  // namespace vecstream
