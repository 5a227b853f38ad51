// vecstream-bench: the ANN benchmark program.
//
//   vecstream-bench ann [options]      (also reached as `vecstream bench ann [options]`)
//
// Builds Vecstream's HnswIndex and the peers (hnswlib, FAISS IndexHNSWFlat) with the same M and
// efConstruction on the same data, then sweeps the search beam width ef and reports, per engine:
// build time and throughput, recall@k against exact ground truth, single-thread QPS (median of
// --runs) and latency, QPS at recall 0.95 / 0.99, and memory per vector, with Vecstream ÷ peer
// ratios.
//
// Then the quantized and partitioned kinds (--kinds: IVF-Flat, IVF-SQ8, IVF-PQ, IVF-PQ fast scan
// + rerank, RP-forest, SQ8-flat), one family at a time: Vecstream's index and FAISS's equivalent
// built with the same nlist / k-means iterations / PQ shape, swept over nprobe (x rerank factor)
// or search_k, and reported the same way plus training time, code bytes per vector and the
// issue's targets. A family's engines are freed before the next family is built.
//
// Timing rules: builds run one after another, each alone; searches never overlap. For each ef,
// every engine gets one untimed warm-up pass, then the engines' timed passes are interleaved
// (run 1 of each, run 2 of each, ...) so background load on a shared machine hits all alike.
// Queries go one at a time on one thread, timed with std::chrono::steady_clock; results land in a
// preallocated array and are scored after the timed loop.
#include <CLI/CLI.hpp>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/distance.h"
#include "core/metric.h"
#include "core/status.h"
#include "dataset.h"
#include "ground_truth.h"
#include "peers.h"
#include "report.h"
#include "kafka_bench.h"
#include "serve_bench.h"
#include "stream_bench.h"

namespace vecstream::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxWarmupQueries = 1000;
constexpr double kRecallTargets[] = {0.95, 0.99};

struct AnnOptions {
  std::string dataset = "fashion-mnist";
  size_t n = 100000;
  size_t nq = 1000;
  size_t d = 128;
  size_t clusters = 100;
  uint64_t seed = 42;
  float sigma = 0.25f;
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  size_t max_base = 0;
  size_t max_queries = 0;
  size_t M = 16;
  size_t ef_construction = 200;
  std::string ef_list = "10,16,24,32,48,64,96,128,192,256";
  size_t k = 10;
  size_t build_threads = std::max(1u, std::thread::hardware_concurrency());
  std::string peers = "hnswlib,faiss";
  size_t runs = 3;
  std::string cache_dir = "./.cache/vecstream";
  bool quantized = false;
  std::string csv;
  // Quantized and partitioned kinds.
  std::string kinds = "all";
  size_t nlist = 1024;
  /// ivf_pq_fs only (0 = nlist): fast scan wants long lists (BENCHMARKS.md, 2026-12-07).
  size_t fs_nlist = 128;
  size_t kmeans_iterations = 20;
  size_t pq_m = 196;
  size_t n_trees = 32;
  std::string nprobe_list = "1,2,4,8,16,32,64";
  std::string rerank_list = "5,10";
  std::string search_k_list = "1000,2000,5000,10000,20000,40000";
  size_t flat_queries = 1000;
  bool quick = false;
};

/// The HNSW section's kind name in --kinds.
constexpr char kHnswKind[] = "hnsw";
constexpr IndexKind kAllIndexKinds[] = {IndexKind::kIvfFlat,       IndexKind::kIvfSq8,
                                        IndexKind::kIvfPq,         IndexKind::kIvfPqFastScan,
                                        IndexKind::kRpForest,      IndexKind::kSq8Flat};

/// One point of a sweep: the knobs, how the tables print them, and its series (points of one
/// series are ordered by cost, so that neighbours may be interpolated between; HNSW: one series).
struct SweepSpec {
  SearchKnobs knobs;
  std::string label;
  int series = 0;
};

struct SweepPoint {
  size_t ef = 0;
  SearchKnobs knobs;
  std::string label;
  int series = 0;
  double recall = 0.0;
  double qps = 0.0;          // median over runs
  double mean_us = 0.0;      // mean per-query latency of the median run
  double p50_us = 0.0;
  double p99_us = 0.0;
};

struct EngineResult {
  std::string name;
  std::string describe;
  bool built = false;  // build() succeeded
  bool ok = false;     // build() and every sweep point succeeded
  std::string error;
  double build_seconds = 0.0;
  std::optional<double> train_seconds;
  size_t memory_bytes = 0;
  size_t code_bytes = 0;
  std::vector<SweepPoint> sweep;
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

/// A comma-separated list of positive integers, sorted and deduplicated; `option` names it in
/// errors.
Result<std::vector<size_t>> parse_size_list(const std::string& s, const std::string& option) {
  std::vector<size_t> efs;
  for (const std::string& item : split_list(s)) {
    size_t pos = 0;
    unsigned long long v = 0;
    try {
      v = std::stoull(item, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != item.size() || v == 0 || item[0] == '-') {
      return Status::invalid_argument(option + ": '" + item + "' is not a positive integer");
    }
    efs.push_back(static_cast<size_t>(v));
  }
  if (efs.empty()) return Status::invalid_argument(option + ": empty list");
  std::sort(efs.begin(), efs.end());
  efs.erase(std::unique(efs.begin(), efs.end()), efs.end());
  return efs;
}

Result<std::vector<size_t>> parse_ef_list(const std::string& s) {
  return parse_size_list(s, "--ef");
}

/// --rerank: factors >= 1, sorted and deduplicated.
Result<std::vector<float>> parse_rerank_list(const std::string& s) {
  std::vector<float> out;
  for (const std::string& item : split_list(s)) {
    size_t pos = 0;
    float v = 0.0f;
    try {
      v = std::stof(item, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != item.size() || !std::isfinite(v) || v < 1.0f) {
      return Status::invalid_argument("--rerank: '" + item + "' is not a number >= 1");
    }
    out.push_back(v);
  }
  if (out.empty()) return Status::invalid_argument("--rerank: empty list");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

/// --kinds: "all" or a list of hnsw and the quantized kinds. Sets *hnsw and returns the others
/// in the fixed order of kAllIndexKinds.
Result<std::vector<IndexKind>> parse_kinds(const std::string& s, bool* hnsw) {
  const std::vector<std::string> items = split_list(s);
  const bool all = items.size() == 1 && items[0] == "all";
  *hnsw = all;
  std::vector<IndexKind> kinds;
  for (const std::string& item : items) {
    if (all) break;
    if (item == kHnswKind) {
      *hnsw = true;
      continue;
    }
    bool known = false;
    for (IndexKind k : kAllIndexKinds) known = known || item == index_kind_name(k);
    if (!known) {
      std::string names = kHnswKind;
      for (IndexKind k : kAllIndexKinds) names += std::string(", ") + index_kind_name(k);
      return Status::invalid_argument("--kinds: unknown kind '" + item + "' (known: all, " +
                                      names + ")");
    }
  }
  for (IndexKind k : kAllIndexKinds) {
    if (all || std::find(items.begin(), items.end(), index_kind_name(k)) != items.end()) {
      kinds.push_back(k);
    }
  }
  if (!*hnsw && kinds.empty()) return Status::invalid_argument("--kinds: empty list");
  return kinds;
}

Result<std::vector<std::string>> parse_peers(const std::string& s) {
  std::vector<std::string> peers;
  for (const std::string& p : split_list(s)) {
    if (p == "none") continue;
    if (p != "hnswlib" && p != "faiss") {
      return Status::invalid_argument("--peers: unknown peer '" + p +
                                      "' (known: hnswlib, faiss, none)");
    }
    if (std::find(peers.begin(), peers.end(), p) == peers.end()) peers.push_back(p);
  }
  return peers;
}

/// Mean over queries of |returned ∩ true top-k| / k.
double recall_at_k(const std::vector<Id>& results, const GroundTruth& gt, size_t nq, size_t k) {
  std::vector<Id> truth(k);
  size_t hits = 0;
  for (size_t q = 0; q < nq; ++q) {
    std::copy(gt.row(q), gt.row(q) + k, truth.begin());
    std::sort(truth.begin(), truth.end());
    const Id* got = results.data() + q * k;
    for (size_t j = 0; j < k; ++j) {
      if (got[j] != kNoId && std::binary_search(truth.begin(), truth.end(), got[j])) ++hits;
    }
  }
  return static_cast<double>(hits) / static_cast<double>(nq * k);
}


/// One timed pass over all queries, one at a time: per-query latency and the pass's QPS.
struct TimedPass {
  double qps = 0.0;
  std::vector<double> latency_us;
};

/// An engine under test: its runner, its report and its result buffer (preallocated, so the
/// timed loop only writes ids; they are scored after the loop).
struct Engine {
  std::unique_ptr<AnnRunner> runner;
  EngineResult res;
  std::vector<Id> results;
  std::vector<TimedPass> passes;  // of the current ef
};

/// Times queries 0..nq-1 of ds.
Status timed_pass(Engine& e, const Dataset& ds, size_t nq, size_t k) {
  TimedPass pass;
  pass.latency_us.resize(nq);
  const auto t0 = Clock::now();
  auto prev = t0;
  for (size_t q = 0; q < nq; ++q) {
    Status s = e.runner->search(ds.queries.data() + q * ds.d, k, e.results.data() + q * k);
    const auto now = Clock::now();
    if (!s.is_ok()) return s;
    pass.latency_us[q] = std::chrono::duration<double, std::micro>(now - prev).count();
    prev = now;
  }
  pass.qps = static_cast<double>(nq) / seconds_between(t0, Clock::now());
  e.passes.push_back(std::move(pass));
  return Status::ok();
}

/// The median pass by QPS (upper median for an even count) gives the reported numbers; the ids
/// of the last pass give the recall.
SweepPoint summarize(Engine& e, const GroundTruth& gt, size_t nq, size_t k,
                     const SweepSpec& spec) {
  std::sort(e.passes.begin(), e.passes.end(),
            [](const TimedPass& a, const TimedPass& b) { return a.qps < b.qps; });
  const TimedPass& median = e.passes[e.passes.size() / 2];
  SweepPoint p;
  p.ef = spec.knobs.ef;
  p.knobs = spec.knobs;
  p.label = spec.label;
  p.series = spec.series;
  p.qps = median.qps;
  double sum = 0.0;
  for (double v : median.latency_us) sum += v;
  p.mean_us = sum / static_cast<double>(median.latency_us.size());
  p.p50_us = percentile(median.latency_us, 0.50);
  p.p99_us = percentile(median.latency_us, 0.99);
  p.recall = recall_at_k(e.results, gt, nq, k);
  e.passes.clear();
  return p;
}

void fail_engine(Engine& e, const std::string& what) {
  e.res.error = what;
  e.res.ok = false;
  e.runner.reset();  // frees its memory; it takes no further part
}

/// Builds every engine, one at a time (each build has the machine to itself), then sweeps the
/// points (queries 0..nq-1). For each point, every engine gets its warm-up pass, then the timed
/// passes are interleaved (run 1 of every engine, then run 2, ...), so that a slow drift in
/// background load on a shared machine lands on all engines alike instead of on whichever
/// happened to run at the time.
void run_engines(std::vector<Engine>& engines, const Dataset& ds, const GroundTruth& gt,
                 const AnnOptions& opt, const std::vector<SweepSpec>& points, size_t nq,
                 const char* knob_name) {
  for (Engine& e : engines) {
    e.res.name = e.runner->name();
    std::fprintf(stderr, "[%s] building (%zu vectors, %zu threads)...\n", e.res.name.c_str(), ds.n,
                 opt.build_threads);
    const auto t0 = Clock::now();
    Status s = e.runner->build(ds.base.data(), ds.n, ds.d, opt.build_threads);
    e.res.build_seconds = seconds_between(t0, Clock::now());
    e.res.train_seconds = e.runner->train_seconds();
    e.res.describe = e.runner->describe();
    if (!s.is_ok()) {
      fail_engine(e, "build failed: " + s.to_string());
      continue;
    }
    e.res.built = true;
    e.res.ok = true;
    e.res.memory_bytes = e.runner->memory_bytes();
    e.res.code_bytes = e.runner->code_bytes();
    e.results.assign(nq * opt.k, kNoId);
    std::fprintf(stderr, "[%s] built in %.2f s\n", e.res.name.c_str(), e.res.build_seconds);
  }

  const size_t warmup = std::min(nq, kMaxWarmupQueries);
  std::fprintf(stderr, "sweeping %s:", knob_name);
  for (const SweepSpec& point : points) {
    const std::string at = std::string(knob_name) + "=" + point.label;
    std::fprintf(stderr, " %s", point.label.c_str());
    std::fflush(stderr);
    for (Engine& e : engines) {
      if (!e.runner) continue;
      e.runner->set_knobs(point.knobs);
      for (size_t q = 0; q < warmup; ++q) {
        Status s = e.runner->search(ds.queries.data() + q * ds.d, opt.k,
                                    e.results.data() + q * opt.k);
        if (!s.is_ok()) {
          fail_engine(e, "search failed at " + at + ": " + s.to_string());
          break;
        }
      }
    }
    for (size_t r = 0; r < opt.runs; ++r) {
      for (Engine& e : engines) {
        if (!e.runner) continue;
        Status s = timed_pass(e, ds, nq, opt.k);
        if (!s.is_ok()) fail_engine(e, "search failed at " + at + ": " + s.to_string());
      }
    }
    for (Engine& e : engines) {
      if (e.runner) e.res.sweep.push_back(summarize(e, gt, nq, opt.k, point));
    }
  }
  std::fprintf(stderr, "\n");
}

/// Highest measured QPS among sweep points with recall >= target.
std::optional<SweepPoint> best_at(const EngineResult& e, double target) {
  std::optional<SweepPoint> best;
  for (const SweepPoint& p : e.sweep) {
    if (p.recall >= target && (!best || p.qps > best->qps)) best = p;
  }
  return best;
}

/// The best of: measured points at or above target, and log-QPS linear interpolation in recall
/// between consecutive sweep points (by ef; by nprobe within one rerank factor) that bracket the
/// target.
std::optional<double> interpolated_at(const EngineResult& e, double target) {
  std::optional<double> best;
  auto consider = [&](double qps) {
    if (!best || qps > *best) best = qps;
  };
  for (const SweepPoint& p : e.sweep) {
    if (p.recall >= target) consider(p.qps);
  }
  for (size_t i = 0; i + 1 < e.sweep.size(); ++i) {
    const SweepPoint& lo = e.sweep[i];
    const SweepPoint& hi = e.sweep[i + 1];
    if (lo.series == hi.series && lo.recall < target && hi.recall >= target &&
        hi.recall > lo.recall) {
      const double t = (target - lo.recall) / (hi.recall - lo.recall);
      consider(std::exp(std::log(lo.qps) + t * (std::log(hi.qps) - std::log(lo.qps))));
    }
  }
  return best;
}


std::string ratio_str(std::optional<double> num, std::optional<double> den) {
  if (!num || !den || *den <= 0.0) return "n/a";
  return fmt("%.2fx", *num / *den);
}

void print_rule(size_t width) { std::printf("%s\n", std::string(width, '-').c_str()); }

void print_report(const AnnOptions& opt, const Dataset& ds, const std::vector<EngineResult>& rs) {
  const EngineResult& vs = rs.front();  // Vecstream always runs first

  std::printf("\n== Build (%zu threads) ==\n", opt.build_threads);
  std::printf("%-10s %10s %14s %18s\n", "engine", "build s", "vectors/s", "vecstream ÷ engine");
  print_rule(55);
  const std::optional<double> vs_vps =
      vs.built ? std::optional(static_cast<double>(ds.n) / vs.build_seconds) : std::nullopt;
  for (const EngineResult& e : rs) {
    if (!e.built) {
      std::printf("%-10s %s\n", e.name.c_str(), e.error.c_str());
      continue;
    }
    const double vps = static_cast<double>(ds.n) / e.build_seconds;
    std::printf("%-10s %10.2f %14.0f %18s\n", e.name.c_str(), e.build_seconds, vps,
                ratio_str(vs_vps, vps).c_str());
  }

  for (const EngineResult& e : rs) {
    std::printf("\n== Search sweep: %s (k=%zu, 1 search thread, queries one at a time, median "
                "QPS of %zu run%s) ==\n",
                e.name.c_str(), opt.k, opt.runs, opt.runs == 1 ? "" : "s");
    std::printf("%6s %10s %12s %10s %10s %10s\n", "ef", "recall@k", "QPS", "mean µs", "p50 µs",
                "p99 µs");
    print_rule(63);
    for (const SweepPoint& p : e.sweep) {
      std::printf("%6zu %10.4f %12.0f %10.1f %10.1f %10.1f\n", p.ef, p.recall, p.qps, p.mean_us,
                  p.p50_us, p.p99_us);
    }
    if (!e.ok) std::printf("(%s)\n", e.error.c_str());
  }

  std::printf("\n== QPS at recall target (measured: highest QPS among sweep points reaching the "
              "target;\n   interp.: log-QPS linear interpolation between the two sweep points "
              "bracketing it) ==\n");
  std::printf("%-10s", "engine");
  for (double t : kRecallTargets) {
    std::printf(" %14s %6s %12s", fmt("QPS@%.2f", t).c_str(), "(ef)", "interp.");
  }
  std::printf("\n");
  print_rule(10 + 35 * std::size(kRecallTargets));
  for (const EngineResult& e : rs) {
    std::printf("%-10s", e.name.c_str());
    for (double t : kRecallTargets) {
      const auto b = best_at(e, t);
      const auto in = interpolated_at(e, t);
      std::printf(" %14s %6s %12s", b ? fmt("%.0f", b->qps).c_str() : "n/a",
                  b ? ("(" + std::to_string(b->ef) + ")").c_str() : "",
                  in ? fmt("%.0f", *in).c_str() : "n/a");
    }
    std::printf("\n");
  }
  for (size_t i = 1; i < rs.size(); ++i) {
    std::printf("%-22s", ("vecstream ÷ " + rs[i].name).c_str());
    for (double t : kRecallTargets) {
      const auto vb = best_at(vs, t);
      const auto pb = best_at(rs[i], t);
      std::printf("  @%.2f measured %7s, interp. %7s", t,
                  ratio_str(vb ? std::optional(vb->qps) : std::nullopt,
                            pb ? std::optional(pb->qps) : std::nullopt)
                      .c_str(),
                  ratio_str(interpolated_at(vs, t), interpolated_at(rs[i], t)).c_str());
    }
    std::printf("\n");
  }

  std::printf("\n== Memory per vector (raw float vector = %zu bytes) ==\n", ds.d * sizeof(float));
  std::printf("%-10s %14s %14s %12s %18s\n", "engine", "bytes/vector", "over raw", "total MiB",
              "vecstream ÷ engine");
  print_rule(72);
  const double vs_bpv = static_cast<double>(vs.memory_bytes) / static_cast<double>(ds.n);
  for (const EngineResult& e : rs) {
    if (!e.built || e.memory_bytes == 0) {
      std::printf("%-10s %14s\n", e.name.c_str(), "n/a");
      continue;
    }
    const double bpv = static_cast<double>(e.memory_bytes) / static_cast<double>(ds.n);
    std::printf("%-10s %14.1f %14.1f %12.1f %18s\n", e.name.c_str(), bpv,
                bpv - static_cast<double>(ds.d * sizeof(float)),
                static_cast<double>(e.memory_bytes) / (1024.0 * 1024.0),
                ratio_str(vs.built && vs.memory_bytes > 0 ? std::optional(vs_bpv) : std::nullopt,
                          bpv)
                    .c_str());
  }
  std::printf("memory counted: vecstream = HnswIndex::memory_bytes(); hnswlib = level-0 block "
              "(links+vector+label)\n  + upper-level links + per-node pointer/level/lock + "
              "label map (estimated); faiss = flat storage + neighbors + offsets + levels.\n");
}

// ---- Quantized and partitioned kinds ------------------------------------------------------------

/// One kind's run: Vecstream's index and its FAISS peer (if any) on the same sweep.
struct FamilyResult {
  IndexKind kind;
  size_t nlist = 0;       // IVF kinds: the inverted lists both engines were built with
  std::string knob_name;  // how the sweep labels read ("nprobe", "nprobe x rerank", ...)
  size_t nq = 0;          // queries timed and scored
  std::vector<EngineResult> engines;  // vecstream first
};

/// The sweep of a kind: nprobe (IVF), nprobe x rerank factor (fast scan: one series per factor),
/// search_k (RP-forest), a single point (SQ8-flat).
std::vector<SweepSpec> sweep_for(IndexKind kind, const std::vector<size_t>& nprobes,
                                 const std::vector<float>& reranks,
                                 const std::vector<size_t>& search_ks, std::string* knob_name) {
  std::vector<SweepSpec> points;
  switch (kind) {
    case IndexKind::kIvfFlat:
    case IndexKind::kIvfSq8:
    case IndexKind::kIvfPq:
      *knob_name = "nprobe";
      for (size_t np : nprobes) {
        SweepSpec sp;
        sp.knobs.nprobe = np;
        sp.label = std::to_string(np);
        points.push_back(sp);
      }
      break;
    case IndexKind::kIvfPqFastScan:
      *knob_name = "nprobe x rerank";
      for (size_t r = 0; r < reranks.size(); ++r) {
        for (size_t np : nprobes) {
          SweepSpec sp;
          sp.knobs.nprobe = np;
          sp.knobs.rerank_factor = reranks[r];
          sp.label = std::to_string(np) + " x" + fmt("%g", reranks[r]);
          sp.series = static_cast<int>(r);
          points.push_back(sp);
        }
      }
      break;
    case IndexKind::kRpForest:
      *knob_name = "search_k";
      for (size_t sk : search_ks) {
        SweepSpec sp;
        sp.knobs.search_k = sk;
        sp.label = std::to_string(sk);
        points.push_back(sp);
      }
      break;
    case IndexKind::kSq8Flat: {
      *knob_name = "(exhaustive)";
      SweepSpec sp;
      sp.label = "-";
      points.push_back(sp);
      break;
    }
  }
  return points;
}

std::vector<FamilyResult> run_quantized(const AnnOptions& opt, const Dataset& ds,
                                        const GroundTruth& gt, const std::vector<IndexKind>& kinds,
                                        const std::vector<size_t>& nprobes,
                                        const std::vector<float>& reranks,
                                        const std::vector<size_t>& search_ks, bool with_faiss) {
  QuantParams q;
  q.nlist = opt.nlist;
  q.kmeans_iterations = opt.kmeans_iterations;
  q.pq_m = opt.pq_m;
  q.n_trees = opt.n_trees;
  q.seed = 42;
  std::vector<FamilyResult> out;
  for (IndexKind kind : kinds) {
    FamilyResult fam;
    fam.kind = kind;
    QuantParams qk = q;
    if (kind == IndexKind::kIvfPqFastScan && opt.fs_nlist != 0) qk.nlist = opt.fs_nlist;
    fam.nlist = qk.nlist;
    const std::vector<SweepSpec> points = sweep_for(kind, nprobes, reranks, search_ks,
                                                    &fam.knob_name);
    fam.nq = kind == IndexKind::kSq8Flat ? std::min(ds.nq, opt.flat_queries) : ds.nq;
    std::vector<Engine> engines;
    engines.push_back(Engine{make_vecstream_index_runner(kind, qk), {}, {}, {}});
    if (with_faiss) {
      if (auto peer = make_faiss_index_runner(kind, qk)) {
        engines.push_back(Engine{std::move(peer), {}, {}, {}});
      }
    }
    std::fprintf(stderr, "== %s ==\n", index_kind_name(kind));
    run_engines(engines, ds, gt, opt, points, fam.nq, fam.knob_name.c_str());
    for (Engine& e : engines) fam.engines.push_back(std::move(e.res));
    out.push_back(std::move(fam));
  }
  return out;
}

std::string opt_fmt(const char* f, std::optional<double> v) { return v ? fmt(f, *v) : "n/a"; }

void print_family(const AnnOptions& opt, const Dataset& ds, const FamilyResult& fam) {
  const double raw = static_cast<double>(ds.d * sizeof(float));
  std::printf("\n== %s (k=%zu, 1 search thread, queries one at a time, %zu queries, median QPS "
              "of %zu run%s) ==\n",
              index_kind_name(fam.kind), opt.k, fam.nq, opt.runs, opt.runs == 1 ? "" : "s");
  for (const EngineResult& e : fam.engines) {
    std::printf("  %-10s %s\n", e.name.c_str(), e.describe.c_str());
  }
  if (fam.kind == IndexKind::kRpForest) {
    std::printf("  (no peer: FAISS has no random-projection forest, and Annoy has no Debian "
                "package)\n");
  }
  std::printf("%-10s %9s %9s %11s %13s %11s %11s %10s\n", "engine", "train s", "build s",
              "vectors/s", "bytes/vector", "code B/vec", "code/raw", "total MiB");
  print_rule(90);
  for (const EngineResult& e : fam.engines) {
    if (!e.built) {
      std::printf("%-10s %s\n", e.name.c_str(), e.error.c_str());
      continue;
    }
    std::printf("%-10s %9s %9.2f %11.0f %13.1f %11zu %11s %10.1f\n", e.name.c_str(),
                opt_fmt("%.2f", e.train_seconds).c_str(), e.build_seconds,
                static_cast<double>(ds.n) / e.build_seconds,
                static_cast<double>(e.memory_bytes) / static_cast<double>(ds.n), e.code_bytes,
                e.code_bytes ? ("1/" + fmt("%.1f", raw / static_cast<double>(e.code_bytes))).c_str()
                             : "-",
                static_cast<double>(e.memory_bytes) / (1024.0 * 1024.0));
  }

  // Sweep side by side: each engine's recall, QPS, p50, p99, then vecstream ÷ peer QPS.
  std::printf("%-16s", fam.knob_name.c_str());
  for (const EngineResult& e : fam.engines) {
    std::printf(" | %-9s %8s %8s %8s", e.name.c_str(), "QPS", "p50 µs", "p99 µs");
  }
  if (fam.engines.size() > 1) std::printf(" | %8s", "QPS ÷");
  std::printf("\n%-16s", "");
  for (size_t i = 0; i < fam.engines.size(); ++i) {
    std::printf(" | %-9s %8s %8s %8s", "recall@k", "", "", "");
  }
  std::printf("\n");
  print_rule(16 + 39 * fam.engines.size() + (fam.engines.size() > 1 ? 11 : 0));
  const size_t rows = fam.engines.front().sweep.size();
  for (size_t r = 0; r < rows; ++r) {
    std::printf("%-16s", fam.engines.front().sweep[r].label.c_str());
    for (const EngineResult& e : fam.engines) {
      if (r < e.sweep.size()) {
        const SweepPoint& p = e.sweep[r];
        std::printf(" | %-9.4f %8.0f %8.1f %8.1f", p.recall, p.qps, p.p50_us, p.p99_us);
      } else {
        std::printf(" | %-9s %8s %8s %8s", "-", "-", "-", "-");
      }
    }
    if (fam.engines.size() > 1 && r < fam.engines[1].sweep.size()) {
      std::printf(" | %7.2fx", fam.engines[0].sweep[r].qps / fam.engines[1].sweep[r].qps);
    }
    std::printf("\n");
  }
  for (const EngineResult& e : fam.engines) {
    if (!e.ok) std::printf("(%s: %s)\n", e.name.c_str(), e.error.c_str());
  }
}

/// "12345 (8 x10)" or "n/a".
std::string best_str(const EngineResult& e, double target) {
  const auto b = best_at(e, target);
  return b ? fmt("%.0f", b->qps) + " (" + b->label + ")" : "n/a";
}

void print_quantized_summary(const AnnOptions& opt, const Dataset& ds,
                             const std::vector<FamilyResult>& fams) {
  std::printf("\n== Quantized and partitioned indexes: summary (QPS at recall@%zu, single thread; "
              "measured = best sweep point reaching it, (knobs);\n   interp. = log-QPS "
              "interpolation between bracketing sweep points; bytes/vector = everything the "
              "index holds) ==\n",
              opt.k);
  std::printf("%-10s %-10s %18s %8s %18s %8s %10s %7s %8s %8s\n", "kind", "engine", "QPS@0.95",
              "interp.", "QPS@0.99", "interp.", "bytes/vec", "code B", "train s", "build s");
  print_rule(116);
  for (const FamilyResult& fam : fams) {
    for (const EngineResult& e : fam.engines) {
      std::printf("%-10s %-10s %18s %8s %18s %8s %10.1f %7zu %8s %8.2f\n",
                  index_kind_name(fam.kind), e.name.c_str(), best_str(e, 0.95).c_str(),
                  opt_fmt("%.0f", interpolated_at(e, 0.95)).c_str(), best_str(e, 0.99).c_str(),
                  opt_fmt("%.0f", interpolated_at(e, 0.99)).c_str(),
                  static_cast<double>(e.memory_bytes) / static_cast<double>(ds.n), e.code_bytes,
                  opt_fmt("%.2f", e.train_seconds).c_str(), e.build_seconds);
    }
    if (fam.engines.size() > 1) {
      const EngineResult& vs = fam.engines[0];
      const EngineResult& peer = fam.engines[1];
      auto qps_of = [](const std::optional<SweepPoint>& p) {
        return p ? std::optional(p->qps) : std::nullopt;
      };
      auto pos = [](double v) { return v > 0.0 ? std::optional(v) : std::nullopt; };
      std::printf("%-10s %-10s %18s %8s %18s %8s %10s %7s %8s %8s\n", index_kind_name(fam.kind),
                  "vs ÷ faiss",
                  ratio_str(qps_of(best_at(vs, 0.95)), qps_of(best_at(peer, 0.95))).c_str(),
                  ratio_str(interpolated_at(vs, 0.95), interpolated_at(peer, 0.95)).c_str(),
                  ratio_str(qps_of(best_at(vs, 0.99)), qps_of(best_at(peer, 0.99))).c_str(),
                  ratio_str(interpolated_at(vs, 0.99), interpolated_at(peer, 0.99)).c_str(),
                  ratio_str(pos(static_cast<double>(vs.memory_bytes)),
                            pos(static_cast<double>(peer.memory_bytes)))
                      .c_str(),
                  "",
                  ratio_str(vs.train_seconds, peer.train_seconds).c_str(),
                  ratio_str(pos(vs.build_seconds), pos(peer.build_seconds)).c_str());
    }
  }
  std::printf("(ratios: QPS vecstream ÷ faiss, higher is better for vecstream; bytes, train s, "
              "build s vecstream ÷ faiss, lower is better)\n");
  std::printf("rp_forest: no peer (FAISS has no random-projection forest; Annoy, whose structure "
              "it is, has no Debian package).\n");

  // The targets.
  std::printf("\n== Targets (issue: quantized and partitioned indexes) ==\n");
  for (const FamilyResult& fam : fams) {
    const EngineResult& vs = fam.engines.front();
    if (fam.kind == IndexKind::kIvfFlat && vs.train_seconds) {
      const bool shape = fam.nlist == 1024 && ds.n == 60000 && ds.d == 784;
      const bool two_cores = opt.build_threads <= 2;
      std::printf("IVF1024 training on 60k x 784 <= 10 s on 2 cores: ivf_flat coarse k-means "
                  "%.2f s (nlist=%zu, %zu iterations, n=%zu, d=%zu, %zu threads) -> %s\n",
                  *vs.train_seconds, fam.nlist, opt.kmeans_iterations, ds.n, ds.d,
                  opt.build_threads,
                  !(shape && two_cores) ? "n/a (not the target's shape / thread count)"
                  : *vs.train_seconds <= 10.0 ? "PASS"
                                              : "MISS");
    }
    if (fam.kind == IndexKind::kIvfPqFastScan) {
      const auto b = best_at(vs, 0.95);
      const auto in = interpolated_at(vs, 0.95);
      const bool small = vs.code_bytes * 8 <= ds.d * sizeof(float);
      std::printf("IVF-PQ fast scan + refine >= 16000 QPS at recall@%zu >= 0.95, codes <= 1/8 of "
                  "raw: measured %s, interp. %s at nlist=%zu; codes %zu B = 1/%.0f of raw -> %s\n",
                  opt.k, best_str(vs, 0.95).c_str(), opt_fmt("%.0f", in).c_str(), fam.nlist, vs.code_bytes,
                  static_cast<double>(ds.d * sizeof(float)) /
                      static_cast<double>(std::max<size_t>(vs.code_bytes, 1)),
                  b && b->qps >= 16000.0 && small ? "PASS" : "MISS");
    }
  }
}

Status write_csv(const std::string& path, const AnnOptions& opt, const Dataset& ds,
                 const std::vector<EngineResult>& rs, const std::vector<FamilyResult>& fams) {
  std::ofstream out(path);
  if (!out) return Status::io_error("cannot open --csv file " + path);
  out << "dataset,n,nq,d,M,ef_construction,k,engine,build_seconds,build_vectors_per_second,"
         "memory_bytes_per_vector,ef,recall,qps,mean_latency_us,p50_latency_us,p99_latency_us,"
         "runs,kind,nprobe,rerank_factor,search_k,train_seconds,code_bytes_per_vector\n";
  auto rows = [&](const char* kind, const std::vector<EngineResult>& engines, size_t nq) {
    for (const EngineResult& e : engines) {
      for (const SweepPoint& p : e.sweep) {
        out << ds.name << ',' << ds.n << ',' << nq << ',' << ds.d << ',' << opt.M << ','
            << opt.ef_construction << ',' << opt.k << ',' << e.name << ',' << e.build_seconds
            << ',' << static_cast<double>(ds.n) / e.build_seconds << ','
            << static_cast<double>(e.memory_bytes) / static_cast<double>(ds.n) << ',' << p.ef
            << ',' << p.recall << ',' << p.qps << ',' << p.mean_us << ',' << p.p50_us << ','
            << p.p99_us << ',' << opt.runs << ',' << kind << ',' << p.knobs.nprobe << ','
            << p.knobs.rerank_factor << ',' << p.knobs.search_k << ','
            << (e.train_seconds ? *e.train_seconds : 0.0) << ',' << e.code_bytes << '\n';
      }
    }
  };
  rows(kHnswKind, rs, ds.nq);
  for (const FamilyResult& f : fams) rows(index_kind_name(f.kind), f.engines, f.nq);
  out.flush();
  if (!out) return Status::io_error("error writing --csv file " + path);
  return Status::ok();
}

/// OpenBLAS's kernel set (k-means and ground truth are GEMM-bound), and a hint when it
/// under-detects an AVX-512 CPU: OpenBLAS 0.3.21 takes some AVX-512 EPYCs for Haswell.
void print_blas_note() {
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  const std::string core = openblas_get_corename();
  std::printf("openblas: core %s (OPENBLAS_CORETYPE=%s)\n", core.c_str(), env ? env : "unset");
  const bool avx512 = detected_simd_level() == SimdLevel::kAvx512;
  if (avx512 && core != "SkylakeX" && core != "Cooperlake" && core != "SapphireRapids") {
    std::printf("  warning: this CPU has AVX-512 but OpenBLAS uses its %s kernels; set "
                "OPENBLAS_CORETYPE=SkylakeX (bench/README.md)\n",
                core.c_str());
  }
}

int fail(const Status& s) {
  std::fprintf(stderr, "vecstream-bench: %s\n", s.to_string().c_str());
  return 1;
}

int run_ann(const AnnOptions& opt) {
  auto efs = parse_ef_list(opt.ef_list);
  if (!efs) return fail(efs.status());
  auto peers = parse_peers(opt.peers);
  if (!peers) return fail(peers.status());
  bool with_hnsw = false;
  auto kinds = parse_kinds(opt.kinds, &with_hnsw);
  if (!kinds) return fail(kinds.status());
  auto nprobes = parse_size_list(opt.nprobe_list, "--nprobe");
  if (!nprobes) return fail(nprobes.status());
  auto reranks = parse_rerank_list(opt.rerank_list);
  if (!reranks) return fail(reranks.status());
  auto search_ks = parse_size_list(opt.search_k_list, "--search-k");
  if (!search_ks) return fail(search_ks.status());

  Dataset ds;
  if (opt.dataset == "synthetic") {
    if (opt.n == 0 || opt.nq == 0 || opt.d == 0 || opt.clusters == 0) {
      return fail(Status::invalid_argument("--n, --nq, --d and --clusters must be >= 1"));
    }
    if (!(opt.sigma > 0.0f) || !std::isfinite(opt.sigma)) {
      return fail(Status::invalid_argument("--sigma must be a positive number"));
    }
    std::fprintf(stderr, "generating synthetic data...\n");
    ds = synthetic_clustered(opt.n, opt.nq, opt.d, opt.clusters, opt.seed, opt.sigma);
  } else {
    std::fprintf(stderr, "loading fashion-mnist from %s...\n", opt.data_dir.c_str());
    auto loaded = load_fashion_mnist(opt.data_dir);
    if (!loaded) return fail(loaded.status());
    ds = std::move(*loaded);
  }
  truncate_dataset(ds, opt.max_base, opt.max_queries);
  if (opt.k == 0 || opt.k > ds.n) {
    return fail(Status::invalid_argument("--k must be in [1, n = " + std::to_string(ds.n) + "]"));
  }

  std::printf("vecstream-bench ann\n");
  std::printf("cpu: %s | %u hardware threads | vecstream SIMD level: %s\n", cpu_model().c_str(),
              std::thread::hardware_concurrency(), simd_level_name(detected_simd_level()));
  std::printf("dataset: %s (%s) | n=%zu nq=%zu d=%zu | M=%zu efC=%zu k=%zu\n", ds.name.c_str(),
              std::string(metric_name(ds.metric)).c_str(), ds.n, ds.nq, ds.d, opt.M,
              opt.ef_construction, opt.k);
  std::printf("build threads: %zu | search threads: 1 (fixed: single-thread QPS) | runs per ef: "
              "%zu (median QPS; engines interleaved run by run) | warm-up: %zu queries per ef\n",
              opt.build_threads, opt.runs, std::min(ds.nq, kMaxWarmupQueries));
  std::printf("note: Debian's libfaiss is a generic x86-64 build (no AVX2 kernels), while hnswlib "
              "is compiled here with\n      -O3 -march=native; Vecstream is built for baseline "
              "x86-64 and picks its SIMD kernels at run time%s.\n",
              opt.quantized ? " (8-bit quantized traversal ON)" : "");
  print_blas_note();
  if (opt.quick) std::printf("quick mode: fewer queries and sweep points (smoke run)\n");

  GroundTruthInfo gt_info;
  std::fprintf(stderr, "ground truth (exact, k=%zu)...\n", opt.k);
  auto gt = load_or_compute_ground_truth(ds, opt.k, opt.cache_dir, opt.build_threads, &gt_info);
  if (!gt) return fail(gt.status());
  std::printf("ground truth: %s in %.2f s%s%s\n",
              gt_info.from_cache ? "loaded from cache" : "computed with FlatIndex::search_batch",
              gt_info.seconds, gt_info.path.empty() ? "" : (" (" + gt_info.path + ")").c_str(),
              gt_info.cache_note.empty() ? "" : ("\n  " + gt_info.cache_note).c_str());

  std::vector<EngineResult> results;
  if (with_hnsw) {
    AnnParams params;
    params.M = opt.M;
    params.ef_construction = opt.ef_construction;
    params.quantized = opt.quantized;

    std::vector<Engine> engines;
    engines.push_back(Engine{make_vecstream_runner(params), {}, {}, {}});  // always first
    for (const std::string& p : *peers) {
      engines.push_back(Engine{p == "hnswlib" ? make_hnswlib_runner(params)
                                              : make_faiss_runner(params),
                               {}, {}, {}});
    }
    std::vector<SweepSpec> points;
    for (size_t ef : *efs) {
      SweepSpec sp;
      sp.knobs.ef = ef;
      sp.label = std::to_string(ef);
      points.push_back(sp);
    }
    run_engines(engines, ds, *gt, opt, points, ds.nq, "ef");
    for (Engine& e : engines) results.push_back(std::move(e.res));
    engines.clear();

    std::printf("engines:\n");
    for (const EngineResult& e : results) {
      std::printf("  %-10s %s\n", e.name.c_str(), e.describe.c_str());
    }
    print_report(opt, ds, results);
  }

  std::vector<FamilyResult> families;
  if (!kinds->empty()) {
    const bool with_faiss = std::find(peers->begin(), peers->end(), "faiss") != peers->end();
    std::printf("\n==== Quantized and partitioned indexes: nlist=%zu (ivf_pq_fs: %zu), k-means "
                "iterations=%zu, PQ M=%zu (8-bit: %zu B codes; 4-bit fast scan: %zu B), RP-forest "
                "trees=%zu ====\n",
                opt.nlist, opt.fs_nlist != 0 ? opt.fs_nlist : opt.nlist, opt.kmeans_iterations,
                opt.pq_m, opt.pq_m, (opt.pq_m + 1) / 2, opt.n_trees);
    std::printf("peers: FAISS from Debian libfaiss-dev is a generic x86-64 build without AVX2 "
                "kernels (fast scan runs on its emulated SIMD);\n       its figures understate a "
                "FAISS built for this CPU. Training and adding run on %zu threads (FAISS: OpenMP "
                "+ OpenBLAS).\n",
                opt.build_threads);
    families = run_quantized(opt, ds, *gt, *kinds, *nprobes, *reranks, *search_ks, with_faiss);
    for (const FamilyResult& f : families) print_family(opt, ds, f);
    print_quantized_summary(opt, ds, families);
  }

  int rc = 0;
  auto check = [&](const std::vector<EngineResult>& rs, const char* kind) {
    for (const EngineResult& e : rs) {
      if (!e.ok) {
        std::fprintf(stderr, "vecstream-bench: %s %s: %s\n", kind, e.name.c_str(),
                     e.error.c_str());
        rc = 1;
      }
    }
  };
  check(results, kHnswKind);
  for (const FamilyResult& f : families) check(f.engines, index_kind_name(f.kind));
  if (!opt.csv.empty()) {
    Status s = write_csv(opt.csv, opt, ds, results, families);
    if (!s.is_ok()) return fail(s);
    std::printf("\ncsv written to %s\n", opt.csv.c_str());
  }
  return rc;
}

}  // namespace
}  // namespace vecstream::bench

int main(int argc, char** argv) {
  using vecstream::bench::AnnOptions;
  AnnOptions opt;
  CLI::App app{"vecstream-bench: Vecstream benchmarks against peer libraries"};
  app.require_subcommand(1);

  CLI::App* ann = app.add_subcommand(
      "ann", "recall/QPS sweeps: HNSW vs hnswlib and FAISS, and the IVF / PQ / SQ8 / RP-forest "
             "kinds vs FAISS (Fashion-MNIST or synthetic)");
  ann->add_option("--dataset", opt.dataset, "fashion-mnist or synthetic")
      ->check(CLI::IsMember({"fashion-mnist", "synthetic"}))
      ->capture_default_str();
  CLI::Option* o_n = ann->add_option("--n", opt.n, "synthetic: base vectors")->capture_default_str();
  CLI::Option* o_nq = ann->add_option("--nq", opt.nq, "synthetic: queries")->capture_default_str();
  CLI::Option* o_d = ann->add_option("--d", opt.d, "synthetic: dimension")->capture_default_str();
  CLI::Option* o_c =
      ann->add_option("--clusters", opt.clusters, "synthetic: Gaussian clusters")
          ->capture_default_str();
  CLI::Option* o_seed =
      ann->add_option("--seed", opt.seed, "synthetic: generator seed")->capture_default_str();
  CLI::Option* o_sigma =
      ann->add_option("--sigma", opt.sigma, "synthetic: per-coordinate std-dev around a center "
                                            "(centers are uniform in [-1,1]^d)")
          ->capture_default_str();
  ann->add_option("--data-dir", opt.data_dir, "fashion-mnist: folder of the idx3 .gz files")
      ->capture_default_str();
  ann->add_option("--max-base", opt.max_base, "keep only the first N base vectors (0 = all)")
      ->capture_default_str();
  CLI::Option* o_max_queries =
      ann->add_option("--max-queries", opt.max_queries, "keep only the first N queries (0 = all)")
          ->capture_default_str();
  ann->add_option("--M", opt.M, "HNSW links per node (2*M on layer 0), all engines")
      ->check(CLI::Range(size_t{2}, size_t{1024}))
      ->capture_default_str();
  ann->add_option("--ef-construction", opt.ef_construction, "HNSW build beam width, all engines")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  CLI::Option* o_ef =
      ann->add_option("--ef", opt.ef_list, "comma-separated search beam widths to sweep")
          ->capture_default_str();
  ann->add_option("--k", opt.k, "neighbours per query (recall@k)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  ann->add_option("--build-threads", opt.build_threads, "threads for index builds and ground truth")
      ->check(CLI::Range(size_t{1}, size_t{4096}))
      ->capture_default_str();
  size_t search_threads = 1;
  ann->add_option("--search-threads", search_threads,
                  "search threads; fixed at 1: QPS is single-thread, one query at a time")
      ->check(CLI::Range(size_t{1}, size_t{1}))
      ->capture_default_str();
  ann->add_option("--peers", opt.peers, "comma-separated peers: hnswlib, faiss, or none")
      ->capture_default_str();
  CLI::Option* o_runs =
      ann->add_option("--runs", opt.runs, "timed passes per sweep point; median QPS reported")
          ->check(CLI::Range(size_t{1}, size_t{1000}))
          ->capture_default_str();
  ann->add_option("--cache-dir", opt.cache_dir, "ground-truth cache folder ('' = no cache)")
      ->capture_default_str();
  ann->add_flag("--quantized", opt.quantized,
                "Vecstream: walk the graph on 8-bit codes (HnswParams::quantized_traversal)");
  ann->add_option("--csv", opt.csv, "also write every sweep point to this CSV file");
  ann->add_option("--kinds", opt.kinds,
                  "index kinds to run: all, or a list of hnsw, ivf_flat, ivf_sq8, ivf_pq, "
                  "ivf_pq_fs, rp_forest, sq8_flat")
      ->capture_default_str();
  ann->add_option("--nlist", opt.nlist, "IVF kinds: inverted lists (k-means centroids)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 24))
      ->capture_default_str();
  ann->add_option("--fs-nlist", opt.fs_nlist,
                  "ivf_pq_fs: inverted lists instead of --nlist (0 = --nlist); fast scan wants "
                  "long lists")
      ->check(CLI::Range(size_t{0}, size_t{1} << 24))
      ->capture_default_str();
  ann->add_option("--kmeans-iterations", opt.kmeans_iterations,
                  "IVF kinds: coarse k-means iterations (FAISS cp.niter)")
      ->check(CLI::Range(size_t{1}, size_t{1000}))
      ->capture_default_str();
  CLI::Option* o_nprobe =
      ann->add_option("--nprobe", opt.nprobe_list, "IVF kinds: comma-separated nprobe to sweep")
          ->capture_default_str();
  ann->add_option("--pq-m", opt.pq_m,
                  "IVF-PQ kinds: sub-quantizers, must divide d (ivf_pq: M bytes a code; "
                  "ivf_pq_fs: M/2)")
      ->check(CLI::Range(size_t{1}, size_t{65536}))
      ->capture_default_str();
  CLI::Option* o_rerank =
      ann->add_option("--rerank", opt.rerank_list,
                      "ivf_pq_fs: comma-separated rerank factors (k*factor candidates re-scored "
                      "exactly; FAISS IndexRefineFlat k_factor), each swept over --nprobe")
          ->capture_default_str();
  CLI::Option* o_search_k =
      ann->add_option("--search-k", opt.search_k_list,
                      "rp_forest: comma-separated candidate counts to sweep")
          ->capture_default_str();
  ann->add_option("--trees", opt.n_trees, "rp_forest: trees")
      ->check(CLI::Range(size_t{1}, size_t{1024}))
      ->capture_default_str();
  ann->add_option("--flat-queries", opt.flat_queries,
                  "sq8_flat (exhaustive scan): time and score only the first N queries")
      ->check(CLI::Range(size_t{1}, size_t{1} << 30))
      ->capture_default_str();
  ann->add_flag("--quick", opt.quick,
                "smoke run: 1000 queries, 1 run, fewer ef / nprobe / rerank / search_k points "
                "(unless given)");
  ann->footer("Search is single-threaded (one query at a time) by design: QPS is per core.");

  vecstream::bench::add_stream_commands(app);  // `stream`, `stream-runbook` (stream_bench.h)
  vecstream::bench::add_serve_commands(app);   // `serve` (serve_bench.h)
  vecstream::bench::add_kafka_commands(app);   // `kafka` (kafka_bench.h)

  CLI11_PARSE(app, argc, argv);

  if (opt.dataset != "synthetic") {
    for (const CLI::Option* o : {o_n, o_nq, o_d, o_c, o_seed, o_sigma}) {
      if (o->count() > 0) {
        std::fprintf(stderr,
                     "vecstream-bench: %s applies to --dataset synthetic only (use --max-base / "
                     "--max-queries to cut fashion-mnist)\n",
                     o->get_name().c_str());
        return 2;
      }
    }
  }
  if (opt.quick) {  // smoke-run defaults for whatever was not given
    if (o_max_queries->count() == 0) opt.max_queries = 1000;
    if (o_runs->count() == 0) opt.runs = 1;
    if (o_ef->count() == 0) opt.ef_list = "10,16,32,64";
    if (o_nprobe->count() == 0) opt.nprobe_list = "2,8,32";
    if (o_rerank->count() == 0) opt.rerank_list = "10";
    if (o_search_k->count() == 0) opt.search_k_list = "2000,10000";
  }
  return vecstream::bench::run_ann(opt);
}
