// IvfPqFastScanIndex: recall against the exact index for every metric, with rerank close to the
// IVF-Flat recall at the same nprobe (rerank of every probed point), rerank off per query and per
// index, odd M, swap-removal inside the packed layout under churn, upsert, filters, batch ==
// single, persistence with corruption, bad parameters, and memory (codes vs raw vectors).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "core/bitset.h"
#include "core/fast_scan.h"
#include "index/flat_index.h"
#include "index/ivf_pq_fast_scan_index.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

using testing::clustered;
using testing::iota_ids;
using testing::recall_at_k;

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/vs_ivfpqfs_" + name + "_" + std::to_string(::getpid());
}

struct Split {
  std::vector<float> base, queries;
};
Split split(size_t n, size_t nq, size_t d, size_t clusters, uint64_t seed) {
  auto all = clustered(n + nq, d, clusters, seed);
  Split s;
  s.base.assign(all.begin(), all.begin() + n * d);
  s.queries.assign(all.begin() + n * d, all.end());
  return s;
}

IvfPqFastScanParams small_params(size_t nlist = 32, size_t m = 8) {
  IvfPqFastScanParams p;
  p.ivf.nlist = nlist;
  p.ivf.nprobe = 8;
  p.ivf.threads = 2;
  p.ivf.kmeans_iterations = 10;
  p.ivf.min_points_per_centroid = 32;  // auto-training from 1024 rows
  p.m = m;
  return p;
}

std::unique_ptr<IvfPqFastScanIndex> make(size_t d, Metric m, const IvfPqFastScanParams& p = small_params()) {
  auto r = IvfPqFastScanIndex::create(d, m, p);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return std::move(*r);
}

struct MetricCase {
  Metric metric;
  double floor_estimates;  // recall@10 without rerank (4-bit codes: 8 x 4 bits on 16-d data)
};

class FastScanMetricTest : public ::testing::TestWithParam<MetricCase> {};

// With rerank, recall must come within 0.03 of IVF-Flat at the same nprobe (every point of the
// probed lists re-scored exactly, here rerank_factor 1e4).
TEST_P(FastScanMetricTest, RecallWithRerankApproachesIvfFlat) {
  const auto [m, floor_estimates] = GetParam();
  const size_t n = 6000, d = 16, nq = 200;
  auto s = split(n, nq, d, 24, 21);
  auto idx = make(d, m);
  auto flat = std::move(*FlatIndex::create(d, m, 1));
  auto ids = iota_ids(n, 7);
  ASSERT_TRUE(idx->add_batch(ids, s.base).is_ok());
  ASSERT_TRUE(flat->add_batch(ids, s.base).is_ok());
  SearchParams rerank, none, ivf_flat;
  none.rerank_factor = -1.0f;
  ivf_flat.rerank_factor = 1e4f;
  const double r = recall_at_k(*idx, *flat, s.queries, 10, rerank);
  const double r_est = recall_at_k(*idx, *flat, s.queries, 10, none);
  const double r_flat = recall_at_k(*idx, *flat, s.queries, 10, ivf_flat);
  std::printf("%s nprobe 8: estimates %.3f, rerank x10 %.3f, IVF-Flat %.3f\n",
              std::string(metric_name(m)).c_str(), r_est, r, r_flat);
  EXPECT_GE(r_est, floor_estimates);
  EXPECT_GE(r, r_flat - 0.03);
  EXPECT_GE(r_flat, 0.9);
  // Reranked distances are exact: the first result matches the exact index's distance to it.
  std::vector<Neighbor> out(10), want(10);
  size_t nf = 0, nw = 0;
  for (size_t q = 0; q < 20; ++q) {
    std::span<const float> qv(s.queries.data() + q * d, d);
    ASSERT_TRUE(idx->search(qv, 10, {}, out, &nf).is_ok());
    ASSERT_TRUE(flat->search(qv, 10, {}, want, &nw).is_ok());
    ASSERT_EQ(nf, 10u);
    for (size_t i = 1; i < nf; ++i) EXPECT_LE(out[i - 1].distance, out[i].distance);
    if (out[0].id == want[0].id) {
      EXPECT_NEAR(out[0].distance, want[0].distance, 1e-4 * (1 + std::fabs(want[0].distance)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, FastScanMetricTest,
                         ::testing::Values(MetricCase{Metric::kL2, 0.6},
                                           MetricCase{Metric::kInnerProduct, 0.55},
                                           MetricCase{Metric::kCosine, 0.45},
                                           MetricCase{Metric::kL1, 0.55}));

TEST(FastScanIndexTest, OddMAndCodesOnlyMode) {
  const size_t n = 4000, d = 18, nq = 100;  // M = 9: a padded sub-quantizer in every pair group
  auto s = split(n, nq, d, 20, 22);
  auto ids = iota_ids(n);
  auto flat = std::move(*FlatIndex::create(d, Metric::kL2, 1));
  ASSERT_TRUE(flat->add_batch(ids, s.base).is_ok());
  IvfPqFastScanParams p = small_params(32, 9);
  auto odd = make(d, Metric::kL2, p);
  ASSERT_TRUE(odd->add_batch(ids, s.base).is_ok());
  EXPECT_GE(recall_at_k(*odd, *flat, s.queries, 10, {}), 0.85);
  p.rerank = false;
  auto codes_only = make(d, Metric::kL2, p);
  ASSERT_TRUE(codes_only->add_batch(ids, s.base).is_ok());
  EXPECT_EQ(codes_only->memory_breakdown().raw_vectors, 0u);
  EXPECT_NE(codes_only->describe().find("rerank=off"), std::string::npos);
  const double r = recall_at_k(*codes_only, *flat, s.queries, 10, {});
  EXPECT_GE(r, 0.5);
  EXPECT_LT(r, recall_at_k(*odd, *flat, s.queries, 10, {}));
}

TEST(FastScanIndexTest, SwapRemovalKeepsThePackedLayoutConsistent) {
  const size_t n = 3000, d = 16;
  auto s = split(n, 0, d, 16, 23);
  auto idx = make(d, Metric::kL2);
  ASSERT_TRUE(idx->add_batch(iota_ids(n), s.base).is_ok());
  std::mt19937_64 rng(5);
  std::vector<bool> live(n, true);
  // Churn: remove half in random order, re-add a quarter, upsert some in place.
  for (int step = 0; step < 1500; ++step) {
    const Id id = rng() % n;
    if (live[id]) {
      ASSERT_TRUE(idx->remove(id).is_ok());
      live[id] = false;
    } else {
      EXPECT_EQ(idx->remove(id).code(), StatusCode::kNotFound);
    }
  }
  for (Id id = 0; id < n; id += 4) {
    ASSERT_TRUE(idx->add(id, {s.base.data() + id * d, d}).is_ok());
    live[id] = true;
  }
  size_t alive = 0;
  for (bool b : live) alive += b;
  EXPECT_EQ(idx->size(), alive);
  // Every live point, queried with its own vector, comes back first at exact distance 0: its
  // code sits where its slot says, and its raw row is its own.
  std::vector<Neighbor> out(1);
  size_t nf = 0;
  SearchParams sp;
  sp.nprobe = 1;
  for (Id id = 0; id < n; ++id) {
    EXPECT_EQ(idx->contains(id), live[id]);
    if (!live[id] || id % 5 != 0) continue;
    ASSERT_TRUE(idx->search({s.base.data() + id * d, d}, 1, sp, out, &nf).is_ok());
    ASSERT_EQ(nf, 1u);
    EXPECT_EQ(out[0].id, id);
    EXPECT_EQ(out[0].distance, 0.0f);
  }
  // Remove everything: lists are empty, the index is still usable.
  for (Id id = 0; id < n; ++id) {
    if (live[id]) {
      ASSERT_TRUE(idx->remove(id).is_ok());
    }
  }
  EXPECT_EQ(idx->size(), 0u);
  ASSERT_TRUE(idx->add(42, {s.base.data(), d}).is_ok());
  ASSERT_TRUE(idx->search({s.base.data(), d}, 1, {}, out, &nf).is_ok());
  EXPECT_EQ(out[0].id, 42u);
}

TEST(FastScanIndexTest, UpsertFiltersAndBatchEqualsSingle) {
  const size_t n = 4000, d = 16, k = 10, nq = 30;
  auto s = split(n, nq, d, 16, 24);
  auto idx = make(d, Metric::kInnerProduct);
  ASSERT_TRUE(idx->add_batch(iota_ids(n), s.base).is_ok());
  // Upsert: id 3 takes row 3000's vector; exact rerank gives both the same score.
  std::span<const float> v(s.base.data() + 3000 * d, d);
  ASSERT_TRUE(idx->add(3, v).is_ok());
  EXPECT_EQ(idx->size(), n);
  // Filters: only multiples of 3 (which keeps 3 and excludes 3000).
  IdFilter f;
  f.predicate = [](Id id) { return id % 3 == 0; };
  SearchParams sp;
  sp.filter = &f;
  std::vector<Neighbor> out(k), batch(nq * k);
  std::vector<size_t> found(nq);
  size_t nf = 0;
  ASSERT_TRUE(idx->search(v, k, sp, out, &nf).is_ok());
  ASSERT_EQ(nf, k);
  bool saw3 = false;
  for (size_t i = 0; i < nf; ++i) {
    EXPECT_EQ(out[i].id % 3, 0u);
    saw3 |= out[i].id == 3;
  }
  EXPECT_TRUE(saw3);
  // A bitset allowing 4 points in all, one list probed: widening finds all 4.
  Bitset four(n);
  for (size_t id : {11, 1111, 2222, 3333}) four.set(id);
  IdFilter fb;
  fb.allow = &four;
  SearchParams narrow;
  narrow.filter = &fb;
  narrow.nprobe = 1;
  ASSERT_TRUE(idx->search({s.queries.data(), d}, 4, narrow, out, &nf).is_ok());
  EXPECT_EQ(nf, 4u);
  // Batch == single, with the filter.
  ASSERT_TRUE(idx->search_batch(s.queries, k, sp, batch, found).is_ok());
  for (size_t q = 0; q < nq; ++q) {
    ASSERT_TRUE(idx->search({s.queries.data() + q * d, d}, k, sp, out, &nf).is_ok());
    ASSERT_EQ(nf, found[q]);
    for (size_t i = 0; i < nf; ++i) {
      EXPECT_EQ(out[i].id, batch[q * k + i].id);
      EXPECT_EQ(out[i].distance, batch[q * k + i].distance);
    }
  }
}

TEST(FastScanIndexTest, BadParametersAndTrainingRules) {
  const size_t d = 16;
  auto s = split(2000, 0, d, 16, 25);
  auto status = [&](IvfPqFastScanParams p, Metric m = Metric::kL2) {
    auto r = IvfPqFastScanIndex::create(d, m, p);
    return r.is_ok() ? StatusCode::kOk : r.status().code();
  };
  IvfPqFastScanParams p = small_params();
  p.m = 3;
  EXPECT_EQ(status(p), StatusCode::kInvalidArgument);
  p = small_params();
  p.rerank_factor = 0.5f;
  EXPECT_EQ(status(p), StatusCode::kInvalidArgument);
  p = small_params();
  p.anisotropic_eta = 3.0f;
  EXPECT_EQ(status(p, Metric::kL1), StatusCode::kInvalidArgument);
  EXPECT_EQ(status(p, Metric::kCosine), StatusCode::kOk);
  p = small_params();
  p.ivf.nlist = 0;
  EXPECT_EQ(status(p), StatusCode::kInvalidArgument);
  auto def = IvfPqFastScanIndex::create(784, Metric::kL2, {});
  ASSERT_TRUE(def.is_ok());
  EXPECT_EQ((*def)->params().m, 196u);  // 4 bits per 4 dimensions

  auto idx = make(d, Metric::kL2);
  EXPECT_EQ(idx->add(1, {s.base.data(), d}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(idx->add_batch(iota_ids(500), {s.base.data(), 500 * d}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(idx->train({s.base.data(), 20 * d}, 20).code(), StatusCode::kInvalidArgument);  // < nlist
  ASSERT_TRUE(idx->train({s.base.data(), 2000 * d}, 2000).is_ok());
  EXPECT_EQ(idx->train({s.base.data(), 2000 * d}, 2000).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(idx->add_batch(iota_ids(500), {s.base.data(), 500 * d}).is_ok());
  EXPECT_EQ(idx->size(), 500u);
}

TEST(FastScanIndexTest, MemoryReportsCodesAgainstRawVectors) {
  const size_t n = 3200, d = 32;
  auto s = split(n, 0, d, 16, 26);
  auto idx = make(d, Metric::kL2, small_params(16, 16));
  ASSERT_TRUE(idx->add_batch(iota_ids(n), s.base).is_ok());
  const IvfPqMemory mem = idx->memory_breakdown();
  // 16 sub-quantizers x 4 bits = 8 bytes per point (plus padding of each list's last block).
  EXPECT_GE(mem.codes, n * 8);
  EXPECT_LE(mem.codes, n * 8 * 2 + 16 * fast_scan_block_bytes(16));
  EXPECT_GE(mem.raw_vectors, n * d * sizeof(float));
  EXPECT_EQ(idx->memory_bytes(), mem.total());
  std::printf("fast scan memory: codes %zu B (%.2f B/vector), raw %zu B (%zu B/vector), ids %zu B, quantizers %zu B\n",
              mem.codes, double(mem.codes) / n, mem.raw_vectors, d * sizeof(float), mem.ids, mem.quantizers);
}

TEST(FastScanIndexTest, SaveLoadRoundTripAndCorruption) {
  const size_t n = 3000, d = 16;
  auto s = split(n, 30, d, 16, 27);
  auto idx = make(d, Metric::kL2);
  ASSERT_TRUE(idx->add_batch(iota_ids(n), s.base).is_ok());
  for (Id id = 0; id < 600; id += 2) ASSERT_TRUE(idx->remove(id).is_ok());
  const std::string path = temp_path("roundtrip");
  ASSERT_TRUE(idx->save(path).is_ok());
  auto loaded = IvfPqFastScanIndex::load(path, 2);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->size(), idx->size());
  EXPECT_EQ((*loaded)->describe(), idx->describe());
  std::vector<Neighbor> a(10), b(10);
  for (float rf : {0.0f, -1.0f}) {
    SearchParams sp;
    sp.rerank_factor = rf;
    for (size_t q = 0; q < 30; ++q) {
      size_t na = 0, nb = 0;
      std::span<const float> qv(s.queries.data() + q * d, d);
      ASSERT_TRUE(idx->search(qv, 10, sp, a, &na).is_ok());
      ASSERT_TRUE((*loaded)->search(qv, 10, sp, b, &nb).is_ok());
      ASSERT_EQ(na, nb);
      for (size_t i = 0; i < na; ++i) {
        EXPECT_EQ(a[i].id, b[i].id);
        EXPECT_EQ(a[i].distance, b[i].distance);
      }
    }
  }
  ASSERT_TRUE((*loaded)->remove(1).is_ok());
  ASSERT_TRUE((*loaded)->add(1, {s.base.data(), d}).is_ok());

  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  for (size_t cut : {size_t{0}, size_t{9}, size_t{100}, bytes.size() / 2, bytes.size() - 3}) {
    const std::string cp = temp_path("cut");
    std::ofstream(cp, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
    auto r = IvfPqFastScanIndex::load(cp, 1);
    ASSERT_FALSE(r.is_ok()) << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
    std::remove(cp.c_str());
  }
  std::mt19937_64 rng(28);
  for (int trial = 0; trial < 20; ++trial) {
    std::string damaged = bytes;
    const size_t at = rng() % damaged.size();
    damaged[at] = static_cast<char>(damaged[at] ^ (1 + rng() % 255));
    const std::string fp = temp_path("flip");
    std::ofstream(fp, std::ios::binary).write(damaged.data(), static_cast<std::streamsize>(damaged.size()));
    auto r = IvfPqFastScanIndex::load(fp, 1);
    ASSERT_FALSE(r.is_ok()) << "flipped byte " << at;
    if (at < 12 || at >= 16) {
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << at;
    }
    std::remove(fp.c_str());
  }
  // The wrong kind of file.
  auto flat = std::move(*FlatIndex::create(d, Metric::kL2, 1));
  ASSERT_TRUE(flat->add(1, {s.base.data(), d}).is_ok());
  ASSERT_TRUE(flat->save(path).is_ok());
  EXPECT_FALSE(IvfPqFastScanIndex::load(path, 1).is_ok());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace vecstream
