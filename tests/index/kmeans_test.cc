// k-means: reproducibility for a seed (across thread counts), a decreasing objective, recovery
// of well-separated clusters, empty-cluster repair on duplicated points, GEMM assignment against a
// brute-force reference, and bad arguments.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "core/distance.h"
#include "index/kmeans.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

using testing::clustered;

TEST(KMeansTest, ReproducibleForSeedAndThreadCount) {
  const size_t n = 4000, d = 24;
  auto x = clustered(n, d, 30, 1);
  KMeansParams p;
  p.k = 32;
  p.seed = 7;
  p.threads = 1;
  auto a = kmeans(x, n, d, p);
  p.threads = 3;
  auto b = kmeans(x, n, d, p);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(a->centroids, b->centroids);
  EXPECT_EQ(a->objective, b->objective);
  EXPECT_EQ(a->iterations_run, b->iterations_run);
  p.seed = 8;
  auto c = kmeans(x, n, d, p);
  ASSERT_TRUE(c.is_ok());
  EXPECT_NE(a->centroids, c->centroids);
}

TEST(KMeansTest, ObjectiveDecreasesAndBeatsInit) {
  const size_t n = 6000, d = 32;
  auto x = clustered(n, d, 50, 2);
  std::vector<double> objectives;
  KMeansParams p;
  p.k = 64;
  p.iterations = 15;
  p.threads = 2;
  p.progress = [&](size_t it, double obj) {
    EXPECT_EQ(it, objectives.size());
    objectives.push_back(obj);
  };
  auto r = kmeans(x, n, d, p);
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(objectives.size(), r->iterations_run);
  ASSERT_GE(objectives.size(), 2u);
  for (size_t i = 1; i < objectives.size(); ++i) {
    // Lloyd never increases the objective (a little slack for float rounding).
    EXPECT_LE(objectives[i], objectives[i - 1] * (1 + 1e-5)) << i;
  }
  EXPECT_LT(objectives.back(), objectives.front());
  EXPECT_EQ(r->objective, objectives.back());
  EXPECT_EQ(r->centroids.size(), p.k * d);
  EXPECT_TRUE(all_finite(r->centroids.data(), r->centroids.size()));
  // The objective equals the sum of squared distances to the assigned centroids... of the
  // centroids the last iteration assigned to, which the update then moved closer: recomputing
  // against the final centroids can only be lower or equal.
  std::vector<uint32_t> assign(n);
  std::vector<float> dist(n);
  ASSERT_TRUE(assign_nearest(x, n, d, r->centroids, p.k, assign, dist, 2).is_ok());
  double total = 0;
  for (float v : dist) total += v;
  EXPECT_LE(total, r->objective * (1 + 1e-4));
}

TEST(KMeansTest, RecoversSeparatedClusters) {
  // 8 tight clusters far apart: k = 8 must put one centroid on each.
  const size_t per = 200, k = 8, d = 5;
  std::vector<float> x;
  std::vector<float> centres;
  for (size_t c = 0; c < k; ++c) {
    for (size_t j = 0; j < d; ++j) centres.push_back(static_cast<float>((c * 7 + j * 3) % 11) * 10.0f);
  }
  std::mt19937_64 rng(3);
  std::normal_distribution<float> g(0, 0.1f);
  for (size_t c = 0; c < k; ++c) {
    for (size_t i = 0; i < per; ++i) {
      for (size_t j = 0; j < d; ++j) x.push_back(centres[c * d + j] + g(rng));
    }
  }
  KMeansParams p;
  p.k = k;
  p.threads = 2;
  auto r = kmeans(x, per * k, d, p);
  ASSERT_TRUE(r.is_ok());
  std::set<size_t> hit;
  for (size_t c = 0; c < k; ++c) {
    size_t best = 0;
    float bd = std::numeric_limits<float>::infinity();
    for (size_t l = 0; l < k; ++l) {
      float v = kernels().l2sq(centres.data() + c * d, r->centroids.data() + l * d, d);
      if (v < bd) bd = v, best = l;
    }
    EXPECT_LT(bd, 0.05f) << "cluster " << c;
    hit.insert(best);
  }
  EXPECT_EQ(hit.size(), k);
  EXPECT_LT(r->iterations_run, 20u);  // converged early
}

TEST(KMeansTest, EmptyClustersOnDuplicatedPoints) {
  // 10 distinct points, each repeated 50 times, k = 10 and k = 25: no NaN, and every distinct
  // point ends on a centroid. With k > distinct points some cluster is always empty, so every
  // iteration splits one and the pair sits a split nudge (~1e-3 relative) away from its rows.
  const size_t distinct = 10, reps = 50, d = 6;
  std::vector<float> x;
  for (size_t r = 0; r < reps; ++r) {
    for (size_t p = 0; p < distinct; ++p) {
      for (size_t j = 0; j < d; ++j) x.push_back(static_cast<float>(p * 3 + j));
    }
  }
  const size_t n = distinct * reps;
  for (size_t k : {size_t{10}, size_t{25}}) {
    KMeansParams p;
    p.k = k;
    p.threads = 2;
    auto r = kmeans(x, n, d, p);
    ASSERT_TRUE(r.is_ok()) << k;
    EXPECT_TRUE(all_finite(r->centroids.data(), r->centroids.size())) << k;
    EXPECT_LT(r->objective, 0.05 * n) << k;
    for (size_t p = 0; p < distinct; ++p) {
      float best = std::numeric_limits<float>::infinity();
      for (size_t l = 0; l < k; ++l) {
        best = std::min(best, kernels().l2sq(x.data() + p * d, r->centroids.data() + l * d, d));
      }
      EXPECT_LT(best, 0.05f) << k << " " << p;
    }
  }
  // All rows identical: every centroid is that row (within the split nudges).
  std::vector<float> same(300 * d, 1.5f);
  KMeansParams p;
  p.k = 4;
  auto r = kmeans(same, 300, d, p);
  ASSERT_TRUE(r.is_ok());
  for (float v : r->centroids) EXPECT_NEAR(v, 1.5f, 0.01f);
}

TEST(KMeansTest, SampleAndSpherical) {
  const size_t n = 5000, d = 16;
  auto x = clustered(n, d, 20, 4);
  KMeansParams p;
  p.k = 10;
  p.max_points_per_centroid = 40;  // trains on 400 sampled rows
  p.spherical = true;
  p.threads = 2;
  auto r = kmeans(x, n, d, p);
  ASSERT_TRUE(r.is_ok());
  for (size_t l = 0; l < p.k; ++l) {
    const float* c = r->centroids.data() + l * d;
    EXPECT_NEAR(kernels().dot(c, c, d), 1.0f, 1e-4f);
  }
}

TEST(KMeansTest, AssignNearestMatchesBruteForce) {
  for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kL1}) {
    const size_t n = 777, d = 19, k = 37;
    auto x = clustered(n, d, 10, 5);
    auto c = clustered(k, d, 10, 6);
    std::vector<uint32_t> assign(n);
    std::vector<float> dist(n);
    ASSERT_TRUE(assign_nearest(m, x, n, d, c, k, assign, dist, 2).is_ok());
    for (size_t i = 0; i < n; ++i) {
      float best = std::numeric_limits<float>::infinity();
      for (size_t l = 0; l < k; ++l) {
        best = std::min(best, metric_distance(kernels(), m, x.data() + i * d, c.data() + l * d, d));
      }
      const float got = metric_distance(kernels(), m, x.data() + i * d, c.data() + assign[i] * d, d);
      EXPECT_NEAR(got, best, 1e-3f * (1 + std::fabs(best))) << i;
      EXPECT_NEAR(dist[i], best, 1e-3f * (1 + std::fabs(best))) << i;
    }
  }
}

TEST(KMeansTest, BadArguments) {
  const size_t n = 100, d = 4;
  auto x = clustered(n, d, 3, 7);
  KMeansParams p;
  p.k = 0;
  EXPECT_EQ(kmeans(x, n, d, p).status().code(), StatusCode::kInvalidArgument);
  p.k = n + 1;
  EXPECT_EQ(kmeans(x, n, d, p).status().code(), StatusCode::kInvalidArgument);
  p.k = 5;
  EXPECT_EQ(kmeans(x, n + 1, d, p).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kmeans(x, n, 0, p).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kmeans(std::span<const float>(x).first(n * d - 1), n, d, p).status().code(),
            StatusCode::kInvalidArgument);
  auto bad = x;
  bad[17] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(kmeans(bad, n, d, p).status().code(), StatusCode::kInvalidArgument);
  bad[17] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(kmeans(bad, n, d, p).status().code(), StatusCode::kInvalidArgument);
  std::vector<uint32_t> assign(n);
  std::vector<float> c(5 * d, 0.0f);
  EXPECT_EQ(assign_nearest(x, n, d, c, 0, assign, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(assign_nearest(x, n, d, c, 4, assign, {}).code(), StatusCode::kInvalidArgument);
  std::vector<uint32_t> small(n - 1);
  EXPECT_EQ(assign_nearest(x, n, d, c, 5, small, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(assign_nearest(x, n, d, c, 5, assign, {}, 1).is_ok());
}

}  // namespace
}  // namespace vecstream
