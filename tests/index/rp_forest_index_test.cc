// RpForestIndex: recall against FlatIndex for every metric, bulk vs incremental construction,
// removals keep the trees consistent, duplicates, filters, persistence and damaged files, bad
// parameters.
#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <thread>

#include "core/bitset.h"
#include "index/rp_forest_index.h"
#include "support/index_checks.h"
#include "support/test_data.h"
#include "support/wait.h"

namespace vecstream {
namespace {

using testing::clustered;
using testing::iota_ids;
using testing::recall_at_k;

RpForestParams params(size_t trees = 16) {
  RpForestParams p;
  p.n_trees = trees;
  p.threads = 2;
  return p;
}

class RpForestMetricTest : public ::testing::TestWithParam<Metric> {};

// n = 10000, d = 32, 100 clusters of spread 0.5, 16 trees, automatic leaves (34). Floors:
// default search_k (16 * k * 8 = 1280 candidates) recall@10 >= 0.95 (measured 0.965 IP .. 0.993
// cosine); search_k = 4000 >= 0.99 (measured 0.999 .. 1.000).
TEST_P(RpForestMetricTest, RecallAgainstFlat) {
  const Metric m = GetParam();
  const size_t n = 10000, nq = 200, d = 32, k = 10;
  auto all = clustered(n + nq, d, 100, 41, 0.5f);
  std::vector<float> base(all.begin(), all.begin() + n * d), queries(all.begin() + n * d, all.end());
  auto idx = RpForestIndex::create(d, m, params());
  ASSERT_TRUE(idx.is_ok());
  auto ids = iota_ids(n, 3);
  ASSERT_TRUE((*idx)->add_batch(ids, base).is_ok());
  ASSERT_TRUE((*idx)->TEST_check_invariants().is_ok());
  auto exact = testing::exact_copy(d, m, ids, base);
  const double r_default = recall_at_k(**idx, *exact, queries, k, {});
  SearchParams wide;
  wide.search_k = 4000;
  const double r_wide = recall_at_k(**idx, *exact, queries, k, wide);
  SearchParams narrow;
  narrow.search_k = 200;
  const double r_narrow = recall_at_k(**idx, *exact, queries, k, narrow);
  std::printf("[rp_forest %s] recall@10 search_k=200 %.3f, default %.3f, 4000 %.3f, %.0f bytes/vector\n",
              std::string(metric_name(m)).c_str(), r_narrow, r_default, r_wide,
              double((*idx)->memory_bytes()) / n);
  EXPECT_GE(r_default, 0.95);
  EXPECT_GE(r_wide, 0.99);
  EXPECT_LE(r_narrow, r_wide + 1e-9);
  testing::expect_batch_matches_single(**idx, queries, k);
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, RpForestMetricTest,
                         ::testing::Values(Metric::kL2, Metric::kInnerProduct, Metric::kCosine,
                                           Metric::kL1));

// Half bulk-built, half inserted one by one: incremental splits keep recall close to a bulk
// build of everything (floor: within 0.03 of it, and >= 0.95; measured 0.992 / 0.990).
TEST(RpForestIndexTest, IncrementalInsertsKeepRecall) {
  const size_t n = 8000, nq = 150, d = 24, k = 10;
  auto all = clustered(n + nq, d, 80, 42, 0.5f);
  std::vector<float> base(all.begin(), all.begin() + n * d), queries(all.begin() + n * d, all.end());
  auto bulk = std::move(*RpForestIndex::create(d, Metric::kL2, params()));
  ASSERT_TRUE(bulk->add_batch(iota_ids(n), base).is_ok());
  auto inc = std::move(*RpForestIndex::create(d, Metric::kL2, params()));
  ASSERT_TRUE(inc->add_batch(iota_ids(n / 2), std::span<const float>(base.data(), n / 2 * d)).is_ok());
  for (size_t i = n / 2; i < 3 * n / 4; ++i) {
    ASSERT_TRUE(inc->add(i, std::span<const float>(base.data() + i * d, d)).is_ok());
  }
  // The last quarter as an incremental batch (parallel over trees).
  ASSERT_TRUE(inc->add_batch(iota_ids(n / 4, 3 * n / 4),
                             std::span<const float>(base.data() + 3 * n / 4 * d, n / 4 * d)).is_ok());
  ASSERT_TRUE(inc->TEST_check_invariants().is_ok());
  EXPECT_EQ(inc->size(), n);
  auto exact = testing::exact_copy(d, Metric::kL2, iota_ids(n), base);
  const double rb = recall_at_k(*bulk, *exact, queries, k, {});
  const double ri = recall_at_k(*inc, *exact, queries, k, {});
  std::printf("[rp_forest] recall@10 bulk %.3f, incremental %.3f\n", rb, ri);
  EXPECT_GE(ri, 0.95);
  EXPECT_GE(ri, rb - 0.03);
}

TEST(RpForestIndexTest, RemoveUpsertFilterAndDuplicates) {
  const size_t d = 16, n = 3000;
  auto data = clustered(n, d, 20, 4);
  auto idx = std::move(*RpForestIndex::create(d, Metric::kL2, params(8)));
  ASSERT_TRUE(idx->add_batch(iota_ids(n), data).is_ok());
  // Remove every third point: gone from results, trees consistent, recall on the rest intact.
  std::vector<Id> kept_ids;
  std::vector<float> kept;
  for (size_t i = 0; i < n; ++i) {
    if (i % 3 == 0) {
      ASSERT_TRUE(idx->remove(i).is_ok());
    } else {
      kept_ids.push_back(i);
      kept.insert(kept.end(), data.begin() + i * d, data.begin() + (i + 1) * d);
    }
  }
  EXPECT_EQ(idx->remove(0).code(), StatusCode::kNotFound);
  ASSERT_TRUE(idx->TEST_check_invariants().is_ok());
  EXPECT_EQ(idx->size(), kept_ids.size());
  std::vector<Neighbor> out(10);
  size_t nf = 0;
  for (size_t q = 0; q < 30; ++q) {
    ASSERT_TRUE(idx->search({data.data() + q * 3 * d, d}, 10, {}, out, &nf).is_ok());
    for (size_t i = 0; i < nf; ++i) EXPECT_NE(out[i].id % 3, 0u);
  }
  auto exact = testing::exact_copy(d, Metric::kL2, kept_ids, kept);
  std::vector<float> queries(data.begin(), data.begin() + 100 * d);
  EXPECT_GE(recall_at_k(*idx, *exact, queries, 10, {}), 0.9);
  // Upsert: id 4 moves far away (a reused slot), found there.
  std::vector<float> far(d, 25.0f);
  ASSERT_TRUE(idx->add(4, far).is_ok());
  ASSERT_TRUE(idx->search(far, 1, {}, out, &nf).is_ok());
  EXPECT_EQ(out[0].id, 4u);
  EXPECT_FLOAT_EQ(out[0].distance, 0.0f);
  ASSERT_TRUE(idx->TEST_check_invariants().is_ok());
  // Selective filter with a tiny search_k still returns k allowed points.
  Bitset allow(n);
  for (Id id = 1; id < n; id += 97) {
    if (id % 3 != 0) allow.set(id);
  }
  IdFilter f;
  f.allow = &allow;
  SearchParams sp;
  sp.filter = &f;
  sp.search_k = 10;
  ASSERT_TRUE(idx->search({data.data(), d}, 10, sp, out, &nf).is_ok());
  EXPECT_EQ(nf, 10u);
  for (size_t i = 0; i < nf; ++i) EXPECT_TRUE(allow.test(out[i].id));
  // 500 copies of one point: random splits terminate, every copy is found.
  std::vector<float> same(500 * d, 0.5f);
  ASSERT_TRUE(idx->add_batch(iota_ids(500, 100000), same).is_ok());
  ASSERT_TRUE(idx->TEST_check_invariants().is_ok());
  std::vector<Neighbor> many(500);
  SearchParams sk;
  sk.search_k = 5000;
  ASSERT_TRUE(idx->search(std::span<const float>(same.data(), d), 500, sk, many, &nf).is_ok());
  EXPECT_EQ(nf, 500u);
  for (size_t i = 0; i < nf; ++i) EXPECT_GE(many[i].id, 100000u);
}

TEST(RpForestIndexTest, SearchesConcurrentWithWrites) {
  const size_t d = 16, n = 3000;
  auto data = clustered(n + 500, d, 20, 7);
  auto idx = std::move(*RpForestIndex::create(d, Metric::kL2, params(4)));
  ASSERT_TRUE(idx->add_batch(iota_ids(n), std::span<const float>(data.data(), n * d)).is_ok());
  std::atomic<bool> stop{false};
  std::atomic<size_t> searches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::vector<Neighbor> out(10);
      size_t nf = 0, q = static_cast<size_t>(t);
      while (!stop.load()) {
        Status s = idx->search({data.data() + (q % n) * d, d}, 10, {}, out, &nf);
        EXPECT_TRUE(s.is_ok()) << s.to_string();
        EXPECT_EQ(nf, 10u);
        ++searches;
        q += 7;
      }
    });
  }
  // Writes start only once the readers are searching, so they overlap on any scheduler.
  ASSERT_TRUE(testing::wait_until([&] { return searches.load() > 0; }));
  for (size_t i = 0; i < 500 || (searches.load() < 100 && i < 5000); ++i) {
    const size_t j = i % 500;
    ASSERT_TRUE(idx->add(n + j, std::span<const float>(data.data() + (n + j) * d, d)).is_ok());
    ASSERT_TRUE(idx->remove(j).is_ok());
    ASSERT_TRUE(idx->add(j, std::span<const float>(data.data() + j * d, d)).is_ok());
    ASSERT_TRUE(idx->remove(n + j).is_ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(idx->size(), n);
  EXPECT_GT(searches.load(), 0u);
  ASSERT_TRUE(idx->TEST_check_invariants().is_ok());
}

TEST(RpForestIndexTest, SaveLoadAndCorruption) {
  const size_t d = 10, n = 1500;
  for (Metric m : {Metric::kL2, Metric::kCosine}) {
    auto data = clustered(n, d, 15, 5);
    auto idx = std::move(*RpForestIndex::create(d, m, params(4)));
    ASSERT_TRUE(idx->add_batch(iota_ids(n, 50), data).is_ok());
    ASSERT_TRUE(idx->remove(60).is_ok());
    ASSERT_TRUE(idx->remove(61).is_ok());
    const std::string path = testing::temp_path("rp_forest", "rt");
    ASSERT_TRUE(idx->save(path).is_ok());
    auto loaded = RpForestIndex::load(path, 2);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    EXPECT_EQ((*loaded)->size(), n - 2);
    EXPECT_EQ((*loaded)->describe(), idx->describe());
    ASSERT_TRUE((*loaded)->TEST_check_invariants().is_ok());
    std::vector<float> queries(data.begin(), data.begin() + 40 * d);
    testing::expect_same_results(*idx, **loaded, queries, 7);
    // The loaded forest keeps taking writes (reusing the freed slots).
    ASSERT_TRUE((*loaded)->add(60, std::span<const float>(data.data(), d)).is_ok());
    ASSERT_TRUE((*loaded)->add(7000, std::span<const float>(data.data() + d, d)).is_ok());
    ASSERT_TRUE((*loaded)->remove(70).is_ok());
    ASSERT_TRUE((*loaded)->TEST_check_invariants().is_ok());
    testing::expect_corruption_on_damage(path, [](const std::string& p) {
      return RpForestIndex::load(p, 1).status();
    });
    std::remove(path.c_str());
  }
}

TEST(RpForestIndexTest, BadParametersAndInput) {
  RpForestParams p = params(0);
  EXPECT_EQ(RpForestIndex::create(8, Metric::kL2, p).status().code(), StatusCode::kInvalidArgument);
  p = params(4);
  p.leaf_size = 1;
  EXPECT_EQ(RpForestIndex::create(8, Metric::kL2, p).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RpForestIndex::create(0, Metric::kL2, params()).status().code(), StatusCode::kInvalidArgument);
  auto idx = std::move(*RpForestIndex::create(4, Metric::kCosine, params(2)));
  std::vector<float> nan{1, std::numeric_limits<float>::quiet_NaN(), 0, 0}, zero(4, 0.0f);
  EXPECT_EQ(idx->add(1, nan).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->add(1, zero).code(), StatusCode::kInvalidArgument);
  std::vector<Neighbor> out(2);
  size_t nf = 0;
  std::vector<float> ok{1, 2, 3, 4};
  EXPECT_EQ(idx->search(ok, 1, {}, out, &nf).code(), StatusCode::kInvalidArgument);  // empty
  ASSERT_TRUE(idx->add(1, ok).is_ok());
  EXPECT_EQ(idx->search(ok, 0, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(idx->search(ok, 1, {}, out, &nf).is_ok());
  EXPECT_EQ(out[0].id, 1u);
}

}  // namespace
}  // namespace vecstream
