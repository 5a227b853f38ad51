// Nearest-centroid kernels: every SIMD level against a double-precision brute force over awkward
// shapes (rows around the 6-row micro-kernel and 48-row block, centroids around the 16/32 panel
// widths), the tie rule, and the public wrapper's distances.
#include "core/nearest_centroids.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace vecstream {
namespace {

struct Brute {
  uint32_t best = 0;
  double d1 = std::numeric_limits<double>::infinity(), d2 = std::numeric_limits<double>::infinity();
};

// Ordering distance in double: L2 squared, IP -dot, cosine 1 - dot.
Brute brute(Metric m, const float* x, const std::vector<float>& c, size_t k, size_t d) {
  Brute b;
  for (size_t l = 0; l < k; ++l) {
    double dot = 0, l2 = 0;
    for (size_t j = 0; j < d; ++j) {
      dot += static_cast<double>(x[j]) * c[l * d + j];
      const double diff = static_cast<double>(x[j]) - c[l * d + j];
      l2 += diff * diff;
    }
    const double v = m == Metric::kL2 ? l2 : (m == Metric::kCosine ? 1.0 - dot : -dot);
    if (v < b.d1) {
      b.d2 = b.d1;
      b.d1 = v;
      b.best = static_cast<uint32_t>(l);
    } else if (v < b.d2) {
      b.d2 = v;
    }
  }
  return b;
}

std::vector<float> random_rows(size_t n, size_t d, uint64_t seed, bool normalise) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n * d);
  for (float& f : v) f = g(rng);
  if (normalise) {
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (size_t j = 0; j < d; ++j) s += static_cast<double>(v[i * d + j]) * v[i * d + j];
      for (size_t j = 0; j < d; ++j) v[i * d + j] = static_cast<float>(v[i * d + j] / std::sqrt(s));
    }
  }
  return v;
}

TEST(NearestCentroidsTest, EveryLevelMatchesBruteForceOnAwkwardShapes) {
  const SimdLevel levels[] = {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512};
  size_t checked_levels = 0;
  for (SimdLevel level : levels) {
    const internal::NearestTwoFn fn = internal::nearest_two_for(level);
    if (fn == nullptr) continue;  // this CPU cannot run it
    ++checked_levels;
    uint64_t seed = 1;
    for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
      for (size_t d : {1u, 3u, 16u, 17u, 100u}) {
        for (size_t k : {1u, 2u, 15u, 16u, 17u, 31u, 32u, 33u, 100u}) {
          for (size_t n : {1u, 5u, 6u, 7u, 47u, 48u, 49u, 101u}) {
            const bool norm = m == Metric::kCosine;
            const auto x = random_rows(n, d, ++seed, norm);
            const auto c = random_rows(k, d, ++seed, norm);
            auto packed = pack_centroids(m, c.data(), k, d);
            ASSERT_TRUE(packed.is_ok()) << packed.status().to_string();
            std::vector<uint32_t> best(n);
            std::vector<float> d1(n), d2(n);
            fn(packed->data.data(), packed->bias.data(), packed->scale, packed->panels, d, x.data(),
               n, best.data(), d1.data(), d2.data());
            for (size_t i = 0; i < n; ++i) {
              const Brute b = brute(m, x.data() + i * d, c, k, d);
              double xn = 0;
              for (size_t j = 0; j < d; ++j) xn += static_cast<double>(x[i * d + j]) * x[i * d + j];
              const double add = m == Metric::kL2 ? xn : 0.0;
              const double tol = 1e-4 * (1.0 + xn + static_cast<double>(d));
              SCOPED_TRACE(::testing::Message() << simd_level_name(level) << " metric "
                                                << static_cast<int>(m) << " n " << n << " k " << k
                                                << " d " << d << " row " << i);
              ASSERT_LT(best[i], k);
              // The chosen centroid is a nearest one (near-ties may pick either).
              EXPECT_NEAR(d1[i] + add, b.d1, tol);
              const Brute chosen = brute(m, x.data() + i * d, std::vector<float>(c.begin() + best[i] * d, c.begin() + (best[i] + 1) * d), 1, d);
              EXPECT_NEAR(chosen.d1, b.d1, tol);
              if (k == 1) {
                EXPECT_TRUE(std::isinf(d2[i]));
              } else {
                EXPECT_NEAR(d2[i] + add, b.d2, tol);
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GE(checked_levels, 1u);
}

TEST(NearestCentroidsTest, TiesGoToTheSmallerIndex) {
  const size_t d = 8, k = 40;
  // Every centroid equal: all distances tie; index 0 must win, the runner-up ties with it.
  std::vector<float> c(k * d, 0.5f), x(7 * d, 1.0f);
  // Centroid 33 and 35 closer than the rest but equal to each other.
  for (size_t j = 0; j < d; ++j) c[33 * d + j] = c[35 * d + j] = 0.9f;
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    const internal::NearestTwoFn fn = internal::nearest_two_for(level);
    if (fn == nullptr) continue;
    auto packed = pack_centroids(Metric::kL2, c.data(), k, d);
    ASSERT_TRUE(packed.is_ok());
    std::vector<uint32_t> best(7);
    std::vector<float> d1(7), d2(7);
    fn(packed->data.data(), packed->bias.data(), packed->scale, packed->panels, d, x.data(), 7,
       best.data(), d1.data(), d2.data());
    for (size_t i = 0; i < 7; ++i) {
      EXPECT_EQ(best[i], 33u) << simd_level_name(level);
      EXPECT_FLOAT_EQ(d1[i], d2[i]) << simd_level_name(level);
    }
  }
}

TEST(NearestCentroidsTest, WrapperGivesTrueDistancesAndOptionalOutputs) {
  const size_t d = 5, k = 3, n = 300;
  const std::vector<float> c = {0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 10, 0, 0, 0};
  std::vector<float> x(n * d, 0.0f);
  for (size_t i = 0; i < n; ++i) x[i * d] = static_cast<float>(i % 11);  // on the first axis
  auto packed = pack_centroids(Metric::kL2, c.data(), k, d);
  ASSERT_TRUE(packed.is_ok());
  std::vector<uint32_t> best(n);
  std::vector<float> d1(n), d2(n);
  nearest_two(*packed, x.data(), n, best.data(), d1.data(), d2.data());
  for (size_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(i % 11);
    EXPECT_EQ(best[i], v <= 5.0f ? 0u : 1u);
    float all[3] = {v * v, (v - 10) * (v - 10), v * v + 100};
    std::sort(all, all + 3);
    EXPECT_NEAR(d1[i], all[0], 1e-3);
    EXPECT_NEAR(d2[i], all[1], 1e-3);
  }
  std::vector<uint32_t> only(n);
  nearest_two(*packed, x.data(), n, only.data(), nullptr, nullptr);
  EXPECT_EQ(only, best);
}

TEST(NearestCentroidsTest, BadShapesAreRefused) {
  const std::vector<float> c(8, 1.0f);
  EXPECT_EQ(pack_centroids(Metric::kL1, c.data(), 2, 4).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pack_centroids(Metric::kL2, c.data(), 0, 4).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pack_centroids(Metric::kL2, c.data(), 2, 0).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vecstream
