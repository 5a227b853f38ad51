// vecstream-bench stream: the streaming benchmark, in the style of the big-ann-benchmarks
// streaming track, played against a Vecstream Collection and against hnswlib.
//
//   vecstream-bench stream [options]          (also `vecstream bench stream [options]`)
//   vecstream-bench stream-runbook [options]  writes a sliding-window runbook, or --check FILE
//
// A runbook (runbook.h) inserts, deletes and replaces ranges of the data set's rows and says when
// to search. Every engine (stream_peers.h) plays the same plan:
//   - mutation steps: the main thread is the ingest thread and feeds the step in batches of
//     --batch points (upsert / remove) while a query thread runs the queries one after the other
//     without pause.
//   - search steps: right after the step before (no wait for background indexing: what a user
//     gets at once), the main thread runs the --queries queries one at a time (QPS, latency) and
//     they are scored against exact ground truth of the live set at that step.
//   - throughout, a prober thread upserts one probe point at a time (a unique id, a vector far
//     from the data) every --probe-ms while a poller thread searches k=1 for it until it comes
//     back: freshness = poller sees it - prober starts the upsert. Each probe is deleted once seen.
//   - after each search step's pass, the probes are held and the engine is drained (background
//     indexing caught up); then a pass over up to kIdleQueries queries gives the idle latency at
//     that state, with nothing else running. The next step starts from the drained engine.
// "While ingesting" = while the engine is absorbing writes: during a mutation step, or after it
// until nothing is left to index (polled every kBusyPollMs). The query thread's queries count, and
// so do search-step queries that start in that window; likewise probes.
//
// Ground truth: before any engine runs, the runbook is played on an exact FlatIndex mirror of the
// live set; at each search step its GEMM search gives k + kTruthSlack candidates per query, which
// are re-scored with the SIMD distance kernel, so the k-th distance is exact. A returned point is
// a hit when it is live and no farther than that k-th distance (ties count, as in ann-benchmarks);
// recall@k = hits / min(k, live). Nothing is cached: every run computes its own truth.
//
// Insert throughput: "acked" = points written / time in mutation steps (what the writer sees);
// "sustained" = points written / time the engine was busy absorbing them: mutation steps plus,
// after each, the time until nothing was left to index (polled every kBusyPollMs, across search
// steps too), plus the final drain. For an engine that indexes synchronously the two agree.
//
// --crash-cycles N then runs the loop of tests/segment/crash_test.cc on the runbook's data: a
// child process plays the runbook's mutation batches into a collection and reports each batch's
// intent and acknowledgement through a pipe; the parent kill -9s it at a random moment, recovers
// the collection and checks that every acknowledged write is there with its exact vector and no
// acknowledged delete came back (the one batch in flight may have landed or not).
#include "stream_bench.h"

#include <CLI/CLI.hpp>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/distance.h"
#include "core/metric.h"
#include "core/status.h"
#include "dataset.h"
#include "default_runbook.h"  // generated from runbooks/fashion-mnist-sliding.yaml (CMakeLists.txt)
#include "index/flat_index.h"
#include "report.h"
#include "work_dir.h"
#include "runbook.h"
#include "segment/collection.h"
#include "stream_peers.h"

namespace vecstream::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kTruthSlack = 10;          // extra GEMM candidates re-scored exactly
constexpr uint64_t kProbeIdBase = uint64_t{1} << 40;  // probe ids: above every data row
constexpr size_t kMaxProbes = 8192;         // per engine run (hnswlib keeps deleted nodes)
constexpr size_t kIdleQueries = 1000;       // per idle pass (one after each search step)
constexpr auto kProbeTimeout = std::chrono::seconds(2);
constexpr auto kBusyPollMs = std::chrono::milliseconds(5);
constexpr double kTargetRecallAvg = 0.99;
constexpr double kTargetRecallMin = 0.97;
constexpr double kTargetP99Ratio = 1.5;
constexpr double kTargetFreshP99Ms = 50.0;
constexpr double kTargetInsertVps = 5000.0;

struct StreamOptions {
  std::string runbook;  // "" = the built-in one (or a generated one for synthetic data)
  std::string dataset = "fashion-mnist";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  size_t synthetic_n = 20000;
  size_t dim = 64;
  size_t clusters = 100;
  uint64_t seed = 42;
  size_t queries = 0;  // 0 = all (fashion-mnist: 10000; synthetic: 1000 are generated)
  size_t k = 10;
  size_t ef = 64;
  size_t m = 16;
  size_t ef_construction = 200;
  bool quantized = false;  // Vecstream HNSW walks (searches and inserts) on 8-bit codes
  std::string index = "hnsw";
  size_t shards = 1;
  size_t seal_rows = 32768;
  size_t batch = 256;
  size_t threads = 1;
  std::string dir;
  std::string peers = "hnswlib";
  std::string csv;
  std::string fsync = "interval";
  size_t crash_cycles = 0;
  uint32_t probe_ms = 50;
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
double us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

constexpr size_t kNameWidth = 50;  // summary: metric column

// ---------------------------------------------------------------------------------------------
// The plan: the runbook turned into batches, and the exact truth at every search step.

struct Batch {
  bool remove = false;
  std::vector<uint64_t> ids;
  size_t row0 = 0;  // upserts: ids[i] gets row row0 + i (runbook ranges are contiguous)
};

struct PlanStep {
  RunbookStep step;
  RunbookOp after = RunbookOp::kSearch;  // search steps: the operation of the step before
  std::vector<Batch> batches;            // mutation steps
  size_t upserted = 0, deleted = 0;      // points
  size_t truth = SIZE_MAX;               // search steps: index into Plan::truths
};

/// The live set at one search step, and per query the exact k-th distance.
struct Truth {
  size_t live = 0;
  std::vector<int32_t> row_of_id;  // id -> row of its vector, -1 = not live
  std::vector<float> kth;          // per query: exact k-th smallest distance (inf if live < k)
};

struct Plan {
  std::vector<PlanStep> steps;
  std::vector<Truth> truths;
  size_t searches = 0;
  size_t upserted = 0, deleted = 0;
  double truth_seconds = 0.0;
};

/// Plays the runbook on a model (id -> row) and an exact FlatIndex mirror of the live set.
Result<Plan> make_plan(const Runbook& rb, const Dataset& ds, size_t nq, size_t k, size_t batch) {
  Plan plan;
  const size_t d = ds.d;
  std::vector<int32_t> row_of_id(ds.n, -1);
  size_t live = 0;
  auto flat = FlatIndex::create(d, ds.metric, 0);
  if (!flat) return flat.status();
  const DistanceKernels& kern = kernels();
  const auto t0 = Clock::now();
  RunbookOp prev = RunbookOp::kSearch;

  auto upsert_range = [&](PlanStep& ps, uint64_t id0, uint64_t row0, uint64_t n) -> Status {
    for (uint64_t off = 0; off < n; off += batch) {
      Batch b;
      b.row0 = row0 + off;
      const uint64_t m = std::min<uint64_t>(batch, n - off);
      for (uint64_t i = 0; i < m; ++i) b.ids.push_back(id0 + off + i);
      std::vector<Id> ids(b.ids.begin(), b.ids.end());
      VS_RETURN_IF_ERROR((*flat)->add_batch(ids, {ds.base.data() + b.row0 * d, m * d}));
      for (uint64_t i = 0; i < m; ++i) {
        int32_t& r = row_of_id[id0 + off + i];
        if (r < 0) ++live;
        r = static_cast<int32_t>(b.row0 + i);
      }
      ps.upserted += m;
      ps.batches.push_back(std::move(b));
    }
    return Status::ok();
  };

  for (const RunbookStep& st : rb.steps) {
    PlanStep ps;
    ps.step = st;
    ps.after = prev;
    switch (st.op) {
      case RunbookOp::kInsert:
        VS_RETURN_IF_ERROR(upsert_range(ps, st.start, st.start, st.end - st.start));
        break;
      case RunbookOp::kReplace:
        VS_RETURN_IF_ERROR(upsert_range(ps, st.tags_start, st.ids_start, st.tags_end - st.tags_start));
        break;
      case RunbookOp::kDelete: {
        Batch b;
        b.remove = true;
        for (uint64_t id = st.start; id < st.end; ++id) {
          if (row_of_id[id] < 0) continue;  // not live: skipped (counted by simulate_runbook)
          VS_RETURN_IF_ERROR((*flat)->remove(id));
          row_of_id[id] = -1;
          --live;
          ++ps.deleted;
          b.ids.push_back(id);
          if (b.ids.size() == batch) {
            ps.batches.push_back(std::move(b));
            b = Batch{};
            b.remove = true;
          }
        }
        if (!b.ids.empty()) ps.batches.push_back(std::move(b));
        break;
      }
      case RunbookOp::kSearch: {
        Truth t;
        t.live = live;
        t.row_of_id = row_of_id;
        t.kth.assign(nq, std::numeric_limits<float>::infinity());
        if (live >= k) {
          const size_t kk = std::min(live, k + kTruthSlack);
          std::vector<Neighbor> out(nq * kk);
          std::vector<size_t> found(nq);
          VS_RETURN_IF_ERROR((*flat)->search_batch({ds.queries.data(), nq * d}, kk, SearchParams{},
                                                   out, found));
          std::vector<float> dist;
          for (size_t q = 0; q < nq; ++q) {
            dist.clear();
            for (size_t j = 0; j < found[q]; ++j) {
              const int32_t row = row_of_id[out[q * kk + j].id];
              dist.push_back(metric_distance(kern, ds.metric, ds.queries.data() + q * d,
                                             ds.base.data() + static_cast<size_t>(row) * d, d));
            }
            if (dist.size() < k) {
              return Status::internal("ground truth: flat search found " +
                                      std::to_string(dist.size()) + " of " + std::to_string(k) +
                                      " points among " + std::to_string(live));
            }
            std::nth_element(dist.begin(), dist.begin() + static_cast<std::ptrdiff_t>(k - 1),
                             dist.end());
            t.kth[q] = dist[k - 1];
          }
        }
        ps.truth = plan.truths.size();
        plan.truths.push_back(std::move(t));
        ++plan.searches;
        std::fprintf(stderr, "\rground truth: search step %zu (%zu live)...", st.number, live);
        std::fflush(stderr);
        break;
      }
    }
    plan.upserted += ps.upserted;
    plan.deleted += ps.deleted;
    prev = st.op;
    plan.steps.push_back(std::move(ps));
  }
  std::fprintf(stderr, "\n");
  plan.truth_seconds = seconds_between(t0, Clock::now());
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Vecstream as a StreamEngine: a Collection in a directory.

class VecstreamEngine final : public StreamEngine {
 public:
  static Result<std::unique_ptr<StreamEngine>> create(const std::string& dir,
                                                      const CollectionConfig& config,
                                                      size_t ef) {
    auto c = Collection::create(dir, config);
    if (!c) return c.status();
    return std::unique_ptr<StreamEngine>(new VecstreamEngine(std::move(*c), ef));
  }

  std::string name() const override { return "vecstream"; }

  std::string describe() const override {
    const CollectionConfig& c = collection_->config();
    std::string s = "Collection: " + std::to_string(c.shards) + " shard(s), index " +
                    c.index.kind;
    if (c.index.kind == "hnsw") {
      s += " M=" + std::to_string(c.index.m) + " efC=" + std::to_string(c.index.ef_construction) +
           " ef=" + std::to_string(ef_) + (c.index.quantized ? " sq8-walk" : "");
    }
    s += ", build threads " + std::to_string(c.index.build_threads) + ", seal_rows " +
         std::to_string(c.shard.seal_rows) + ", fsync " +
         std::string(fsync_policy_name(c.shard.fsync)) + ", max_segments " +
         std::to_string(c.shard.max_segments) + ", compact at " +
         fmt("%.0f%%", 100.0 * c.shard.compact_deleted_ratio) + " deleted; upsert = "
         "Collection::upsert (acked after the WAL write; indexed in the background)";
    return s;
  }

  Status upsert(std::span<const uint64_t> ids, const float* vectors) override {
    const size_t d = collection_->config().dim;
    std::vector<PointWrite> points(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      points[i].id = PointId::number(ids[i]);
      points[i].vector.assign(vectors + i * d, vectors + (i + 1) * d);
    }
    auto ack = collection_->upsert(std::move(points));
    return ack ? Status::ok() : ack.status();
  }

  Status remove(std::span<const uint64_t> ids) override {
    std::vector<PointId> pids;
    pids.reserve(ids.size());
    for (uint64_t id : ids) pids.push_back(PointId::number(id));
    auto ack = collection_->remove(pids);
    return ack ? Status::ok() : ack.status();
  }

  Status search(const float* query, size_t k, uint64_t* out) override {
    thread_local std::vector<ScoredPoint> hits;
    ShardQuery q;
    q.k = k;
    q.ef = ef_;
    VS_RETURN_IF_ERROR(collection_->search({query, collection_->config().dim}, q, &hits));
    for (size_t i = 0; i < k; ++i) out[i] = i < hits.size() ? hits[i].id.num() : kNoPoint;
    return Status::ok();
  }

  StreamEngineStats stats() const override {
    const CollectionStats cs = collection_->stats();
    StreamEngineStats st;
    st.memory_bytes = cs.memory_bytes;
    st.live = cs.live;
    st.deleted = cs.deleted;
    st.segments = cs.segments;
    st.unindexed_rows = cs.unindexed_rows;
    for (const ShardStats& s : cs.shards) {
      st.compactions += s.compactions;
      st.compacted_rows += s.compacted_rows;
      st.compaction_reused_rows += s.compaction_reused_rows;
      st.compaction_seconds += s.compaction_seconds;
      st.checkpoints += s.checkpoints;
    }
    return st;
  }

  size_t pending() const override { return collection_->stats().unindexed_rows; }
  void drain() override { collection_->wait_indexed(); }
  Status close() override { return collection_->close(); }

 private:
  VecstreamEngine(std::unique_ptr<Collection> c, size_t ef) : collection_(std::move(c)), ef_(ef) {}
  std::unique_ptr<Collection> collection_;
  size_t ef_;
};

Result<CollectionConfig> collection_config(const StreamOptions& opt, size_t dim) {
  nlohmann::json index = {{"kind", opt.index}, {"build_threads", opt.threads}};
  if (opt.index == "hnsw") {
    index["m"] = opt.m;
    index["ef_construction"] = opt.ef_construction;
    index["ef_search"] = opt.ef;
    index["quantized"] = opt.quantized;
  }
  return CollectionConfig::from_json({{"name", "stream"},
                                      {"dim", dim},
                                      {"metric", "l2"},
                                      {"shards", opt.shards},
                                      {"seal_rows", opt.seal_rows},
                                      {"fsync", opt.fsync},
                                      {"index", index}});
}

// ---------------------------------------------------------------------------------------------
// Running one engine through the plan.

/// The first error any of the helper threads met.
class ErrorSink {
 public:
  void set(const std::string& who, const Status& s) {
    std::lock_guard lk(mu_);
    if (error_.empty()) error_ = who + ": " + s.to_string();
  }
  std::string get() const {
    std::lock_guard lk(mu_);
    return error_;
  }

 private:
  mutable std::mutex mu_;
  std::string error_;
};

/// Time the engine spends absorbing writes: each mutation step, plus the time after it until the
/// engine reports nothing left to index (polled by a thread of its own), cut short by the next
/// mutation step.
class BusyClock {
 public:
  explicit BusyClock(StreamEngine& e) : engine_(e), thread_([this] { loop(); }) {}
  ~BusyClock() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void begin_mutation() {
    std::lock_guard lk(mu_);
    const auto now = Clock::now();
    if (catching_up_) busy_ += seconds_between(catch_start_, now);
    catching_up_ = false;
    mutation_start_ = now;
    absorbing_.store(true);
  }
  void end_mutation() {
    {
      std::lock_guard lk(mu_);
      const auto now = Clock::now();
      busy_ += seconds_between(mutation_start_, now);
      catching_up_ = true;
      catch_start_ = now;
    }
    cv_.notify_all();
  }
  /// After the final drain: whatever catch-up is open ends now.
  void finish() {
    std::lock_guard lk(mu_);
    if (catching_up_) busy_ += seconds_between(catch_start_, Clock::now());
    catching_up_ = false;
    absorbing_.store(false);
  }
  /// Whether the engine is absorbing writes now: a mutation step runs, or what it wrote is not
  /// all indexed yet (as of the last poll). Any thread.
  const std::atomic<bool>& absorbing() const { return absorbing_; }
  double busy_seconds() const {
    std::lock_guard lk(mu_);
    return busy_;
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    while (!stop_) {
      if (!catching_up_) {
        cv_.wait(lk, [&] { return stop_ || catching_up_; });
        continue;
      }
      lk.unlock();
      const size_t pending = engine_.pending();
      const auto now = Clock::now();
      lk.lock();
      if (catching_up_ && pending == 0) {
        busy_ += seconds_between(catch_start_, now);
        catching_up_ = false;
        absorbing_.store(false);
        continue;
      }
      cv_.wait_for(lk, kBusyPollMs, [&] { return stop_; });
    }
  }

  StreamEngine& engine_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, catching_up_ = false;
  Clock::time_point mutation_start_{}, catch_start_{};
  double busy_ = 0.0;
  std::atomic<bool> absorbing_{false};
  std::thread thread_;  // last: starts once the members above exist
};

/// Searches the query set in a loop, one query at a time, until stopped; records latencies.
class QueryLoad {
 public:
  QueryLoad(StreamEngine& e, const Dataset& ds, size_t nq, size_t k, size_t start,
            ErrorSink& errors)
      : thread_([&e, &ds, nq, k, start, &errors, this] {
          std::vector<uint64_t> out(k);
          latency_us_.reserve(1 << 16);
          for (size_t i = start % nq; !stop_.load(std::memory_order_relaxed); i = (i + 1) % nq) {
            const auto t0 = Clock::now();
            Status s = e.search(ds.queries.data() + i * ds.d, k, out.data());
            const double us = us_between(t0, Clock::now());
            if (!s.is_ok()) {
              errors.set("query thread", s);
              return;
            }
            // A search of an empty engine (the first step, before its first batch lands) costs
            // nothing and measures nothing.
            if (out[0] != kNoPoint) latency_us_.push_back(us);
          }
        }) {}
  /// Stops and joins; returns the latencies.
  std::vector<double> finish() {
    stop_.store(true);
    thread_.join();
    return std::move(latency_us_);
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<double> latency_us_;
  std::thread thread_;  // last
};

/// Probe vectors: row (j mod n) shifted by `offset` in every coordinate, far from all data and
/// queries, so a k=1 search for one finds that probe (older probes are deleted by then).
struct ProbeSource {
  const Dataset* ds = nullptr;
  float offset = 0.0f;
  void make(size_t j, float* out) const {
    const float* row = ds->base.data() + (j % ds->n) * ds->d;
    for (size_t i = 0; i < ds->d; ++i) out[i] = row[i] + offset;
  }
};

struct ProbeStats {
  std::vector<double> fresh_ms;         // upsert started -> seen by the poller
  std::vector<double> fresh_ingest_ms;  // those of probes started while the engine was absorbing
  std::vector<double> ack_ms;           // upsert call latency of the probe
  size_t timeouts = 0;                  // not seen within kProbeTimeout
};

/// A prober thread and a poller thread: one probe at a time, every `interval`.
class Prober {
 public:
  Prober(StreamEngine& e, const ProbeSource& src, std::chrono::milliseconds interval,
         const std::atomic<bool>& absorbing, ProbeStats& stats, ErrorSink& errors)
      : engine_(e), src_(src), interval_(interval), absorbing_(absorbing), stats_(stats),
        errors_(errors), vec_(src.ds->d), poller_([this] { poll_loop(); }),
        prober_([this] { probe_loop(); }) {}

  /// Lets the probe in flight finish (and be deleted), then holds the prober until resume().
  void pause() {
    std::unique_lock lk(mu_);
    paused_ = true;
    cv_.notify_all();
    cv_.wait(lk, [&] { return !in_probe_ || exited_; });
  }
  void resume() {
    {
      std::lock_guard lk(mu_);
      paused_ = false;
    }
    cv_.notify_all();
  }

  /// Finishes the probe in flight (and deletes it), then stops both threads.
  void finish() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    prober_.join();
    {
      std::lock_guard lk(mu_);
      poller_stop_ = true;
    }
    cv_.notify_all();
    poller_.join();
  }

 private:
  void probe_loop() {
    probe_until_done();
    std::lock_guard lk(mu_);
    in_probe_ = false;
    exited_ = true;
    cv_.notify_all();
  }

  void probe_until_done() {
    for (;;) {
      {
        std::unique_lock lk(mu_);
        in_probe_ = false;
        cv_.notify_all();  // a pause() may be waiting for this
        cv_.wait(lk, [&] { return stop_ || !paused_; });
        if (stop_) return;
        in_probe_ = true;
      }
      const size_t j = next_++;
      if (j >= kMaxProbes) return;
      const uint64_t id = kProbeIdBase + j;
      src_.make(j, vec_.data());
      const bool ingesting = absorbing_.load();
      const auto t0 = Clock::now();
      {
        std::lock_guard lk(mu_);
        want_ = id;
        found_ = false;
      }
      current_.store(id);
      cv_.notify_all();
      Status s = engine_.upsert({&id, 1}, vec_.data());
      const auto t_ack = Clock::now();
      bool found = false;
      Clock::time_point t_found;
      {
        std::unique_lock lk(mu_);
        if (s.is_ok()) cv_.wait_until(lk, t0 + kProbeTimeout, [&] { return found_; });
        found = found_;
        t_found = found_at_;
        want_ = kNoPoint;
      }
      current_.store(kNoPoint);
      if (!s.is_ok()) {
        errors_.set("prober upsert", s);
        return;
      }
      stats_.ack_ms.push_back(1e-3 * us_between(t0, t_ack));
      if (found) {
        stats_.fresh_ms.push_back(1e-3 * us_between(t0, t_found));
        if (ingesting) stats_.fresh_ingest_ms.push_back(stats_.fresh_ms.back());
      } else {
        ++stats_.timeouts;
      }
      s = engine_.remove({&id, 1});
      if (!s.is_ok()) {
        errors_.set("prober remove", s);
        return;
      }
      std::unique_lock lk(mu_);
      in_probe_ = false;
      cv_.notify_all();
      cv_.wait_until(lk, t0 + interval_, [&] { return stop_ || paused_; });
    }
  }

  void poll_loop() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return poller_stop_ || (want_ != kNoPoint && !found_); });
      if (poller_stop_) return;
      const uint64_t id = want_;
      lk.unlock();
      uint64_t got = kNoPoint;
      while (current_.load() == id) {
        Status s = engine_.search(vec_.data(), 1, &got);
        if (!s.is_ok()) {
          errors_.set("probe poller", s);
          break;
        }
        if (got == id) break;
      }
      const auto now = Clock::now();
      lk.lock();
      if (got == id && want_ == id) {
        found_ = true;
        found_at_ = now;
        cv_.notify_all();
      } else if (want_ == id) {
        // A search error: give up on this probe (the prober times out).
        cv_.wait(lk, [&] { return poller_stop_ || want_ != id; });
      }
    }
  }

  StreamEngine& engine_;
  const ProbeSource& src_;
  const std::chrono::milliseconds interval_;
  const std::atomic<bool>& absorbing_;
  size_t next_ = 0;  // probes so far (prober thread only)
  ProbeStats& stats_;
  ErrorSink& errors_;
  std::vector<float> vec_;  // the probe in flight (written by the prober before it is announced)

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, poller_stop_ = false;
  bool paused_ = false, in_probe_ = false, exited_ = false;
  uint64_t want_ = kNoPoint;  // the probe the poller should look for
  bool found_ = false;
  Clock::time_point found_at_{};
  std::atomic<uint64_t> current_{kNoPoint};

  std::thread poller_;  // last two: start once everything above exists
  std::thread prober_;
};

struct SearchStepResult {
  size_t step = 0;
  RunbookOp after = RunbookOp::kSearch;
  size_t live = 0;
  bool scored = false;   // live > 0
  double recall = 0.0;
  size_t stale = 0;      // returned ids that were not live (deleted, or never inserted)
  double qps = 0.0, p50_us = 0.0, p99_us = 0.0;
  size_t backlog = 0;    // engine.pending() when the step began
  double drain_wait_s = 0.0;  // after the pass: waiting for the indexer before the idle pass
  double idle_p99_us = 0.0;   // of the idle pass
};

struct MutationStepResult {
  size_t step = 0;
  RunbookOp op = RunbookOp::kInsert;
  size_t points = 0;
  double seconds = 0.0;
  size_t queries = 0;      // served concurrently
  double p99_us = 0.0;     // of those
};

struct EngineRun {
  std::string name, describe;
  bool ok = false;
  std::string error;
  std::vector<SearchStepResult> searches;
  std::vector<MutationStepResult> mutations;
  std::vector<double> lat_ingest_us;  // queries while the engine was absorbing writes
  std::vector<double> lat_steps_us;   // every search-step query
  std::vector<double> lat_idle_us;    // idle passes: engine drained, nothing else running
  ProbeStats probes;
  size_t upserted = 0, deleted = 0;
  double mutation_seconds = 0.0, busy_seconds = 0.0, drain_seconds = 0.0, total_seconds = 0.0;
  size_t rss_before = 0, rss_after = 0;
  StreamEngineStats final_stats;

  double recall_avg() const {
    double s = 0.0;
    size_t n = 0;
    for (const auto& r : searches) {
      if (r.scored) s += r.recall, ++n;
    }
    return n ? s / static_cast<double>(n) : std::nan("");
  }
  double recall_min() const {
    double m = std::nan("");
    for (const auto& r : searches) {
      if (r.scored && !(m <= r.recall)) m = r.recall;
    }
    return m;
  }
  size_t stale() const {
    size_t s = 0;
    for (const auto& r : searches) s += r.stale;
    return s;
  }
  double acked_vps() const {
    return mutation_seconds > 0 ? static_cast<double>(upserted) / mutation_seconds : std::nan("");
  }
  double sustained_vps() const {
    return busy_seconds > 0 ? static_cast<double>(upserted) / busy_seconds : std::nan("");
  }
};

/// Scores one search pass: mean over queries of hits / min(k, live).
void score(const Dataset& ds, size_t nq, size_t k, const Truth& t,
           const std::vector<uint64_t>& results, SearchStepResult* r) {
  const DistanceKernels& kern = kernels();
  r->live = t.live;
  r->scored = t.live > 0;
  if (!r->scored) return;
  const size_t want = std::min(k, t.live);
  double sum = 0.0;
  for (size_t q = 0; q < nq; ++q) {
    size_t hits = 0;
    for (size_t j = 0; j < k; ++j) {
      const uint64_t id = results[q * k + j];
      if (id == kNoPoint || id >= kProbeIdBase) continue;  // a probe: only when live < k
      if (id >= t.row_of_id.size() || t.row_of_id[id] < 0) {
        ++r->stale;
        continue;
      }
      const float dist = metric_distance(kern, ds.metric, ds.queries.data() + q * ds.d,
                                         ds.base.data() + static_cast<size_t>(t.row_of_id[id]) * ds.d,
                                         ds.d);
      if (dist <= t.kth[q]) ++hits;
    }
    sum += static_cast<double>(std::min(hits, want)) / static_cast<double>(want);
  }
  r->recall = sum / static_cast<double>(nq);
}

EngineRun run_engine(StreamEngine& engine, const Plan& plan, const Dataset& ds, size_t nq,
                     size_t k, const ProbeSource& probes, std::chrono::milliseconds probe_every,
                     size_t rss_before) {
  EngineRun run;
  run.name = engine.name();
  run.describe = engine.describe();
  run.rss_before = rss_before;
  ErrorSink errors;
  std::vector<uint64_t> results(nq * k);
  std::mt19937_64 rng(7);
  const auto t_run = Clock::now();
  BusyClock busy(engine);
  auto prober = std::make_unique<Prober>(engine, probes, probe_every, busy.absorbing(),
                                         run.probes, errors);
  auto stop_prober = [&] {
    if (prober) prober->finish();
    prober.reset();
  };

  for (const PlanStep& ps : plan.steps) {
    const RunbookStep& st = ps.step;
    if (st.op == RunbookOp::kSearch) {
      SearchStepResult r;
      r.step = st.number;
      r.after = ps.after;
      r.backlog = engine.pending();
      std::vector<double> lat(nq);
      const auto t0 = Clock::now();
      auto prev = t0;
      for (size_t q = 0; q < nq; ++q) {
        const bool ingesting = busy.absorbing().load(std::memory_order_relaxed);
        Status s = engine.search(ds.queries.data() + q * ds.d, k, results.data() + q * k);
        const auto now = Clock::now();
        if (!s.is_ok()) {
          stop_prober();
          run.error = "search step " + std::to_string(st.number) + ": " + s.to_string();
          return run;
        }
        lat[q] = us_between(prev, now);
        if (ingesting) run.lat_ingest_us.push_back(lat[q]);
        prev = now;
      }
      r.qps = static_cast<double>(nq) / seconds_between(t0, prev);
      r.p50_us = percentile(lat, 0.50);
      r.p99_us = percentile(lat, 0.99);
      run.lat_steps_us.insert(run.lat_steps_us.end(), lat.begin(), lat.end());
      score(ds, nq, k, plan.truths[ps.truth], results, &r);
      // The idle reference at this state: drained, probes held, nothing else running.
      prober->pause();
      const auto t_drain = Clock::now();
      engine.drain();
      r.drain_wait_s = seconds_between(t_drain, Clock::now());
      const size_t n_idle = std::min(nq, kIdleQueries);
      std::vector<double> idle(n_idle);
      prev = Clock::now();
      for (size_t q = 0; q < n_idle; ++q) {
        Status s = engine.search(ds.queries.data() + q * ds.d, k, results.data() + q * k);
        const auto now = Clock::now();
        if (!s.is_ok()) {
          stop_prober();
          run.error = "idle pass at step " + std::to_string(st.number) + ": " + s.to_string();
          return run;
        }
        idle[q] = us_between(prev, now);
        prev = now;
      }
      prober->resume();
      r.idle_p99_us = percentile(idle, 0.99);
      run.lat_idle_us.insert(run.lat_idle_us.end(), idle.begin(), idle.end());
      std::fprintf(stderr, "[%s] step %zu search: recall %.4f, %zu live, %.0f QPS, backlog %zu\n",
                   run.name.c_str(), st.number, r.recall, r.live, r.qps, r.backlog);
      run.searches.push_back(r);
    } else {
      // A mutation step: ingest on this thread, queries on another (and the probes go on).
      MutationStepResult m;
      m.step = st.number;
      m.op = st.op;
      m.points = ps.upserted + ps.deleted;
      QueryLoad load(engine, ds, nq, k, static_cast<size_t>(rng()), errors);
      busy.begin_mutation();
      const auto t0 = Clock::now();
      Status s;
      for (const Batch& b : ps.batches) {
        s = b.remove ? engine.remove(b.ids) : engine.upsert(b.ids, ds.base.data() + b.row0 * ds.d);
        if (!s.is_ok()) break;
      }
      const auto t1 = Clock::now();
      busy.end_mutation();
      std::vector<double> lat = load.finish();
      if (!s.is_ok()) {
        stop_prober();
        run.error = "step " + std::to_string(st.number) + " (" + runbook_op_name(st.op) +
                    "): " + s.to_string();
        return run;
      }
      m.seconds = seconds_between(t0, t1);
      m.queries = lat.size();
      m.p99_us = percentile(lat, 0.99);
      run.lat_ingest_us.insert(run.lat_ingest_us.end(), lat.begin(), lat.end());
      run.mutation_seconds += m.seconds;
      run.upserted += ps.upserted;
      run.deleted += ps.deleted;
      std::fprintf(stderr, "[%s] step %zu %s: %zu points in %.2f s, %zu concurrent queries\n",
                   run.name.c_str(), st.number, runbook_op_name(st.op), m.points, m.seconds,
                   m.queries);
      run.mutations.push_back(m);
    }
    if (std::string e = errors.get(); !e.empty()) {
      stop_prober();
      run.error = "step " + std::to_string(st.number) + ": " + e;
      return run;
    }
  }
  stop_prober();
  if (std::string e = errors.get(); !e.empty()) {
    run.error = "prober: " + e;
    return run;
  }
  const auto t_drain = Clock::now();
  engine.drain();
  run.drain_seconds = seconds_between(t_drain, Clock::now());
  busy.finish();
  run.busy_seconds = busy.busy_seconds();
  run.total_seconds = seconds_between(t_run, Clock::now());

  run.final_stats = engine.stats();
  run.rss_after = rss_bytes();
  run.ok = true;
  return run;
}

// ---------------------------------------------------------------------------------------------
// Report

struct Target {
  const char* what;
  bool pass;
};

std::vector<Target> targets(const EngineRun& r, double p99_ratio, double fresh_p99) {
  return {
      {"average recall >= 0.99", r.recall_avg() >= kTargetRecallAvg},
      {"minimum recall >= 0.97", r.recall_min() >= kTargetRecallMin},
      {"query p99 while ingesting <= 1.5x idle", p99_ratio <= kTargetP99Ratio},
      {"freshness p99 while ingesting <= 50 ms", fresh_p99 <= kTargetFreshP99Ms},
      {"sustained insert >= 5000 vectors/s", r.sustained_vps() >= kTargetInsertVps},
  };
}

void print_report(const std::vector<EngineRun>& runs, const Plan& plan, size_t k) {
  const std::string at_k = "recall@" + std::to_string(k);
  const size_t ne = runs.size();

  std::printf("\n== Mutation steps (ingest thread, batches; a query thread and the prober run "
              "throughout) ==\n");
  std::printf("%5s %-8s %8s", "step", "op", "points");
  for (const EngineRun& r : runs) {
    std::printf(" | %-9s %7s %9s %8s %9s", r.name.c_str(), "s", "points/s", "queries",
                "q p99 µs");
  }
  std::printf("\n");
  print_rule(23 + 50 * ne);
  for (size_t i = 0; i < runs[0].mutations.size(); ++i) {
    const MutationStepResult& m0 = runs[0].mutations[i];
    std::printf("%5zu %-8s %8zu", m0.step, runbook_op_name(m0.op), m0.points);
    for (const EngineRun& r : runs) {
      if (i >= r.mutations.size()) {
        std::printf(" | %-9s %7s %9s %8s %9s", "", "-", "-", "-", "-");
        continue;
      }
      const MutationStepResult& m = r.mutations[i];
      std::printf(" | %-9s %7.2f %9.0f %8zu %9s", "", m.seconds,
                  m.seconds > 0 ? static_cast<double>(m.points) / m.seconds : 0.0, m.queries,
                  fmt("%.0f", m.p99_us).c_str());
    }
    std::printf("\n");
  }

  std::printf("\n== Search steps (%s against exact search over the live points; queries "
              "one at a time on one\n   thread, right after the step before: no wait for "
              "background indexing) ==\n", at_k.c_str());
  std::printf("%5s %-8s %7s", "step", "after", "live");
  for (const EngineRun& r : runs) {
    std::printf(" | %-9s %7s %7s %8s %8s %8s", r.name.c_str(), "recall", "QPS", "p99 µs",
                "idle p99", "backlog");
  }
  if (ne > 1) std::printf(" | %9s", "QPS ratio");
  std::printf("\n");
  print_rule(22 + 55 * ne + (ne > 1 ? 12 : 0));
  for (size_t i = 0; i < runs[0].searches.size(); ++i) {
    const SearchStepResult& s0 = runs[0].searches[i];
    std::printf("%5zu %-8s %7zu", s0.step, runbook_op_name(s0.after), s0.live);
    for (const EngineRun& r : runs) {
      if (i >= r.searches.size()) {
        std::printf(" | %-9s %7s %7s %8s %8s %8s", "", "-", "-", "-", "-", "-");
        continue;
      }
      const SearchStepResult& s = r.searches[i];
      std::printf(" | %-9s %7s %7.0f %8.0f %8.0f %8zu", "",
                  s.scored ? fmt("%.4f", s.recall).c_str() : "n/a", s.qps, s.p99_us,
                  s.idle_p99_us, s.backlog);
    }
    if (ne > 1 && i < runs[1].searches.size() && runs[1].searches[i].qps > 0) {
      std::printf(" | %8.2fx", s0.qps / runs[1].searches[i].qps);
    }
    std::printf("\n");
  }
  std::printf("(idle p99: the idle pass after the step, engine drained; backlog: rows not yet in "
              "an index when the step\n began, searched by exact scan; QPS ratio: %s ÷ %s)\n",
              runs[0].name.c_str(), ne > 1 ? runs[1].name.c_str() : "-");

  // Summary rows: a name, one cell per engine, Vecstream ÷ peer where the figure is a number,
  // and Vecstream's target.
  struct Row {
    std::string name;
    std::vector<std::string> cells;
    std::vector<double> values;  // empty: no ratio
    std::string target;
    std::optional<bool> pass;
  };
  std::vector<Row> rows;
  auto num = [&](std::string name, const char* f, auto get, std::string target = "",
                 std::optional<bool> pass = std::nullopt, bool ratio = true) {
    Row row{std::move(name), {}, {}, std::move(target), pass};
    std::vector<double> values;
    for (const EngineRun& r : runs) {
      values.push_back(get(r));
      row.cells.push_back(fmt(f, values.back()));
    }
    if (ratio) row.values = std::move(values);
    rows.push_back(std::move(row));
  };
  auto info = [&](std::string name, const char* f, auto get) {
    num(std::move(name), f, get, "", std::nullopt, false);
  };
  auto text = [&](std::string name, auto get) {
    Row row{std::move(name), {}, {}, "", std::nullopt};
    for (const EngineRun& r : runs) row.cells.push_back(get(r));
    rows.push_back(std::move(row));
  };
  auto p99_ratio = [](const EngineRun& r) {
    return percentile(r.lat_ingest_us, 0.99) / percentile(r.lat_idle_us, 0.99);
  };
  auto mib = [](double bytes) { return bytes / 1048576.0; };
  const EngineRun& vs = runs[0];
  const double vs_ratio = p99_ratio(vs);
  const double vs_fresh99 = percentile(vs.probes.fresh_ingest_ms, 0.99);
  const std::vector<Target> tg = targets(vs, vs_ratio, vs_fresh99);
  num(at_k + " average (↑)", "%.4f", [](const EngineRun& r) { return r.recall_avg(); },
      ">= 0.99", tg[0].pass);
  num(at_k + " minimum over steps (↑)", "%.4f",
      [](const EngineRun& r) { return r.recall_min(); }, ">= 0.97", tg[1].pass);
  text("stale results (deleted ids returned)",
       [](const EngineRun& r) { return std::to_string(r.stale()); });
  num("query p50 idle (drained, nothing running), µs (↓)", "%.0f",
      [](const EngineRun& r) { return percentile(r.lat_idle_us, 0.50); });
  num("query p99 idle, µs (↓)", "%.0f",
      [](const EngineRun& r) { return percentile(r.lat_idle_us, 0.99); });
  num("query p50 at search steps, µs (↓)", "%.0f",
      [](const EngineRun& r) { return percentile(r.lat_steps_us, 0.50); });
  num("query p99 at search steps, µs (↓)", "%.0f",
      [](const EngineRun& r) { return percentile(r.lat_steps_us, 0.99); });
  num("query p50 while ingesting, µs (↓)", "%.0f",
      [](const EngineRun& r) { return percentile(r.lat_ingest_us, 0.50); });
  num("query p99 while ingesting, µs (↓)", "%.0f",
      [](const EngineRun& r) { return percentile(r.lat_ingest_us, 0.99); });
  num("query p99 while ingesting ÷ idle (↓)", "%.2fx", p99_ratio, "<= 1.5x", tg[2].pass);
  info("queries while ingesting", "%.0f",
       [](const EngineRun& r) { return static_cast<double>(r.lat_ingest_us.size()); });
  num("insert, acked (writer's view), vectors/s (↑)", "%.0f",
      [](const EngineRun& r) { return r.acked_vps(); });
  num("insert, sustained (until indexed), vectors/s (↑)", "%.0f",
      [](const EngineRun& r) { return r.sustained_vps(); }, ">= 5000", tg[4].pass);
  info("time in mutation steps, s", "%.2f", [](const EngineRun& r) { return r.mutation_seconds; });
  info("time absorbing writes (steps + catch-up), s", "%.2f",
       [](const EngineRun& r) { return r.busy_seconds; });
  info("waits for the indexer before idle passes, s", "%.2f", [](const EngineRun& r) {
    double w = 0.0;
    for (const SearchStepResult& x : r.searches) w += x.drain_wait_s;
    return w;
  });
  info("final drain (indexing catch-up), s", "%.2f",
       [](const EngineRun& r) { return r.drain_seconds; });
  info("whole run (steps, idle passes, drains), s", "%.2f",
       [](const EngineRun& r) { return r.total_seconds; });
  num("freshness p50, ms (↓)", "%.2f",
      [](const EngineRun& r) { return percentile(r.probes.fresh_ms, 0.50); });
  num("freshness p99, ms (↓)", "%.2f",
      [](const EngineRun& r) { return percentile(r.probes.fresh_ms, 0.99); });
  num("freshness p99 while ingesting, ms (↓)", "%.2f",
      [](const EngineRun& r) { return percentile(r.probes.fresh_ingest_ms, 0.99); }, "<= 50 ms",
      tg[3].pass);
  num("probe upsert ack p99, ms (↓)", "%.2f",
      [](const EngineRun& r) { return percentile(r.probes.ack_ms, 0.99); });
  text("probes seen (while ingesting) / timed out", [](const EngineRun& r) {
    return std::to_string(r.probes.fresh_ms.size()) + " (" +
           std::to_string(r.probes.fresh_ingest_ms.size()) + ") / " +
           std::to_string(r.probes.timeouts);
  });
  num("RSS growth over the run, MiB (↓)", "%.1f", [&](const EngineRun& r) {
    return mib(static_cast<double>(r.rss_after) - static_cast<double>(r.rss_before));
  });
  num("engine memory (own count), MiB (↓)", "%.1f",
      [&](const EngineRun& r) { return mib(static_cast<double>(r.final_stats.memory_bytes)); });
  text("live / deleted rows held at the end", [](const EngineRun& r) {
    return std::to_string(r.final_stats.live) + " / " + std::to_string(r.final_stats.deleted);
  });
  text("segments / compactions / checkpoints", [](const EngineRun& r) {
    if (r.name != "vecstream") return std::string("-");
    return std::to_string(r.final_stats.segments) + " / " +
           std::to_string(r.final_stats.compactions) + " / " +
           std::to_string(r.final_stats.checkpoints);
  });
  text("compaction: rows rewritten / graph kept / wall s", [](const EngineRun& r) {
    if (r.name != "vecstream") return std::string("-");
    char buf[96];
    std::snprintf(buf, sizeof buf, "%zu / %zu / %.2f", r.final_stats.compacted_rows,
                  r.final_stats.compaction_reused_rows, r.final_stats.compaction_seconds);
    return std::string(buf);
  });

  std::printf("\n== Summary (↑ higher is better, ↓ lower is better; targets apply to %s) ==\n",
              vs.name.c_str());
  std::printf("%s", pad("metric", kNameWidth).c_str());
  for (const EngineRun& r : runs) std::printf(" %16s", r.name.c_str());
  for (size_t i = 1; i < ne; ++i) std::printf(" %s", pad("÷ " + runs[i].name, 12, true).c_str());
  std::printf("   target\n");
  print_rule(kNameWidth + 17 * ne + 13 * (ne - 1) + 18);
  for (const Row& row : rows) {
    std::printf("%s", pad(row.name, kNameWidth).c_str());
    for (const std::string& c : row.cells) std::printf(" %16s", c.c_str());
    for (size_t i = 1; i < ne; ++i) {
      const bool ratio = !row.values.empty() && row.values[i] > 0 && !std::isnan(row.values[0]) &&
                         !std::isnan(row.values[i]);
      std::printf(" %12s", ratio ? fmt("%.2fx", row.values[0] / row.values[i]).c_str() : "");
    }
    if (!row.target.empty()) {
      std::printf("   %-9s %s", row.target.c_str(), row.pass.value_or(false) ? "PASS" : "MISS");
    }
    std::printf("\n");
  }
  size_t passed = 0;
  for (const Target& t : tg) passed += t.pass;
  std::printf("\ntargets (%s): %zu of %zu met", vs.name.c_str(), passed, tg.size());
  for (const Target& t : tg) {
    if (!t.pass) std::printf("; MISS: %s", t.what);
  }
  std::printf("\n");
  std::printf("ground truth: exact top-%zu at %zu search steps (FlatIndex GEMM candidates "
              "re-scored with the SIMD kernel) in %.1f s, before any engine ran\n",
              k, plan.searches, plan.truth_seconds);
}

Status write_csv(const std::string& path, const std::vector<EngineRun>& runs) {
  std::ofstream out(path);
  if (!out) return Status::io_error("cannot open --csv file " + path);
  out << "engine,section,step,metric,value\n";
  auto row = [&](const std::string& e, const char* sec, const std::string& step, const char* m,
                 double v) { out << e << ',' << sec << ',' << step << ',' << m << ',' << v << '\n'; };
  for (const EngineRun& r : runs) {
    for (const MutationStepResult& m : r.mutations) {
      const std::string s = std::to_string(m.step);
      row(r.name, runbook_op_name(m.op), s, "points", static_cast<double>(m.points));
      row(r.name, runbook_op_name(m.op), s, "seconds", m.seconds);
      row(r.name, runbook_op_name(m.op), s, "concurrent_queries", static_cast<double>(m.queries));
      row(r.name, runbook_op_name(m.op), s, "concurrent_query_p99_us", m.p99_us);
    }
    for (const SearchStepResult& x : r.searches) {
      const std::string s = std::to_string(x.step);
      row(r.name, "search", s, "live", static_cast<double>(x.live));
      row(r.name, "search", s, "recall", x.scored ? x.recall : std::nan(""));
      row(r.name, "search", s, "stale", static_cast<double>(x.stale));
      row(r.name, "search", s, "qps", x.qps);
      row(r.name, "search", s, "p50_us", x.p50_us);
      row(r.name, "search", s, "p99_us", x.p99_us);
      row(r.name, "search", s, "backlog_rows", static_cast<double>(x.backlog));
      row(r.name, "search", s, "idle_p99_us", x.idle_p99_us);
      row(r.name, "search", s, "drain_wait_s", x.drain_wait_s);
    }
    const char* S = "summary";
    row(r.name, S, "", "recall_avg", r.recall_avg());
    row(r.name, S, "", "recall_min", r.recall_min());
    row(r.name, S, "", "query_p50_idle_us", percentile(r.lat_idle_us, 0.50));
    row(r.name, S, "", "query_p99_idle_us", percentile(r.lat_idle_us, 0.99));
    row(r.name, S, "", "query_p50_steps_us", percentile(r.lat_steps_us, 0.50));
    row(r.name, S, "", "query_p99_steps_us", percentile(r.lat_steps_us, 0.99));
    row(r.name, S, "", "query_p50_ingest_us", percentile(r.lat_ingest_us, 0.50));
    row(r.name, S, "", "query_p99_ingest_us", percentile(r.lat_ingest_us, 0.99));
    row(r.name, S, "", "insert_acked_vps", r.acked_vps());
    row(r.name, S, "", "insert_sustained_vps", r.sustained_vps());
    row(r.name, S, "", "busy_seconds", r.busy_seconds);
    row(r.name, S, "", "drain_seconds", r.drain_seconds);
    row(r.name, S, "", "mutation_seconds", r.mutation_seconds);
    row(r.name, S, "", "total_seconds", r.total_seconds);
    row(r.name, S, "", "freshness_p50_ms", percentile(r.probes.fresh_ms, 0.50));
    row(r.name, S, "", "freshness_p99_ms", percentile(r.probes.fresh_ms, 0.99));
    row(r.name, S, "", "freshness_p99_ingest_ms", percentile(r.probes.fresh_ingest_ms, 0.99));
    row(r.name, S, "", "probe_timeouts", static_cast<double>(r.probes.timeouts));
    row(r.name, S, "", "rss_growth_bytes",
        static_cast<double>(r.rss_after) - static_cast<double>(r.rss_before));
    row(r.name, S, "", "memory_bytes", static_cast<double>(r.final_stats.memory_bytes));
    row(r.name, S, "", "segments", static_cast<double>(r.final_stats.segments));
    row(r.name, S, "", "compactions", static_cast<double>(r.final_stats.compactions));
  }
  out.flush();
  if (!out) return Status::io_error("error writing --csv file " + path);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Crash mode: kill -9 / recover / verify, as tests/segment/crash_test.cc, on the runbook's data.

struct CrashMsg {
  uint64_t kind;  // 0 = opened, 1 = intent, 2 = ack
  uint64_t g;     // global batch counter; the batch is ops[g % ops.size()]
};

void write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w <= 0) _exit(3);
    c += w;
    n -= static_cast<size_t>(w);
  }
}

[[noreturn]] void crash_child(const std::string& dir, int fd, const std::vector<const Batch*>& ops,
                              const Dataset& ds, uint64_t g0, uint64_t seed) {
  auto c = Collection::open(dir);
  if (!c.is_ok()) {
    std::fprintf(stderr, "crash child: open: %s\n", c.status().to_string().c_str());
    _exit(2);
  }
  CrashMsg m{0, g0};
  write_all(fd, &m, sizeof(m));
  std::mt19937_64 rng(seed);
  for (uint64_t g = g0;; ++g) {
    const Batch& b = *ops[g % ops.size()];
    m = {1, g};
    write_all(fd, &m, sizeof(m));
    if (b.remove) {
      std::vector<PointId> ids;
      for (uint64_t id : b.ids) ids.push_back(PointId::number(id));
      if (!(*c)->remove(ids).is_ok()) _exit(5);
    } else {
      std::vector<PointWrite> pts(b.ids.size());
      for (size_t i = 0; i < b.ids.size(); ++i) {
        pts[i].id = PointId::number(b.ids[i]);
        const float* v = ds.base.data() + (b.row0 + i) * ds.d;
        pts[i].vector.assign(v, v + ds.d);
      }
      if (!(*c)->upsert(std::move(pts)).is_ok()) _exit(4);
    }
    m = {2, g};
    write_all(fd, &m, sizeof(m));
    if (rng() % 50 == 0 && !(*c)->checkpoint().is_ok()) _exit(6);
  }
}

struct CrashReport {
  size_t cycles = 0;
  size_t acked_batches = 0, acked_points = 0;
  size_t checked_ids = 0;  // id checks over all cycles
  size_t failures = 0;
  std::vector<std::string> messages;  // the first few failures
  std::vector<double> recover_ms;
};

void crash_fail(CrashReport& rep, const std::string& m) {
  ++rep.failures;
  if (rep.messages.size() < 10) rep.messages.push_back(m);
}

Status run_crash(const std::string& dir, const CollectionConfig& config, const Plan& plan,
                 const Dataset& ds, size_t cycles, CrashReport* rep) {
  std::vector<const Batch*> ops;
  for (const PlanStep& ps : plan.steps) {
    for (const Batch& b : ps.batches) ops.push_back(&b);
  }
  if (ops.empty()) return Status::invalid_argument("crash mode: the runbook writes nothing");
  {
    auto c = Collection::create(dir, config);
    if (!c) return c.status();
    VS_RETURN_IF_ERROR((*c)->close());
  }
  std::vector<int32_t> model(ds.n, -1);  // id -> row of its acknowledged vector, -1 = absent
  std::mt19937_64 rng(12345);
  uint64_t next_g = 0;
  auto apply = [&](const Batch& b, std::vector<int32_t>& m) {
    for (size_t i = 0; i < b.ids.size(); ++i) {
      m[b.ids[i]] = b.remove ? -1 : static_cast<int32_t>(b.row0 + i);
    }
  };
  for (size_t cycle = 0; cycle < cycles; ++cycle) {
    int fds[2];
    if (::pipe(fds) != 0) return Status::io_error("crash mode: pipe failed");
    const uint64_t seed = rng();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return Status::io_error("crash mode: fork failed");
    if (pid == 0) {
      ::close(fds[0]);
      crash_child(dir, fds[1], ops, ds, next_g, seed);
    }
    ::close(fds[1]);
    // Wait for the child to have opened the collection, then let it write for a random while.
    CrashMsg m{};
    const ssize_t r0 = ::read(fds[0], &m, sizeof(m));
    if (r0 != static_cast<ssize_t>(sizeof(m)) || m.kind != 0) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      ::close(fds[0]);
      crash_fail(*rep, "cycle " + std::to_string(cycle) + ": the child could not open the "
                       "collection (exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
      return Status::ok();  // nothing more can be checked
    }
    ::usleep(static_cast<useconds_t>(20000 + rng() % 480000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) {
      crash_fail(*rep, "cycle " + std::to_string(cycle) + ": the child exited early with " +
                           std::to_string(WEXITSTATUS(status)));
    }
    std::vector<CrashMsg> msgs;
    for (;;) {
      const ssize_t r = ::read(fds[0], &m, sizeof(m));
      if (r != static_cast<ssize_t>(sizeof(m))) break;
      msgs.push_back(m);
    }
    ::close(fds[0]);
    std::optional<uint64_t> in_flight;
    for (const CrashMsg& x : msgs) {
      if (x.kind == 1) {
        in_flight = x.g;
        continue;
      }
      if (x.kind != 2) continue;
      in_flight.reset();
      const Batch& b = *ops[x.g % ops.size()];
      apply(b, model);
      ++rep->acked_batches;
      rep->acked_points += b.ids.size();
      next_g = x.g + 1;
    }
    std::vector<int32_t> after = model;  // the in-flight batch's outcome, if it landed
    if (in_flight) apply(*ops[*in_flight % ops.size()], after);

    const auto t0 = Clock::now();
    auto c = Collection::open(dir, /*background=*/false);
    rep->recover_ms.push_back(1e-3 * us_between(t0, Clock::now()));
    if (!c.is_ok()) {
      crash_fail(*rep, "cycle " + std::to_string(cycle) + ": recovery failed: " +
                           c.status().to_string());
      return Status::ok();
    }
    size_t live = 0;
    std::vector<uint64_t> live_ids;
    for (uint64_t id = 0; id < ds.n; ++id) {
      auto rec = (*c)->get(PointId::number(id));
      ++rep->checked_ids;
      auto matches = [&](int32_t row) {
        if (row < 0) return !rec.has_value();
        return rec.has_value() && rec->vector.size() == ds.d &&
               std::memcmp(rec->vector.data(), ds.base.data() + static_cast<size_t>(row) * ds.d,
                           ds.d * sizeof(float)) == 0;
      };
      if (matches(model[id])) {
        // the acknowledged state (or the in-flight batch left this id as it was)
      } else if (matches(after[id])) {
        model[id] = after[id];  // the in-flight batch landed here: that is the state from now on
      } else {
        crash_fail(*rep, "cycle " + std::to_string(cycle) + ": id " + std::to_string(id) +
                             (rec ? " has the wrong vector" : " is missing") + " (expected " +
                             (model[id] < 0 ? std::string("absent") : "row " + std::to_string(model[id])) + ")");
        continue;
      }
      if (rec) {
        ++live;
        live_ids.push_back(id);
      }
    }
    if ((*c)->stats().live != live) {
      crash_fail(*rep, "cycle " + std::to_string(cycle) + ": stats().live = " +
                           std::to_string((*c)->stats().live) + ", " + std::to_string(live) +
                           " ids found live");
    }
    // A few live points are found by their own vector (distance 0: a duplicate row also counts).
    for (size_t i = 0; i < 5 && !live_ids.empty(); ++i) {
      const uint64_t id = live_ids[rng() % live_ids.size()];
      const float* v = ds.base.data() + static_cast<size_t>(model[id]) * ds.d;
      std::vector<ScoredPoint> out;
      ShardQuery q;
      q.k = 1;
      Status s = (*c)->search({v, ds.d}, q, &out);
      if (!s.is_ok() || out.empty() || out[0].distance > 0.0f) {
        crash_fail(*rep, "cycle " + std::to_string(cycle) + ": a k=1 search for id " +
                             std::to_string(id) + "'s vector did not find it");
      }
    }
    rep->cycles = cycle + 1;
    std::fprintf(stderr, "\rcrash mode: cycle %zu/%zu, %zu acknowledged batches checked, %zu "
                 "failures", cycle + 1, cycles, rep->acked_batches, rep->failures);
    std::fflush(stderr);
  }
  std::fprintf(stderr, "\n");
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// The `stream` command.

int fail(const Status& s) {
  std::fprintf(stderr, "vecstream-bench: %s\n", s.to_string().c_str());
  return 1;
}

void print_runbook_summary(const Runbook& rb, const RunbookSummary& s, const char* indent) {
  std::printf("%s%zu steps: %zu insert, %zu delete, %zu replace, %zu search; max_pts %llu\n",
              indent, rb.steps.size(), s.inserts, s.deletes, s.replaces, s.searches,
              static_cast<unsigned long long>(rb.max_pts));
  std::printf("%spoints: %llu inserted, %llu replaced, %llu deleted; live at most %llu, at the "
              "end %llu; %llu distinct ids\n",
              indent, static_cast<unsigned long long>(s.rows_inserted),
              static_cast<unsigned long long>(s.rows_replaced),
              static_cast<unsigned long long>(s.rows_deleted),
              static_cast<unsigned long long>(s.max_live),
              static_cast<unsigned long long>(s.final_live),
              static_cast<unsigned long long>(s.distinct_ids));
  if (s.delete_not_live || s.insert_live || s.replace_not_live) {
    std::printf("%snotes: %llu deleted ids were not live (skipped), %llu inserted ids were live "
                "(replaced), %llu replaced tags were not live (inserted)\n",
                indent, static_cast<unsigned long long>(s.delete_not_live),
                static_cast<unsigned long long>(s.insert_live),
                static_cast<unsigned long long>(s.replace_not_live));
  }
}


int run_stream(const StreamOptions& opt) {
  if (opt.batch == 0 || opt.batch > 10000) {
    return fail(Status::invalid_argument("--batch must be in [1, 10000] (a shard's batch limit)"));
  }
  if (opt.k == 0) return fail(Status::invalid_argument("--k must be >= 1"));

  // Data.
  Dataset ds;
  if (opt.dataset == "synthetic") {
    if (opt.synthetic_n == 0 || opt.dim == 0) {
      return fail(Status::invalid_argument("--synthetic-n and --dim must be >= 1"));
    }
    std::fprintf(stderr, "generating synthetic data...\n");
    ds = synthetic_clustered(opt.synthetic_n, opt.queries ? opt.queries : 1000, opt.dim,
                             opt.clusters, opt.seed);
  } else {
    std::fprintf(stderr, "loading fashion-mnist from %s...\n", opt.data_dir.c_str());
    auto loaded = load_fashion_mnist(opt.data_dir);
    if (!loaded) return fail(loaded.status());
    ds = std::move(*loaded);
  }
  if (opt.queries > ds.nq) {
    return fail(Status::invalid_argument("--queries " + std::to_string(opt.queries) + ": the data "
                                         "set has " + std::to_string(ds.nq) + " queries"));
  }
  const size_t nq = opt.queries ? opt.queries : ds.nq;
  const std::string ds_key = opt.dataset;

  // Runbook.
  Result<Runbook> rb = Status::internal("no runbook");
  std::string note;
  if (!opt.runbook.empty()) {
    rb = load_runbook(opt.runbook, ds_key, &note);
  } else if (opt.dataset == "synthetic") {
    SlidingRunbookParams p;
    p.dataset = ds_key;
    p.rows = ds.n;
    p.chunk = std::max<uint64_t>(1, ds.n / 12);
    p.window = std::max<uint64_t>(1, ds.n / 2);
    rb = sliding_window_runbook(p);
    if (rb) {
      rb->source = "generated: stream-runbook --rows " + std::to_string(p.rows) + " --chunk " +
                   std::to_string(p.chunk) + " --window " + std::to_string(p.window) +
                   " --replace-every 3 --reinsert-every 4";
    }
  } else {
    rb = parse_runbook(kDefaultRunbookYaml, kDefaultRunbookName, ds_key, &note);
  }
  if (!rb) return fail(rb.status());
  if (!note.empty()) std::fprintf(stderr, "note: %s\n", note.c_str());
  auto summary = simulate_runbook(*rb, ds.n);
  if (!summary) return fail(summary.status());
  auto config = collection_config(opt, ds.d);
  if (!config) return fail(config.status());
  auto work = WorkDir::make(opt.dir, "vecstream-stream");
  if (!work) return fail(work.status());

  std::vector<std::string> peers;
  if (opt.peers == "hnswlib" || opt.peers == "all") peers.push_back("hnswlib");

  std::printf("vecstream-bench stream\n");
  std::printf("cpu: %s | %u hardware threads | vecstream SIMD level: %s\n", cpu_model().c_str(),
              std::thread::hardware_concurrency(), simd_level_name(detected_simd_level()));
  std::printf("dataset: %s (%s) | %zu rows, %zu-d | queries: %zu of %zu | k=%zu\n",
              ds.name.c_str(), std::string(metric_name(ds.metric)).c_str(), ds.n, ds.d, nq, ds.nq,
              opt.k);
  std::printf("runbook: %s (entry '%s')\n", rb->source.c_str(), rb->dataset.c_str());
  print_runbook_summary(*rb, *summary, "  ");
  std::printf("ingest: batches of %zu points from one ingest thread; one query thread searches "
              "without pause through every\n  mutation step; throughout, a probe every %u ms "
              "(unique id, upserted by a prober thread, polled by k=1 searches\n  in another); "
              "idle latency: after each search step, engine drained, probes held, nothing else "
              "running,\n  %zu queries\n",
              opt.batch, opt.probe_ms, std::min(nq, kIdleQueries));
  std::printf("peers: %s", peers.empty() ? "none" : "hnswlib");
  std::printf(" | FAISS is not run: IndexHNSWFlat (the `ann` peer) cannot remove points, and "
              "IndexIVFFlat::remove_ids\n  is another index family that must not be searched "
              "while it is written, so its ratios would not compare like with like\n");
  std::printf("data dir: %s%s\n", work->path().c_str(), work->temporary() ? " (temporary)" : "");

  std::fprintf(stderr, "ground truth over the live set at every search step...\n");
  auto plan = make_plan(*rb, ds, nq, opt.k, opt.batch);
  if (!plan) return fail(plan.status());

  float maxabs = 0.0f;
  for (float v : ds.base) maxabs = std::max(maxabs, std::fabs(v));
  ProbeSource probes{&ds, 4.0f * maxabs + 1.0f};

  std::vector<EngineRun> runs;
  {
    const size_t rss0 = rss_bytes();
    auto engine = VecstreamEngine::create(work->path() + "/collection", *config, opt.ef);
    if (!engine) return fail(engine.status());
    std::printf("engine vecstream: %s\n", (*engine)->describe().c_str());
    runs.push_back(run_engine(**engine, *plan, ds, nq, opt.k, probes,
                              std::chrono::milliseconds(opt.probe_ms), rss0));
    Status s = (*engine)->close();
    if (!s.is_ok() && runs.back().ok) {
      runs.back().ok = false;
      runs.back().error = "close: " + s.to_string();
    }
  }
  for (const std::string& p : peers) {
    (void)p;
    const size_t rss0 = rss_bytes();
    StreamParams sp;
    sp.dim = ds.d;
    sp.M = opt.m;
    sp.ef_construction = opt.ef_construction;
    sp.ef_search = opt.ef;
    sp.build_threads = opt.threads;
    sp.capacity = summary->distinct_ids + kMaxProbes;
    sp.seed = opt.seed;
    auto engine = make_hnswlib_stream_engine(sp);
    if (!engine) return fail(engine.status());
    std::printf("engine hnswlib: %s\n", (*engine)->describe().c_str());
    runs.push_back(run_engine(**engine, *plan, ds, nq, opt.k, probes,
                              std::chrono::milliseconds(opt.probe_ms), rss0));
  }

  int rc = 0;
  std::vector<EngineRun> ok_runs;
  for (EngineRun& r : runs) {
    if (!r.ok) {
      std::fprintf(stderr, "vecstream-bench: %s failed: %s\n", r.name.c_str(), r.error.c_str());
      std::printf("engine %s FAILED: %s\n", r.name.c_str(), r.error.c_str());
      rc = 1;
    } else {
      ok_runs.push_back(std::move(r));
    }
  }
  const bool report = !ok_runs.empty() && ok_runs[0].name == "vecstream";
  if (report) print_report(ok_runs, *plan, opt.k);
  if (!opt.csv.empty() && report) {
    Status s = write_csv(opt.csv, ok_runs);
    if (!s.is_ok()) return fail(s);
    std::printf("csv written to %s\n", opt.csv.c_str());
  }

  if (opt.crash_cycles > 0) {
    std::printf("\n== Crash mode: kill -9 / recover / verify (the loop of "
                "tests/segment/crash_test.cc) on the runbook's batches ==\n");
    CrashReport rep;
    Status s = run_crash(work->path() + "/crash", *config, *plan, ds, opt.crash_cycles, &rep);
    if (!s.is_ok()) return fail(s);
    std::printf("cycles: %zu | acknowledged batches checked: %zu (%zu points) | id checks: %zu | "
                "failures: %zu\n",
                rep.cycles, rep.acked_batches, rep.acked_points, rep.checked_ids, rep.failures);
    std::printf("recovery (open, WAL replay, no background threads): p50 %.0f ms, max %.0f ms | "
                "fsync %s, child killed 20-500 ms after it opened\n",
                percentile(rep.recover_ms, 0.5),
                rep.recover_ms.empty() ? 0.0
                                       : *std::max_element(rep.recover_ms.begin(), rep.recover_ms.end()),
                opt.fsync.c_str());
    for (const std::string& m : rep.messages) std::printf("  FAILURE %s\n", m.c_str());
    if (rep.failures > 0 || rep.cycles < opt.crash_cycles) rc = 1;
  }
  return rc;
}

// ---------------------------------------------------------------------------------------------
// The `stream-runbook` command.

struct RunbookGenOptions {
  SlidingRunbookParams p;
  std::string search = "each";
  std::string out = "-";
  std::string check;
};

int run_stream_runbook(const RunbookGenOptions& o, const std::vector<std::string>& argv_echo) {
  if (!o.check.empty()) {
    std::string note;
    auto rb = load_runbook(o.check, o.p.dataset, &note);
    if (!rb) return fail(rb.status());
    if (!note.empty()) std::printf("note: %s\n", note.c_str());
    auto s = simulate_runbook(*rb, o.p.rows);
    if (!s) return fail(s.status());
    std::printf("runbook %s: OK for '%s' on %llu rows\n", o.check.c_str(), rb->dataset.c_str(),
                static_cast<unsigned long long>(o.p.rows));
    print_runbook_summary(*rb, *s, "  ");
    return 0;
  }
  SlidingRunbookParams p = o.p;
  p.search_after_each = o.search == "each";
  auto rb = sliding_window_runbook(p);
  if (!rb) return fail(rb.status());
  std::string cmd = "vecstream-bench stream-runbook";
  for (const std::string& a : argv_echo) cmd += " " + a;
  const std::string text = runbook_to_yaml(
      *rb, {"Streaming runbook (big-ann-benchmarks format) for vecstream-bench stream.",
            "Generated by: " + cmd});
  // Self-check: what we write must read back to the same plan and pass the checks.
  auto back = parse_runbook(text, "(generated)", p.dataset);
  if (!back) return fail(back.status());
  if (back->steps.size() != rb->steps.size() || back->max_pts != rb->max_pts) {
    return fail(Status::internal("stream-runbook: the YAML does not read back to the same runbook"));
  }
  auto s = simulate_runbook(*back, p.rows);
  if (!s) return fail(s.status());
  if (o.out.empty() || o.out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::ofstream f(o.out, std::ios::binary);
    f << text;
    f.flush();
    if (!f) return fail(Status::io_error("cannot write " + o.out));
    std::printf("wrote %s\n", o.out.c_str());
    print_runbook_summary(*back, *s, "  ");
  }
  return 0;
}

/// Runs a command body; ends the parse with its exit status (see stream_bench.h).
template <typename F>
[[noreturn]] void finish_with(F&& body) {
  int rc = 1;
  try {
    rc = body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vecstream-bench: %s\n", e.what());
    rc = 1;
  }
  std::fflush(stdout);
  throw CLI::RuntimeError(rc);
}

}  // namespace

void add_stream_commands(CLI::App& app) {
  auto opt = std::make_shared<StreamOptions>();
  CLI::App* s = app.add_subcommand(
      "stream", "Streaming benchmark: a big-ann-benchmarks runbook (inserts, deletes, replaces, "
                "searches) against a Collection and hnswlib, with queries and freshness probes "
                "while ingesting");
  s->add_option("--runbook", opt->runbook,
                "runbook YAML (big-ann-benchmarks streaming format); default: " +
                    std::string(kDefaultRunbookName) +
                    " (synthetic data: a generated sliding window)");
  s->add_option("--dataset", opt->dataset, "fashion-mnist or synthetic")
      ->check(CLI::IsMember({"fashion-mnist", "synthetic"}))
      ->capture_default_str();
  s->add_option("--data-dir", opt->data_dir, "fashion-mnist: folder of the idx3 .gz files")
      ->capture_default_str();
  CLI::Option* o_n =
      s->add_option("--synthetic-n", opt->synthetic_n, "synthetic: base vectors")
          ->capture_default_str();
  CLI::Option* o_dim = s->add_option("--dim", opt->dim, "synthetic: dimension")->capture_default_str();
  s->add_option("--queries", opt->queries,
                "queries per search step: the first N test queries (0 = all; synthetic: "
                "generated, default 1000)")
      ->capture_default_str();
  s->add_option("--k", opt->k, "neighbours per query (recall@k)")->capture_default_str();
  s->add_option("--ef", opt->ef, "HNSW search beam width, every engine")
      ->check(CLI::Range(size_t{1}, size_t{65536}))
      ->capture_default_str();
  s->add_option("--m", opt->m, "HNSW links per node, every engine")
      ->check(CLI::Range(size_t{4}, size_t{128}))
      ->capture_default_str();
  s->add_option("--ef-construction", opt->ef_construction, "HNSW build beam width, every engine")
      ->check(CLI::Range(size_t{8}, size_t{4096}))
      ->capture_default_str();
  s->add_flag("--quantized", opt->quantized,
              "Vecstream HNSW walks on 8-bit codes (searches and inserts) and re-scores with floats");
  s->add_option("--index", opt->index, "Vecstream index kind: hnsw or flat (exact scan)")
      ->check(CLI::IsMember({"hnsw", "flat"}))
      ->capture_default_str();
  s->add_option("--shards", opt->shards, "Vecstream shards")
      ->check(CLI::Range(size_t{1}, size_t{1024}))
      ->capture_default_str();
  s->add_option("--seal-rows", opt->seal_rows, "Vecstream growing segment capacity")
      ->check(CLI::Range(size_t{16}, size_t{1} << 26))
      ->capture_default_str();
  s->add_option("--batch", opt->batch, "points per upsert / delete call")->capture_default_str();
  s->add_option("--threads", opt->threads,
                "index insertion threads: Vecstream index.build_threads, hnswlib addPoint "
                "workers per batch")
      ->check(CLI::Range(size_t{1}, size_t{256}))
      ->capture_default_str();
  s->add_option("--dir", opt->dir, "data folder (kept); default: a temporary one, removed at "
                                   "the end");
  s->add_option("--peers", opt->peers,
                "none, hnswlib, or all (= hnswlib: FAISS has no HNSW deletes, see the output)")
      ->check(CLI::IsMember({"none", "hnswlib", "all"}))
      ->capture_default_str();
  s->add_option("--csv", opt->csv, "also write every figure to this CSV file "
                                   "(engine,section,step,metric,value)");
  s->add_option("--fsync", opt->fsync, "Vecstream WAL fsync policy: always, interval or none")
      ->check(CLI::IsMember({"always", "interval", "none"}))
      ->capture_default_str();
  s->add_option("--crash-cycles", opt->crash_cycles,
                "then run N kill -9 / recover / verify cycles on the runbook's batches")
      ->capture_default_str();
  s->add_option("--probe-ms", opt->probe_ms, "interval between freshness probes")
      ->check(CLI::Range(1u, 60000u))
      ->capture_default_str();
  s->callback([opt, o_n, o_dim] {
    finish_with([&] {
      for (const CLI::Option* o : {o_n, o_dim}) {
        if (opt->dataset != "synthetic" && o->count() > 0) {
          return fail(Status::invalid_argument(o->get_name() +
                                               " applies to --dataset synthetic only"));
        }
      }
      return run_stream(*opt);
    });
  });

  auto gen = std::make_shared<RunbookGenOptions>();
  CLI::App* g = app.add_subcommand(
      "stream-runbook", "Write a sliding-window streaming runbook (YAML), or --check one");
  g->add_option("--rows", gen->p.rows, "rows of the data set (also the size --check assumes)")
      ->capture_default_str();
  g->add_option("--chunk", gen->p.chunk, "rows per insert step")->capture_default_str();
  g->add_option("--window", gen->p.window, "live points kept; the oldest beyond it are deleted")
      ->capture_default_str();
  g->add_option("--replace-every", gen->p.replace_every,
                "every N-th round replaces chunk/5 points mid-window (0 = never)")
      ->capture_default_str();
  g->add_option("--reinsert-every", gen->p.reinsert_every,
                "every N-th round re-inserts chunk/5 deleted rows (0 = never)")
      ->capture_default_str();
  g->add_option("--search", gen->search, "each (after every mutation) or round (once per round)")
      ->check(CLI::IsMember({"each", "round"}))
      ->capture_default_str();
  g->add_option("--name", gen->p.dataset, "data set name (the top-level key)")
      ->capture_default_str();
  g->add_option("--out", gen->out, "output file ('-' = stdout)")->capture_default_str();
  g->add_option("--check", gen->check, "check this runbook instead (against --rows rows and "
                                       "the entry --name) and print what it does");
  g->callback([gen, g] {
    std::vector<std::string> echo;
    for (const CLI::Option* o : g->get_options()) {
      if (o->count() == 0 || o->get_name() == "--out" || o->get_name() == "--help") continue;
      echo.push_back(o->get_name() + " " + o->as<std::string>());
    }
    finish_with([&] { return run_stream_runbook(*gen, echo); });
  });
}

}  // namespace vecstream::bench
