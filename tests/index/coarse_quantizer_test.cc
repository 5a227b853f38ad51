// CoarseQuantizer: probe order against a brute-force ranking for every metric, batched assign ==
// probe(1), cosine normalisation, save/load round trip and corrupted bodies, bad arguments.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <random>
#include <unistd.h>

#include "core/distance.h"
#include "index/coarse_quantizer.h"
#include "index/index_file.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

using testing::clustered;

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/vs_cq_" + name + "_" + std::to_string(::getpid());
}

class CoarseMetricTest : public ::testing::TestWithParam<Metric> {};

TEST_P(CoarseMetricTest, ProbeMatchesBruteForceAndAssign) {
  const Metric m = GetParam();
  const size_t n = 3000, d = 20, nlist = 40;
  auto x = clustered(n, d, 25, 11);
  KMeansParams base;
  base.threads = 2;
  auto q = CoarseQuantizer::train(x, n, d, m, nlist, base);
  ASSERT_TRUE(q.is_ok()) << q.status().to_string();
  EXPECT_EQ(q->nlist(), nlist);
  EXPECT_EQ(q->dim(), d);
  EXPECT_EQ(q->metric(), m);
  if (m == Metric::kCosine) {
    for (size_t l = 0; l < nlist; ++l) {
      EXPECT_NEAR(kernels().dot(q->centroid(l), q->centroid(l), d), 1.0f, 1e-4f);
    }
    for (size_t i = 0; i < n; ++i) normalize_l2(x.data() + i * d, d);
  }
  std::vector<uint32_t> lists(n);
  ASSERT_TRUE(q->assign(x, n, lists, 2).is_ok());
  std::vector<float> scratch(nlist), dists(nlist);
  std::vector<uint32_t> probed(nlist);
  std::vector<size_t> sizes(nlist);
  for (size_t i = 0; i < n; ++i) {
    const float* row = x.data() + i * d;
    ASSERT_EQ(q->probe(row, 7, probed.data(), dists.data(), scratch.data()), 7u);
    std::vector<std::pair<float, uint32_t>> ref;
    for (size_t l = 0; l < nlist; ++l) {
      ref.push_back({metric_distance(kernels(), m, row, q->centroid(l), d), static_cast<uint32_t>(l)});
    }
    std::sort(ref.begin(), ref.end());
    for (size_t j = 0; j < 7; ++j) {
      EXPECT_EQ(probed[j], ref[j].second);
      EXPECT_FLOAT_EQ(dists[j], ref[j].first);
    }
    // The GEMM assignment agrees with the probe up to near ties.
    const float assigned = metric_distance(kernels(), m, row, q->centroid(lists[i]), d);
    EXPECT_NEAR(assigned, dists[0], 1e-3f * (1 + std::fabs(dists[0])));
    ++sizes[lists[i]];
  }
  // Every list is used (k-means++ on clustered data).
  EXPECT_EQ(std::count(sizes.begin(), sizes.end(), size_t{0}), 0);
  // nprobe above nlist is clamped.
  EXPECT_EQ(q->probe(x.data(), 1000, probed.data(), dists.data(), scratch.data()), nlist);
  EXPECT_TRUE(std::is_sorted(dists.begin(), dists.end()));
}

// With many lists the probe pre-selects on 8-bit codes of the centroids and re-scores exactly
// (coarse_quantizer.h); the lists must still be the brute-force ranking's, for every nprobe.
TEST_P(CoarseMetricTest, CodedProbeMatchesBruteForce) {
  const Metric m = GetParam();
  const size_t n = 6000, d = 48, nlist = 256;
  auto x = clustered(n, d, 60, 5);
  KMeansParams base;
  base.threads = 2;
  base.iterations = 8;
  auto q = CoarseQuantizer::train(x, n, d, m, nlist, base);
  ASSERT_TRUE(q.is_ok()) << q.status().to_string();
  if (m == Metric::kCosine) {
    for (size_t i = 0; i < n; ++i) normalize_l2(x.data() + i * d, d);
  }
  std::vector<float> scratch(nlist), dists(nlist);
  std::vector<uint32_t> probed(nlist);
  size_t checked = 0;
  for (size_t i = 0; i < n; i += 7) {
    const float* row = x.data() + i * d;
    std::vector<std::pair<float, uint32_t>> ref;
    for (size_t l = 0; l < nlist; ++l) {
      ref.push_back({metric_distance(kernels(), m, row, q->centroid(l), d), static_cast<uint32_t>(l)});
    }
    std::sort(ref.begin(), ref.end());
    for (size_t nprobe : {1, 8, 40}) {
      ASSERT_EQ(q->probe(row, nprobe, probed.data(), dists.data(), scratch.data()), nprobe);
      for (size_t j = 0; j < nprobe; ++j) {
        const float tol = 1e-4f * (1.0f + std::fabs(ref[j].first));
        ASSERT_NEAR(dists[j], ref[j].first, tol) << "query " << i << " nprobe " << nprobe << " rank " << j;
        // Same list unless two lists are tied within float rounding.
        if (j + 1 < nlist && ref[j + 1].first - ref[j].first > tol && (j == 0 || ref[j].first - ref[j - 1].first > tol)) {
          ASSERT_EQ(probed[j], ref[j].second) << "query " << i << " nprobe " << nprobe << " rank " << j;
        }
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 2000u);
}

// Centroids nearly equidistant from the query (differences far below the codes' error): the
// estimates cannot rank them, the bound check fails, and the probe must fall back to the exact
// ranking rather than return the estimates' order.
TEST(CoarseQuantizerTest, CodedProbeFallsBackWhenCodesCannotDecide) {
  const size_t d = 32, nlist = 128;
  std::mt19937_64 rng(3);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> c(nlist * d);
  for (size_t l = 0; l < nlist; ++l) {
    float* row = c.data() + l * d;
    for (size_t j = 0; j < d; ++j) row[j] = g(rng);
    normalize_l2(row, d);
    // Radius grows with a scrambled rank: the true order is a fixed permutation of the lists.
    const size_t rank = (l * 37) % nlist;
    for (size_t j = 0; j < d; ++j) row[j] *= 1.0f + 1e-5f * static_cast<float>(rank);
  }
  auto q = CoarseQuantizer::from_centroids(c, nlist, d, Metric::kL2);
  ASSERT_TRUE(q.is_ok());
  const std::vector<float> origin(d, 0.0f);
  std::vector<float> scratch(nlist), dists(nlist);
  std::vector<uint32_t> probed(nlist);
  ASSERT_EQ(q->probe(origin.data(), 10, probed.data(), dists.data(), scratch.data()), 10u);
  for (size_t j = 0; j < 10; ++j) {
    EXPECT_EQ((probed[j] * 37) % nlist, j) << "rank " << j;  // list of rank j
  }
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, CoarseMetricTest,
                         ::testing::Values(Metric::kL2, Metric::kInnerProduct, Metric::kCosine,
                                           Metric::kL1));

TEST(CoarseQuantizerTest, SaveLoadAndCorruption) {
  const size_t n = 800, d = 9, nlist = 16;
  auto x = clustered(n, d, 10, 12);
  auto q = CoarseQuantizer::train(x, n, d, Metric::kL2, nlist, {});
  ASSERT_TRUE(q.is_ok());
  const std::string path = temp_path("rt");
  {
    auto w = IndexFileWriter::open(path, IndexKind::kIvfFlat, 1);
    ASSERT_TRUE(w.is_ok());
    q->save(**w);
    ASSERT_TRUE((*w)->commit().is_ok());
  }
  {
    auto r = IndexFileReader::open(path, IndexKind::kIvfFlat, 1);
    ASSERT_TRUE(r.is_ok());
    auto l = CoarseQuantizer::load(**r);
    ASSERT_TRUE(l.is_ok()) << l.status().to_string();
    EXPECT_EQ(l->nlist(), nlist);
    EXPECT_TRUE(std::equal(q->centroids().begin(), q->centroids().end(), l->centroids().begin()));
  }
  // A body with a bad list count or a NaN centroid is CORRUPTION (the file CRC is valid).
  auto write_body = [&](uint64_t dim, uint64_t lists, uint32_t metric, std::vector<float> c) {
    auto w = IndexFileWriter::open(path, IndexKind::kIvfFlat, 1);
    (*w)->put<uint64_t>(dim);
    (*w)->put<uint64_t>(lists);
    (*w)->put<uint32_t>(metric);
    (*w)->put_vector(c);
    EXPECT_TRUE((*w)->commit().is_ok());
    auto r = IndexFileReader::open(path, IndexKind::kIvfFlat, 1);
    return CoarseQuantizer::load(**r).status().code();
  };
  std::vector<float> c(q->centroids().begin(), q->centroids().end());
  EXPECT_EQ(write_body(d, nlist, 0, c), StatusCode::kOk);
  EXPECT_EQ(write_body(d, nlist + 1, 0, c), StatusCode::kCorruption);
  EXPECT_EQ(write_body(0, nlist, 0, c), StatusCode::kCorruption);
  EXPECT_EQ(write_body(d, nlist, 9, c), StatusCode::kCorruption);
  EXPECT_EQ(write_body(d, uint64_t{1} << 62, 0, c), StatusCode::kCorruption);
  c[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(write_body(d, nlist, 0, c), StatusCode::kCorruption);
  std::remove(path.c_str());
}

TEST(CoarseQuantizerTest, BadArguments) {
  const size_t n = 50, d = 4;
  auto x = clustered(n, d, 3, 13);
  EXPECT_EQ(CoarseQuantizer::train(x, n, d, Metric::kL2, 0, {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CoarseQuantizer::train(x, n, d, Metric::kL2, n + 1, {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CoarseQuantizer::train(x, n, 0, Metric::kL2, 4, {}).status().code(),
            StatusCode::kInvalidArgument);
  auto zero = x;
  std::fill(zero.begin(), zero.begin() + d, 0.0f);
  EXPECT_EQ(CoarseQuantizer::train(zero, n, d, Metric::kCosine, 4, {}).status().code(),
            StatusCode::kInvalidArgument);
  auto nan = x;
  nan[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(CoarseQuantizer::train(nan, n, d, Metric::kCosine, 4, {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CoarseQuantizer::train(nan, n, d, Metric::kL2, 4, {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(CoarseQuantizer::from_centroids({1, 2, 3}, 2, 2, Metric::kL2).is_ok());
  EXPECT_TRUE(CoarseQuantizer::from_centroids({1, 2, 3, 4}, 2, 2, Metric::kL2).is_ok());
}

}  // namespace
}  // namespace vecstream
