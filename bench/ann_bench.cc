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
// Timing rules: builds run one after another, each alone; searches never overlap. For each ef,
// every engine gets one untimed warm-up pass, then the engines' timed passes are interleaved
// (run 1 of each, run 2 of each, ...) so background load on a shared machine hits all alike.
// Queries go one at a time on one thread, timed with std::chrono::steady_clock; results land in a
// preallocated array and are scored after the timed loop.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
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
};

struct SweepPoint {
  size_t ef = 0;
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
  size_t memory_bytes = 0;
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

Result<std::vector<size_t>> parse_ef_list(const std::string& s) {
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
      return Status::invalid_argument("--ef: '" + item + "' is not a positive integer");
    }
    efs.push_back(static_cast<size_t>(v));
  }
  if (efs.empty()) return Status::invalid_argument("--ef: empty list");
  std::sort(efs.begin(), efs.end());
  efs.erase(std::unique(efs.begin(), efs.end()), efs.end());
  return efs;
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

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string m = line.substr(colon + 1);
        m.erase(0, m.find_first_not_of(" \t"));
        return m;
      }
    }
  }
  return "unknown";
}

/// Mean over queries of |returned ∩ true top-k| / k.
double recall_at_k(const std::vector<Id>& results, const GroundTruth& gt, size_t k) {
  std::vector<Id> truth(k);
  size_t hits = 0;
  for (size_t q = 0; q < gt.nq; ++q) {
    std::copy(gt.row(q), gt.row(q) + k, truth.begin());
    std::sort(truth.begin(), truth.end());
    const Id* got = results.data() + q * k;
    for (size_t j = 0; j < k; ++j) {
      if (got[j] != kNoId && std::binary_search(truth.begin(), truth.end(), got[j])) ++hits;
    }
  }
  return static_cast<double>(hits) / static_cast<double>(gt.nq * k);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  const size_t idx = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(idx), v.end());
  return v[idx];
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

Status timed_pass(Engine& e, const Dataset& ds, size_t k) {
  TimedPass pass;
  pass.latency_us.resize(ds.nq);
  const auto t0 = Clock::now();
  auto prev = t0;
  for (size_t q = 0; q < ds.nq; ++q) {
    Status s = e.runner->search(ds.queries.data() + q * ds.d, k, e.results.data() + q * k);
    const auto now = Clock::now();
    if (!s.is_ok()) return s;
    pass.latency_us[q] = std::chrono::duration<double, std::micro>(now - prev).count();
    prev = now;
  }
  pass.qps = static_cast<double>(ds.nq) / seconds_between(t0, Clock::now());
  e.passes.push_back(std::move(pass));
  return Status::ok();
}

/// The median pass by QPS (upper median for an even count) gives the reported numbers; the ids
/// of the last pass give the recall.
SweepPoint summarize(Engine& e, const GroundTruth& gt, size_t k, size_t ef) {
  std::sort(e.passes.begin(), e.passes.end(),
            [](const TimedPass& a, const TimedPass& b) { return a.qps < b.qps; });
  const TimedPass& median = e.passes[e.passes.size() / 2];
  SweepPoint p;
  p.ef = ef;
  p.qps = median.qps;
  double sum = 0.0;
  for (double v : median.latency_us) sum += v;
  p.mean_us = sum / static_cast<double>(median.latency_us.size());
  p.p50_us = percentile(median.latency_us, 0.50);
  p.p99_us = percentile(median.latency_us, 0.99);
  p.recall = recall_at_k(e.results, gt, k);
  e.passes.clear();
  return p;
}

void fail_engine(Engine& e, const std::string& what) {
  e.res.error = what;
  e.res.ok = false;
  e.runner.reset();  // frees its memory; it takes no further part
}

/// Builds every engine, one at a time (each build has the machine to itself), then sweeps ef.
/// For each ef, every engine gets its warm-up pass, then the timed passes are interleaved
/// (run 1 of every engine, then run 2, ...), so that a slow drift in background load on a shared
/// machine lands on all engines alike instead of on whichever happened to run at the time.
void run_engines(std::vector<Engine>& engines, const Dataset& ds, const GroundTruth& gt,
                 const AnnOptions& opt, const std::vector<size_t>& efs) {
  for (Engine& e : engines) {
    e.res.name = e.runner->name();
    std::fprintf(stderr, "[%s] building (%zu vectors, %zu threads)...\n", e.res.name.c_str(), ds.n,
                 opt.build_threads);
    const auto t0 = Clock::now();
    Status s = e.runner->build(ds.base.data(), ds.n, ds.d, opt.build_threads);
    e.res.build_seconds = seconds_between(t0, Clock::now());
    e.res.describe = e.runner->describe();
    if (!s.is_ok()) {
      fail_engine(e, "build failed: " + s.to_string());
      continue;
    }
    e.res.built = true;
    e.res.ok = true;
    e.res.memory_bytes = e.runner->memory_bytes();
    e.results.assign(ds.nq * opt.k, kNoId);
    std::fprintf(stderr, "[%s] built in %.2f s\n", e.res.name.c_str(), e.res.build_seconds);
  }

  const size_t warmup = std::min(ds.nq, kMaxWarmupQueries);
  std::fprintf(stderr, "sweeping ef:");
  for (size_t ef : efs) {
    std::fprintf(stderr, " %zu", ef);
    std::fflush(stderr);
    for (Engine& e : engines) {
      if (!e.runner) continue;
      e.runner->set_ef(ef);
      for (size_t q = 0; q < warmup; ++q) {
        Status s = e.runner->search(ds.queries.data() + q * ds.d, opt.k,
                                    e.results.data() + q * opt.k);
        if (!s.is_ok()) {
          fail_engine(e, "search failed at ef=" + std::to_string(ef) + ": " + s.to_string());
          break;
        }
      }
    }
    for (size_t r = 0; r < opt.runs; ++r) {
      for (Engine& e : engines) {
        if (!e.runner) continue;
        Status s = timed_pass(e, ds, opt.k);
        if (!s.is_ok()) {
          fail_engine(e, "search failed at ef=" + std::to_string(ef) + ": " + s.to_string());
        }
      }
    }
    for (Engine& e : engines) {
      if (e.runner) e.res.sweep.push_back(summarize(e, gt, opt.k, ef));
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
/// between consecutive sweep points (by ef) that bracket the target.
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
    if (lo.recall < target && hi.recall >= target && hi.recall > lo.recall) {
      const double t = (target - lo.recall) / (hi.recall - lo.recall);
      consider(std::exp(std::log(lo.qps) + t * (std::log(hi.qps) - std::log(lo.qps))));
    }
  }
  return best;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
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

Status write_csv(const std::string& path, const AnnOptions& opt, const Dataset& ds,
                 const std::vector<EngineResult>& rs) {
  std::ofstream out(path);
  if (!out) return Status::io_error("cannot open --csv file " + path);
  out << "dataset,n,nq,d,M,ef_construction,k,engine,build_seconds,build_vectors_per_second,"
         "memory_bytes_per_vector,ef,recall,qps,mean_latency_us,p50_latency_us,p99_latency_us,"
         "runs\n";
  for (const EngineResult& e : rs) {
    for (const SweepPoint& p : e.sweep) {
      out << ds.name << ',' << ds.n << ',' << ds.nq << ',' << ds.d << ',' << opt.M << ','
          << opt.ef_construction << ',' << opt.k << ',' << e.name << ',' << e.build_seconds << ','
          << static_cast<double>(ds.n) / e.build_seconds << ','
          << static_cast<double>(e.memory_bytes) / static_cast<double>(ds.n) << ',' << p.ef << ','
          << p.recall << ',' << p.qps << ',' << p.mean_us << ',' << p.p50_us << ',' << p.p99_us
          << ',' << opt.runs << '\n';
    }
  }
  out.flush();
  if (!out) return Status::io_error("error writing --csv file " + path);
  return Status::ok();
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

  GroundTruthInfo gt_info;
  std::fprintf(stderr, "ground truth (exact, k=%zu)...\n", opt.k);
  auto gt = load_or_compute_ground_truth(ds, opt.k, opt.cache_dir, opt.build_threads, &gt_info);
  if (!gt) return fail(gt.status());
  std::printf("ground truth: %s in %.2f s%s%s\n",
              gt_info.from_cache ? "loaded from cache" : "computed with FlatIndex::search_batch",
              gt_info.seconds, gt_info.path.empty() ? "" : (" (" + gt_info.path + ")").c_str(),
              gt_info.cache_note.empty() ? "" : ("\n  " + gt_info.cache_note).c_str());

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
  run_engines(engines, ds, *gt, opt, *efs);
  std::vector<EngineResult> results;
  for (Engine& e : engines) results.push_back(std::move(e.res));
  engines.clear();

  std::printf("engines:\n");
  for (const EngineResult& e : results) {
    std::printf("  %-10s %s\n", e.name.c_str(), e.describe.c_str());
  }
  print_report(opt, ds, results);

  int rc = 0;
  for (const EngineResult& e : results) {
    if (!e.ok) {
      std::fprintf(stderr, "vecstream-bench: %s: %s\n", e.name.c_str(), e.error.c_str());
      rc = 1;
    }
  }
  if (!opt.csv.empty()) {
    Status s = write_csv(opt.csv, opt, ds, results);
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
      "ann", "HNSW recall/QPS sweep: Vecstream vs hnswlib and FAISS (Fashion-MNIST or synthetic)");
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
  ann->add_option("--max-queries", opt.max_queries, "keep only the first N queries (0 = all)")
      ->capture_default_str();
  ann->add_option("--M", opt.M, "HNSW links per node (2*M on layer 0), all engines")
      ->check(CLI::Range(size_t{2}, size_t{1024}))
      ->capture_default_str();
  ann->add_option("--ef-construction", opt.ef_construction, "HNSW build beam width, all engines")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
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
  ann->add_option("--runs", opt.runs, "timed passes per ef; the median QPS is reported")
      ->check(CLI::Range(size_t{1}, size_t{1000}))
      ->capture_default_str();
  ann->add_option("--cache-dir", opt.cache_dir, "ground-truth cache folder ('' = no cache)")
      ->capture_default_str();
  ann->add_flag("--quantized", opt.quantized,
                "Vecstream: walk the graph on 8-bit codes (HnswParams::quantized_traversal)");
  ann->add_option("--csv", opt.csv, "also write every sweep point to this CSV file");
  ann->footer("Search is single-threaded (one query at a time) by design: QPS is per core.");

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
  return vecstream::bench::run_ann(opt);
}
