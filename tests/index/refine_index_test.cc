// RefineIndex: exact re-scoring lifts the recall of quantized and tree bases, distances are the
// exact ones, writes keep base and raw vectors in step, persistence (heap and mapped vectors) and
// damaged or mismatched files, bad parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/bitset.h"
#include "index/ivf_sq8_index.h"
#include "index/refine_index.h"
#include "index/rp_forest_index.h"
#include "index/sq8_flat_index.h"
#include "support/index_checks.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

using testing::clustered;
using testing::iota_ids;
using testing::recall_at_k;

std::unique_ptr<Index> ivf_sq8_base(size_t d, Metric m) {
  IvfSq8Params p;
  p.ivf.nlist = 32;
  p.ivf.nprobe = 32;    // every list: the base's misses come from its 8-bit codes alone
  p.ivf.threads = 2;
  p.sq.uniform = true;  // coarse codes: the base alone ranks worse, refine has work to do
  return std::move(*IvfSq8Index::create(d, m, p));
}

RefineIndex::BaseLoader ivf_sq8_loader() {
  return [](const std::string& p) -> Result<std::unique_ptr<Index>> {
    auto r = IvfSq8Index::load(p, 2);
    if (!r.is_ok()) return r.status();
    return std::unique_ptr<Index>(std::move(*r));
  };
}

class RefineMetricTest : public ::testing::TestWithParam<Metric> {};

// n = 10000, d = 48, 100 clusters of spread 0.5; base IVF-SQ8 (uniform ranges, nlist 32, every
// list probed). Floors: refined recall@10 (factor 4) >= 0.99 and at least the base's; the
// returned distances are the exact ones.
TEST_P(RefineMetricTest, RerankLiftsRecall) {
  const Metric m = GetParam();
  const size_t n = 10000, nq = 200, d = 48, k = 10;
  auto all = clustered(n + nq, d, 100, 51, 0.5f);
  std::vector<float> base(all.begin(), all.begin() + n * d), queries(all.begin() + n * d, all.end());
  auto idx = RefineIndex::create(ivf_sq8_base(d, m));
  ASSERT_TRUE(idx.is_ok()) << idx.status().to_string();
  auto ids = iota_ids(n, 7);
  ASSERT_TRUE((*idx)->add_batch(ids, base).is_ok());
  EXPECT_EQ((*idx)->size(), n);
  EXPECT_EQ((*idx)->base().size(), n);
  auto exact = testing::exact_copy(d, m, ids, base);
  const double r_base = recall_at_k((*idx)->base(), *exact, queries, k, {});
  const double r_ref = recall_at_k(**idx, *exact, queries, k, {});
  SearchParams one;
  one.rerank_factor = 1.0f;
  const double r_one = recall_at_k(**idx, *exact, queries, k, one);
  std::printf("[refine %s] recall@10 base %.3f, x1 %.3f, x4 %.3f, %.0f bytes/vector\n",
              std::string(metric_name(m)).c_str(), r_base, r_one, r_ref,
              double((*idx)->memory_bytes()) / n);
  EXPECT_GE(r_ref, 0.99);
  EXPECT_GE(r_ref, r_base);
  std::vector<Neighbor> got(k), want(k);
  for (size_t q = 0; q < 20; ++q) {
    std::span<const float> qv(queries.data() + q * d, d);
    size_t ng = 0, nw = 0;
    ASSERT_TRUE((*idx)->search(qv, k, {}, got, &ng).is_ok());
    ASSERT_TRUE(exact->search(qv, k, {}, want, &nw).is_ok());
    ASSERT_EQ(ng, k);
    for (size_t i = 0; i < k; ++i) {
      // Every returned distance is exact (the point may differ when the base missed it).
      EXPECT_TRUE(std::isfinite(got[i].distance));
      if (got[i].id == want[i].id) {
        EXPECT_FLOAT_EQ(got[i].distance, want[i].distance);
      }
    }
  }
  testing::expect_batch_matches_single(**idx, queries, k);
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, RefineMetricTest,
                         ::testing::Values(Metric::kL2, Metric::kInnerProduct, Metric::kCosine,
                                           Metric::kL1));

TEST(RefineIndexTest, OverRpForestAndSq8Flat) {
  const size_t n = 6000, nq = 100, d = 32, k = 10;
  auto all = clustered(n + nq, d, 60, 52, 0.5f);
  std::vector<float> base(all.begin(), all.begin() + n * d), queries(all.begin() + n * d, all.end());
  auto exact = testing::exact_copy(d, Metric::kL2, iota_ids(n), base);
  RpForestParams rp;
  rp.n_trees = 4;
  rp.threads = 2;
  auto forest = RefineIndex::create(std::move(*RpForestIndex::create(d, Metric::kL2, rp)));
  ASSERT_TRUE(forest.is_ok());
  ASSERT_TRUE((*forest)->add_batch(iota_ids(n), base).is_ok());
  SearchParams sp;
  sp.search_k = 200;
  const double rf = recall_at_k(**forest, *exact, queries, k, sp);
  Sq8FlatParams sq;
  sq.sq.uniform = true;
  sq.threads = 2;
  auto flat = RefineIndex::create(std::move(*Sq8FlatIndex::create(d, Metric::kL2, sq)));
  ASSERT_TRUE((*flat)->add_batch(iota_ids(n), base).is_ok());
  const double rs = recall_at_k(**flat, *exact, queries, k, {});
  std::printf("[refine] recall@10 rp_forest(4 trees, search_k 200) %.3f, sq8_flat %.3f\n", rf, rs);
  EXPECT_GE(rs, 0.99);  // all candidates come from a full scan: only the tail can be missed
  EXPECT_GE(rf, 0.6);
}

TEST(RefineIndexTest, NestedRefineIsExact) {
  // A refine over a refine (same thread, nested searches) still answers exactly.
  const size_t n = 2000, d = 16, k = 10;
  auto data = clustered(n, d, 20, 53);
  Sq8FlatParams sq;
  sq.threads = 2;
  sq.min_train_rows = 100;
  auto inner = RefineIndex::create(std::move(*Sq8FlatIndex::create(d, Metric::kL2, sq)));
  ASSERT_TRUE(inner.is_ok());
  auto outer = RefineIndex::create(std::move(*inner));
  ASSERT_TRUE(outer.is_ok());
  ASSERT_TRUE((*outer)->add_batch(iota_ids(n), data).is_ok());
  auto exact = testing::exact_copy(d, Metric::kL2, iota_ids(n), data);
  std::vector<float> queries(data.begin(), data.begin() + 50 * d);
  EXPECT_GE(recall_at_k(**outer, *exact, queries, k, {}), 0.99);
  testing::expect_batch_matches_single(**outer, queries, k);
}

TEST(RefineIndexTest, WritesStayInStep) {
  const size_t d = 16, n = 3000;
  auto data = clustered(n, d, 20, 4);
  auto idx = std::move(*RefineIndex::create(ivf_sq8_base(d, Metric::kL2)));
  // An untrained base refuses a small batch; nothing changes on either side.
  EXPECT_EQ(idx->add_batch(iota_ids(10), std::span<const float>(data.data(), 10 * d)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(idx->size(), 0u);
  ASSERT_TRUE(idx->add_batch(iota_ids(n), data).is_ok());
  std::vector<float> far(d, 4.0f);
  ASSERT_TRUE(idx->add(5, far).is_ok());
  EXPECT_EQ(idx->size(), n);
  EXPECT_EQ(idx->base().size(), n);
  std::vector<Neighbor> out(10);
  size_t nf = 0;
  ASSERT_TRUE(idx->search(far, 1, {}, out, &nf).is_ok());
  EXPECT_EQ(out[0].id, 5u);
  EXPECT_FLOAT_EQ(out[0].distance, 0.0f);  // exact, despite the 8-bit base
  ASSERT_TRUE(idx->remove(5).is_ok());
  EXPECT_FALSE(idx->contains(5));
  EXPECT_FALSE(idx->base().contains(5));
  EXPECT_EQ(idx->remove(5).code(), StatusCode::kNotFound);
  ASSERT_TRUE(idx->search(far, 3, {}, out, &nf).is_ok());
  for (size_t i = 0; i < nf; ++i) EXPECT_NE(out[i].id, 5u);
  IdFilter odd;
  odd.predicate = [](Id id) { return id % 2 == 1; };
  SearchParams sp;
  sp.filter = &odd;
  ASSERT_TRUE(idx->search({data.data(), d}, 10, sp, out, &nf).is_ok());
  EXPECT_EQ(nf, 10u);
  for (size_t i = 0; i < nf; ++i) EXPECT_EQ(out[i].id % 2, 1u);
  sp.filter = nullptr;
  sp.rerank_factor = 0.5f;
  EXPECT_EQ(idx->search({data.data(), d}, 10, sp, out, &nf).code(), StatusCode::kInvalidArgument);
}

TEST(RefineIndexTest, SaveLoadMappedAndCorruption) {
  const size_t d = 12, n = 2000;
  auto data = clustered(n, d, 15, 5);
  auto idx = std::move(*RefineIndex::create(ivf_sq8_base(d, Metric::kCosine)));
  ASSERT_TRUE(idx->add_batch(iota_ids(n, 50), data).is_ok());
  ASSERT_TRUE(idx->remove(60).is_ok());
  const std::string path = testing::temp_path("refine", "rt");
  ASSERT_TRUE(idx->save(path).is_ok());
  std::vector<float> queries(data.begin(), data.begin() + 40 * d);
  for (bool map : {false, true}) {
    RefineLoadOptions opt;
    opt.map_vectors = map;
    opt.threads = 2;
    auto loaded = RefineIndex::load(path, ivf_sq8_loader(), opt);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    EXPECT_EQ((*loaded)->size(), n - 1);
    EXPECT_EQ((*loaded)->describe(), idx->describe());
    EXPECT_EQ((*loaded)->vectors_mapped(), map);
    EXPECT_EQ((*loaded)->mapped_bytes(), map ? (n - 1) * d * sizeof(float) : 0u);
    testing::expect_same_results(*idx, **loaded, queries, 7);
    // A write copies mapped rows to the heap and keeps answering the same.
    ASSERT_TRUE((*loaded)->remove(61).is_ok());
    ASSERT_TRUE(idx->remove(61).is_ok());
    EXPECT_FALSE((*loaded)->vectors_mapped());
    testing::expect_same_results(*idx, **loaded, queries, 7);
    ASSERT_TRUE(idx->add(61, std::span<const float>(data.data() + 11 * d, d)).is_ok());
  }
  testing::expect_corruption_on_damage(path, [&](const std::string& p) {
    // The damaged refine file is read beside the intact base.
    std::rename((path + ".base").c_str(), (p + ".base").c_str());
    Status s = RefineIndex::load(p, ivf_sq8_loader()).status();
    std::rename((p + ".base").c_str(), (path + ".base").c_str());
    return s;
  });
  // A base that does not match (other points) is CORRUPTION, and so is a damaged base.
  auto other = std::move(*RefineIndex::create(ivf_sq8_base(d, Metric::kCosine)));
  ASSERT_TRUE(other->add_batch(iota_ids(n, 90000), data).is_ok());
  const std::string other_path = testing::temp_path("refine", "other");
  ASSERT_TRUE(other->save(other_path).is_ok());
  std::rename((other_path + ".base").c_str(), (path + ".base").c_str());
  EXPECT_EQ(RefineIndex::load(path, ivf_sq8_loader()).status().code(), StatusCode::kCorruption);
  std::string base_bytes = testing::read_bytes(path + ".base");
  base_bytes[base_bytes.size() / 2] ^= 0x11;
  testing::write_bytes(path + ".base", base_bytes, base_bytes.size());
  EXPECT_EQ(RefineIndex::load(path, ivf_sq8_loader()).status().code(), StatusCode::kCorruption);
  std::remove(path.c_str());
  std::remove((path + ".base").c_str());
  std::remove(other_path.c_str());
}

TEST(RefineIndexTest, BadParameters) {
  EXPECT_EQ(RefineIndex::create(nullptr).status().code(), StatusCode::kInvalidArgument);
  RefineParams p;
  p.rerank_factor = 0.5f;
  EXPECT_EQ(RefineIndex::create(ivf_sq8_base(4, Metric::kL2), p).status().code(), StatusCode::kInvalidArgument);
  p.rerank_factor = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(RefineIndex::create(ivf_sq8_base(4, Metric::kL2), p).status().code(), StatusCode::kInvalidArgument);
  auto flat = std::move(*FlatIndex::create(4, Metric::kL2, 1));
  std::vector<float> v{1, 2, 3, 4};
  ASSERT_TRUE(flat->add(1, v).is_ok());
  EXPECT_EQ(RefineIndex::create(std::move(flat)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RefineIndex::load("/nonexistent", nullptr).status().code(), StatusCode::kInvalidArgument);
  auto idx = std::move(*RefineIndex::create(std::move(*FlatIndex::create(4, Metric::kL2, 1))));
  std::vector<float> nan{1, std::numeric_limits<float>::quiet_NaN(), 0, 0};
  EXPECT_EQ(idx->add(1, nan).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(idx->add(1, v).is_ok());
  std::vector<Neighbor> out(2);
  size_t nf = 0;
  EXPECT_EQ(idx->search(v, 0, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->search(v, 2, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(idx->search(v, 1, {}, out, &nf).is_ok());
  EXPECT_EQ(out[0].id, 1u);
}

}  // namespace
}  // namespace vecstream
