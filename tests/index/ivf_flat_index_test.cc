// IvfFlatIndex: recall against FlatIndex for every metric (nprobe = nlist is exact), training
// rules, upsert / remove / filters, persistence and damaged files, bad parameters, and searches
// running concurrently with writes.
#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <thread>

#include "core/bitset.h"
#include "index/ivf_flat_index.h"
#include "support/index_checks.h"
#include "support/test_data.h"
#include "support/wait.h"

namespace vecstream {
namespace {

using testing::clustered;
using testing::iota_ids;
using testing::recall_at_k;

struct Data {
  std::vector<float> base, queries;
};

// Base and queries from the same distribution (one draw, split).
Data make_data(size_t n, size_t nq, size_t d, size_t clusters, uint64_t seed, float spread) {
  auto all = clustered(n + nq, d, clusters, seed, spread);
  Data out;
  out.base.assign(all.begin(), all.begin() + n * d);
  out.queries.assign(all.begin() + n * d, all.end());
  return out;
}

IvfParams small_params(size_t nlist, size_t nprobe) {
  IvfParams p;
  p.nlist = nlist;
  p.nprobe = nprobe;
  p.threads = 2;
  return p;
}

class IvfFlatMetricTest : public ::testing::TestWithParam<Metric> {};

// Floors on this data (n = 10000, d = 32, 100 clusters of spread 0.5, nlist = 64); measured
// nprobe=8: L2 0.970, IP 0.918, cosine 0.983, L1 0.964. Floors:
// nprobe = 8 -> recall@10 >= 0.90, nprobe = 64 = nlist -> exact (1.0).
TEST_P(IvfFlatMetricTest, RecallAgainstFlat) {
  const Metric m = GetParam();
  const size_t n = 10000, nq = 200, d = 32, k = 10;
  Data data = make_data(n, nq, d, 100, 21, 0.5f);
  auto idx = IvfFlatIndex::create(d, m, small_params(64, 8));
  ASSERT_TRUE(idx.is_ok());
  ASSERT_TRUE((*idx)->train(data.base, n).is_ok());
  auto ids = iota_ids(n, 1000);
  ASSERT_TRUE((*idx)->add_batch(ids, data.base).is_ok());
  EXPECT_EQ((*idx)->size(), n);
  auto exact = testing::exact_copy(d, m, ids, data.base);
  ASSERT_NE(exact, nullptr);

  SearchParams p8;
  const double r8 = recall_at_k(**idx, *exact, data.queries, k, p8);
  SearchParams all;
  all.nprobe = 64;
  const double r_all = recall_at_k(**idx, *exact, data.queries, k, all);
  SearchParams one;
  one.nprobe = 1;
  const double r1 = recall_at_k(**idx, *exact, data.queries, k, one);
  std::printf("[ivf_flat %s] recall@10 nprobe=1 %.3f, nprobe=8 %.3f, nprobe=64 %.3f\n",
              std::string(metric_name(m)).c_str(), r1, r8, r_all);
  EXPECT_GE(r8, 0.90);
  EXPECT_GE(r_all, 0.999);
  EXPECT_LE(r1, r8 + 1e-9);
  // nprobe = nlist returns the exact distances.
  std::vector<Neighbor> got(k), want(k);
  for (size_t q = 0; q < 20; ++q) {
    std::span<const float> qv(data.queries.data() + q * d, d);
    size_t ng = 0, nw = 0;
    ASSERT_TRUE((*idx)->search(qv, k, all, got, &ng).is_ok());
    ASSERT_TRUE(exact->search(qv, k, {}, want, &nw).is_ok());
    ASSERT_EQ(ng, k);
    for (size_t i = 0; i < k; ++i) EXPECT_FLOAT_EQ(got[i].distance, want[i].distance);
  }
  testing::expect_batch_matches_single(**idx, data.queries, k, p8);
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, IvfFlatMetricTest,
                         ::testing::Values(Metric::kL2, Metric::kInnerProduct, Metric::kCosine,
                                           Metric::kL1));

TEST(IvfFlatIndexTest, TrainingRules) {
  const size_t d = 8;
  auto data = clustered(2000, d, 10, 3);
  auto idx = std::move(*IvfFlatIndex::create(d, Metric::kL2, small_params(16, 4)));
  EXPECT_FALSE(idx->is_trained());
  // add before training: FAILED_PRECONDITION; a batch under nlist * 16 rows too.
  EXPECT_EQ(idx->add(1, std::span<const float>(data.data(), d)).code(), StatusCode::kFailedPrecondition);
  std::vector<Id> few = iota_ids(100);
  Status s = idx->add_batch(few, std::span<const float>(data.data(), 100 * d));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("train()"), std::string::npos) << s.message();
  EXPECT_EQ(idx->size(), 0u);
  // train() with fewer rows than lists: INVALID_ARGUMENT.
  EXPECT_EQ(idx->train(std::span<const float>(data.data(), 10 * d), 10).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->train(data, 1999).code(), StatusCode::kInvalidArgument);  // shape
  // A batch of 2000 >= 16 * 16 rows trains automatically, with progress reports.
  size_t train_reports = 0, add_reports = 0;
  IvfParams p = small_params(16, 4);
  p.progress_every = 500;
  p.progress = [&](std::string_view stage, size_t done, size_t total) {
    if (stage == "train") ++train_reports;
    if (stage == "add") {
      ++add_reports;
      EXPECT_LE(done, total);
    }
  };
  auto auto_idx = std::move(*IvfFlatIndex::create(d, Metric::kL2, p));
  ASSERT_TRUE(auto_idx->add_batch(iota_ids(2000), data).is_ok());
  EXPECT_TRUE(auto_idx->is_trained());
  EXPECT_EQ(auto_idx->size(), 2000u);
  EXPECT_GE(train_reports, 1u);
  EXPECT_EQ(add_reports, 4u);
  EXPECT_EQ(auto_idx->train(data, 2000).code(), StatusCode::kFailedPrecondition);
  // Every point lands in exactly one list.
  size_t total = 0;
  for (size_t s2 : auto_idx->list_sizes()) total += s2;
  EXPECT_EQ(total, 2000u);
  EXPECT_GT(auto_idx->memory_bytes(), 2000 * d * sizeof(float));
  EXPECT_EQ(auto_idx->describe(), "ivf_flat(nlist=16,nprobe=4)");
}

TEST(IvfFlatIndexTest, UpsertRemoveAndFilter) {
  const size_t d = 16, n = 3000;
  auto data = clustered(n, d, 20, 4);
  auto idx = std::move(*IvfFlatIndex::create(d, Metric::kL2, small_params(32, 2)));
  ASSERT_TRUE(idx->add_batch(iota_ids(n), data).is_ok());
  // Upsert moves id 5 far away (into another list): found there, size unchanged.
  std::vector<float> far(d, 30.0f);
  ASSERT_TRUE(idx->add(5, far).is_ok());
  EXPECT_EQ(idx->size(), n);
  std::vector<Neighbor> out(10);
  size_t nf = 0;
  ASSERT_TRUE(idx->search(far, 3, {}, out, &nf).is_ok());
  EXPECT_EQ(out[0].id, 5u);
  EXPECT_FLOAT_EQ(out[0].distance, 0.0f);
  // The old vector of id 5 is gone: searching at it does not return id 5 at distance 0.
  ASSERT_TRUE(idx->search({data.data() + 5 * d, d}, 3, {}, out, &nf).is_ok());
  for (size_t i = 0; i < nf; ++i) EXPECT_NE(out[i].id, 5u);
  // Remove: immediately gone; NOT_FOUND the second time.
  ASSERT_TRUE(idx->remove(5).is_ok());
  EXPECT_FALSE(idx->contains(5));
  EXPECT_EQ(idx->remove(5).code(), StatusCode::kNotFound);
  EXPECT_EQ(idx->size(), n - 1);
  ASSERT_TRUE(idx->search(far, 3, {}, out, &nf).is_ok());
  for (size_t i = 0; i < nf; ++i) EXPECT_NE(out[i].id, 5u);
  // Remove and re-add a point: it is found at its own place again.
  ASSERT_TRUE(idx->remove(77).is_ok());
  ASSERT_TRUE(idx->add(77, std::span<const float>(data.data() + 77 * d, d)).is_ok());
  ASSERT_TRUE(idx->search({data.data() + 77 * d, d}, 1, {}, out, &nf).is_ok());
  EXPECT_EQ(out[0].id, 77u);
  // Predicate filter: only even ids.
  IdFilter even;
  even.predicate = [](Id id) { return id % 2 == 0; };
  SearchParams p;
  p.filter = &even;
  ASSERT_TRUE(idx->search({data.data(), d}, 10, p, out, &nf).is_ok());
  EXPECT_EQ(nf, 10u);
  for (size_t i = 0; i < nf; ++i) EXPECT_EQ(out[i].id % 2, 0u);
  // A very selective bitset (12 ids spread over the space) with nprobe = 1 still yields 10.
  Bitset allow(n);
  for (Id id = 100; id < n; id += 240) allow.set(id);
  IdFilter sel;
  sel.allow = &allow;
  p.filter = &sel;
  p.nprobe = 1;
  ASSERT_TRUE(idx->search({data.data(), d}, 10, p, out, &nf).is_ok());
  EXPECT_EQ(nf, 10u);
  for (size_t i = 0; i < nf; ++i) EXPECT_TRUE(allow.test(out[i].id));
  // Repeated id inside a batch keeps its last row.
  std::vector<Id> dup{9000, 9000};
  std::vector<float> rows(2 * d, 1.0f);
  std::fill(rows.begin() + d, rows.end(), -20.0f);
  ASSERT_TRUE(idx->add_batch(dup, rows).is_ok());
  ASSERT_TRUE(idx->search({rows.data() + d, d}, 1, {}, out, &nf).is_ok());
  EXPECT_EQ(out[0].id, 9000u);
  EXPECT_FLOAT_EQ(out[0].distance, 0.0f);
}

TEST(IvfFlatIndexTest, SaveLoadAndCorruption) {
  const size_t d = 12, n = 2500;
  for (Metric m : {Metric::kL2, Metric::kCosine}) {
    auto data = clustered(n, d, 15, 5);
    auto idx = std::move(*IvfFlatIndex::create(d, m, small_params(24, 3)));
    ASSERT_TRUE(idx->add_batch(iota_ids(n, 50), data).is_ok());
    ASSERT_TRUE(idx->remove(60).is_ok());
    const std::string path = testing::temp_path("ivf_flat", "rt");
    ASSERT_TRUE(idx->save(path).is_ok());
    auto loaded = IvfFlatIndex::load(path, 2);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    EXPECT_EQ((*loaded)->size(), n - 1);
    EXPECT_EQ((*loaded)->metric(), m);
    EXPECT_EQ((*loaded)->describe(), idx->describe());
    EXPECT_FALSE((*loaded)->contains(60));
    std::vector<float> queries(data.begin(), data.begin() + 40 * d);
    testing::expect_same_results(*idx, **loaded, queries, 7);
    // The loaded index keeps working: add and remove.
    ASSERT_TRUE((*loaded)->add(60, std::span<const float>(data.data() + 10 * d, d)).is_ok());
    ASSERT_TRUE((*loaded)->remove(61).is_ok());
    testing::expect_corruption_on_damage(path, [](const std::string& p) {
      return IvfFlatIndex::load(p, 1).status();
    });
    std::remove(path.c_str());
  }
  // An untrained index round-trips too.
  auto empty = std::move(*IvfFlatIndex::create(4, Metric::kL2, small_params(8, 2)));
  const std::string path = testing::temp_path("ivf_flat", "empty");
  ASSERT_TRUE(empty->save(path).is_ok());
  auto loaded = IvfFlatIndex::load(path, 1);
  ASSERT_TRUE(loaded.is_ok());
  EXPECT_FALSE((*loaded)->is_trained());
  EXPECT_EQ(IvfFlatIndex::load(path + ".missing", 1).status().code(), StatusCode::kNotFound);
  std::remove(path.c_str());
}

TEST(IvfFlatIndexTest, BadParametersAndInput) {
  IvfParams p = small_params(0, 1);
  EXPECT_EQ(IvfFlatIndex::create(8, Metric::kL2, p).status().code(), StatusCode::kInvalidArgument);
  p = small_params(8, 0);
  EXPECT_EQ(IvfFlatIndex::create(8, Metric::kL2, p).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(IvfFlatIndex::create(0, Metric::kL2, small_params(8, 1)).status().code(),
            StatusCode::kInvalidArgument);
  // nlist > N: training on fewer rows than lists is refused.
  const size_t d = 4;
  auto data = clustered(50, d, 3, 6);
  auto idx = std::move(*IvfFlatIndex::create(d, Metric::kL2, small_params(64, 4)));
  EXPECT_EQ(idx->train(data, 50).code(), StatusCode::kInvalidArgument);
  auto ok = std::move(*IvfFlatIndex::create(d, Metric::kCosine, small_params(4, 2)));
  ASSERT_TRUE(ok->train(data, 50).is_ok());
  ASSERT_TRUE(ok->add_batch(iota_ids(50), data).is_ok());
  std::vector<float> nan_vec{1, std::numeric_limits<float>::quiet_NaN(), 3, 4};
  std::vector<float> zero(d, 0.0f), short_vec{1, 2, 3};
  EXPECT_EQ(ok->add(1, nan_vec).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ok->add(1, zero).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ok->add(1, short_vec).code(), StatusCode::kInvalidArgument);
  std::vector<float> batch(data.begin(), data.begin() + 2 * d);
  batch[d + 2] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ok->add_batch(std::vector<Id>{500, 501}, batch).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ok->contains(500));
  std::vector<Neighbor> out(60);
  size_t nf = 0;
  EXPECT_EQ(ok->search({data.data(), d}, 0, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ok->search({data.data(), d}, 51, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ok->search(nan_vec, 1, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ok->search(short_vec, 1, {}, out, &nf).code(), StatusCode::kInvalidArgument);
}

TEST(IvfFlatIndexTest, SearchesConcurrentWithWrites) {
  const size_t d = 16, n = 4000;
  auto data = clustered(n + 1000, d, 20, 7);
  auto idx = std::move(*IvfFlatIndex::create(d, Metric::kL2, small_params(32, 4)));
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
  for (size_t i = 0; i < 1000 || (searches.load() < 100 && i < n); ++i) {
    ASSERT_TRUE(idx->add(n + i % 1000, std::span<const float>(data.data() + (n + i % 1000) * d, d)).is_ok());
    ASSERT_TRUE(idx->remove(i % 1000).is_ok());
    ASSERT_TRUE(idx->add(i % 1000, std::span<const float>(data.data() + (i % 1000) * d, d)).is_ok());
    ASSERT_TRUE(idx->remove(n + i % 1000).is_ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(idx->size(), n);
  EXPECT_GT(searches.load(), 0u);
}

}  // namespace
}  // namespace vecstream
