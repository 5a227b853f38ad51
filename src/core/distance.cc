// Runtime dispatch between the per-ISA kernel tables, and the few distance helpers that are not
// hot enough to need one (normalisation, finiteness checks).
//
// This file is compiled at the baseline ISA. The CPU is probed once (function-local statics, so
// the first call from any thread initialises them safely) and the chosen table is then a plain
// pointer; callers fetch it once per batch, never per distance.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "core/distance.h"

namespace vecstream {
namespace {

// The best level this CPU (and OS: __builtin_cpu_supports checks XCR0) can run, ignoring the
// environment. The AVX-512 unit is also compiled with -mavx2 -mfma, so it needs those as well.
SimdLevel cpu_simd_level() {
  static const SimdLevel level = [] {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (avx2 && avx512) return SimdLevel::kAvx512;
    if (avx2) return SimdLevel::kAvx2;
    return SimdLevel::kScalar;
  }();
  return level;
}

// VECSTREAM_SIMD=scalar|avx2|avx512 caps the level (to rule a kernel out when chasing a bug, or to
// benchmark a lower level). Anything else is ignored.
std::optional<SimdLevel> simd_level_from_env() {
  const char* value = std::getenv("VECSTREAM_SIMD");
  if (value == nullptr) return std::nullopt;
  const std::string_view v(value);
  if (v == "scalar") return SimdLevel::kScalar;
  if (v == "avx2") return SimdLevel::kAvx2;
  if (v == "avx512") return SimdLevel::kAvx512;
  return std::nullopt;
}

}  // namespace

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
  }
  return "unknown";
}

SimdLevel detected_simd_level() {
  static const SimdLevel level = [] {
    const SimdLevel cpu = cpu_simd_level();
    const std::optional<SimdLevel> cap = simd_level_from_env();
    return cap && *cap < cpu ? *cap : cpu;
  }();
  return level;
}

const DistanceKernels* kernels_for(SimdLevel level) {
  if (level > cpu_simd_level()) return nullptr;
  switch (level) {
    case SimdLevel::kScalar: return &internal::scalar_kernels();
    case SimdLevel::kAvx2: return &internal::avx2_kernels();
    case SimdLevel::kAvx512: return &internal::avx512_kernels();
  }
  return nullptr;
}

const DistanceKernels& kernels() {
  static const DistanceKernels* const table = kernels_for(detected_simd_level());
  return *table;
}

void metric_distance_many(const DistanceKernels& k, Metric m, const float* q, const float* base,
                          size_t n, size_t d, size_t stride, float* out) {
  switch (m) {
    case Metric::kL2:
      k.l2sq_many(q, base, n, d, stride, out);
      return;
    case Metric::kInnerProduct:
      k.dot_many(q, base, n, d, stride, out);
      for (size_t i = 0; i < n; ++i) out[i] = -out[i];
      return;
    case Metric::kCosine:
      k.dot_many(q, base, n, d, stride, out);
      for (size_t i = 0; i < n; ++i) out[i] = 1.0f - out[i];
      return;
    case Metric::kL1:
      k.l1_many(q, base, n, d, stride, out);
      return;
  }
}

// The norm is accumulated in double: it runs once per inserted or queried vector, and double
// neither overflows on large finite floats nor loses the small components of long vectors.
bool normalize_l2(float* v, size_t d) {
  double sum = 0.0;
  for (size_t i = 0; i < d; ++i) sum += double{v[i]} * double{v[i]};
  if (!(sum > 0.0) || !std::isfinite(sum)) return false;
  const double inv = 1.0 / std::sqrt(sum);
  for (size_t i = 0; i < d; ++i) v[i] = static_cast<float>(v[i] * inv);
  return true;
}

// A float is NaN or ±Inf exactly when its exponent bits are all ones. Branch-free so the loop
// vectorises; called on every vector that enters through the API.
bool all_finite(const float* v, size_t d) {
  constexpr uint32_t kExponent = 0x7f800000u;
  uint32_t bad = 0;
  for (size_t i = 0; i < d; ++i) {
    uint32_t bits;
    std::memcpy(&bits, v + i, sizeof(bits));
    bad |= static_cast<uint32_t>((bits & kExponent) == kExponent);
  }
  return bad == 0;
}

}  // namespace vecstream
