// Sq8FlatIndex: recall against FlatIndex for every metric (per-dimension and uniform ranges),
// training rules, upsert / remove / filters, persistence and damaged files, bad input.
#include <gtest/gtest.h>

#include <limits>

#include "core/bitset.h"
#include "index/sq8_flat_index.h"
#include "support/index_checks.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

using testing::clustered;
using testing::iota_ids;
using testing::recall_at_k;

Sq8FlatParams params(bool uniform = false) {
  Sq8FlatParams p;
  p.sq.uniform = uniform;
  p.threads = 2;
  p.min_train_rows = 500;
  return p;
}

class Sq8FlatMetricTest : public ::testing::TestWithParam<std::tuple<Metric, bool>> {};

// n = 8000, d = 32, 100 clusters of spread 0.5. Floor: recall@10 >= 0.95 for per-dimension and
// uniform ranges alike (measured 0.985 .. 0.996; the values are printed).
TEST_P(Sq8FlatMetricTest, RecallAgainstFlat) {
  const auto [m, uniform] = GetParam();
  const size_t n = 8000, nq = 200, d = 32, k = 10;
  auto all = clustered(n + nq, d, 100, 31, 0.5f);
  std::vector<float> base(all.begin(), all.begin() + n * d), queries(all.begin() + n * d, all.end());
  auto idx = Sq8FlatIndex::create(d, m, params(uniform));
  ASSERT_TRUE(idx.is_ok());
  auto ids = iota_ids(n, 10);
  ASSERT_TRUE((*idx)->add_batch(ids, base).is_ok());  // trains on the batch
  ASSERT_TRUE((*idx)->is_trained());
  auto exact = testing::exact_copy(d, m, ids, base);
  const double r = recall_at_k(**idx, *exact, queries, k, {});
  std::printf("[sq8_flat %s %s] recall@10 %.3f, %.1f bytes/vector\n", std::string(metric_name(m)).c_str(),
              uniform ? "uniform" : "per_dim", r, double((*idx)->memory_bytes()) / n);
  EXPECT_GE(r, 0.95);
  // Memory: codes (d bytes) + id (8) + map entry, well under the 4*d floats of a flat index.
  EXPECT_LT((*idx)->memory_bytes(), n * d * sizeof(float));
  testing::expect_batch_matches_single(**idx, queries, k);
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, Sq8FlatMetricTest,
                         ::testing::Combine(::testing::Values(Metric::kL2, Metric::kInnerProduct,
                                                              Metric::kCosine, Metric::kL1),
                                            ::testing::Bool()));

TEST(Sq8FlatIndexTest, TrainingRules) {
  const size_t d = 8;
  auto data = clustered(1000, d, 10, 3);
  auto idx = std::move(*Sq8FlatIndex::create(d, Metric::kL2, params()));
  EXPECT_EQ(idx->add(1, std::span<const float>(data.data(), d)).code(), StatusCode::kFailedPrecondition);
  Status s = idx->add_batch(iota_ids(10), std::span<const float>(data.data(), 10 * d));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("train()"), std::string::npos);
  ASSERT_TRUE(idx->train(data, 1000).is_ok());
  EXPECT_EQ(idx->train(data, 1000).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(idx->add_batch(iota_ids(10), std::span<const float>(data.data(), 10 * d)).is_ok());
  EXPECT_EQ(idx->size(), 10u);
  EXPECT_EQ(idx->describe(), "sq8_flat(per_dim)");
  EXPECT_EQ(idx->train(data, 0).code(), StatusCode::kInvalidArgument);
}

TEST(Sq8FlatIndexTest, UpsertRemoveAndFilter) {
  const size_t d = 16, n = 2000;
  auto data = clustered(n, d, 20, 4);
  Sq8FlatParams p = params();
  p.sq.margin = 2.0f;  // room for the far point below
  auto idx = std::move(*Sq8FlatIndex::create(d, Metric::kL2, p));
  ASSERT_TRUE(idx->add_batch(iota_ids(n), data).is_ok());
  std::vector<float> far(d, 3.0f);
  ASSERT_TRUE(idx->add(5, far).is_ok());
  EXPECT_EQ(idx->size(), n);
  std::vector<Neighbor> out(10);
  size_t nf = 0;
  ASSERT_TRUE(idx->search(far, 3, {}, out, &nf).is_ok());
  EXPECT_EQ(out[0].id, 5u);
  ASSERT_TRUE(idx->remove(5).is_ok());
  EXPECT_FALSE(idx->contains(5));
  EXPECT_EQ(idx->remove(5).code(), StatusCode::kNotFound);
  ASSERT_TRUE(idx->search(far, 3, {}, out, &nf).is_ok());
  for (size_t i = 0; i < nf; ++i) EXPECT_NE(out[i].id, 5u);
  Bitset allow(n);
  for (Id id = 3; id < n; id += 150) allow.set(id);
  IdFilter f;
  f.allow = &allow;
  SearchParams sp;
  sp.filter = &f;
  ASSERT_TRUE(idx->search({data.data(), d}, 10, sp, out, &nf).is_ok());
  EXPECT_EQ(nf, 10u);
  for (size_t i = 0; i < nf; ++i) EXPECT_TRUE(allow.test(out[i].id));
}

TEST(Sq8FlatIndexTest, SaveLoadAndCorruption) {
  const size_t d = 12, n = 1500;
  auto data = clustered(n, d, 15, 5);
  auto idx = std::move(*Sq8FlatIndex::create(d, Metric::kInnerProduct, params(true)));
  ASSERT_TRUE(idx->add_batch(iota_ids(n, 50), data).is_ok());
  ASSERT_TRUE(idx->remove(60).is_ok());
  const std::string path = testing::temp_path("sq8_flat", "rt");
  ASSERT_TRUE(idx->save(path).is_ok());
  auto loaded = Sq8FlatIndex::load(path, 2);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->size(), n - 1);
  EXPECT_EQ((*loaded)->describe(), idx->describe());
  std::vector<float> queries(data.begin(), data.begin() + 30 * d);
  testing::expect_same_results(*idx, **loaded, queries, 5);
  testing::expect_corruption_on_damage(path, [](const std::string& p) {
    return Sq8FlatIndex::load(p, 1).status();
  });
  std::remove(path.c_str());
}

TEST(Sq8FlatIndexTest, BadInput) {
  EXPECT_EQ(Sq8FlatIndex::create(0, Metric::kL2, params()).status().code(), StatusCode::kInvalidArgument);
  Sq8FlatParams p = params();
  p.sq.clip_quantile = 0.7;
  EXPECT_EQ(Sq8FlatIndex::create(4, Metric::kL2, p).status().code(), StatusCode::kInvalidArgument);
  const size_t d = 4;
  auto data = clustered(600, d, 3, 6);
  auto idx = std::move(*Sq8FlatIndex::create(d, Metric::kCosine, params()));
  auto bad = data;
  bad[7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(idx->add_batch(iota_ids(600), bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->train(bad, 600).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(idx->is_trained());
  ASSERT_TRUE(idx->add_batch(iota_ids(600), data).is_ok());
  std::vector<float> zero(d, 0.0f);
  EXPECT_EQ(idx->add(1, zero).code(), StatusCode::kInvalidArgument);
  std::vector<Neighbor> out(10);
  size_t nf = 0;
  EXPECT_EQ(idx->search({data.data(), d}, 0, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->search(zero, 1, {}, out, &nf).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vecstream
