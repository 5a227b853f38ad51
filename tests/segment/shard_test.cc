// Shard: writes visible at once, upsert/delete semantics, search quality against the exact
// answer over the live set, filters, recovery from checkpoint + WAL, corruption, bad input.
#include "segment/shard.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "segment/collection.h"
#include "support/temp_dir.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

using testing::TempDir;

constexpr size_t kDim = 16;

ShardOptions small_options(const std::string& dir, Metric metric = Metric::kL2) {
  ShardOptions o;
  o.dir = dir;
  o.dim = kDim;
  o.metric = metric;
  o.index.ef_construction = 64;
  o.index.ef_search = 64;
  o.seal_rows = 300;
  o.index_batch = 64;
  o.max_segments = 3;
  o.fsync = FsyncPolicy::kNone;
  o.checkpoint_interval_ms = 0;
  return o;
}

std::vector<float> row(const std::vector<float>& data, size_t i) {
  return {data.begin() + i * kDim, data.begin() + (i + 1) * kDim};
}

PointWrite point(uint64_t id, std::vector<float> v, nlohmann::json payload = nullptr) {
  return PointWrite{PointId::number(id), std::move(v), std::move(payload)};
}

// Exact top-k over a model of the live set.
std::vector<uint64_t> exact_ids(const std::map<uint64_t, std::vector<float>>& live,
                                const float* q, size_t k) {
  std::vector<std::pair<float, uint64_t>> all;
  for (const auto& [id, v] : live) {
    float d = 0;
    for (size_t j = 0; j < kDim; ++j) d += (v[j] - q[j]) * (v[j] - q[j]);
    all.push_back({d, id});
  }
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < std::min(k, all.size()); ++i) out.push_back(all[i].second);
  return out;
}

// Twenty unfiltered top-10 queries (clustered data from `seed`) answered exactly as the model
// of the live set says.
void expect_exact_answers(Shard& s, const std::map<uint64_t, std::vector<float>>& live, uint64_t seed) {
  auto qdata = testing::clustered(20, kDim, 8, seed);
  for (size_t qi = 0; qi < 20; ++qi) {
    ShardQuery q;
    q.k = 10;
    std::vector<ScoredPoint> got;
    ASSERT_TRUE(s.search(row(qdata, qi), q, &got).is_ok());
    const auto want = exact_ids(live, qdata.data() + qi * kDim, 10);
    ASSERT_EQ(got.size(), want.size());
    for (size_t j = 0; j < want.size(); ++j) EXPECT_EQ(got[j].id.num(), want[j]) << "query " << qi;
  }
}

TEST(ShardTest, WritesAreVisibleAtOnceAndUpsertReplaces) {
  TempDir dir;
  auto shard = Shard::open(small_options(dir.path()));
  ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
  Shard& s = **shard;
  auto data = testing::clustered(2000, kDim, 8, 1);
  for (size_t i = 0; i < 2000; ++i) {
    auto ack = s.upsert({point(i, row(data, i), {{"i", i}})});
    ASSERT_TRUE(ack.is_ok()) << ack.status().to_string();
    // Read-your-writes: the point just acknowledged is its own nearest neighbour.
    std::vector<ScoredPoint> out;
    ShardQuery q;
    q.k = 1;
    ASSERT_TRUE(s.search(row(data, i), q, &out).is_ok());
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].id.num(), i);
    ASSERT_FLOAT_EQ(out[0].distance, 0.0f);
  }
  s.wait_indexed();
  ShardStats st = s.stats();
  EXPECT_EQ(st.live, 2000u);
  EXPECT_GE(st.sealed_segments, 1u);
  // Upsert with an existing id replaces vector and payload.
  std::vector<float> moved(kDim, 100.0f);
  ASSERT_TRUE(s.upsert({point(7, moved, {{"moved", true}})}).is_ok());
  auto rec = s.get(PointId::number(7));
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->vector, moved);
  EXPECT_EQ(rec->payload["moved"], true);
  EXPECT_EQ(s.stats().live, 2000u);
  std::vector<ScoredPoint> out;
  ShardQuery q;
  q.k = 3;
  q.with_payload = true;
  ASSERT_TRUE(s.search(moved, q, &out).is_ok());
  EXPECT_EQ(out[0].id.num(), 7u);
  EXPECT_EQ(out[0].payload["moved"], true);
  ASSERT_TRUE(s.search(row(data, 7), q, &out).is_ok());
  for (const auto& p : out) EXPECT_NE(p.id.num(), 7u) << "old vector of 7 still found";
  // Delete: gone at once, idempotent.
  auto del = s.remove({PointId::number(7), PointId::number(99999)});
  ASSERT_TRUE(del.is_ok());
  EXPECT_EQ(del->applied, 1u);
  EXPECT_FALSE(s.get(PointId::number(7)).has_value());
  ASSERT_TRUE(s.search(moved, q, &out).is_ok());
  for (const auto& p : out) EXPECT_NE(p.id.num(), 7u);
  EXPECT_EQ(s.stats().live, 1999u);
}

// search_batch answers exactly what search answers, query by query (same ids, bit-identical
// distances), over sealed and indexed segments, an unindexed growing tail, tombstones, cosine
// normalisation, an index-less (flat) collection, exact mode and filters; a bad query fails alone.
TEST(ShardTest, SearchBatchAnswersAsSearch) {
  for (Metric metric : {Metric::kL2, Metric::kCosine}) {
    for (const char* kind : {"hnsw", "flat"}) {
      SCOPED_TRACE(std::string(metric_name(metric)) + " " + kind);
      TempDir dir;
      ShardOptions o = small_options(dir.path(), metric);
      o.index.kind = kind;
      o.background = false;
      auto shard = Shard::open(o);
      ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
      Shard& s = **shard;
      auto data = testing::clustered(900, kDim, 8, 4);
      for (size_t i = 0; i < 750; ++i) {
        ASSERT_TRUE(s.upsert({point(i, row(data, i), {{"even", i % 2 == 0}})}).is_ok());
      }
      ASSERT_TRUE(s.index_pending().is_ok());
      for (size_t i = 750; i < 900; ++i) {  // the growing tail, not indexed
        ASSERT_TRUE(s.upsert({point(i, row(data, i), {{"even", i % 2 == 0}})}).is_ok());
      }
      std::vector<PointId> del;
      for (size_t i = 0; i < 900; i += 7) del.push_back(PointId::number(i));
      ASSERT_TRUE(s.remove(del).is_ok());
      ASSERT_GE(s.stats().segments, 3u);

      auto qdata = testing::clustered(13, kDim, 8, 11);
      std::vector<std::vector<float>> qs;
      for (size_t i = 0; i < 13; ++i) qs.push_back(row(qdata, i));
      qs[3].resize(kDim - 1);                                     // wrong dimension
      qs[8][2] = std::numeric_limits<float>::quiet_NaN();        // NaN
      qs[10] = qs[4];                                             // a duplicate
      std::vector<std::span<const float>> spans(qs.begin(), qs.end());
      const PayloadFilter even = *PayloadFilter::parse(R"({"field":"even","eq":true})");
      for (int mode = 0; mode < 3; ++mode) {
        ShardQuery q;
        q.k = 10;
        q.exact = mode == 1;
        q.filter = mode == 2 ? &even : nullptr;
        q.with_payload = true;
        std::vector<std::vector<ScoredPoint>> outs(qs.size());
        std::vector<Status> st(qs.size());
        s.search_batch(spans, q, outs, st);
        for (size_t i = 0; i < qs.size(); ++i) {
          std::vector<ScoredPoint> one;
          Status want = s.search(spans[i], q, &one);
          ASSERT_EQ(st[i].code(), want.code()) << "query " << i << ": " << st[i].to_string();
          EXPECT_EQ(st[i].message(), want.message());
          if (!want.is_ok()) {
            EXPECT_TRUE(outs[i].empty());
            continue;
          }
          ASSERT_EQ(outs[i].size(), one.size()) << "query " << i << " mode " << mode;
          ASSERT_EQ(one.size(), 10u);
          for (size_t j = 0; j < one.size(); ++j) {
            EXPECT_EQ(outs[i][j].id, one[j].id) << "query " << i << " rank " << j << " mode " << mode;
            EXPECT_EQ(outs[i][j].distance, one[j].distance);
            EXPECT_EQ(outs[i][j].payload, one[j].payload);
            EXPECT_NE(outs[i][j].id.num() % 7, 0u) << "deleted id returned";
          }
        }
      }
    }
  }
}

TEST(ShardTest, RecallUnderChurnWithSealingAndCompaction) {
  TempDir dir;
  ShardOptions o = small_options(dir.path());
  o.background = false;
  auto shard = Shard::open(o);
  ASSERT_TRUE(shard.is_ok());
  Shard& s = **shard;
  const size_t n = 4000;
  auto data = testing::clustered(n, kDim, 16, 2);
  std::map<uint64_t, std::vector<float>> live;
  std::mt19937_64 rng(3);
  uint64_t next = 0;
  for (int round = 0; round < 8; ++round) {
    std::vector<PointWrite> batch;
    for (int i = 0; i < 400; ++i, ++next) {
      auto v = row(data, next % n);
      for (auto& x : v) x += 0.01f * static_cast<float>(round);
      batch.push_back(point(next, v));
      live[next] = v;
    }
    ASSERT_TRUE(s.upsert(std::move(batch)).is_ok());
    // Delete a third of what is live.
    std::vector<PointId> del;
    for (auto it = live.begin(); it != live.end();) {
      if (rng() % 3 == 0) {
        del.push_back(PointId::number(it->first));
        it = live.erase(it);
      } else {
        ++it;
      }
    }
    ASSERT_TRUE(s.remove(del).is_ok());
    ASSERT_TRUE(s.index_pending().is_ok());
    bool did = true;
    while (did) ASSERT_TRUE(s.compact_now(&did).is_ok());
  }
  ShardStats st = s.stats();
  EXPECT_EQ(st.live, live.size());
  EXPECT_GT(st.compactions, 0u);
  EXPECT_LE(st.segments, o.max_segments + 2);
  auto queries = testing::clustered(200, kDim, 16, 9);
  double hit = 0;
  for (size_t qi = 0; qi < 200; ++qi) {
    std::vector<float> q(queries.begin() + qi * kDim, queries.begin() + (qi + 1) * kDim);
    auto truth = exact_ids(live, q.data(), 10);
    std::vector<ScoredPoint> out;
    ShardQuery sq;
    sq.k = 10;
    ASSERT_TRUE(s.search(q, sq, &out).is_ok());
    std::set<uint64_t> got;
    for (const auto& p : out) {
      ASSERT_TRUE(live.count(p.id.num())) << "deleted id " << p.id.num() << " returned";
      got.insert(p.id.num());
    }
    for (uint64_t id : truth) hit += got.count(id);
    // Exact mode is the ground truth itself.
    sq.exact = true;
    ASSERT_TRUE(s.search(q, sq, &out).is_ok());
    for (size_t i = 0; i < truth.size(); ++i) EXPECT_EQ(out[i].id.num(), truth[i]);
  }
  const double recall = hit / (200.0 * 10.0);
  std::printf("recall@10 after churn: %.4f (segments %zu, compactions %llu, rows rewritten %llu, "
              "graph kept for %llu)\n",
              recall, st.segments, static_cast<unsigned long long>(st.compactions),
              static_cast<unsigned long long>(st.compacted_rows),
              static_cast<unsigned long long>(st.compaction_reused_rows));
  EXPECT_GE(recall, 0.97);
  EXPECT_GT(st.compaction_reused_rows, 0u);  // some rewrites carried their graph over
  EXPECT_LE(st.compaction_reused_rows, st.compacted_rows);
}

// A rewrite of a sealed segment with a quarter of its rows deleted keeps the survivors' graph
// nodes (relabelled to their new rows) instead of re-indexing them; a merge keeps the larger
// segment's graph and indexes the other's rows into it.
// Every survivor keeps its vector and payload, finds itself, and survives a restart.
TEST(ShardTest, CompactionCarriesTheGraphOver) {
  TempDir dir;
  ShardOptions o = small_options(dir.path());
  o.background = false;
  o.seal_rows = 1000;
  o.max_segments = 1;
  const size_t n = 1000;
  auto data = testing::clustered(n + 100, kDim, 10, 21);
  std::map<uint64_t, std::vector<float>> live;
  {
    auto shard = Shard::open(o);
    ASSERT_TRUE(shard.is_ok());
    Shard& s = **shard;
    std::vector<PointWrite> batch;
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(point(i, row(data, i), {{"i", i}}));
      live[i] = row(data, i);
    }
    ASSERT_TRUE(s.upsert(std::move(batch)).is_ok());
    ASSERT_TRUE(s.seal_now().is_ok());
    ASSERT_TRUE(s.index_pending().is_ok());
    // A second, small sealed segment.
    batch.clear();
    for (size_t i = n; i < n + 100; ++i) {
      batch.push_back(point(i, row(data, i), {{"i", i}}));
      live[i] = row(data, i);
    }
    ASSERT_TRUE(s.upsert(std::move(batch)).is_ok());
    ASSERT_TRUE(s.seal_now().is_ok());
    ASSERT_TRUE(s.index_pending().is_ok());
    std::vector<PointId> del;
    for (uint64_t i = 0; i < n; i += 4) {
      del.push_back(PointId::number(i));
      live.erase(i);
    }
    ASSERT_TRUE(s.remove(del).is_ok());
    // Round 1 rewrites the first segment (a quarter deleted); round 2 merges the two (one
    // segment allowed): the rewritten one's graph again, the small one's rows indexed into it.
    bool did = false;
    ASSERT_TRUE(s.compact_now(&did).is_ok());
    ASSERT_TRUE(did);
    ShardStats st = s.stats();
    EXPECT_EQ(st.compactions, 1u);
    EXPECT_EQ(st.compacted_rows, n - n / 4);
    EXPECT_EQ(st.compaction_reused_rows, n - n / 4);
    EXPECT_EQ(st.deleted, 0u);
    ASSERT_TRUE(s.compact_now(&did).is_ok());
    ASSERT_TRUE(did);
    st = s.stats();
    EXPECT_EQ(st.compactions, 2u);
    EXPECT_EQ(st.segments, 2u);  // the merged one and an empty growing segment
    EXPECT_EQ(st.compacted_rows, 2 * (n - n / 4) + 100);
    EXPECT_EQ(st.compaction_reused_rows, 2 * (n - n / 4));
    EXPECT_EQ(st.unindexed_rows, 0u);
    ASSERT_TRUE(s.close().is_ok());
  }
  auto shard = Shard::open(o);
  ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
  Shard& s = **shard;
  EXPECT_EQ(s.stats().live, live.size());
  size_t self_hits = 0;
  for (const auto& [id, v] : live) {
    auto got = s.get(PointId::number(id));
    ASSERT_TRUE(got.has_value()) << id;
    EXPECT_EQ(got->vector, v);
    EXPECT_EQ(got->payload["i"], id);
    std::vector<ScoredPoint> out;
    ShardQuery q;
    q.k = 3;
    ASSERT_TRUE(s.search(v, q, &out).is_ok());
    for (const auto& p : out) ASSERT_TRUE(live.count(p.id.num())) << "deleted id returned";
    self_hits += !out.empty() && out[0].id.num() == id;
  }
  EXPECT_GE(static_cast<double>(self_hits), 0.99 * static_cast<double>(live.size()));
}

// Scheduling policy of every thread of this process, from /proc (field 41 of a task's stat).
std::vector<int> thread_policies() {
  std::vector<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(e.path() / "stat");
    std::string line;
    std::getline(in, line);
    const size_t paren = line.rfind(')');  // the name may hold spaces
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 2));
    std::string field;
    int index = 3;  // the state is field 3
    while (rest >> field && index < 41) ++index;
    if (index == 41) out.push_back(std::stoi(field));
  }
  return out;
}

// The indexer and maintenance threads (and the workers they hand batches to) run at SCHED_IDLE by
// default, so queries never wait behind them; "normal" leaves them as they are.
TEST(ShardTest, BackgroundThreadsRunBelowQueries) {
  static constexpr int kSchedIdle = 5;  // SCHED_IDLE
  auto count_idle = [] {
    const auto p = thread_policies();
    return std::count(p.begin(), p.end(), kSchedIdle);
  };
  const auto idle_before = count_idle();
  auto data = testing::clustered(600, kDim, 4, 31);
  {
    TempDir dir;
    ShardOptions o = small_options(dir.path());
    o.background_priority = ThreadPriority::kNormal;
    auto shard = Shard::open(o);
    ASSERT_TRUE(shard.is_ok());
    std::vector<PointWrite> batch;
    for (size_t i = 0; i < 600; ++i) batch.push_back(point(i, row(data, i)));
    ASSERT_TRUE((*shard)->upsert(std::move(batch)).is_ok());
    (*shard)->wait_indexed();
    EXPECT_EQ(count_idle(), idle_before);
  }
  TempDir dir;
  auto shard = Shard::open(small_options(dir.path()));
  ASSERT_TRUE(shard.is_ok());
  std::vector<PointWrite> batch;
  for (size_t i = 0; i < 600; ++i) batch.push_back(point(i, row(data, i)));
  ASSERT_TRUE((*shard)->upsert(std::move(batch)).is_ok());
  (*shard)->wait_indexed();
  // The indexer and maintenance threads at least; the thread that writes is untouched.
  for (int i = 0; i < 200 && count_idle() < idle_before + 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(count_idle(), idle_before + 2);
  EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
}

// With the indexer gone (what a background thread starved by queries on every core looks like),
// writers index batches themselves once the backlog passes writer_help_rows: writes are not
// refused, the exactly scanned tail stays bounded, and results stay right.
TEST(ShardTest, WritersIndexWhenTheIndexerFallsBehind) {
  TempDir dir;
  ShardOptions o = small_options(dir.path());
  o.seal_rows = 5000;
  o.writer_help_rows = 200;
  o.indexer_stall_ms = 50;
  o.max_unindexed_rows = 400;
  o.write_stall_ms = 2000;  // without the help, the writes below would be refused
  auto shard = Shard::open(o);
  ASSERT_TRUE(shard.is_ok());
  Shard& s = **shard;
  s.stop();  // no indexer from here on; past indexer_stall_ms it counts as stalled
  std::this_thread::sleep_for(std::chrono::milliseconds(o.indexer_stall_ms + 50));
  auto data = testing::clustered(2000, kDim, 8, 33);
  for (size_t b = 0; b < 2000; b += 100) {
    std::vector<PointWrite> batch;
    for (size_t i = b; i < b + 100; ++i) batch.push_back(point(i, row(data, i)));
    auto ack = s.upsert(std::move(batch));
    ASSERT_TRUE(ack.is_ok()) << ack.status().to_string();
    EXPECT_LE(s.stats().unindexed_rows, o.writer_help_rows + 100);
  }
  const ShardStats st = s.stats();
  EXPECT_GE(st.writer_indexed_rows, 2000u - o.writer_help_rows - 100);
  EXPECT_EQ(st.live, 2000u);
  for (size_t i = 0; i < 2000; i += 37) {
    std::vector<ScoredPoint> out;
    ShardQuery q;
    q.k = 1;
    ASSERT_TRUE(s.search(row(data, i), q, &out).is_ok());
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].id.num(), i);
  }
}

// The help threshold is the tail's size in floats too: with the row threshold far away, writers
// still keep the exactly scanned tail near writer_help_floats / dim rows.
TEST(ShardTest, WritersHelpOnceTheTailPassesItsFloatBudget) {
  TempDir dir;
  ShardOptions o = small_options(dir.path());
  o.seal_rows = 5000;
  o.writer_help_rows = 16384;
  o.writer_help_floats = 300 * kDim;  // 300 rows
  o.indexer_stall_ms = 50;
  auto shard = Shard::open(o);
  ASSERT_TRUE(shard.is_ok());
  Shard& s = **shard;
  s.stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(o.indexer_stall_ms + 50));
  auto data = testing::clustered(1500, kDim, 8, 35);
  size_t most = 0;
  for (size_t b = 0; b < 1500; b += 100) {
    std::vector<PointWrite> batch;
    for (size_t i = b; i < b + 100; ++i) batch.push_back(point(i, row(data, i)));
    ASSERT_TRUE(s.upsert(std::move(batch)).is_ok());
    most = std::max(most, s.stats().unindexed_rows);
  }
  EXPECT_LE(most, 300u + 100u);
  EXPECT_GE(s.stats().writer_indexed_rows, 1500u - 400u);
}

// Hot ids upserted again and again leave a growing segment of dead copies. Searches scan what is
// left exactly instead of walking a graph of dead duplicates (so even a narrow beam finds the
// exact answer), the growing segment is sealed once half of it is dead, and compaction then
// drops the dead rows.
TEST(ShardTest, HotIdsUpsertedAgainAndAgain) {
  for (double seal_ratio : {0.5, 1.0}) {
    SCOPED_TRACE("seal_deleted_ratio " + std::to_string(seal_ratio));
    TempDir dir;
    ShardOptions o = small_options(dir.path());
    o.seal_rows = 20000;
    o.seal_deleted_ratio = seal_ratio;
    o.background = false;
    auto shard = Shard::open(o);
    ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
    Shard& s = **shard;
    constexpr size_t kHot = kSealDeletedMinLiveRows + 52, kRounds = 4;
    auto data = testing::clustered(kHot * kRounds, kDim, 8, 41);
    std::map<uint64_t, std::vector<float>> live;
    for (size_t r = 0; r < kRounds; ++r) {
      std::vector<PointWrite> batch;
      for (size_t i = 0; i < kHot; ++i) {
        // Each round moves the hot ids somewhere else, so a dead copy is not the live answer.
        batch.push_back(point(i, row(data, r * kHot + i), {{"even", i % 2 == 0}}));
        live[i] = row(data, r * kHot + i);
      }
      ASSERT_TRUE(s.upsert(std::move(batch)).is_ok());
      ASSERT_TRUE(s.index_pending().is_ok());
    }
    const ShardStats before = s.stats();
    EXPECT_EQ(before.live, kHot);
    if (seal_ratio < 1.0) {
      EXPECT_GE(before.sealed_segments, 1u) << "a mostly dead growing segment is sealed";
    } else {
      EXPECT_EQ(before.segments, 1u) << "seal_deleted_ratio 1: sealed only when full";
      EXPECT_EQ(before.deleted, kHot * (kRounds - 1));
    }
    auto check = [&](const char* when) {
      SCOPED_TRACE(when);
      auto qdata = testing::clustered(40, kDim, 8, 43);
      const PayloadFilter even = *PayloadFilter::parse(R"({"field":"even","eq":true})");
      std::map<uint64_t, std::vector<float>> live_even;
      for (const auto& [id, v] : live) {
        if (id % 2 == 0) live_even[id] = v;
      }
      for (size_t qi = 0; qi < 40; ++qi) {
        ShardQuery q;
        q.k = 10;
        q.ef = 10;  // a narrow beam: a walk over dead duplicates would miss
        q.filter = qi % 4 == 3 ? &even : nullptr;
        std::vector<ScoredPoint> got;
        ASSERT_TRUE(s.search(row(qdata, qi), q, &got).is_ok());
        const auto want = exact_ids(q.filter ? live_even : live, qdata.data() + qi * kDim, 10);
        ASSERT_EQ(got.size(), want.size());
        for (size_t j = 0; j < want.size(); ++j) EXPECT_EQ(got[j].id.num(), want[j]) << "query " << qi;
      }
    };
    check("before compaction");
    bool did = true;
    for (int i = 0; i < 10 && did; ++i) ASSERT_TRUE(s.compact_now(&did).is_ok());
    const ShardStats after = s.stats();
    EXPECT_EQ(after.live, kHot);
    if (seal_ratio < 1.0) {
      EXPECT_LT(after.rows, before.rows) << "compaction dropped the sealed dead copies";
    }
    check("after compaction");
  }
}

// Deletes alone make the growing segment mostly dead: it is sealed at that delete (not at some
// later upsert), compaction then drops its dead rows, and answers stay exact throughout, also
// after a reopen replays the WAL.
TEST(ShardTest, DeletesAloneSealAMostlyDeadGrowingSegment) {
  for (double seal_ratio : {0.5, 1.0}) {
    SCOPED_TRACE("seal_deleted_ratio " + std::to_string(seal_ratio));
    TempDir dir;
    ShardOptions o = small_options(dir.path());
    o.seal_rows = 20000;
    o.seal_deleted_ratio = seal_ratio;
    o.background = false;
    constexpr size_t kRows = 3 * kSealDeletedMinLiveRows;  // half dead leaves 1.5x the minimum live
    auto data = testing::clustered(kRows, kDim, 8, 47);
    std::map<uint64_t, std::vector<float>> live;
    auto check = [&](Shard& s, const char* when) {
      SCOPED_TRACE(when);
      expect_exact_answers(s, live, 49);
    };
    {
      auto shard = Shard::open(o);
      ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
      Shard& s = **shard;
      std::vector<PointWrite> batch;
      for (size_t i = 0; i < kRows; ++i) {
        batch.push_back(point(i, row(data, i)));
        live[i] = row(data, i);
      }
      ASSERT_TRUE(s.upsert(std::move(batch)).is_ok());
      ASSERT_TRUE(s.index_pending().is_ok());
      // Every other id, but one short of half the rows: still growing.
      std::vector<PointId> ids;
      for (size_t i = 0; i + 2 < kRows; i += 2) ids.push_back(PointId::number(i));
      ASSERT_EQ(ids.size(), kRows / 2 - 1);
      ASSERT_TRUE(s.remove(ids).is_ok());
      for (const PointId& id : ids) live.erase(id.num());
      EXPECT_EQ(s.stats().sealed_segments, 0u);
      // Deleting an id that is not there changes nothing; the one that makes half does.
      ASSERT_TRUE(s.remove({PointId::number(kRows + 7)}).is_ok());
      EXPECT_EQ(s.stats().sealed_segments, 0u);
      ASSERT_TRUE(s.remove({PointId::number(kRows - 2)}).is_ok());
      live.erase(kRows - 2);
      const ShardStats before = s.stats();
      EXPECT_EQ(before.live, kRows / 2);
      if (seal_ratio < 1.0) {
        EXPECT_EQ(before.sealed_segments, 1u) << "sealed at the delete that made it half dead";
      } else {
        EXPECT_EQ(before.sealed_segments, 0u) << "seal_deleted_ratio 1: sealed only when full";
      }
      check(s, "after the deletes");
      bool did = true;
      for (int i = 0; i < 10 && did; ++i) ASSERT_TRUE(s.compact_now(&did).is_ok());
      const ShardStats after = s.stats();
      EXPECT_EQ(after.live, kRows / 2);
      if (seal_ratio < 1.0) {
        EXPECT_EQ(after.rows, kRows / 2) << "compaction dropped the dead rows";
      } else {
        EXPECT_EQ(after.rows, kRows) << "a growing segment is not compacted";
      }
      check(s, "after compaction");
    }
    auto reopened = Shard::open(o);
    ASSERT_TRUE(reopened.is_ok()) << reopened.status().to_string();
    ASSERT_TRUE((*reopened)->index_pending().is_ok());
    EXPECT_EQ((*reopened)->stats().live, kRows / 2);
    check(**reopened, "after a reopen");
  }
}

// The maintenance thread runs at background priority, so queries that keep every core busy can
// starve it. Here it never comes round (it looks for work once an hour): with the rescue, a
// normal-priority thread does its round instead, the due compaction and checkpoint happen, and
// answers stay exact; without it (maintenance_rescue_ms 0) nothing does them.
TEST(ShardTest, MaintenanceThatDoesNotComeRoundIsRescued) {
  for (uint32_t rescue_ms : {100u, 0u}) {
    SCOPED_TRACE("maintenance_rescue_ms " + std::to_string(rescue_ms));
    TempDir dir;
    ShardOptions o = small_options(dir.path());
    o.seal_rows = 2000;
    o.maintenance_interval_ms = 3600u * 1000u;
    o.maintenance_rescue_ms = rescue_ms;
    o.checkpoint_interval_ms = 100;
    auto shard = Shard::open(o);
    ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
    Shard& s = **shard;
    auto data = testing::clustered(2000, kDim, 8, 51);
    std::map<uint64_t, std::vector<float>> live;
    std::vector<PointWrite> batch;
    for (size_t i = 0; i < 2000; ++i) {
      batch.push_back(point(i, row(data, i)));
      live[i] = row(data, i);
    }
    ASSERT_TRUE(s.upsert(std::move(batch)).is_ok());
    ASSERT_TRUE(s.seal_now().is_ok());
    s.wait_indexed();
    std::vector<PointId> ids;  // 40% dead: past compact_deleted_ratio
    for (size_t i = 0; i < 2000; ++i) {
      if (i % 5 < 2) ids.push_back(PointId::number(i));
    }
    ASSERT_TRUE(s.remove(ids).is_ok());
    for (const PointId& id : ids) live.erase(id.num());

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(rescue_ms ? 60 : 1);
    ShardStats st = s.stats();
    while (std::chrono::steady_clock::now() < deadline &&
           (st.compactions == 0 || st.checkpoints == 0 || (rescue_ms > 0 && st.maintenance_rescues < 2))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      st = s.stats();
    }
    if (rescue_ms > 0) {
      EXPECT_GE(st.compactions, 1u);
      EXPECT_GE(st.checkpoints, 1u);
      EXPECT_GE(st.maintenance_rescues, 2u) << "the compaction and the checkpoint, at least";
      EXPECT_EQ(st.rows, 1200u) << "the dead rows are gone";
    } else {
      EXPECT_EQ(st.compactions, 0u);
      EXPECT_EQ(st.checkpoints, 0u);
      EXPECT_EQ(st.maintenance_rescues, 0u);
    }
    EXPECT_EQ(st.live, 1200u);
    expect_exact_answers(s, live, 53);
  }
}

TEST(ShardTest, PayloadFiltersSelectiveAndBroad) {
  TempDir dir;
  auto shard = Shard::open(small_options(dir.path()));
  ASSERT_TRUE(shard.is_ok());
  Shard& s = **shard;
  auto data = testing::clustered(3000, kDim, 8, 4);
  std::vector<PointWrite> batch;
  for (size_t i = 0; i < 3000; ++i) {
    batch.push_back(point(i, row(data, i),
                          {{"color", i % 3 == 0 ? "red" : "blue"}, {"price", static_cast<int>(i % 100)},
                           {"rare", i % 500 == 0}}));
  }
  ASSERT_TRUE(s.upsert(std::move(batch)).is_ok());
  s.wait_indexed();
  for (const char* text : {R"({"field":"color","eq":"red"})",
                           R"({"and":[{"field":"color","eq":"blue"},{"field":"price","range":{"lt":10}}]})",
                           R"({"field":"rare","eq":true})"}) {
    auto f = PayloadFilter::parse(std::string_view(text));
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    for (size_t qi = 0; qi < 20; ++qi) {
      ShardQuery q;
      q.k = 5;
      q.filter = &*f;
      q.with_payload = true;
      std::vector<ScoredPoint> approx, exact;
      ASSERT_TRUE(s.search(row(data, qi * 37), q, &approx).is_ok());
      q.exact = true;
      ASSERT_TRUE(s.search(row(data, qi * 37), q, &exact).is_ok());
      ASSERT_EQ(approx.size(), 5u) << text;
      for (const auto& p : approx) EXPECT_TRUE(f->matches(p.payload)) << text;
      size_t same = 0;
      for (const auto& a : approx) {
        for (const auto& e : exact) same += a.id == e.id;
      }
      EXPECT_GE(same, 4u) << text;
    }
  }
}

TEST(ShardTest, BadInputChangesNothing) {
  TempDir dir;
  auto shard = Shard::open(small_options(dir.path(), Metric::kCosine));
  ASSERT_TRUE(shard.is_ok());
  Shard& s = **shard;
  ASSERT_TRUE(s.upsert({point(1, std::vector<float>(kDim, 1.0f))}).is_ok());
  const uint64_t seq = s.last_seq();
  std::vector<float> nan(kDim, 1.0f);
  nan[3] = std::nanf("");
  std::vector<std::vector<PointWrite>> bad;
  bad.push_back({point(2, std::vector<float>(kDim - 1, 1.0f))});
  bad.push_back({point(2, std::vector<float>(kDim, 1.0f)), point(3, nan)});
  bad.push_back({point(2, std::vector<float>(kDim, 0.0f))});  // zero under cosine
  bad.push_back({point(2, std::vector<float>(kDim, 1.0f), nlohmann::json::array({1, 2}))});
  bad.push_back({point(2, std::vector<float>(kDim, 1.0f),
                       {{"big", std::string(100000, 'x')}})});
  bad.push_back({});
  for (auto& b : bad) {
    auto r = s.upsert(std::move(b));
    EXPECT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
  }
  std::vector<PointWrite> huge(s.options().max_batch_points + 1, point(5, std::vector<float>(kDim, 1.0f)));
  EXPECT_EQ(s.upsert(std::move(huge)).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.last_seq(), seq);
  EXPECT_EQ(s.stats().live, 1u);
  EXPECT_FALSE(s.get(PointId::number(2)).has_value());
  std::vector<ScoredPoint> out;
  ShardQuery q;
  EXPECT_EQ(s.search(std::vector<float>(kDim + 1, 1.0f), q, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.search(nan, q, &out).code(), StatusCode::kInvalidArgument);
  q.k = 0;
  EXPECT_EQ(s.search(std::vector<float>(kDim, 1.0f), q, &out).code(), StatusCode::kInvalidArgument);
  // Cosine stores unit vectors.
  auto rec = s.get(PointId::number(1));
  ASSERT_TRUE(rec.has_value());
  EXPECT_NEAR(rec->vector[0], 0.25f, 1e-6);
}

// Writes, checkpoints part-way, writes more (incl. deletes and upserts over checkpointed points),
// drops the shard without closing, reopens: everything acknowledged is there, exactly.
TEST(ShardTest, RecoversFromCheckpointPlusWal) {
  TempDir dir;
  ShardOptions o = small_options(dir.path());
  auto data = testing::clustered(1500, kDim, 8, 5);
  std::map<uint64_t, std::vector<float>> live;
  {
    auto shard = Shard::open(o);
    ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
    Shard& s = **shard;
    for (size_t i = 0; i < 1000; ++i) {
      ASSERT_TRUE(s.upsert({point(i, row(data, i), {{"i", i}})}, {"topic/0", static_cast<int64_t>(i)}).is_ok());
      live[i] = row(data, i);
    }
    s.wait_indexed();
    ASSERT_TRUE(s.checkpoint().is_ok());
    for (size_t i = 1000; i < 1500; ++i) {
      ASSERT_TRUE(s.upsert({point(i % 1200, row(data, i), {{"i", i}})}, {"topic/0", static_cast<int64_t>(i)}).is_ok());
      live[i % 1200] = row(data, i);
    }
    std::vector<PointId> del;
    for (uint64_t id = 0; id < 1200; id += 7) {
      del.push_back(PointId::number(id));
      live.erase(id);
    }
    ASSERT_TRUE(s.remove(del, {"topic/1", 42}).is_ok());
  }  // dropped without close(): the WAL after the checkpoint carries the rest
  auto shard = Shard::open(o);
  ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
  Shard& s = **shard;
  EXPECT_EQ(s.stats().live, live.size());
  for (const auto& [id, v] : live) {
    auto rec = s.get(PointId::number(id));
    ASSERT_TRUE(rec.has_value()) << id;
    EXPECT_EQ(rec->vector, v);
  }
  for (uint64_t id = 0; id < 1200; id += 7) EXPECT_FALSE(s.get(PointId::number(id)).has_value());
  auto offsets = s.source_offsets();
  EXPECT_EQ(offsets["topic/0"], 1499);
  EXPECT_EQ(offsets["topic/1"], 42);
  // A second cycle through close() (checkpoint) and reopen keeps the same state.
  ASSERT_TRUE(s.close().is_ok());
  shard->reset();  // the WAL directory is locked while a shard holds it
  shard = Shard::open(o);
  ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
  EXPECT_EQ((*shard)->stats().live, live.size());
  EXPECT_EQ((*shard)->stats().checkpoint_seq, (*shard)->last_seq());
}

TEST(ShardTest, CorruptedFilesGiveClearErrors) {
  TempDir dir;
  ShardOptions o = small_options(dir.path());
  o.background = false;
  auto data = testing::clustered(600, kDim, 4, 6);
  {
    auto shard = Shard::open(o);
    ASSERT_TRUE(shard.is_ok());
    for (size_t i = 0; i < 400; ++i) ASSERT_TRUE((*shard)->upsert({point(i, row(data, i))}).is_ok());
    ASSERT_TRUE((*shard)->index_pending().is_ok());
    ASSERT_TRUE((*shard)->checkpoint().is_ok());
    for (size_t i = 400; i < 600; ++i) ASSERT_TRUE((*shard)->upsert({point(i, row(data, i))}).is_ok());
  }
  namespace fs = std::filesystem;
  const std::string backup = dir / "backup";
  fs::create_directories(backup);
  fs::copy(dir.path() + "/data", backup + "/data", fs::copy_options::recursive);
  fs::copy(dir.path() + "/wal", backup + "/wal", fs::copy_options::recursive);
  auto restore = [&] {
    fs::remove_all(dir.path() + "/data");
    fs::remove_all(dir.path() + "/wal");
    fs::copy(backup + "/data", dir.path() + "/data", fs::copy_options::recursive);
    fs::copy(backup + "/wal", dir.path() + "/wal", fs::copy_options::recursive);
  };
  auto flip = [](const std::string& path, size_t at) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
  };
  auto files_in = [](const std::string& d, const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(d)) {
      if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  // Manifest damaged.
  flip(dir.path() + "/data/MANIFEST", 40);
  auto r = Shard::open(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("MANIFEST"), std::string::npos) << r.status().message();
  // A segment rows file damaged.
  restore();
  auto rows_files = files_in(dir.path() + "/data", "seg-");
  ASSERT_FALSE(rows_files.empty());
  flip(rows_files[0], 100);
  r = Shard::open(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
  // A segment rows file truncated.
  restore();
  fs::resize_file(rows_files[0], fs::file_size(rows_files[0]) / 2);
  r = Shard::open(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
  // A WAL record in the middle damaged: reported, not applied half-way.
  restore();
  auto wal_files = files_in(dir.path() + "/wal", "wal-");
  ASSERT_FALSE(wal_files.empty());
  flip(wal_files.back(), 200);
  r = Shard::open(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
  // A torn WAL tail is cut: everything before it is there.
  restore();
  fs::resize_file(wal_files.back(), fs::file_size(wal_files.back()) - 5);
  r = Shard::open(o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)->stats().live, 599u);
  EXPECT_TRUE((*r)->get(PointId::number(598)).has_value());
  EXPECT_FALSE((*r)->get(PointId::number(599)).has_value());
}

TEST(CollectionTest, ShardsRouteMergeAndReopen) {
  TempDir dir;
  nlohmann::json cfg = {{"name", "docs"}, {"dim", kDim}, {"metric", "l2"}, {"shards", 3},
                        {"seal_rows", 200}, {"fsync", "none"},
                        {"index", {{"kind", "hnsw"}, {"m", 12}, {"ef_construction", 64}}}};
  auto config = CollectionConfig::from_json(cfg);
  ASSERT_TRUE(config.is_ok()) << config.status().to_string();
  auto data = testing::clustered(1200, kDim, 8, 7);
  {
    auto c = Collection::create(dir.path(), *config);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    std::vector<PointWrite> batch;
    for (size_t i = 0; i < 1200; ++i) {
      auto id = PointId::string("doc-" + std::to_string(i));
      batch.push_back({*id, row(data, i), {{"n", i}}});
    }
    ASSERT_TRUE((*c)->upsert(std::move(batch)).is_ok());
    EXPECT_EQ((*c)->stats().live, 1200u);
    for (size_t s = 0; s < 3; ++s) EXPECT_GT((*c)->shard(s).stats().live, 300u);
    EXPECT_EQ(Collection::create(dir.path(), *config).status().code(), StatusCode::kAlreadyExists);
    ASSERT_TRUE((*c)->close().is_ok());
  }
  auto c = Collection::open(dir.path());
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ((*c)->stats().live, 1200u);
  std::vector<ScoredPoint> out;
  ShardQuery q;
  q.k = 5;
  ASSERT_TRUE((*c)->search(row(data, 77), q, &out).is_ok());
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].id.str(), "doc-77");
  auto rec = (*c)->get(*PointId::string("doc-5"));
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->payload["n"], 5);
  // A batch spanning shards with one bad point changes nothing in any shard.
  {
    std::vector<PointWrite> mixed;
    for (size_t i = 0; i < 30; ++i) mixed.push_back({*PointId::string("new-" + std::to_string(i)), row(data, i), nullptr});
    mixed[17].vector[2] = std::nanf("");
    auto r = (*c)->upsert(std::move(mixed));
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ((*c)->stats().live, 1200u);
    EXPECT_FALSE((*c)->get(*PointId::string("new-0")).has_value());
  }
  // Delete by filter: every point with n < 100, across shards.
  auto f = PayloadFilter::parse(std::string_view(R"({"field":"n","range":{"lt":100}})"));
  ASSERT_TRUE(f.is_ok());
  auto del = (*c)->remove_where(*f);
  ASSERT_TRUE(del.is_ok());
  EXPECT_EQ(del->applied, 100u);
  EXPECT_EQ((*c)->stats().live, 1100u);
  EXPECT_FALSE((*c)->get(*PointId::string("doc-5")).has_value());
  EXPECT_TRUE((*c)->get(*PointId::string("doc-105")).has_value());
  // Bad configurations.
  for (nlohmann::json bad : {nlohmann::json{{"name", "x"}},
                             nlohmann::json{{"name", "bad name"}, {"dim", 4}},
                             nlohmann::json{{"name", "x"}, {"dim", 4}, {"metric", "hamming"}},
                             nlohmann::json{{"name", "x"}, {"dim", 4}, {"shards", 0}},
                             nlohmann::json{{"name", "x"}, {"dim", 4}, {"index", {{"kind", "lsh"}}}},
                             nlohmann::json{{"name", "x"}, {"dim", 4}, {"colour", 1}},
                             nlohmann::json{{"name", "x"}, {"dim", 4}, {"fsync", "sometimes"}},
                             nlohmann::json{{"name", "x"}, {"dim", 4}, {"background_priority", "high"}},
                             nlohmann::json{{"name", "x"}, {"dim", 4}, {"background_priority", 1}},
                             nlohmann::json{{"name", "x"}, {"dim", 4}, {"seal_deleted_ratio", 0}},
                             nlohmann::json{{"name", "x"}, {"dim", 4}, {"seal_deleted_ratio", 1.5}},
                             nlohmann::json{{"name", "x"}, {"dim", 4}, {"seal_deleted_ratio", "half"}}}) {
    auto r = CollectionConfig::from_json(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad.dump();
  }
  // The background priority round-trips through the stored configuration (default idle).
  auto low = CollectionConfig::from_json({{"name", "x"}, {"dim", 4}, {"background_priority", "low"}});
  ASSERT_TRUE(low.is_ok());
  EXPECT_EQ(low->shard.background_priority, ThreadPriority::kLow);
  EXPECT_EQ(low->to_json()["background_priority"], "low");
  auto ratio = CollectionConfig::from_json({{"name", "x"}, {"dim", 4}, {"seal_deleted_ratio", 0.3}});
  ASSERT_TRUE(ratio.is_ok());
  EXPECT_EQ(ratio->shard.seal_deleted_ratio, 0.3);
  EXPECT_EQ(CollectionConfig::from_json(ratio->to_json())->shard.seal_deleted_ratio, 0.3);
  auto plain = CollectionConfig::from_json({{"name", "x"}, {"dim", 4}});
  ASSERT_TRUE(plain.is_ok());
  EXPECT_EQ(plain->shard.background_priority, ThreadPriority::kIdle);
  EXPECT_EQ(CollectionConfig::from_json(plain->to_json())->shard.background_priority,
            ThreadPriority::kIdle);
}

}  // namespace
}  // namespace vecstream

namespace vecstream {
namespace {

TEST(CollectionTest, SnapshotAndRestoreWhileWriting) {
  TempDir dir;
  auto config = CollectionConfig::from_json({{"name", "snap"}, {"dim", kDim}, {"shards", 2},
                                             {"seal_rows", 128}, {"fsync", "none"}});
  ASSERT_TRUE(config.is_ok());
  auto data = testing::clustered(900, kDim, 8, 8);
  auto c = Collection::create(dir / "live", *config);
  ASSERT_TRUE(c.is_ok());
  std::vector<PointWrite> batch;
  for (size_t i = 0; i < 600; ++i) batch.push_back(point(i, row(data, i), {{"i", i}}));
  ASSERT_TRUE((*c)->upsert(std::move(batch)).is_ok());
  ASSERT_TRUE((*c)->remove({PointId::number(3), PointId::number(4)}).is_ok());
  ASSERT_TRUE((*c)->snapshot(dir / "snap").is_ok());
  EXPECT_EQ((*c)->snapshot(dir / "snap").code(), StatusCode::kAlreadyExists);
  // Writes after the snapshot are not in it.
  batch.clear();
  for (size_t i = 600; i < 900; ++i) batch.push_back(point(i, row(data, i)));
  ASSERT_TRUE((*c)->upsert(std::move(batch)).is_ok());
  ASSERT_TRUE(Collection::restore(dir / "snap", dir / "restored").is_ok());
  EXPECT_EQ(Collection::restore(dir / "snap", dir / "restored").code(), StatusCode::kAlreadyExists);
  {
    auto r = Collection::open(dir / "restored");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ((*r)->stats().live, 598u);
    EXPECT_FALSE((*r)->get(PointId::number(3)).has_value());
    EXPECT_FALSE((*r)->get(PointId::number(700)).has_value());
    auto rec = (*r)->get(PointId::number(10));
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(rec->vector, row(data, 10));
    // The restored collection takes writes and keeps them across a reopen.
    ASSERT_TRUE((*r)->upsert({point(5000, row(data, 1))}).is_ok());
  }
  auto r = Collection::open(dir / "restored");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)->stats().live, 599u);
  // A damaged snapshot is refused before anything is copied.
  std::filesystem::remove(dir / "snap/shard-1/data/MANIFEST");
  auto bad = Collection::restore(dir / "snap", dir / "other");
  EXPECT_FALSE(bad.is_ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "other"));
}

}  // namespace
}  // namespace vecstream

namespace vecstream {
namespace {

// Every index kind a collection can choose: sealed segments get their index (incrementally or by
// training after sealing), searches stay correct meanwhile, and a reopen loads the saved indexes.
class ShardKindTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ShardKindTest, SealsBuildsSearchesAndRecovers) {
  TempDir dir;
  ShardOptions o = small_options(dir.path());
  auto spec = IndexSpec::from_json({{"kind", GetParam()}, {"nprobe", 8}});
  ASSERT_TRUE(spec.is_ok()) << spec.status().to_string();
  o.index = *spec;
  o.seal_rows = 1000;
  o.max_segments = 8;
  auto data = testing::clustered(3500, kDim, 16, 11);
  std::map<uint64_t, std::vector<float>> live;
  {
    auto shard = Shard::open(o);
    ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
    std::vector<PointWrite> batch;
    for (size_t i = 0; i < 3500; ++i) {
      batch.push_back(point(i, row(data, i)));
      live[i] = row(data, i);
      if (batch.size() == 500) {
        ASSERT_TRUE((*shard)->upsert(std::move(batch)).is_ok());
        batch.clear();
      }
    }
    std::vector<PointId> del;
    for (uint64_t i = 0; i < 3500; i += 5) {
      del.push_back(PointId::number(i));
      live.erase(i);
    }
    ASSERT_TRUE((*shard)->remove(del).is_ok());
    (*shard)->wait_indexed();
    ShardStats st = (*shard)->stats();
    EXPECT_GE(st.sealed_segments, 3u);
    ASSERT_TRUE((*shard)->close().is_ok());
  }
  auto shard = Shard::open(o);
  ASSERT_TRUE(shard.is_ok()) << shard.status().to_string();
  EXPECT_EQ((*shard)->stats().live, live.size());
  // Sealed segments load their saved indexes; only the growing one is re-indexed after a reopen.
  EXPECT_LT((*shard)->stats().unindexed_rows, o.seal_rows) << "saved indexes were not loaded";
  (*shard)->wait_indexed();
  EXPECT_EQ((*shard)->stats().unindexed_rows, 0u);
  auto queries = testing::clustered(100, kDim, 16, 12);
  double hit = 0;
  for (size_t qi = 0; qi < 100; ++qi) {
    std::vector<float> q(queries.begin() + qi * kDim, queries.begin() + (qi + 1) * kDim);
    auto truth = exact_ids(live, q.data(), 10);
    std::vector<ScoredPoint> out;
    ShardQuery sq;
    sq.k = 10;
    ASSERT_TRUE((*shard)->search(q, sq, &out).is_ok());
    std::set<uint64_t> got;
    for (const auto& p : out) {
      ASSERT_TRUE(live.count(p.id.num())) << "deleted id returned";
      got.insert(p.id.num());
    }
    for (uint64_t id : truth) hit += got.count(id);
  }
  const double recall = hit / 1000.0;
  std::printf("%s: recall@10 %.3f\n", GetParam(), recall);
  EXPECT_GE(recall, 0.85) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Kinds, ShardKindTest,
                         ::testing::Values("hnsw", "flat", "rp_forest", "ivf_flat", "ivf_sq8",
                                           "sq8_flat"));

}  // namespace
}  // namespace vecstream

namespace vecstream {
namespace {

TEST(ShardTest, WritersAreHeldBackWhenTheIndexerFallsBehind) {
  TempDir dir;
  ShardOptions o = small_options(dir.path());
  o.seal_rows = 100000;
  o.index.ef_construction = 4096;  // a deliberately slow indexer
  o.index.m = 64;
  o.index.build_threads = 1;
  o.max_unindexed_rows = 200;
  o.write_stall_ms = 0;  // refuse at once instead of waiting
  auto shard = Shard::open(o);
  ASSERT_TRUE(shard.is_ok());
  auto data = testing::clustered(5000, kDim, 8, 13);
  size_t refused_at = 0;
  for (size_t i = 0; i < 5000 && refused_at == 0; i += 100) {
    std::vector<PointWrite> batch;
    for (size_t j = i; j < i + 100; ++j) batch.push_back(point(j, row(data, j)));
    auto ack = (*shard)->upsert(std::move(batch));
    if (!ack.is_ok()) {
      EXPECT_EQ(ack.status().code(), StatusCode::kResourceExhausted) << ack.status().to_string();
      refused_at = i;
    }
  }
  ASSERT_GT(refused_at, 0u) << "the backlog limit never applied";
  EXPECT_FALSE((*shard)->get(PointId::number(refused_at)).has_value());  // refused = not applied
  EXPECT_EQ((*shard)->stats().live, refused_at);
  // Deletes are never held back.
  EXPECT_TRUE((*shard)->remove({PointId::number(0)}).is_ok());
}

}  // namespace
}  // namespace vecstream
