// QueryBatcher: concurrent queries form batches (size histogram above 1) and get exactly the
// answers of unbatched searches; identical queries are answered once; a full queue answers
// RESOURCE_EXHAUSTED; a bad query does not fail its batch.
#include "serve/query_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "obs/metrics.h"
#include "support/temp_dir.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

constexpr size_t kDim = 16;

std::unique_ptr<Collection> make_collection(const std::string& dir, size_t n, const char* metric = "l2") {
  auto cfg = CollectionConfig::from_json(
      {{"name", "c"}, {"dim", kDim}, {"metric", metric}, {"fsync", "none"}, {"shards", 2}});
  EXPECT_TRUE(cfg.is_ok()) << cfg.status().to_string();
  auto c = Collection::create(dir, *cfg);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  const std::vector<float> x = testing::clustered(n, kDim, 10, 7);
  std::vector<PointWrite> pts;
  for (size_t i = 0; i < n; ++i) {
    pts.push_back(PointWrite{PointId::number(i), std::vector<float>(x.begin() + i * kDim,
                                                                    x.begin() + (i + 1) * kDim),
                             nullptr});
  }
  EXPECT_TRUE((*c)->upsert(std::move(pts)).is_ok());
  (*c)->wait_indexed();
  return std::move(*c);
}

bool same(const std::vector<ScoredPoint>& a, const std::vector<ScoredPoint>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i].id == b[i].id) || a[i].distance != b[i].distance) return false;
  }
  return true;
}

TEST(QueryBatcherTest, ConcurrentQueriesBatchAndAnswerAsUnbatched) {
  testing::TempDir dir;
  auto coll = make_collection(dir.path(), 3000);
  const std::vector<float> queries = testing::clustered(400, kDim, 10, 99);
  ShardQuery q;
  q.k = 10;
  std::vector<std::vector<ScoredPoint>> expected(400);
  for (size_t i = 0; i < 400; ++i) {
    ASSERT_TRUE(coll->search({queries.data() + i * kDim, kDim}, q, &expected[i]).is_ok());
  }

  obs::MetricsRegistry registry;
  auto hist = registry.histogram("vecstream_query_batch_size", "Batch sizes",
                                 obs::exponential_buckets(1, 2, 8));
  ASSERT_TRUE(hist.is_ok());
  QueryBatcher batcher(QueryBatcherOptions{.window = std::chrono::microseconds(2000),
                                           .max_batch = 16, .max_queue = 1024,
                                           .wait_when_idle = true},
                       *hist);
  const std::string key = QueryBatcher::group_key(*coll, q);
  constexpr int kThreads = 8;
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<ScoredPoint> out;
      for (size_t i = t; i < 400; i += kThreads) {
        Status st = batcher.search(key, *coll, {queries.data() + i * kDim, kDim}, q, &out);
        if (!st.is_ok()) ++errors;
        if (!same(out, expected[i])) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  QueryBatcherStats st = batcher.stats();
  EXPECT_EQ(st.queries, 400u);
  EXPECT_LT(st.batches, 400u);
  EXPECT_GT(st.max_batch, 1u);
  obs::HistogramSnapshot snap = (*hist)->snapshot();
  EXPECT_EQ(snap.count, st.batches);
  EXPECT_GT(snap.sum / static_cast<double>(snap.count), 1.0);
  std::printf("batches: %llu for %llu queries (mean %.2f, max %llu)\n",
              static_cast<unsigned long long>(st.batches), static_cast<unsigned long long>(st.queries),
              snap.sum / static_cast<double>(snap.count), static_cast<unsigned long long>(st.max_batch));
}

TEST(QueryBatcherTest, IdenticalQueriesAreAnsweredOnce) {
  testing::TempDir dir;
  auto coll = make_collection(dir.path(), 500);
  ShardQuery q;
  q.k = 5;
  q.with_payload = true;
  const std::vector<float> v(kDim, 0.25f);
  std::vector<ScoredPoint> expected;
  ASSERT_TRUE(coll->search(v, q, &expected).is_ok());
  QueryBatcher batcher(QueryBatcherOptions{.window = std::chrono::microseconds(100000),
                                           .max_batch = 6, .max_queue = 64,
                                           .wait_when_idle = true});
  const std::string key = QueryBatcher::group_key(*coll, q);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      std::vector<ScoredPoint> out;
      if (!batcher.search(key, *coll, v, q, &out).is_ok() || !same(out, expected)) ++bad;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  QueryBatcherStats st = batcher.stats();
  EXPECT_EQ(st.queries, 6u);
  EXPECT_EQ(st.queries - st.deduplicated, st.batches);  // one distinct vector per batch
  EXPECT_GT(st.deduplicated, 0u);
}

TEST(QueryBatcherTest, FullQueueIsResourceExhausted) {
  testing::TempDir dir;
  auto coll = make_collection(dir.path(), 200);
  ShardQuery q;
  q.k = 3;
  // A leader that waits up to 400 ms for company, a queue of two.
  QueryBatcher batcher(QueryBatcherOptions{.window = std::chrono::microseconds(400000),
                                           .max_batch = 100, .max_queue = 2,
                                           .wait_when_idle = true});
  const std::string key = QueryBatcher::group_key(*coll, q);
  const std::vector<float> v(kDim, 0.5f);
  Status s1, s2;
  std::vector<ScoredPoint> o1, o2, o3;
  std::thread a([&] { s1 = batcher.search(key, *coll, v, q, &o1); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::thread b([&] { s2 = batcher.search(key, *coll, v, q, &o2); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Status s3 = batcher.search(key, *coll, v, q, &o3);
  EXPECT_EQ(s3.code(), StatusCode::kResourceExhausted) << s3.to_string();
  a.join();
  b.join();
  EXPECT_TRUE(s1.is_ok());
  EXPECT_TRUE(s2.is_ok());
  EXPECT_EQ(o1.size(), 3u);
  EXPECT_TRUE(same(o1, o2));
  EXPECT_EQ(batcher.stats().rejected, 1u);
  // Another group is not affected by this one's queue.
  ShardQuery q2 = q;
  q2.k = 4;
  EXPECT_TRUE(batcher.search(QueryBatcher::group_key(*coll, q2), *coll, v, q2, &o3).is_ok());
}

TEST(QueryBatcherTest, BadQueryDoesNotFailItsBatch) {
  testing::TempDir dir;
  auto coll = make_collection(dir.path(), 200, "cosine");
  ShardQuery q;
  q.k = 3;
  QueryBatcher batcher(QueryBatcherOptions{.window = std::chrono::microseconds(200000),
                                           .max_batch = 2, .max_queue = 16,
                                           .wait_when_idle = true});
  const std::string key = QueryBatcher::group_key(*coll, q);
  const std::vector<float> zero(kDim, 0.0f), good(kDim, 0.5f);  // zero: invalid under cosine
  Status s1, s2;
  std::vector<ScoredPoint> o1, o2;
  std::thread a([&] { s1 = batcher.search(key, *coll, zero, q, &o1); });
  std::thread b([&] { s2 = batcher.search(key, *coll, good, q, &o2); });
  a.join();
  b.join();
  EXPECT_EQ(s1.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(s2.is_ok()) << s2.to_string();
  EXPECT_EQ(o2.size(), 3u);
}

}  // namespace
}  // namespace vecstream

namespace vecstream {
namespace {

// Prints what batching costs or gains today: queries per second of 8 threads searching directly
// and through the batcher, for an approximate and an exact search. No assertion: a figure for
// the log (Collection::search_batch is still a loop over search(), so expect no gain yet).
TEST(QueryBatcherTest, ThroughputFigures) {
  testing::TempDir dir;
  auto coll = make_collection(dir.path(), 5000);
  const std::vector<float> queries = testing::clustered(1600, kDim, 10, 123);
  for (bool exact : {false, true}) {
    ShardQuery q;
    q.k = 10;
    q.exact = exact;
    QueryBatcher batcher(QueryBatcherOptions{});
    const std::string key = QueryBatcher::group_key(*coll, q);
    double qps[2];
    // Two rounds, the first a warm-up (thread-local scratch, caches); the second is reported.
    for (int round = 0; round < 4; ++round) {
      const int batched = round % 2;
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<std::thread> threads;
      for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
          std::vector<ScoredPoint> out;
          for (size_t i = t; i < 1600; i += 8) {
            std::span<const float> v(queries.data() + i * kDim, kDim);
            Status st = batched ? batcher.search(key, *coll, v, q, &out) : coll->search(v, q, &out);
            EXPECT_TRUE(st.is_ok());
          }
        });
      }
      for (auto& th : threads) th.join();
      qps[batched] = 1600 / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    const QueryBatcherStats st = batcher.stats();
    std::printf("%s: direct %.0f q/s, batched %.0f q/s (x%.2f), mean batch %.2f\n",
                exact ? "exact" : "hnsw", qps[0], qps[1], qps[1] / qps[0],
                static_cast<double>(st.queries) / static_cast<double>(std::max<uint64_t>(st.batches, 1)));
  }
}

}  // namespace
}  // namespace vecstream
