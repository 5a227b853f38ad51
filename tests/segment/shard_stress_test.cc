// Concurrency stress for a shard: writer threads upsert and delete while reader threads search
// and get, the background indexer seals and indexes, compaction rewrites and merges segments,
// and checkpoints run — all at once. Run under the tsan preset in the suite. Checks the
// read-your-writes contract from each writer's point of view: an acknowledged upsert is found by
// the next exact query; an acknowledged delete is never returned again.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>

#include "segment/shard.h"
#include "support/temp_dir.h"

namespace vecstream {
namespace {

constexpr size_t kDim = 12;

std::vector<float> vec_for(uint64_t id, uint64_t v) {
  std::mt19937_64 g(id * 7919 + v);
  std::normal_distribution<float> n;
  std::vector<float> out(kDim);
  for (auto& x : out) x = n(g);
  return out;
}

TEST(ShardStressTest, WritersReadersIndexerCompactorCheckpoints) {
  testing::TempDir dir;
  ShardOptions o;
  o.dir = dir.path();
  o.dim = kDim;
  o.index.m = 8;
  o.index.ef_construction = 32;
  o.seal_rows = 128;
  o.index_batch = 32;
  o.max_segments = 2;
  o.compact_deleted_ratio = 0.1;
  o.fsync = FsyncPolicy::kInterval;
  o.fsync_interval_ms = 5;
  o.checkpoint_interval_ms = 30;
  auto shard = Shard::open(o);
  ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
  Shard& s = **shard;

  constexpr int kWriters = 2;
  constexpr int kOpsPerWriter = 600;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(w + 1);
      // Each writer owns ids = w (mod kWriters), so its view of them is authoritative.
      for (int op = 0; op < kOpsPerWriter; ++op) {
        const uint64_t id = (rng() % 200) * kWriters + w;
        if (rng() % 4 == 0) {
          if (!s.remove({PointId::number(id)}).is_ok()) ++failures;
          std::vector<ScoredPoint> out;
          ShardQuery q;
          q.k = 5;
          q.exact = true;
          if (!s.search(vec_for(id, 0), q, &out).is_ok()) ++failures;
          for (const auto& p : out) {
            if (p.id.num() == id) ++failures;  // deleted, acknowledged, yet found
          }
          if (s.get(PointId::number(id)).has_value()) ++failures;
        } else {
          auto v = vec_for(id, 0);
          if (!s.upsert({PointWrite{PointId::number(id), v, {{"w", w}}}}).is_ok()) ++failures;
          std::vector<ScoredPoint> out;
          ShardQuery q;
          q.k = 1;
          q.exact = (op % 2 == 0);
          if (!s.search(v, q, &out).is_ok() || out.empty() || !(out[0].id == PointId::number(id))) {
            ++failures;
          }
        }
      }
    });
  }
  std::atomic<size_t> reads{0};
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(100 + r);
      while (!done.load()) {
        std::vector<ScoredPoint> out;
        ShardQuery q;
        q.k = 10;
        q.with_payload = true;
        if (!s.search(vec_for(rng() % 400, 0), q, &out).is_ok()) ++failures;
        (void)s.get(PointId::number(rng() % 400));
        (void)s.stats();
        reads.fetch_add(1);
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  done = true;
  for (size_t i = kWriters; i < threads.size(); ++i) threads[i].join();
  EXPECT_EQ(failures.load(), 0);
  s.wait_indexed();
  ShardStats st = s.stats();
  std::printf("stress: %zu reads, %zu segments, %llu compactions, %llu checkpoints, live %zu\n",
              reads.load(), st.segments, static_cast<unsigned long long>(st.compactions),
              static_cast<unsigned long long>(st.checkpoints), st.live);
  EXPECT_TRUE(s.close().is_ok());
}


// Read-your-writes through the index, not only the exact path: eight writers each upsert a point
// of a small grid (many equal distances) and at once ask for its nearest neighbour, while the
// indexer links rows into the growing segment's HNSW graph. The point itself (distance 0) must
// come back every time, whether it is still in the exactly scanned tail or already in the graph.
TEST(ShardStressTest, ApproximateReadYourWritesWhileIndexing) {
  for (int round = 0; round < 10; ++round) {
    testing::TempDir dir;
    ShardOptions o;
    o.dir = dir.path();
    o.dim = 4;
    o.fsync = FsyncPolicy::kNone;
    auto shard = Shard::open(o);
    ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
    Shard& s = **shard;
    constexpr int kThreads = 8, kOps = 40;
    std::atomic<int> failures{0};
    std::mutex mu;
    std::string first;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kOps; ++i) {
          const uint64_t id = static_cast<uint64_t>(t * 1000 + i);
          const std::vector<float> v = {static_cast<float>(t), static_cast<float>(i), 1, 0};
          auto ack = s.upsert({PointWrite{PointId::number(id), v, nullptr}});
          std::vector<ScoredPoint> out;
          ShardQuery q;
          q.k = 1;
          const Status st = s.search(v, q, &out);
          if (!ack.is_ok() || !st.is_ok() || out.empty() || !(out[0].id == PointId::number(id))) {
            if (failures++ == 0) {
              std::lock_guard lk(mu);
              first = "id " + std::to_string(id) + " got " +
                      (out.empty() ? std::string("nothing")
                                   : out[0].id.to_string() + " at " + std::to_string(out[0].distance));
            }
          }
          // Give the indexer time to link rows while the writers go on (as over a network).
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0) << "round " << round << ": " << first;
  }
}

// An upsert publishes a point's new row before it tombstones the old one, so a search running
// beside it can see the point twice. The answer must still be k distinct points: here k is every
// live point, and a writer rewrites them all over and over.
TEST(ShardStressTest, RewrittenPointsStillFillKDistinctSlots) {
  testing::TempDir dir;
  ShardOptions o;
  o.dir = dir.path();
  o.dim = kDim;
  o.fsync = FsyncPolicy::kNone;
  auto shard = Shard::open(o);
  ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
  Shard& s = **shard;
  constexpr uint64_t kPoints = 16;
  for (uint64_t id = 0; id < kPoints; ++id) {
    ASSERT_TRUE(s.upsert({PointWrite{PointId::number(id), vec_for(id, 0), nullptr}}).is_ok());
  }
  std::atomic<bool> done{false};
  std::atomic<size_t> searches{0}, short_answers{0}, repeated_ids{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::vector<ScoredPoint> out;
      std::vector<std::vector<ScoredPoint>> outs(2);
      std::vector<Status> statuses(2);
      std::mt19937_64 rng(7 + r);
      while (!done.load()) {
        ShardQuery q;
        q.k = kPoints;
        q.exact = rng() % 2 == 0;
        const auto a = vec_for(rng() % kPoints, 0), b = vec_for(rng() % kPoints, 1);
        const std::vector<std::span<const float>> batch = {a, b};
        if (!s.search(a, q, &out).is_ok()) ++short_answers;
        s.search_batch(batch, q, outs, statuses);
        for (const Status& st : statuses) {
          if (!st.is_ok()) ++short_answers;
        }
        for (const auto* answer : {&out, &outs[0], &outs[1]}) {
          if (answer->size() != kPoints) ++short_answers;
          for (size_t i = 0; i < answer->size(); ++i) {
            for (size_t j = 0; j < i; ++j) repeated_ids += (*answer)[i].id == (*answer)[j].id;
          }
        }
        searches += 3;
      }
    });
  }
  for (uint64_t v = 1; v <= 2000; ++v) {
    std::vector<PointWrite> batch;
    for (uint64_t id = 0; id < kPoints; ++id) batch.push_back({PointId::number(id), vec_for(id, v), nullptr});
    ASSERT_TRUE(s.upsert(std::move(batch)).is_ok());
  }
  done = true;
  for (auto& t : readers) t.join();
  std::printf("rewrites: %zu searches\n", searches.load());
  EXPECT_EQ(short_answers.load(), 0u);
  EXPECT_EQ(repeated_ids.load(), 0u);
  EXPECT_TRUE(s.close().is_ok());
}

}  // namespace
}  // namespace vecstream
