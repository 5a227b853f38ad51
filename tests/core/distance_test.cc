// Distance kernels: every SIMD level this CPU can run is checked against the scalar reference, and
// the scalar reference against double-precision arithmetic written out here.
//
// Dimensions are chosen to hit every tail path (1, 3, 7, 15, 17, 31, 33 … around the 8/16/32/64
// element blocks) and real embedding sizes (768, 784). Inputs are placed at the very end of their
// heap allocation and also one element off alignment, so an over-read of a tail shows up under
// AddressSanitizer and an aligned-load assumption shows up as a crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/distance.h"

namespace vecstream {
namespace {

constexpr size_t kDims[] = {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 127, 128, 768, 784};
constexpr SimdLevel kAllLevels[] = {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512};
constexpr Metric kAllMetrics[] = {Metric::kL2, Metric::kInnerProduct, Metric::kCosine,
                                  Metric::kL1};

std::vector<const DistanceKernels*> available_levels() {
  std::vector<const DistanceKernels*> out;
  for (SimdLevel level : kAllLevels) {
    if (const DistanceKernels* k = kernels_for(level)) out.push_back(k);
  }
  return out;
}

std::string trace(const DistanceKernels& k, size_t d, const char* what = "") {
  return std::string(simd_level_name(k.level)) + " d=" + std::to_string(d) + " " + what;
}

// `d` elements that end exactly where their allocation ends, starting `offset` elements into it.
template <class T>
class TailBuffer {
 public:
  TailBuffer(size_t d, size_t offset) : storage_(d + offset), offset_(offset), d_(d) {}
  T* data() { return storage_.data() + offset_; }
  T& operator[](size_t i) { return data()[i]; }
  size_t size() const { return d_; }

 private:
  std::vector<T> storage_;
  size_t offset_;
  size_t d_;
};

void fill_floats(std::mt19937& rng, float scale, float* v, size_t d) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  for (size_t i = 0; i < d; ++i) v[i] = dist(rng);
}

template <class T>
void fill_ints(std::mt19937& rng, T* v, size_t d) {
  std::uniform_int_distribution<int> dist(std::numeric_limits<T>::min(),
                                          std::numeric_limits<T>::max());
  for (size_t i = 0; i < d; ++i) v[i] = static_cast<T>(dist(rng));
}

// Double-precision references. `magnitude` is the sum of the absolute values of the terms, the
// scale that bounds float rounding error whatever the summation order.
struct Reference {
  double value = 0.0;
  double magnitude = 0.0;
};

Reference ref_l2sq(const float* a, const float* b, size_t d) {
  Reference r;
  for (size_t i = 0; i < d; ++i) {
    const double t = double{a[i]} - double{b[i]};
    r.value += t * t;
  }
  r.magnitude = r.value;
  return r;
}

Reference ref_dot(const float* a, const float* b, size_t d) {
  Reference r;
  for (size_t i = 0; i < d; ++i) {
    r.value += double{a[i]} * double{b[i]};
    r.magnitude += std::fabs(double{a[i]} * double{b[i]});
  }
  return r;
}

Reference ref_l1(const float* a, const float* b, size_t d) {
  Reference r;
  for (size_t i = 0; i < d; ++i) r.value += std::fabs(double{a[i]} - double{b[i]});
  r.magnitude = r.value;
  return r;
}

Reference ref_metric(Metric m, const float* a, const float* b, size_t d) {
  switch (m) {
    case Metric::kL2: return ref_l2sq(a, b, d);
    case Metric::kInnerProduct: {
      Reference r = ref_dot(a, b, d);
      r.value = -r.value;
      return r;
    }
    case Metric::kCosine: {
      Reference r = ref_dot(a, b, d);
      r.value = 1.0 - r.value;
      r.magnitude += 1.0;
      return r;
    }
    case Metric::kL1: return ref_l1(a, b, d);
  }
  return {};
}

// Relative tolerance ~1e-4 of the magnitude of the terms (exact 0 for d = 0).
constexpr double kRelTol = 1e-4;
double tolerance(double magnitude) { return kRelTol * magnitude + 1e-30; }

template <class T>
uint64_t ref_l2sq_int(const T* a, const T* b, size_t d) {
  uint64_t s = 0;
  for (size_t i = 0; i < d; ++i) {
    const int64_t t = int64_t{a[i]} - int64_t{b[i]};
    s += static_cast<uint64_t>(t * t);
  }
  return s;
}
template <class T>
int64_t ref_dot_int(const T* a, const T* b, size_t d) {
  int64_t s = 0;
  for (size_t i = 0; i < d; ++i) s += int64_t{a[i]} * int64_t{b[i]};
  return s;
}
uint64_t ref_l1_u8(const uint8_t* a, const uint8_t* b, size_t d) {
  uint64_t s = 0;
  for (size_t i = 0; i < d; ++i) s += static_cast<uint64_t>(std::abs(int{a[i]} - int{b[i]}));
  return s;
}

SimdLevel best_cpu_level() {
  SimdLevel best = SimdLevel::kScalar;
  for (SimdLevel level : kAllLevels) {
    if (kernels_for(level) != nullptr) best = level;
  }
  return best;
}

// ---- dispatch ----

TEST(DistanceDispatch, ScalarIsAlwaysAvailableAndTablesAreComplete) {
  ASSERT_NE(kernels_for(SimdLevel::kScalar), nullptr);
  for (const DistanceKernels* k : available_levels()) {
    SCOPED_TRACE(simd_level_name(k->level));
    EXPECT_NE(k->l2sq, nullptr);
    EXPECT_NE(k->dot, nullptr);
    EXPECT_NE(k->l1, nullptr);
    EXPECT_NE(k->l2sq_u8, nullptr);
    EXPECT_NE(k->dot_u8, nullptr);
    EXPECT_NE(k->l1_u8, nullptr);
    EXPECT_NE(k->dot_i8, nullptr);
    EXPECT_NE(k->l2sq_i8, nullptr);
    EXPECT_NE(k->l2sq_many, nullptr);
    EXPECT_NE(k->dot_many, nullptr);
    EXPECT_NE(k->l1_many, nullptr);
  }
  // Levels are cumulative: a CPU that runs one level runs every lower one.
  bool gap = false;
  for (SimdLevel level : kAllLevels) {
    const DistanceKernels* k = kernels_for(level);
    if (k == nullptr) {
      gap = true;
    } else {
      EXPECT_FALSE(gap) << simd_level_name(level) << " available above a missing level";
      EXPECT_EQ(k->level, level);
    }
  }
  EXPECT_EQ(kernels_for(static_cast<SimdLevel>(7)), nullptr);
}

TEST(DistanceDispatch, ReportsTestedLevels) {
  std::string tested;
  for (const DistanceKernels* k : available_levels()) {
    tested += std::string(tested.empty() ? "" : ", ") + simd_level_name(k->level);
  }
  const char* env = std::getenv("VECSTREAM_SIMD");
  std::cout << "[ levels   ] tested: " << tested
            << "; detected: " << simd_level_name(detected_simd_level())
            << " (VECSTREAM_SIMD=" << (env ? env : "unset") << ")\n";
  RecordProperty("tested_levels", tested);
  EXPECT_EQ(kernels().level, detected_simd_level());
  EXPECT_LE(static_cast<int>(detected_simd_level()), static_cast<int>(best_cpu_level()));
  EXPECT_STREQ(simd_level_name(SimdLevel::kScalar), "scalar");
  EXPECT_STREQ(simd_level_name(SimdLevel::kAvx2), "avx2");
  EXPECT_STREQ(simd_level_name(SimdLevel::kAvx512), "avx512");
}

// Detection happens once per process, so each setting is tried in a fresh child process
// ("threadsafe" death tests re-execute the binary).
TEST(DistanceDispatch, EnvironmentCapsTheLevel) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const char* saved = std::getenv("VECSTREAM_SIMD");
  const std::optional<std::string> saved_value =
      saved ? std::optional<std::string>(saved) : std::nullopt;
  const SimdLevel cpu = best_cpu_level();
  struct Case {
    const char* value;
    SimdLevel expected;
  };
  const Case cases[] = {
      {"scalar", SimdLevel::kScalar},
      {"avx2", cpu < SimdLevel::kAvx2 ? cpu : SimdLevel::kAvx2},
      {"avx512", cpu},
      {"no-such-level", cpu},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    ASSERT_EQ(setenv("VECSTREAM_SIMD", c.value, 1), 0);
    EXPECT_EXIT(
        {
          const SimdLevel level = detected_simd_level();
          std::exit(kernels().level == level ? 10 + static_cast<int>(level) : 99);
        },
        ::testing::ExitedWithCode(10 + static_cast<int>(c.expected)), "");
  }
  if (saved_value) {
    setenv("VECSTREAM_SIMD", saved_value->c_str(), 1);
  } else {
    unsetenv("VECSTREAM_SIMD");
  }
}

// ---- float kernels ----

TEST(DistanceKernels, ScalarFloatMatchesDoubleReference) {
  const DistanceKernels& s = *kernels_for(SimdLevel::kScalar);
  std::mt19937 rng(1);
  for (float scale : {1.0f, 1000.0f}) {
    for (size_t d : kDims) {
      SCOPED_TRACE(trace(s, d, scale == 1.0f ? "scale 1" : "scale 1000"));
      TailBuffer<float> a(d, 0), b(d, 0);
      fill_floats(rng, scale, a.data(), d);
      fill_floats(rng, scale, b.data(), d);
      const Reference l2 = ref_l2sq(a.data(), b.data(), d);
      const Reference dot = ref_dot(a.data(), b.data(), d);
      const Reference l1 = ref_l1(a.data(), b.data(), d);
      EXPECT_NEAR(s.l2sq(a.data(), b.data(), d), l2.value, tolerance(l2.magnitude));
      EXPECT_NEAR(s.dot(a.data(), b.data(), d), dot.value, tolerance(dot.magnitude));
      EXPECT_NEAR(s.l1(a.data(), b.data(), d), l1.value, tolerance(l1.magnitude));
    }
  }
}

TEST(DistanceKernels, EveryLevelFloatMatchesScalar) {
  const DistanceKernels& s = *kernels_for(SimdLevel::kScalar);
  for (const DistanceKernels* k : available_levels()) {
    std::mt19937 rng(2);
    for (float scale : {1.0f, 1000.0f}) {
      for (size_t offset : {0, 1}) {
        for (size_t d : kDims) {
          SCOPED_TRACE(trace(*k, d, offset ? "unaligned" : "aligned") +
                       (scale == 1.0f ? " scale 1" : " scale 1000"));
          TailBuffer<float> a(d, offset), b(d, offset);
          fill_floats(rng, scale, a.data(), d);
          fill_floats(rng, scale, b.data(), d);
          const float* pa = a.data();
          const float* pb = b.data();
          const double l2_tol = tolerance(ref_l2sq(pa, pb, d).magnitude);
          const double dot_tol = tolerance(ref_dot(pa, pb, d).magnitude);
          const double l1_tol = tolerance(ref_l1(pa, pb, d).magnitude);
          EXPECT_NEAR(k->l2sq(pa, pb, d), s.l2sq(pa, pb, d), l2_tol);
          EXPECT_NEAR(k->dot(pa, pb, d), s.dot(pa, pb, d), dot_tol);
          EXPECT_NEAR(k->l1(pa, pb, d), s.l1(pa, pb, d), l1_tol);
          // A vector against itself: l2 and l1 are exactly zero at every level.
          EXPECT_EQ(k->l2sq(pa, pa, d), 0.0f);
          EXPECT_EQ(k->l1(pa, pa, d), 0.0f);
        }
      }
    }
  }
}

// Every tail length of the widest blocks, one at a time, with all-ones inputs: exact results.
TEST(DistanceKernels, EveryTailLengthCountsEachElementOnce) {
  for (const DistanceKernels* k : available_levels()) {
    for (size_t d = 0; d <= 200; ++d) {
      SCOPED_TRACE(trace(*k, d));
      TailBuffer<float> a(d, 1), b(d, 1);
      for (size_t i = 0; i < d; ++i) {
        a[i] = 1.0f;
        b[i] = 3.0f;
      }
      const float fd = static_cast<float>(d);
      EXPECT_EQ(k->l2sq(a.data(), b.data(), d), 4.0f * fd);
      EXPECT_EQ(k->dot(a.data(), b.data(), d), 3.0f * fd);
      EXPECT_EQ(k->l1(a.data(), b.data(), d), 2.0f * fd);
      TailBuffer<uint8_t> ua(d, 1), ub(d, 1);
      TailBuffer<int8_t> ia(d, 1), ib(d, 1);
      for (size_t i = 0; i < d; ++i) {
        ua[i] = 1;
        ub[i] = 3;
        ia[i] = -1;
        ib[i] = 3;
      }
      const uint32_t ud = static_cast<uint32_t>(d);
      EXPECT_EQ(k->l2sq_u8(ua.data(), ub.data(), d), 4u * ud);
      EXPECT_EQ(k->dot_u8(ua.data(), ub.data(), d), 3u * ud);
      EXPECT_EQ(k->l1_u8(ua.data(), ub.data(), d), 2u * ud);
      EXPECT_EQ(k->l2sq_i8(ia.data(), ib.data(), d), 16u * ud);
      EXPECT_EQ(k->dot_i8(ia.data(), ib.data(), d), -3 * static_cast<int32_t>(d));
    }
  }
}

// Kernels may pick a load strategy from the addresses (AVX-512 reads unaligned rows in halves),
// but the same data must give the same bits wherever it lies.
TEST(DistanceKernels, ResultDoesNotDependOnAddress) {
  for (const DistanceKernels* k : available_levels()) {
    std::mt19937 rng(9);
    for (size_t d : {17, 100, 784}) {
      SCOPED_TRACE(trace(*k, d));
      std::vector<float> a(d), b(d);
      fill_floats(rng, 1.0f, a.data(), d);
      fill_floats(rng, 1.0f, b.data(), d);
      std::vector<float> storage(d + 64);
      // First 64-byte-aligned element of storage.
      const size_t aligned = (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64 / 4;
      float want_l2 = 0, want_dot = 0, want_l1 = 0;
      for (size_t shift = 0; shift < 16; ++shift) {
        float* row = storage.data() + aligned + shift;
        std::copy(b.begin(), b.end(), row);
        const float l2 = k->l2sq(a.data(), row, d);
        const float dot = k->dot(a.data(), row, d);
        const float l1 = k->l1(a.data(), row, d);
        if (shift == 0) {
          want_l2 = l2;
          want_dot = dot;
          want_l1 = l1;
        }
        EXPECT_EQ(l2, want_l2) << "shift " << shift;
        EXPECT_EQ(dot, want_dot) << "shift " << shift;
        EXPECT_EQ(l1, want_l1) << "shift " << shift;
        float many[2];
        k->l2sq_many(a.data(), row, 1, d, d, many);
        k->dot_many(a.data(), row, 1, d, d, many + 1);
        EXPECT_EQ(many[0], want_l2) << "shift " << shift;
        EXPECT_EQ(many[1], want_dot) << "shift " << shift;
      }
    }
  }
}

// ---- 8-bit kernels: exact ----

TEST(DistanceKernels, EveryLevelIntegerKernelsAreExact) {
  for (const DistanceKernels* k : available_levels()) {
    std::mt19937 rng(3);
    for (size_t offset : {0, 1}) {
      for (size_t d : kDims) {
        SCOPED_TRACE(trace(*k, d, offset ? "unaligned" : "aligned"));
        TailBuffer<uint8_t> ua(d, offset), ub(d, offset);
        TailBuffer<int8_t> ia(d, offset), ib(d, offset);
        fill_ints(rng, ua.data(), d);
        fill_ints(rng, ub.data(), d);
        fill_ints(rng, ia.data(), d);
        fill_ints(rng, ib.data(), d);
        EXPECT_EQ(k->l2sq_u8(ua.data(), ub.data(), d), ref_l2sq_int(ua.data(), ub.data(), d));
        EXPECT_EQ(k->dot_u8(ua.data(), ub.data(), d), ref_dot_int(ua.data(), ub.data(), d));
        EXPECT_EQ(k->l1_u8(ua.data(), ub.data(), d), ref_l1_u8(ua.data(), ub.data(), d));
        EXPECT_EQ(k->l2sq_i8(ia.data(), ib.data(), d), ref_l2sq_int(ia.data(), ib.data(), d));
        EXPECT_EQ(k->dot_i8(ia.data(), ib.data(), d), ref_dot_int(ia.data(), ib.data(), d));
      }
    }
  }
}

// The largest sums the 32-bit results must hold: d = 65536 at the extremes of the range
// (255^2 * 65536 = 4'261'478'400 < 2^32), and a length just under it that ends in a tail.
TEST(DistanceKernels, IntegerKernelsDoNotOverflowAtMaximumRange) {
  for (const DistanceKernels* k : available_levels()) {
    for (size_t d : {size_t{65536}, size_t{65536 - 17}}) {
      SCOPED_TRACE(trace(*k, d));
      std::vector<uint8_t> zeros(d, 0), full(d, 255);
      std::vector<int8_t> lo(d, -128), hi(d, 127);
      const uint64_t n = d;
      EXPECT_EQ(k->l2sq_u8(zeros.data(), full.data(), d), 65025u * n);
      EXPECT_EQ(k->dot_u8(full.data(), full.data(), d), 65025u * n);
      EXPECT_EQ(k->l1_u8(full.data(), zeros.data(), d), 255u * n);
      EXPECT_EQ(k->l1_u8(zeros.data(), full.data(), d), 255u * n);
      EXPECT_EQ(k->l2sq_i8(lo.data(), hi.data(), d), 65025u * n);
      EXPECT_EQ(k->l2sq_i8(hi.data(), lo.data(), d), 65025u * n);
      EXPECT_EQ(k->dot_i8(lo.data(), lo.data(), d), static_cast<int64_t>(16384 * n));
      EXPECT_EQ(k->dot_i8(lo.data(), hi.data(), d), -static_cast<int64_t>(16256 * n));
    }
  }
}

// ---- one query against many rows ----

TEST(DistanceKernels, ManyMatchesSingleWithStride) {
  const DistanceKernels& s = *kernels_for(SimdLevel::kScalar);
  for (const DistanceKernels* k : available_levels()) {
    std::mt19937 rng(4);
    for (size_t d : kDims) {
      for (size_t extra : {0, 5}) {
        for (size_t n : {0, 1, 2, 5, 37}) {
          const size_t stride = d + extra;
          SCOPED_TRACE(trace(*k, d) + "n=" + std::to_string(n) +
                       " stride=" + std::to_string(stride));
          // The last row ends where the allocation ends.
          const size_t base_len = n == 0 ? 0 : (n - 1) * stride + d;
          TailBuffer<float> q(d, 1), base(base_len, 1);
          fill_floats(rng, 1.0f, q.data(), d);
          fill_floats(rng, 1.0f, base.data(), base_len);
          using ManyFn = void (*)(const float*, const float*, size_t, size_t, size_t, float*);
          using OneFn = float (*)(const float*, const float*, size_t);
          using RefFn = Reference (*)(const float*, const float*, size_t);
          struct Variant {
            const char* name;
            ManyFn many;
            OneFn one;
            OneFn scalar_one;
            RefFn ref;
          };
          const Variant variants[] = {{"l2sq", k->l2sq_many, k->l2sq, s.l2sq, ref_l2sq},
                                      {"dot", k->dot_many, k->dot, s.dot, ref_dot},
                                      {"l1", k->l1_many, k->l1, s.l1, ref_l1}};
          for (const Variant& v : variants) {
            SCOPED_TRACE(v.name);
            constexpr float kSentinel = -12345.0f;
            std::vector<float> out(n + 1, kSentinel);
            v.many(q.data(), base.data(), n, d, stride, out.data());
            for (size_t i = 0; i < n; ++i) {
              const float* row = base.data() + i * stride;
              // Same arithmetic as the single kernel of the same level: bit-identical.
              EXPECT_EQ(out[i], v.one(q.data(), row, d)) << "row " << i;
              const double tol = tolerance(v.ref(q.data(), row, d).magnitude);
              EXPECT_NEAR(out[i], v.scalar_one(q.data(), row, d), tol) << "row " << i;
            }
            EXPECT_EQ(out[n], kSentinel) << "wrote past n";
          }
        }
      }
    }
  }
}

// ---- metric distances ----

TEST(MetricDistance, AllMetricsMatchDoubleReference) {
  for (const DistanceKernels* k : available_levels()) {
    std::mt19937 rng(5);
    for (size_t d : kDims) {
      if (d == 0) continue;
      for (Metric m : kAllMetrics) {
        SCOPED_TRACE(trace(*k, d, std::string(metric_name(m)).c_str()));
        TailBuffer<float> a(d, 1), b(d, 1);
        fill_floats(rng, 2.0f, a.data(), d);
        fill_floats(rng, 2.0f, b.data(), d);
        if (metric_normalizes(m)) {
          ASSERT_TRUE(normalize_l2(a.data(), d));
          ASSERT_TRUE(normalize_l2(b.data(), d));
        }
        const Reference r = ref_metric(m, a.data(), b.data(), d);
        EXPECT_NEAR(metric_distance(*k, m, a.data(), b.data(), d), r.value, tolerance(r.magnitude));
      }
    }
  }
}

TEST(MetricDistance, ManyMatchesDoubleReferenceForAllMetrics) {
  for (const DistanceKernels* k : available_levels()) {
    std::mt19937 rng(6);
    for (size_t d : {1, 3, 17, 100, 784}) {
      for (Metric m : kAllMetrics) {
        constexpr size_t kRows = 23;
        const size_t stride = d + 3;
        SCOPED_TRACE(trace(*k, d, std::string(metric_name(m)).c_str()));
        std::vector<float> q(d), base(kRows * stride);
        fill_floats(rng, 2.0f, q.data(), d);
        fill_floats(rng, 2.0f, base.data(), base.size());
        if (metric_normalizes(m)) {
          ASSERT_TRUE(normalize_l2(q.data(), d));
          for (size_t i = 0; i < kRows; ++i) ASSERT_TRUE(normalize_l2(base.data() + i * stride, d));
        }
        std::vector<float> out(kRows);
        metric_distance_many(*k, m, q.data(), base.data(), kRows, d, stride, out.data());
        for (size_t i = 0; i < kRows; ++i) {
          const float* row = base.data() + i * stride;
          const Reference r = ref_metric(m, q.data(), row, d);
          EXPECT_NEAR(out[i], r.value, tolerance(r.magnitude)) << "row " << i;
          EXPECT_EQ(out[i], metric_distance(*k, m, q.data(), row, d)) << "row " << i;
        }
      }
    }
  }
}

// Smaller is closer under every metric.
TEST(MetricDistance, OrdersNearerVectorsFirst) {
  const DistanceKernels& k = kernels();
  const float q[3] = {0.6f, 0.8f, 0.0f};
  const float near[3] = {0.8f, 0.6f, 0.0f};
  const float far[3] = {0.0f, -0.6f, 0.8f};
  for (Metric m : kAllMetrics) {
    SCOPED_TRACE(metric_name(m));
    EXPECT_LT(metric_distance(k, m, q, near, 3), metric_distance(k, m, q, far, 3));
  }
  EXPECT_NEAR(metric_distance(k, Metric::kCosine, q, q, 3), 0.0f, 1e-6f);
  EXPECT_NEAR(metric_distance(k, Metric::kInnerProduct, q, q, 3), -1.0f, 1e-6f);
}

// ---- normalize_l2 / all_finite ----

TEST(NormalizeL2, ZeroVectorIsRejectedAndUnchanged) {
  for (size_t d : {0, 1, 17, 784}) {
    SCOPED_TRACE(d);
    std::vector<float> v(d, 0.0f);
    EXPECT_FALSE(normalize_l2(v.data(), d));
    for (float x : v) EXPECT_EQ(x, 0.0f);
  }
}

TEST(NormalizeL2, NonFiniteIsRejectedAndUnchanged) {
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
  for (float special : specials) {
    std::vector<float> v = {1.0f, 2.0f, special, 3.0f};
    const std::vector<float> before = v;
    EXPECT_FALSE(normalize_l2(v.data(), v.size()));
    for (size_t i = 0; i < v.size(); ++i) {
      if (std::isnan(before[i])) {
        EXPECT_TRUE(std::isnan(v[i]));
      } else {
        EXPECT_EQ(v[i], before[i]);
      }
    }
  }
}

TEST(NormalizeL2, ProducesUnitVectorInSameDirection) {
  std::mt19937 rng(7);
  // Large and tiny components too: their squares overflow or underflow in float.
  for (float scale : {1.0f, 1e30f, 1e-30f}) {
    for (size_t d : {1, 3, 17, 784}) {
      SCOPED_TRACE(std::to_string(d) + " scale " + std::to_string(scale));
      std::vector<float> v(d);
      fill_floats(rng, scale, v.data(), d);
      v[0] = scale;  // never all zero
      const std::vector<float> before = v;
      ASSERT_TRUE(normalize_l2(v.data(), d));
      double norm = 0.0, cos = 0.0, before_norm = 0.0;
      for (size_t i = 0; i < d; ++i) {
        norm += double{v[i]} * v[i];
        before_norm += double{before[i]} * before[i];
        cos += double{v[i]} * before[i];
      }
      EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-6);
      EXPECT_NEAR(cos / std::sqrt(before_norm), 1.0, 1e-6);
    }
  }
}

TEST(AllFinite, DetectsNanAndInfinityAnywhere) {
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::signaling_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
  std::mt19937 rng(8);
  for (size_t d : {1, 17, 784}) {
    std::vector<float> v(d);
    fill_floats(rng, 1e30f, v.data(), d);
    EXPECT_TRUE(all_finite(v.data(), d));
    for (size_t pos : {size_t{0}, d / 2, d - 1}) {
      for (float special : specials) {
        SCOPED_TRACE("d=" + std::to_string(d) + " pos=" + std::to_string(pos) +
                     " value=" + std::to_string(special));
        const float saved = v[pos];
        v[pos] = special;
        EXPECT_FALSE(all_finite(v.data(), d));
        v[pos] = saved;
      }
    }
    EXPECT_TRUE(all_finite(v.data(), d));
  }
}

TEST(AllFinite, AcceptsExtremeFiniteValues) {
  const float values[] = {0.0f,
                          -0.0f,
                          std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::lowest(),
                          std::numeric_limits<float>::min(),
                          std::numeric_limits<float>::denorm_min(),
                          -std::numeric_limits<float>::denorm_min()};
  EXPECT_TRUE(all_finite(values, std::size(values)));
  EXPECT_TRUE(all_finite(values, 0));
}

}  // namespace
}  // namespace vecstream
