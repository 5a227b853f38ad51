// distance_matrix against the one-pair kernels, for every metric and for shapes at the edges of
// both of its routes (SIMD kernels for small batches, blocked sgemm for larger ones): one query,
// one base row, base sets spanning several internal blocks, tiny and large dimensions, with and
// without precomputed base norms.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/distance.h"
#include "core/distance_matrix.h"

namespace vecstream {
namespace {

constexpr Metric kAllMetrics[] = {Metric::kL2, Metric::kInnerProduct, Metric::kCosine,
                                  Metric::kL1};

struct Shape {
  size_t nq, nb, d;
};

std::string describe(const Shape& s) {
  return "nq=" + std::to_string(s.nq) + " nb=" + std::to_string(s.nb) + " d=" + std::to_string(s.d);
}

std::vector<float> random_rows(std::mt19937& rng, size_t n, size_t d, bool normalise) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n * d);
  for (float& x : v) x = dist(rng);
  if (normalise) {
    for (size_t i = 0; i < n; ++i) normalize_l2(v.data() + i * d, d);
  }
  return v;
}

// Scale of the float rounding error of one entry: the GEMM route for L2 computes
// |q|^2 + |x|^2 - 2<q,x>, so its error scales with the norms, not with the distance.
double error_scale(Metric m, const float* q, const float* x, size_t d) {
  double s = 0.0;
  for (size_t i = 0; i < d; ++i) {
    switch (m) {
      case Metric::kL2: s += double{q[i]} * q[i] + double{x[i]} * x[i]; break;
      case Metric::kInnerProduct: s += std::fabs(double{q[i]} * x[i]); break;
      case Metric::kCosine: s += std::fabs(double{q[i]} * x[i]); break;
      case Metric::kL1: s += std::fabs(double{q[i]} - x[i]); break;
    }
  }
  return s + (m == Metric::kCosine ? 1.0 : 0.0);
}

void check_against_pairs(Metric m, const Shape& s, const std::vector<float>& q,
                         const std::vector<float>& base, const std::vector<float>& out) {
  const DistanceKernels& k = kernels();
  size_t failures = 0;
  for (size_t i = 0; i < s.nq && failures < 10; ++i) {
    for (size_t j = 0; j < s.nb && failures < 10; ++j) {
      const float* qi = q.data() + i * s.d;
      const float* xj = base.data() + j * s.d;
      const float want = metric_distance(k, m, qi, xj, s.d);
      const double tol = 1e-4 * error_scale(m, qi, xj, s.d) + 1e-6;
      const float got = out[i * s.nb + j];
      if (!(std::fabs(double{got} - want) <= tol)) {
        ++failures;
        ADD_FAILURE() << "out[" << i << "][" << j << "] = " << got << ", pair kernel " << want
                      << ", tolerance " << tol;
      }
      if (m == Metric::kL2 && got < 0.0f) {
        ++failures;
        ADD_FAILURE() << "negative L2 distance at [" << i << "][" << j << "]";
      }
    }
  }
}

TEST(DistanceMatrix, MatchesPairKernelsForAllMetricsAndShapes) {
  // Batches under 8 queries go through the SIMD kernels, larger ones through blocked sgemm
  // (4096 base rows per block): both routes, each with one row, one block and several blocks.
  const Shape shapes[] = {
      // kernel route
      {1, 1, 1}, {1, 1, 784}, {3, 1, 3}, {1, 7, 1}, {5, 17, 3}, {1, 5000, 3}, {7, 5000, 784},
      {7, 33, 0},
      // sgemm route
      {8, 1, 784}, {8, 1, 1}, {9, 17, 3}, {8, 4097, 1}, {9, 5000, 784}, {12, 9000, 17},
      {8, 33, 0},
  };
  std::mt19937 rng(11);
  for (const Shape& s : shapes) {
    for (Metric m : kAllMetrics) {
      const bool normalise = metric_normalizes(m);
      const std::vector<float> q = random_rows(rng, s.nq, s.d, normalise);
      const std::vector<float> base = random_rows(rng, s.nb, s.d, normalise);
      std::vector<float> norms(s.nb);
      row_norms_sq(base.data(), s.nb, s.d, norms.data());
      for (bool with_norms : {false, true}) {
        SCOPED_TRACE(describe(s) + " " + std::string(metric_name(m)) +
                     (with_norms ? " precomputed norms" : " norms on the fly"));
        // NaN everywhere, one guard entry past the end: every entry must be written, no more.
        const float guard = -7.0f;
        std::vector<float> out(s.nq * s.nb + 1, std::numeric_limits<float>::quiet_NaN());
        out.back() = guard;
        distance_matrix(m, q.data(), s.nq, base.data(), s.nb, s.d,
                        with_norms ? norms.data() : nullptr, out.data());
        EXPECT_EQ(out.back(), guard);
        out.pop_back();
        check_against_pairs(m, s, q, base, out);
      }
    }
  }
}

TEST(DistanceMatrix, RowNormsMatchDoublePrecision) {
  std::mt19937 rng(12);
  for (size_t d : {0, 1, 3, 17, 784}) {
    SCOPED_TRACE(d);
    constexpr size_t kRows = 9;
    const std::vector<float> x = random_rows(rng, kRows, d, false);
    std::vector<float> norms(kRows + 1, -1.0f);
    row_norms_sq(x.data(), kRows, d, norms.data());
    for (size_t i = 0; i < kRows; ++i) {
      double want = 0.0;
      for (size_t t = 0; t < d; ++t) want += double{x[i * d + t]} * x[i * d + t];
      EXPECT_NEAR(norms[i], want, 1e-5 * want + 1e-30);
    }
    EXPECT_EQ(norms[kRows], -1.0f);
  }
}

// Identical rows with large norms: the identity cancels catastrophically, yet the distance must
// stay non-negative and small.
TEST(DistanceMatrix, DuplicateRowsGiveNonNegativeNearZeroL2) {
  std::mt19937 rng(13);
  constexpr size_t kD = 784, kN = 16;
  std::vector<float> x = random_rows(rng, kN, kD, false);
  for (float& v : x) v = v * 100.0f + 50.0f;
  std::vector<float> out(kN * kN);
  distance_matrix(Metric::kL2, x.data(), kN, x.data(), kN, kD, nullptr, out.data());
  for (size_t i = 0; i < kN; ++i) {
    double norm = 0.0;
    for (size_t t = 0; t < kD; ++t) norm += double{x[i * kD + t]} * x[i * kD + t];
    EXPECT_GE(out[i * kN + i], 0.0f);
    EXPECT_LE(out[i * kN + i], 1e-4 * 2.0 * norm);
    for (size_t j = 0; j < kN; ++j) EXPECT_GE(out[i * kN + j], 0.0f);
  }
}

TEST(DistanceMatrix, EmptyInputsWriteNothing) {
  const float x[3] = {1.0f, 2.0f, 3.0f};
  float out[1] = {-3.0f};
  for (Metric m : kAllMetrics) {
    distance_matrix(m, x, 0, x, 1, 3, nullptr, out);
    distance_matrix(m, x, 1, x, 0, 3, nullptr, out);
    EXPECT_EQ(out[0], -3.0f);
  }
}

// Callers split queries over their own threads; concurrent calls must give the single-threaded
// answer bit for bit (and OpenBLAS must not be confused by them).
TEST(DistanceMatrix, ConcurrentCallsAgreeWithSequential) {
  constexpr size_t kThreads = 4, kNq = 8, kNb = 5000, kD = 64;
  std::mt19937 rng(14);
  const std::vector<float> q = random_rows(rng, kThreads * kNq, kD, false);
  const std::vector<float> base = random_rows(rng, kNb, kD, false);
  for (Metric m : kAllMetrics) {
    SCOPED_TRACE(metric_name(m));
    std::vector<float> sequential(kThreads * kNq * kNb);
    for (size_t t = 0; t < kThreads; ++t) {
      distance_matrix(m, q.data() + t * kNq * kD, kNq, base.data(), kNb, kD, nullptr,
                      sequential.data() + t * kNq * kNb);
    }
    std::vector<float> parallel(sequential.size());
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int rep = 0; rep < 3; ++rep) {
          distance_matrix(m, q.data() + t * kNq * kD, kNq, base.data(), kNb, kD, nullptr,
                          parallel.data() + t * kNq * kNb);
        }
      });
    }
    for (std::thread& th : threads) th.join();
    EXPECT_EQ(parallel, sequential);
  }
}

}  // namespace
}  // namespace vecstream
