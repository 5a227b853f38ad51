// IvfPqIndex: recall against the exact index for every metric (and with OPQ and the anisotropic
// loss), batch == single, upsert, immediate deletes, filters inside the scan, explicit and
// automatic training, persistence with corruption, bad parameters, progress, memory accounting,
// and searches running while writers add and remove.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "core/bitset.h"
#include "index/flat_index.h"
#include "index/ivf_pq_index.h"
#include "support/test_data.h"
#include "support/wait.h"

namespace vecstream {
namespace {

using testing::clustered;
using testing::iota_ids;
using testing::recall_at_k;

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/vs_ivfpq_" + name + "_" + std::to_string(::getpid());
}

// Base rows and queries drawn from the same clusters (the last nq rows are the queries).
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

IvfPqParams small_params(size_t nlist = 32, size_t m = 8) {
  IvfPqParams p;
  p.ivf.nlist = nlist;
  p.ivf.nprobe = 8;
  p.ivf.threads = 2;
  p.ivf.kmeans_iterations = 10;
  p.ivf.min_points_per_centroid = 32;  // auto-training from 1024 rows
  p.m = m;
  return p;
}

std::unique_ptr<IvfPqIndex> make(size_t d, Metric m, const IvfPqParams& p = small_params()) {
  auto r = IvfPqIndex::create(d, m, p);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return std::move(*r);
}

struct MetricCase {
  Metric metric;
  double floor;  // recall@10 at nprobe 8 of 32 lists, M = 8 x 8 bits on 16-d data
};

class IvfPqMetricTest : public ::testing::TestWithParam<MetricCase> {};

TEST_P(IvfPqMetricTest, RecallAgainstExact) {
  const auto [m, floor] = GetParam();
  const size_t n = 6000, d = 16, nq = 200;
  auto s = split(n, nq, d, 24, 11);
  auto idx = make(d, m);
  auto flat = std::move(*FlatIndex::create(d, m, 1));
  auto ids = iota_ids(n, 1000);
  ASSERT_TRUE(idx->add_batch(ids, s.base).is_ok());  // auto-trains (6000 >= 32 * 32)
  ASSERT_TRUE(flat->add_batch(ids, s.base).is_ok());
  EXPECT_TRUE(idx->is_trained());
  EXPECT_EQ(idx->size(), n);
  const double r = recall_at_k(*idx, *flat, s.queries, 10, {});
  SearchParams all;
  all.nprobe = 32;
  const double r_all = recall_at_k(*idx, *flat, s.queries, 10, all);
  std::printf("%s: recall@10 %.3f at nprobe 8, %.3f at nprobe 32\n",
              std::string(metric_name(m)).c_str(), r, r_all);
  EXPECT_GE(r, floor) << metric_name(m);
  EXPECT_GE(r_all + 0.01, r);
  std::vector<Neighbor> out(10);
  size_t nf = 0;
  ASSERT_TRUE(idx->search({s.queries.data(), d}, 10, {}, out, &nf).is_ok());
  ASSERT_EQ(nf, 10u);
  for (size_t i = 1; i < nf; ++i) EXPECT_LE(out[i - 1].distance, out[i].distance);
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, IvfPqMetricTest,
                         ::testing::Values(MetricCase{Metric::kL2, 0.85},
                                           MetricCase{Metric::kInnerProduct, 0.82},
                                           MetricCase{Metric::kCosine, 0.80},
                                           MetricCase{Metric::kL1, 0.80}));

TEST(IvfPqIndexTest, OpqAndAnisotropicVariantsWork) {
  const size_t n = 5000, d = 16, nq = 100;
  auto s = split(n, nq, d, 24, 12);
  auto ids = iota_ids(n);
  IvfPqParams p = small_params();
  p.opq = true;
  auto opq = make(d, Metric::kL2, p);
  ASSERT_TRUE(opq->add_batch(ids, s.base).is_ok());
  auto flat = std::move(*FlatIndex::create(d, Metric::kL2, 1));
  ASSERT_TRUE(flat->add_batch(ids, s.base).is_ok());
  EXPECT_GE(recall_at_k(*opq, *flat, s.queries, 10, {}), 0.8);
  EXPECT_NE(opq->describe().find("opq"), std::string::npos);

  IvfPqParams a = small_params(32, 4);  // 4 x 8 bits: coarse codes, where the loss matters
  auto plain = make(d, Metric::kInnerProduct, a);
  a.anisotropic_eta = 6.0f;
  auto aniso = make(d, Metric::kInnerProduct, a);
  auto ip = std::move(*FlatIndex::create(d, Metric::kInnerProduct, 1));
  ASSERT_TRUE(plain->add_batch(ids, s.base).is_ok());
  ASSERT_TRUE(aniso->add_batch(ids, s.base).is_ok());
  ASSERT_TRUE(ip->add_batch(ids, s.base).is_ok());
  const double rp = recall_at_k(*plain, *ip, s.queries, 10, {});
  const double ra = recall_at_k(*aniso, *ip, s.queries, 10, {});
  std::printf("MIPS recall@10: plain PQ %.3f, anisotropic (eta 6) %.3f\n", rp, ra);
  EXPECT_GE(ra, rp - 0.02);
}

TEST(IvfPqIndexTest, BatchSearchEqualsSingleSearch) {
  const size_t n = 3000, d = 16, nq = 40, k = 7;
  auto s = split(n, nq, d, 16, 13);
  auto idx = make(d, Metric::kL2);
  ASSERT_TRUE(idx->add_batch(iota_ids(n), s.base).is_ok());
  std::vector<Neighbor> batch(nq * k), one(k);
  std::vector<size_t> found(nq);
  SearchParams sp;
  sp.nprobe = 5;
  ASSERT_TRUE(idx->search_batch(s.queries, k, sp, batch, found).is_ok());
  for (size_t q = 0; q < nq; ++q) {
    size_t nf = 0;
    ASSERT_TRUE(idx->search({s.queries.data() + q * d, d}, k, sp, one, &nf).is_ok());
    ASSERT_EQ(nf, found[q]);
    for (size_t i = 0; i < nf; ++i) {
      EXPECT_EQ(one[i].id, batch[q * k + i].id);
      EXPECT_EQ(one[i].distance, batch[q * k + i].distance);
    }
  }
}

TEST(IvfPqIndexTest, UpsertReplacesAndDeletesAreImmediate) {
  const size_t n = 3000, d = 16;
  auto s = split(n, 0, d, 16, 14);
  auto idx = make(d, Metric::kL2);
  ASSERT_TRUE(idx->add_batch(iota_ids(n), s.base).is_ok());
  // Upsert id 5 with the vector of row 2000: a query at that vector finds 5 and 2000 together.
  std::span<const float> v2000(s.base.data() + 2000 * d, d);
  ASSERT_TRUE(idx->add(5, v2000).is_ok());
  EXPECT_EQ(idx->size(), n);
  std::vector<Neighbor> out(2);
  size_t nf = 0;
  ASSERT_TRUE(idx->search(v2000, 2, {}, out, &nf).is_ok());
  ASSERT_EQ(nf, 2u);
  EXPECT_TRUE((out[0].id == 5 && out[1].id == 2000) || (out[0].id == 2000 && out[1].id == 5));
  EXPECT_EQ(out[0].distance, out[1].distance);  // same vector, same code
  // Remove both: gone from results at once, everything else intact.
  ASSERT_TRUE(idx->remove(5).is_ok());
  ASSERT_TRUE(idx->remove(2000).is_ok());
  EXPECT_FALSE(idx->contains(5));
  EXPECT_EQ(idx->remove(5).code(), StatusCode::kNotFound);
  EXPECT_EQ(idx->size(), n - 2);
  std::vector<Neighbor> many(50);
  ASSERT_TRUE(idx->search(v2000, 50, {}, many, &nf).is_ok());
  for (size_t i = 0; i < nf; ++i) EXPECT_TRUE(many[i].id != 5 && many[i].id != 2000);
  // Delete a third of the points, re-add them: the index serves all of them again.
  for (Id id = 0; id < n; id += 3) ASSERT_TRUE(idx->remove(id).is_ok());  // 5, 2000: not multiples
  for (Id id = 0; id < n; id += 3) ASSERT_TRUE(idx->add(id, {s.base.data() + id * d, d}).is_ok());
  EXPECT_FALSE(idx->contains(5));
  EXPECT_EQ(idx->size(), n - 2);  // 5 and 2000 stay removed
}

TEST(IvfPqIndexTest, FiltersApplyInsideTheScanAndWidenToK) {
  const size_t n = 4000, d = 16, k = 10;
  auto s = split(n, 20, d, 16, 15);
  auto idx = make(d, Metric::kL2);
  ASSERT_TRUE(idx->add_batch(iota_ids(n), s.base).is_ok());
  Bitset odd(n);
  for (size_t i = 1; i < n; i += 2) odd.set(i);
  IdFilter f;
  f.allow = &odd;
  SearchParams sp;
  sp.filter = &f;
  std::vector<Neighbor> out(k);
  size_t nf = 0;
  for (size_t q = 0; q < 20; ++q) {
    ASSERT_TRUE(idx->search({s.queries.data() + q * d, d}, k, sp, out, &nf).is_ok());
    ASSERT_EQ(nf, k);
    for (size_t i = 0; i < nf; ++i) EXPECT_EQ(out[i].id % 2, 1u);
  }
  // Five allowed points in the whole index, one list probed: the probe widens until all five
  // are found.
  IdFilter five;
  five.predicate = [](Id id) { return id % 800 == 7; };
  SearchParams narrow;
  narrow.nprobe = 1;
  narrow.filter = &five;
  ASSERT_TRUE(idx->search({s.queries.data(), d}, 5, narrow, out, &nf).is_ok());
  ASSERT_EQ(nf, 5u);
  for (size_t i = 0; i < nf; ++i) EXPECT_EQ(out[i].id % 800, 7u);
}

TEST(IvfPqIndexTest, TrainingRulesAndBadParameters) {
  const size_t d = 16;
  auto s = split(3000, 0, d, 16, 16);
  // Parameters.
  auto bad = [&](IvfPqParams p, Metric m = Metric::kL2) {
    auto r = IvfPqIndex::create(d, m, p);
    return r.is_ok() ? StatusCode::kOk : r.status().code();
  };
  IvfPqParams p = small_params();
  p.m = 5;
  EXPECT_EQ(bad(p), StatusCode::kInvalidArgument);
  p = small_params();
  p.ivf.nlist = 0;
  EXPECT_EQ(bad(p), StatusCode::kInvalidArgument);
  p = small_params();
  p.ivf.nprobe = 0;
  EXPECT_EQ(bad(p), StatusCode::kInvalidArgument);
  p = small_params();
  p.anisotropic_eta = 4.0f;
  EXPECT_EQ(bad(p, Metric::kL2), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad(p, Metric::kInnerProduct), StatusCode::kOk);
  p = small_params();
  p.anisotropic_eta = 0.5f;
  EXPECT_EQ(bad(p, Metric::kInnerProduct), StatusCode::kInvalidArgument);
  p = small_params();
  p.opq = true;
  EXPECT_EQ(bad(p, Metric::kL1), StatusCode::kInvalidArgument);
  EXPECT_EQ(IvfPqIndex::create(0, Metric::kL2, small_params()).status().code(), StatusCode::kInvalidArgument);
  auto def = IvfPqIndex::create(784, Metric::kL2, {});
  ASSERT_TRUE(def.is_ok());
  EXPECT_EQ((*def)->params().m, 98u);  // one byte per 8 dimensions

  // Before training: add() and small batches are refused, nothing changes.
  auto idx = make(d, Metric::kL2);
  EXPECT_FALSE(idx->is_trained());
  EXPECT_EQ(idx->add(1, {s.base.data(), d}).code(), StatusCode::kFailedPrecondition);
  auto few = std::span<const float>(s.base.data(), 1023 * d);  // 32 lists x 32 rows needed
  EXPECT_EQ(idx->add_batch(iota_ids(1023), few).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(idx->size(), 0u);
  // Explicit training: too few rows, bad rows, then success, then no second training.
  EXPECT_EQ(idx->train({s.base.data(), 100 * d}, 100).code(), StatusCode::kInvalidArgument);
  std::vector<float> nan_rows(s.base.begin(), s.base.begin() + 1000 * d);
  nan_rows[17] = std::nanf("");
  EXPECT_EQ(idx->train(nan_rows, 1000).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->train({s.base.data(), 1000 * d}, 999).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(idx->train({s.base.data(), 1000 * d}, 1000).is_ok());
  EXPECT_TRUE(idx->is_trained());
  EXPECT_EQ(idx->train({s.base.data(), 1000 * d}, 1000).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(idx->size(), 0u);  // training adds nothing
  ASSERT_TRUE(idx->add(1, {s.base.data(), d}).is_ok());
  ASSERT_TRUE(idx->add_batch(iota_ids(10, 100), {s.base.data(), 10 * d}).is_ok());
  EXPECT_EQ(idx->size(), 11u);
  // Query errors.
  std::vector<Neighbor> out(20);
  size_t nf = 0;
  EXPECT_EQ(idx->search({s.base.data(), d}, 12, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->search({s.base.data(), d - 1}, 1, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  // A batch with a bad row changes nothing.
  std::vector<float> rows(s.base.begin(), s.base.begin() + 3 * d);
  rows[d + 2] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(idx->add_batch(iota_ids(3, 500), rows).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->size(), 11u);
}

TEST(IvfPqIndexTest, ProgressAndMemoryBreakdown) {
  const size_t n = 3000, d = 16;
  auto s = split(n, 0, d, 16, 17);
  IvfPqParams p = small_params();
  std::vector<std::string> stages;
  size_t last_add = 0;
  p.ivf.progress_every = 500;
  p.ivf.progress = [&](std::string_view stage, size_t done, size_t total) {
    if (stages.empty() || stages.back() != stage) stages.emplace_back(stage);
    EXPECT_LE(done, total);
    if (stage == "add") {
      EXPECT_EQ(total, n);
      EXPECT_GE(done, last_add);
      last_add = done;
    }
  };
  auto idx = make(d, Metric::kL2, p);
  ASSERT_TRUE(idx->add_batch(iota_ids(n), s.base).is_ok());
  auto has = [&](const char* st) { return std::find(stages.begin(), stages.end(), st) != stages.end(); };
  EXPECT_TRUE(has("train"));     // coarse k-means iterations
  EXPECT_TRUE(has("train-pq"));  // sub-quantizers trained
  EXPECT_TRUE(has("add"));
  EXPECT_EQ(last_add, n);
  const IvfPqMemory mem = idx->memory_breakdown();
  EXPECT_EQ(mem.codes, n * 8);
  EXPECT_EQ(mem.raw_vectors, 0u);
  EXPECT_GT(mem.ids, n * sizeof(Id));
  EXPECT_GT(mem.quantizers, 0u);
  EXPECT_EQ(idx->memory_bytes(), mem.total());
  std::printf("ivf_pq memory: codes %zu B (%.1f B/vector vs %zu B raw), ids %zu B, quantizers %zu B\n",
              mem.codes, double(mem.codes) / n, d * sizeof(float), mem.ids, mem.quantizers);
}

void expect_same_results(const Index& a, const Index& b, const std::vector<float>& queries, size_t k) {
  const size_t d = a.dim(), nq = queries.size() / d;
  std::vector<Neighbor> ra(k), rb(k);
  for (size_t q = 0; q < nq; ++q) {
    size_t na = 0, nb = 0;
    ASSERT_TRUE(a.search({queries.data() + q * d, d}, k, {}, ra, &na).is_ok());
    ASSERT_TRUE(b.search({queries.data() + q * d, d}, k, {}, rb, &nb).is_ok());
    ASSERT_EQ(na, nb);
    for (size_t i = 0; i < na; ++i) {
      EXPECT_EQ(ra[i].id, rb[i].id);
      EXPECT_EQ(ra[i].distance, rb[i].distance);
    }
  }
}

TEST(IvfPqIndexTest, SaveLoadRoundTripAndCorruption) {
  const size_t n = 3000, d = 16;
  auto s = split(n, 30, d, 16, 18);
  IvfPqParams p = small_params();
  p.opq = true;
  auto idx = make(d, Metric::kCosine, p);
  ASSERT_TRUE(idx->add_batch(iota_ids(n), s.base).is_ok());
  for (Id id = 0; id < 300; id += 3) ASSERT_TRUE(idx->remove(id).is_ok());
  const std::string path = temp_path("roundtrip");
  ASSERT_TRUE(idx->save(path).is_ok());
  auto loaded = IvfPqIndex::load(path, 2);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->size(), idx->size());
  EXPECT_EQ((*loaded)->describe(), idx->describe());
  EXPECT_EQ((*loaded)->metric(), Metric::kCosine);
  expect_same_results(*idx, **loaded, s.queries, 10);
  ASSERT_TRUE((*loaded)->add(999999, {s.base.data(), d}).is_ok());
  ASSERT_TRUE((*loaded)->remove(1).is_ok());

  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  for (size_t cut : {size_t{0}, size_t{9}, size_t{100}, bytes.size() / 2, bytes.size() - 3}) {
    const std::string cp = temp_path("cut");
    std::ofstream(cp, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
    auto r = IvfPqIndex::load(cp, 1);
    ASSERT_FALSE(r.is_ok()) << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
    std::remove(cp.c_str());
  }
  std::mt19937_64 rng(19);
  for (int trial = 0; trial < 20; ++trial) {
    std::string damaged = bytes;
    const size_t at = rng() % damaged.size();
    damaged[at] = static_cast<char>(damaged[at] ^ (1 + rng() % 255));
    const std::string fp = temp_path("flip");
    std::ofstream(fp, std::ios::binary).write(damaged.data(), static_cast<std::streamsize>(damaged.size()));
    auto r = IvfPqIndex::load(fp, 1);
    ASSERT_FALSE(r.is_ok()) << "flipped byte " << at;
    // The kind field (bytes 12..15) is checked before anything else: a different kind is a wrong
    // argument; every other flip is caught by the checksum.
    if (at < 12 || at >= 16) {
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << at;
    }
    std::remove(fp.c_str());
  }
  // An untrained index round-trips too.
  auto empty = make(d, Metric::kL2);
  ASSERT_TRUE(empty->save(path).is_ok());
  auto back = IvfPqIndex::load(path, 1);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_FALSE((*back)->is_trained());
  EXPECT_EQ((*back)->params().ivf.nlist, 32u);
  std::remove(path.c_str());
}

TEST(IvfPqIndexTest, SearchesRunWhileWritersAddAndRemove) {
  const size_t n = 4000, d = 16;
  auto s = split(n, 50, d, 16, 20);
  auto idx = make(d, Metric::kL2);
  ASSERT_TRUE(idx->add_batch(iota_ids(2000), {s.base.data(), 2000 * d}).is_ok());
  std::atomic<bool> stop{false};
  std::atomic<size_t> searches{0};
  std::thread reader([&] {
    std::vector<Neighbor> out(10);
    size_t nf = 0;
    while (!stop.load()) {
      for (size_t q = 0; q < 50; ++q) {
        EXPECT_TRUE(idx->search({s.queries.data() + q * d, d}, 10, {}, out, &nf).is_ok());
        EXPECT_EQ(nf, 10u);
      }
      searches.fetch_add(50);
    }
  });
  // Writes start only once the readers are searching, so they overlap on any scheduler.
  ASSERT_TRUE(testing::wait_until([&] { return searches.load() > 0; }));
  for (Id id = 2000; id < n; ++id) ASSERT_TRUE(idx->add(id, {s.base.data() + id * d, d}).is_ok());
  for (Id id = 0; id < 1000; ++id) ASSERT_TRUE(idx->remove(id).is_ok());
  stop.store(true);
  reader.join();
  EXPECT_EQ(idx->size(), n - 1000);
  EXPECT_GT(searches.load(), 0u);
}

}  // namespace
}  // namespace vecstream
