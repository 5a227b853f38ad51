// Status/Result, Bitset, TopK, VisitedSet, ThreadPool and ThreadPriority.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>
#include <random>

#include "core/bitset.h"
#include "core/metric.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "core/thread_priority.h"
#include "core/top_k.h"
#include "core/visited_set.h"

namespace vecstream {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return Status::invalid_argument("odd");
  return x / 2;
}

TEST(StatusTest, CodesAndMessages) {
  EXPECT_TRUE(Status::ok().is_ok());
  Status s = Status::corruption("bad crc");
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.to_string(), "CORRUPTION: bad crc");
  auto r = half(4);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, 2);
  auto e = half(3);
  ASSERT_FALSE(e.is_ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
}

TEST(MetricTest, ParseAndScore) {
  EXPECT_EQ(parse_metric("l2"), Metric::kL2);
  EXPECT_EQ(parse_metric("cosine"), Metric::kCosine);
  EXPECT_EQ(parse_metric("manhattan"), Metric::kL1);
  EXPECT_EQ(parse_metric("ip"), Metric::kInnerProduct);
  EXPECT_FALSE(parse_metric("hamming").has_value());
  EXPECT_FLOAT_EQ(score_from_distance(Metric::kInnerProduct, -3.0f), 3.0f);
  EXPECT_FLOAT_EQ(score_from_distance(Metric::kCosine, 0.25f), 0.75f);
}

TEST(BitsetTest, SetTestCount) {
  Bitset b(130);
  EXPECT_EQ(b.count(), 0u);
  b.set(0);
  b.set(64);
  b.set(129);
  EXPECT_TRUE(b.test(0));
  EXPECT_TRUE(b.test(64));
  EXPECT_TRUE(b.test(129));
  EXPECT_FALSE(b.test(1));
  EXPECT_FALSE(b.test(130));  // out of range reads as absent
  EXPECT_FALSE(b.test(100000));
  EXPECT_EQ(b.count(), 3u);
  b.reset(64);
  EXPECT_EQ(b.count(), 2u);
  b.resize(1000);
  EXPECT_TRUE(b.test(129));
  EXPECT_FALSE(b.test(999));
}

TEST(TopKTest, KeepsTheKSmallest) {
  std::mt19937 rng(7);
  std::vector<float> values(1000);
  for (auto& v : values) v = std::uniform_real_distribution<float>(0, 1)(rng);
  TopK<uint32_t> top(10);
  for (uint32_t i = 0; i < values.size(); ++i) top.push(values[i], i);
  auto sorted_values = values;
  std::sort(sorted_values.begin(), sorted_values.end());
  const auto& got = top.sorted();
  ASSERT_EQ(got.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_FLOAT_EQ(got[i].distance, sorted_values[i]);
    EXPECT_FLOAT_EQ(values[got[i].id], got[i].distance);
  }
}

TEST(VisitedSetTest, EpochsResetAndWrap) {
  VisitedSet v;
  for (int round = 0; round < 70000; ++round) {  // crosses the 16-bit epoch wrap
    v.begin(100);
    ASSERT_FALSE(v.test_and_set(5));
    ASSERT_TRUE(v.test_and_set(5));
    ASSERT_FALSE(v.test(6));
  }
}

TEST(ThreadPoolTest, CoversEveryIndexOnce) {
  ThreadPool pool(4);
  EXPECT_EQ(pool.size(), 4u);
  for (size_t n : {0u, 1u, 7u, 1000u, 100003u}) {
    std::vector<std::atomic<int>> hits(n);
    pool.parallel_for(n, 17, [&](size_t b, size_t e, size_t worker) {
      EXPECT_LT(worker, pool.size());
      for (size_t i = b; i < e; ++i) hits[i].fetch_add(1);
    });
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
  }
}

TEST(ThreadPoolTest, ConcurrentCallersAndNesting) {
  ThreadPool pool(3);
  std::atomic<size_t> total{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 20; ++rep) {
        pool.parallel_for(100, 10, [&](size_t b, size_t e, size_t) {
          // A nested call runs inline rather than deadlocking.
          pool.parallel_for(e - b, 1, [&](size_t b2, size_t e2, size_t) { total += e2 - b2; });
        });
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4u * 20u * 100u);
}

TEST(ThreadPriorityTest, LowersOneWayAndParses) {
  EXPECT_EQ(*parse_thread_priority("idle"), ThreadPriority::kIdle);
  EXPECT_EQ(*parse_thread_priority("low"), ThreadPriority::kLow);
  EXPECT_EQ(*parse_thread_priority("normal"), ThreadPriority::kNormal);
  EXPECT_EQ(parse_thread_priority("high").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(thread_priority_name(ThreadPriority::kLow), "low");
  // In fresh threads, so this test's own thread keeps its priority.
  std::thread([] {
    EXPECT_EQ(current_thread_priority(), ThreadPriority::kNormal);
    ASSERT_TRUE(lower_current_thread_priority(ThreadPriority::kLow).is_ok());
    EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))), 19);
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
    ASSERT_TRUE(lower_current_thread_priority(ThreadPriority::kIdle).is_ok());
    EXPECT_EQ(sched_getscheduler(0), SCHED_IDLE);
    // Asking for a higher priority changes nothing.
    ASSERT_TRUE(lower_current_thread_priority(ThreadPriority::kNormal).is_ok());
    EXPECT_EQ(current_thread_priority(), ThreadPriority::kIdle);
    EXPECT_EQ(sched_getscheduler(0), SCHED_IDLE);
  }).join();
  EXPECT_EQ(current_thread_priority(), ThreadPriority::kNormal);
  EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
}

TEST(ThreadPoolTest, WorkersNeverRunAboveTheirCaller) {
  ThreadPool pool(3);
  std::mutex mu;
  std::vector<int> policies;
  auto record = [&](size_t, size_t, size_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let every worker take a chunk
    std::lock_guard<std::mutex> lock(mu);
    policies.push_back(sched_getscheduler(0));
  };
  pool.parallel_for(30, 1, record);  // a normal caller leaves them normal
  EXPECT_EQ(std::count(policies.begin(), policies.end(), SCHED_IDLE), 0);
  policies.clear();
  std::thread([&] {
    ASSERT_TRUE(lower_current_thread_priority(ThreadPriority::kIdle).is_ok());
    pool.parallel_for(30, 1, record);
  }).join();
  EXPECT_EQ(std::count(policies.begin(), policies.end(), SCHED_IDLE),
            static_cast<long>(policies.size()));
}

}  // namespace
}  // namespace vecstream
