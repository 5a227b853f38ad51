// FlatIndex: exactness against a brute-force reference for every metric, batch == single,
// mutations, filters, persistence and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include "core/bitset.h"
#include "core/distance.h"
#include "index/flat_index.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

using testing::clustered;
using testing::iota_ids;

double reference_distance(Metric m, const float* a, const float* b, size_t d) {
  double s = 0, na = 0, nb = 0;
  for (size_t i = 0; i < d; ++i) {
    switch (m) {
      case Metric::kL2: s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]); break;
      case Metric::kL1: s += std::fabs(double(a[i]) - b[i]); break;
      default: s += double(a[i]) * b[i]; na += double(a[i]) * a[i]; nb += double(b[i]) * b[i];
    }
  }
  if (m == Metric::kInnerProduct) return -s;
  if (m == Metric::kCosine) return 1.0 - s / std::sqrt(na * nb);
  return s;
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/vs_flat_" + name + "_" + std::to_string(::getpid());
}

class FlatMetricTest : public ::testing::TestWithParam<Metric> {};

TEST_P(FlatMetricTest, ExactAgainstReferenceSingleAndBatch) {
  const Metric m = GetParam();
  const size_t n = 3000, d = 37, nq = 50, k = 10;
  auto data = clustered(n, d, 20, 1);
  auto queries = clustered(nq, d, 20, 2);
  auto idx = FlatIndex::create(d, m, 2);
  ASSERT_TRUE(idx.is_ok());
  ASSERT_TRUE((*idx)->add_batch(iota_ids(n, 100), data).is_ok());
  EXPECT_EQ((*idx)->size(), n);

  std::vector<Neighbor> batch(nq * k);
  std::vector<size_t> found(nq);
  ASSERT_TRUE((*idx)->search_batch(queries, k, {}, batch, found).is_ok());
  for (size_t q = 0; q < nq; ++q) {
    const float* qv = queries.data() + q * d;
    std::vector<std::pair<double, Id>> all;
    for (size_t i = 0; i < n; ++i) all.push_back({reference_distance(m, qv, data.data() + i * d, d), 100 + i});
    std::sort(all.begin(), all.end());
    std::vector<Neighbor> single(k);
    size_t nf = 0;
    ASSERT_TRUE((*idx)->search({qv, d}, k, {}, single, &nf).is_ok());
    ASSERT_EQ(nf, k);
    ASSERT_EQ(found[q], k);
    for (size_t i = 0; i < k; ++i) {
      // Same distances as the reference (ids may swap on exact ties).
      EXPECT_NEAR(single[i].distance, all[i].first, 1e-3 * (1 + std::fabs(all[i].first)));
      EXPECT_NEAR(batch[q * k + i].distance, all[i].first, 1e-3 * (1 + std::fabs(all[i].first)));
    }
    EXPECT_EQ(single[0].id, all[0].second);
  }
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, FlatMetricTest,
                         ::testing::Values(Metric::kL2, Metric::kInnerProduct, Metric::kCosine,
                                           Metric::kL1));

TEST(FlatIndexTest, UpsertRemoveAndFilter) {
  const size_t d = 8;
  auto idx = std::move(*FlatIndex::create(d, Metric::kL2, 1));
  auto data = clustered(200, d, 4, 3);
  ASSERT_TRUE(idx->add_batch(iota_ids(200), data).is_ok());
  // Upsert: id 5 moves to a new place and is found there, size unchanged.
  std::vector<float> far(d, 50.0f);
  ASSERT_TRUE(idx->add(5, far).is_ok());
  EXPECT_EQ(idx->size(), 200u);
  std::vector<Neighbor> out(3);
  size_t nf = 0;
  ASSERT_TRUE(idx->search(far, 3, {}, out, &nf).is_ok());
  EXPECT_EQ(out[0].id, 5u);
  EXPECT_FLOAT_EQ(out[0].distance, 0.0f);
  // Remove: gone from results, NOT_FOUND the second time.
  ASSERT_TRUE(idx->remove(5).is_ok());
  EXPECT_FALSE(idx->contains(5));
  EXPECT_EQ(idx->remove(5).code(), StatusCode::kNotFound);
  ASSERT_TRUE(idx->search(far, 3, {}, out, &nf).is_ok());
  for (size_t i = 0; i < nf; ++i) EXPECT_NE(out[i].id, 5u);
  // Filter: only even ids.
  IdFilter even;
  even.predicate = [](Id id) { return id % 2 == 0; };
  SearchParams p;
  p.filter = &even;
  std::vector<Neighbor> ten(10);
  ASSERT_TRUE(idx->search({data.data(), d}, 10, p, ten, &nf).is_ok());
  EXPECT_EQ(nf, 10u);
  for (size_t i = 0; i < nf; ++i) EXPECT_EQ(ten[i].id % 2, 0u);
}

TEST(FlatIndexTest, BadInput) {
  const size_t d = 4;
  auto idx = std::move(*FlatIndex::create(d, Metric::kCosine, 1));
  std::vector<float> ok{1, 2, 3, 4};
  std::vector<float> short_vec{1, 2, 3};
  std::vector<float> nan_vec{1, std::numeric_limits<float>::quiet_NaN(), 3, 4};
  std::vector<float> inf_vec{1, 2, std::numeric_limits<float>::infinity(), 4};
  std::vector<float> zero(d, 0.0f);
  EXPECT_EQ(idx->add(1, short_vec).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->add(1, nan_vec).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->add(1, inf_vec).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->add(1, zero).code(), StatusCode::kInvalidArgument);  // cosine of nothing
  EXPECT_EQ(idx->size(), 0u);
  // A batch with one bad row changes nothing.
  std::vector<float> batch = ok;
  batch.insert(batch.end(), nan_vec.begin(), nan_vec.end());
  std::vector<Id> ids{1, 2};
  Status s = idx->add_batch(ids, batch);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("row 1"), std::string::npos) << s.message();
  EXPECT_EQ(idx->size(), 0u);
  ASSERT_TRUE(idx->add(1, ok).is_ok());
  std::vector<Neighbor> out(2);
  size_t nf = 0;
  EXPECT_EQ(idx->search(ok, 0, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->search(ok, 2, {}, out, &nf).code(), StatusCode::kInvalidArgument);  // k > size
  EXPECT_EQ(idx->search(short_vec, 1, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx->search(nan_vec, 1, {}, out, &nf).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(FlatIndex::create(0, Metric::kL2).is_ok());
}

TEST(FlatIndexTest, SaveLoadAndCorruption) {
  const size_t d = 16, n = 500;
  auto idx = std::move(*FlatIndex::create(d, Metric::kInnerProduct, 1));
  auto data = clustered(n, d, 5, 9);
  ASSERT_TRUE(idx->add_batch(iota_ids(n, 7), data).is_ok());
  ASSERT_TRUE(idx->remove(10).is_ok());
  const std::string path = temp_path("roundtrip");
  ASSERT_TRUE(idx->save(path).is_ok());
  auto loaded = FlatIndex::load(path, 1);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->size(), n - 1);
  EXPECT_EQ((*loaded)->metric(), Metric::kInnerProduct);
  std::vector<Neighbor> a(5), b(5);
  size_t na = 0, nb = 0;
  for (size_t q = 0; q < 20; ++q) {
    std::span<const float> qv(data.data() + q * d, d);
    ASSERT_TRUE(idx->search(qv, 5, {}, a, &na).is_ok());
    ASSERT_TRUE((*loaded)->search(qv, 5, {}, b, &nb).is_ok());
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(a[i].id, b[i].id);
      EXPECT_FLOAT_EQ(a[i].distance, b[i].distance);
    }
  }
  // Truncations at several points and single flipped bytes: CORRUPTION, never a crash.
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  for (size_t cut : {size_t{0}, size_t{5}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    const std::string p = temp_path("cut");
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
    auto r = FlatIndex::load(p, 1);
    ASSERT_FALSE(r.is_ok()) << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
    std::remove(p.c_str());
  }
  for (size_t at : {size_t{3}, size_t{40}, bytes.size() / 3, bytes.size() - 10}) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x5a);
    const std::string p = temp_path("flip");
    std::ofstream(p, std::ios::binary).write(damaged.data(), static_cast<std::streamsize>(damaged.size()));
    auto r = FlatIndex::load(p, 1);
    ASSERT_FALSE(r.is_ok()) << at;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
    std::remove(p.c_str());
  }
  EXPECT_EQ(FlatIndex::load(temp_path("missing"), 1).status().code(), StatusCode::kNotFound);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace vecstream
