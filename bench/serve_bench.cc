// vecstream-bench serve: search load over real sockets on loopback against a Service that holds
// one collection, beside the same queries in-process and against hnswlib (no server).
//
// Set-up: the base set is upserted through the Service (HNSW, the given M / efConstruction) and
// indexed; hnswlib indexes the same rows with the same parameters. Then, for each server
// configuration — plain (no batching, no cache), micro-batching on, result cache on — a Service,
// a RestServer and a GrpcServer are started on 127.0.0.1 (port 0) and driven by:
//   - closed-loop load: 1..N client threads, each with its own connection (a gRPC channel with a
//     local subchannel pool, sending unary Search calls or, as grpc-stream, messages on one open
//     SearchStream; an HTTP/1.1 keep-alive connection) sending one query after another
//     for --seconds; QPS, p50/p95/p99 latency, recall@k against the exact top-k;
//     the same with a writer re-upserting rows at --ingest-rate vectors/s (same vectors, so the
//     ground truth holds; every write is real: WAL, tombstone, growing segment, indexer; each
//     point's writer starts again at row 0, so its first rows are a hot set rewritten over and
//     over, leaving dead copies behind);
//   - open-loop load (fixed arrival rate; latency counted from the scheduled send time, so a slow
//     answer delays nobody's clock): REST at --rest-rate QPS, and the blueprint's case study, gRPC
//     (each gRPC transport asked for) at --case-qps while --case-inserts vectors/s are upserted.
// Client and server share the machine's cores, as they do in any loopback benchmark; the
// in-process rows give the ratio that isolates the transports' cost. The gRPC load runs in a
// process of its own (`vecstream-bench serve-grpc-load`, started per point), as real clients do:
// inside the server's process it would share gRPC's poller with the server; --grpc-load thread
// keeps it inside, for comparison. It is a lean client of gRPC's HTTP/2 wire protocol by default
// (--grpc-client h2), or gRPC's own C++ client (grpcpp), which takes more of the shared cores
// per query (see grpc_load.h).
#include "serve_bench.h"

#include <CLI/CLI.hpp>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/child_process.h"
#include "core/distance.h"
#include "core/status.h"
#include "dataset.h"
#include "ground_truth.h"
#include "grpc_load.h"
#include "grpcpp_load.h"
#include "h2_grpc_load.h"
#include "report.h"
#include "segment/catalog.h"
#include "serve/api_keys.h"
#include "serve/grpc_server.h"
#include "serve/lru_cache.h"
#include "serve/rest_server.h"
#include "serve/service.h"
#include "stream_peers.h"
#include "vecstream/v1/vecstream.grpc.pb.h"
#include "work_dir.h"

namespace vecstream::bench {
namespace {

namespace pb = ::vecstream::v1;
using Clock = std::chrono::steady_clock;
constexpr char kCollection[] = "bench";

struct ServeOptions {
  std::string dataset = "fashion-mnist";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  size_t synthetic_n = 20000, dim = 128, clusters = 100;
  uint64_t seed = 42;
  size_t max_base = 0, max_queries = 0;
  size_t k = 10, ef = 64, m = 16, ef_construction = 200, shards = 1;
  size_t build_threads = 2;
  std::string index_kind = "hnsw";  // or flat: exact scans, where batching reads rows once per batch
  size_t seal_rows = 0;    // 0 = the collection default
  bool quantized = false;  // HNSW walks on 8-bit codes
  std::string clients = "1,2,4,8";
  double seconds = 3.0;
  size_t runs = 1;
  std::string transports = "inproc,grpc,grpc-stream,rest";
  std::string configs = "plain,batching,cache";
  std::string peers = "hnswlib";
  double ingest_rate = 500.0;
  double rest_rate = 2000.0;
  double case_qps = 5000.0, case_inserts = 55.0, case_seconds = 10.0;
  size_t open_loop_threads = 16;
  std::string cache_dir = "./.cache/vecstream";
  std::string dir;
  std::string grpc_load = "process";  // or thread: the driver inside this process
  std::string grpc_client = "h2";     // or grpcpp: gRPC's own C++ client drives the load
  bool quick = false;
};

int fail(const Status& s) {
  std::fprintf(stderr, "vecstream-bench serve: %s\n", s.to_string().c_str());
  return 1;
}

Result<std::vector<size_t>> parse_counts(const std::string& list, const char* what) {
  std::vector<size_t> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v == 0 || v > 4096) {
      return Status::invalid_argument(std::string(what) + ": '" + item + "' is not a count in [1, 4096]");
    }
    out.push_back(static_cast<size_t>(v));
  }
  if (out.empty()) return Status::invalid_argument(std::string(what) + ": empty list");
  return out;
}

Result<std::vector<std::string>> parse_names(const std::string& list, const char* what,
                                             const std::vector<std::string>& known) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (std::find(known.begin(), known.end(), item) == known.end()) {
      std::string k;
      for (const auto& n : known) k += (k.empty() ? "" : ", ") + n;
      return Status::invalid_argument(std::string(what) + ": unknown '" + item + "' (known: " + k + ")");
    }
    if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Clients: one object per load thread, each with its own connection.

class Client {
 public:
  virtual ~Client() = default;
  /// Sends query q and writes the ids found into ids[0..k) (kNoPoint pads); *cached tells whether
  /// the server answered from its result cache.
  virtual Status search(size_t q, uint64_t* ids, bool* cached) = 0;
};

/// The queries in each client's form, built once before any timing.
struct Queries {
  size_t nq = 0, k = 0;
  std::vector<SearchRequest> inproc;  // use_cache set per configuration
  pb::SearchBatchRequest grpc;  // as a batch: the form the gRPC load process reads them in
  std::vector<std::string> rest;
  const float* rows = nullptr;
  size_t dim = 0;
};

Queries build_queries(const Dataset& ds, size_t nq, size_t k, size_t ef, bool use_cache) {
  Queries qs;
  qs.nq = nq;
  qs.k = k;
  qs.rows = ds.queries.data();
  qs.dim = ds.d;
  qs.inproc.resize(nq);
  qs.rest.resize(nq);
  for (size_t q = 0; q < nq; ++q) {
    const float* v = ds.queries.data() + q * ds.d;
    SearchRequest& r = qs.inproc[q];
    r.collection = kCollection;
    r.vector.assign(v, v + ds.d);
    r.k = k;
    r.ef = ef;
    r.use_cache = use_cache;
    pb::SearchRequest& g = *qs.grpc.add_queries();
    g.set_collection(kCollection);
    for (size_t i = 0; i < ds.d; ++i) g.add_vector(v[i]);
    g.set_k(static_cast<uint32_t>(k));
    g.set_ef(static_cast<uint32_t>(ef));
    g.set_use_cache(use_cache);
    nlohmann::json body = {{"vector", r.vector}, {"k", k}, {"ef", ef}, {"use_cache", use_cache}};
    qs.rest[q] = body.dump();
  }
  return qs;
}

class InprocClient final : public Client {
 public:
  InprocClient(Service& s, const Queries& q) : service_(s), q_(q) {}
  Status search(size_t q, uint64_t* ids, bool* cached) override {
    auto r = service_.search(principal_, q_.inproc[q]);
    if (!r) return r.status();
    fill(r->points, ids);
    *cached = r->cached;
    return Status::ok();
  }
  void fill(const std::vector<ScoredPoint>& pts, uint64_t* ids) const {
    for (size_t i = 0; i < q_.k; ++i) ids[i] = i < pts.size() ? pts[i].id.num() : kNoPoint;
  }

 private:
  Service& service_;
  const Queries& q_;
  Principal principal_;
};

class RestClient final : public Client {
 public:
  RestClient(int port, const Queries& q)
      : q_(q), cli_("127.0.0.1", port), path_(std::string("/v1/collections/") + kCollection + "/search") {
    cli_.set_keep_alive(true);
    cli_.set_tcp_nodelay(true);  // headers and body are two writes: Nagle would hold the body
    cli_.set_read_timeout(10, 0);
  }
  Status search(size_t q, uint64_t* ids, bool* cached) override {
    auto res = cli_.Post(path_, q_.rest[q], "application/json");
    if (!res) return Status::io_error("REST: " + httplib::to_string(res.error()));
    if (res->status != 200) return Status::internal("REST: HTTP " + std::to_string(res->status) + " " + res->body);
    const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("points")) return Status::internal("REST: bad body " + res->body);
    const auto& pts = j["points"];
    for (size_t i = 0; i < q_.k; ++i) ids[i] = i < pts.size() ? pts[i]["id"].get<uint64_t>() : kNoPoint;
    *cached = j.value("cached", false);
    return Status::ok();
  }

 private:
  const Queries& q_;
  httplib::Client cli_;
  std::string path_;
};

class HnswlibClient final : public Client {
 public:
  HnswlibClient(StreamEngine& e, const Queries& q) : engine_(e), q_(q) {}
  Status search(size_t q, uint64_t* ids, bool* cached) override {
    *cached = false;
    return engine_.search(q_.rows + q * q_.dim, q_.k, ids);
  }

 private:
  StreamEngine& engine_;
  const Queries& q_;
};

using ClientFactory = std::function<std::unique_ptr<Client>()>;

// ---------------------------------------------------------------------------------------------
// Load generators.

struct LoadResult {
  double qps = 0.0;
  double p50_ms = NAN, p95_ms = NAN, p99_ms = NAN;
  double recall = NAN;
  double hit_ratio = 0.0;
  size_t requests = 0, errors = 0;
  std::string first_error;
  // CPU time of this process over the point, per answered query: with the gRPC load in its own
  // process, the server's cost alone; REST and in-process rows include their client threads.
  double cpu_us_per_query = NAN;
  // The gRPC load process's CPU time over its measured window, per answered query: what the
  // load generator took from the same cores.
  double load_cpu_us_per_query = NAN;
};

struct ThreadTally {
  std::vector<double> latency_ms;
  size_t hits = 0, answered = 0, cached = 0, errors = 0;
  std::string first_error;
};

/// Scores one answer: how many of ids[0..k) are in the exact top-k of query q.
size_t score(const GroundTruth& gt, size_t q, const uint64_t* ids, size_t k) {
  size_t hits = 0;
  const Id* truth = gt.row(q);
  for (size_t i = 0; i < k; ++i) {
    if (ids[i] == kNoPoint) continue;
    for (size_t j = 0; j < k; ++j) {
      if (truth[j] == ids[i]) {
        ++hits;
        break;
      }
    }
  }
  return hits;
}

LoadResult merge(std::vector<ThreadTally>& tallies, double seconds, size_t k) {
  LoadResult r;
  std::vector<double> all;
  size_t hits = 0, answered = 0, cached = 0;
  for (auto& t : tallies) {
    all.insert(all.end(), t.latency_ms.begin(), t.latency_ms.end());
    hits += t.hits;
    answered += t.answered;
    cached += t.cached;
    r.errors += t.errors;
    if (r.first_error.empty()) r.first_error = t.first_error;
  }
  r.requests = answered;
  r.qps = static_cast<double>(answered) / seconds;
  r.p50_ms = percentile(all, 0.50);
  r.p95_ms = percentile(all, 0.95);
  r.p99_ms = percentile(all, 0.99);
  if (answered) {
    r.recall = static_cast<double>(hits) / static_cast<double>(answered * k);
    r.hit_ratio = static_cast<double>(cached) / static_cast<double>(answered);
  }
  return r;
}

/// Calls one request and books it into `t`, unless it ended after `deadline`.
void one_request(Client& c, size_t q, const GroundTruth& gt, size_t k, std::vector<uint64_t>& ids,
                 Clock::time_point start, Clock::time_point deadline, ThreadTally& t) {
  bool cached = false;
  Status s = c.search(q, ids.data(), &cached);
  const Clock::time_point end = Clock::now();
  if (end > deadline) return;
  if (!s.is_ok()) {
    if (t.first_error.empty()) t.first_error = s.to_string();
    ++t.errors;
    return;
  }
  t.latency_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  t.hits += score(gt, q, ids.data(), k);
  ++t.answered;
  t.cached += cached;
}

/// `clients` threads, each sending its next query as soon as the last one is answered, for
/// `seconds`. Queries are spread: thread t starts at query t * nq / clients.
LoadResult closed_loop(const ClientFactory& make, size_t clients, double seconds, const Queries& qs,
                       const GroundTruth& gt) {
  std::vector<ThreadTally> tallies(clients);
  std::vector<std::unique_ptr<Client>> cs;
  for (size_t t = 0; t < clients; ++t) cs.push_back(make());
  std::atomic<size_t> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point deadline;
  std::vector<std::thread> threads;
  for (size_t t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      ThreadTally& tally = tallies[t];
      tally.latency_ms.reserve(1 << 16);
      std::vector<uint64_t> ids(qs.k);
      size_t q = t * qs.nq / clients;
      bool cached = false;
      (void)cs[t]->search(q, ids.data(), &cached);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (;;) {
        const Clock::time_point start = Clock::now();
        if (start >= deadline) break;
        one_request(*cs[t], q, gt, qs.k, ids, start, deadline, tally);
        q = (q + 1) % qs.nq;
      }
    });
  }
  while (ready.load() < clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  go.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  return merge(tallies, seconds, qs.k);
}

/// Requests at a fixed arrival rate (`rate` a second over `threads` threads, thread t sending
/// requests t, t + threads, ...) for `seconds`. Latency counts from the scheduled send time.
LoadResult open_loop(const ClientFactory& make, size_t threads_n, double rate, double seconds,
                     const Queries& qs, const GroundTruth& gt) {
  std::vector<ThreadTally> tallies(threads_n);
  std::vector<std::unique_ptr<Client>> cs;
  for (size_t t = 0; t < threads_n; ++t) cs.push_back(make());
  const size_t total = static_cast<size_t>(rate * seconds);
  std::atomic<size_t> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point start;
  std::vector<std::thread> threads;
  for (size_t t = 0; t < threads_n; ++t) {
    threads.emplace_back([&, t] {
      ThreadTally& tally = tallies[t];
      tally.latency_ms.reserve(total / threads_n + 16);
      std::vector<uint64_t> ids(qs.k);
      bool cached = false;
      (void)cs[t]->search(t % qs.nq, ids.data(), &cached);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (size_t j = t; j < total; j += threads_n) {
        const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(j) / rate));
        std::this_thread::sleep_until(due);
        one_request(*cs[t], j % qs.nq, gt, qs.k, ids, due, Clock::time_point::max(), tally);
      }
    });
  }
  while (ready.load() < threads_n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  start = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  return merge(tallies, std::max(elapsed, seconds), qs.k);
}

LoadResult score_answers(const GrpcAnswers& a, const GroundTruth& gt) {
  ThreadTally t;
  t.latency_ms = a.latency_ms;
  t.errors = a.errors;
  t.first_error = a.first_error;
  t.answered = a.q.size();
  for (size_t i = 0; i < a.q.size(); ++i) {
    t.hits += score(gt, a.q[i], a.ids.data() + i * a.k, a.k);
    t.cached += a.cached[i];
  }
  std::vector<ThreadTally> one{std::move(t)};
  LoadResult r = merge(one, a.seconds, a.k);
  if (!a.q.empty()) r.load_cpu_us_per_query = 1e6 * a.process_cpu_seconds / static_cast<double>(a.q.size());
  return r;
}

// ---- the gRPC load in a process of its own
//
// gRPC C++ (1.51, poll engine epoll1) polls every socket of a process through one epoll set, on
// whichever thread waits on a completion queue. A load driver inside the server's process thus
// reads the server's requests off the wire and hands each to a server thread, while the server's
// threads read the driver's answers and hand them back: futex wake-ups and context switches per
// query that no real client, which runs in a process of its own, causes. So the gRPC load runs in
// a child process (`vecstream-bench serve-grpc-load`) on the same cores; it reads the queries from
// a file and writes back what it saw (GrpcAnswers), which this process scores.

constexpr char kAnswersMagic[8] = {'V', 'S', 'G', 'A', 'N', 'S', '0', '2'};

template <typename T>
void put(std::ofstream& out, const T& v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
void put_all(std::ofstream& out, const std::vector<T>& v) {
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}
template <typename T>
bool get(std::ifstream& in, T* v) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(v), sizeof *v));
}
template <typename T>
bool get_all(std::ifstream& in, size_t n, std::vector<T>* v) {
  v->resize(n);
  return static_cast<bool>(in.read(reinterpret_cast<char*>(v->data()), static_cast<std::streamsize>(n * sizeof(T))));
}

Status write_answers(const std::string& path, const GrpcAnswers& a) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(kAnswersMagic, sizeof kAnswersMagic);
  put(out, static_cast<uint64_t>(a.k));
  put(out, static_cast<uint64_t>(a.q.size()));
  put(out, static_cast<uint64_t>(a.errors));
  put(out, a.seconds);
  put(out, a.process_cpu_seconds);
  put(out, static_cast<uint64_t>(a.first_error.size()));
  out.write(a.first_error.data(), static_cast<std::streamsize>(a.first_error.size()));
  put_all(out, a.q);
  put_all(out, a.latency_ms);
  put_all(out, a.cached);
  put_all(out, a.ids);
  out.flush();
  if (!out) return Status::io_error("cannot write " + path);
  return Status::ok();
}

Result<GrpcAnswers> read_answers(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot read " + path);
  char magic[sizeof kAnswersMagic];
  uint64_t k = 0, n = 0, errors = 0, error_len = 0;
  GrpcAnswers a;
  const bool head = in.read(magic, sizeof magic) && std::memcmp(magic, kAnswersMagic, sizeof magic) == 0 &&
                    get(in, &k) && get(in, &n) && get(in, &errors) && get(in, &a.seconds) &&
                    get(in, &a.process_cpu_seconds) && get(in, &error_len);
  if (!head || k == 0 || k > 1000 || n > (uint64_t{1} << 32) || error_len > (1u << 20)) {
    return Status::corruption(path + ": not an answers file of serve-grpc-load");
  }
  a.k = k;
  a.errors = errors;
  a.first_error.resize(error_len);
  const bool body = in.read(a.first_error.data(), static_cast<std::streamsize>(error_len)) &&
                    get_all(in, n, &a.q) && get_all(in, n, &a.latency_ms) &&
                    get_all(in, n, &a.cached) && get_all(in, n * k, &a.ids);
  if (!body) return Status::corruption(path + ": truncated");
  return a;
}

/// A gRPC load run from the generator named `client` (h2 or grpcpp; see grpc_load.h).
GrpcAnswers run_grpc_client(const std::string& client, int port, bool stream, size_t slots,
                            const google::protobuf::RepeatedPtrField<pb::SearchRequest>& reqs,
                            double seconds, double rate) {
  if (client == "grpcpp") return GrpcppLoad(port, stream, slots, reqs).run(seconds, rate);
  return H2GrpcLoad(port, stream, slots, reqs).run(seconds, rate);
}

struct GrpcLoadOptions {
  std::string client = "h2";
  int port = 0;
  bool stream = false;
  size_t slots = 1;
  double seconds = 1.0, rate = 0.0;
  std::string queries, answers;
};

/// The child's side: `vecstream-bench serve-grpc-load`.
int run_grpc_load(const GrpcLoadOptions& o) {
  std::ifstream in(o.queries, std::ios::binary);
  pb::SearchBatchRequest batch;
  if (!in || !batch.ParseFromIstream(&in) || batch.queries().empty()) {
    return fail(Status::invalid_argument("serve-grpc-load: cannot read queries from " + o.queries));
  }
  const GrpcAnswers a = run_grpc_client(o.client, o.port, o.stream, o.slots, batch.queries(), o.seconds, o.rate);
  const Status s = write_answers(o.answers, a);
  if (!s.is_ok()) return fail(s);
  std::printf("serve-grpc-load (%s): %zu answers, %zu errors%s%s\n", o.client.c_str(), a.q.size(), a.errors,
              a.first_error.empty() ? "" : "; first: ", a.first_error.c_str());
  return 0;
}

Status write_queries(const std::string& path, const Queries& qs) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !qs.grpc.SerializeToOstream(&out) || !out.flush()) return Status::io_error("cannot write " + path);
  return Status::ok();
}

/// The parent's side: runs the load in a child process and scores what it saw. A child that
/// fails is one error row, with the last line of its log.
LoadResult grpc_load_process(const std::string& client, const std::string& dir,
                             const std::string& queries_file, int port, bool stream, size_t slots, double seconds, double rate,
                             const GroundTruth& gt) {
  auto failed = [](std::string why) {
    LoadResult r;
    r.errors = 1;
    r.first_error = std::move(why);
    return r;
  };
  const std::string answers = dir + "/grpc-load.answers", log = dir + "/grpc-load.log";
  std::remove(answers.c_str());
  std::vector<std::string> args{"serve-grpc-load", "--client", client, "--port", std::to_string(port), "--slots",
                                std::to_string(slots), "--seconds", fmt("%.9g", seconds), "--rate",
                                fmt("%.9g", rate), "--queries", queries_file, "--answers", answers};
  if (stream) args.emplace_back("--stream");
  ChildProcess child;
  const Status started = child.start("gRPC load", self_executable(), args, log);
  if (!started.is_ok()) return failed(started.to_string());
  const Clock::time_point limit = Clock::now() + std::chrono::seconds(120) +
                                  std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (child.alive()) {
    if (Clock::now() > limit) {
      child.stop(1000);
      return failed("the gRPC load process did not finish; see " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int rc = child.stop(0);
  if (rc != 0) {
    std::ifstream l(log);
    std::string line, last;
    while (std::getline(l, line)) {
      if (!line.empty()) last = line;
    }
    return failed("the gRPC load process exited with " + std::to_string(rc) + ": " + last);
  }
  auto a = read_answers(answers);
  if (!a.is_ok()) return failed(a.status().to_string());
  return score_answers(*a, gt);
}

/// Runs load with `clients` connections for `seconds`: closed loop when rate is 0, else open
/// loop at `rate` queries a second.
using LoadRunner = std::function<LoadResult(size_t clients, double seconds, double rate)>;

/// Re-upserts base rows (the same vectors: the ground truth stays true) at `rate` vectors a second
/// in batches every 20 ms, until stopped; counts what was acknowledged.
class Writer {
 public:
  using Upsert = std::function<Status(size_t row0, size_t n)>;
  Writer(Upsert upsert, double rate, size_t rows) : upsert_(std::move(upsert)), rate_(rate), rows_(rows) {}
  void start() {
    if (rate_ <= 0) return;
    thread_ = std::thread([this] {
      const auto t0 = Clock::now();
      size_t done = 0, row = 0;
      while (!stop_.load()) {
        const double el = std::chrono::duration<double>(Clock::now() - t0).count();
        const size_t want = static_cast<size_t>(el * rate_);
        if (want > done) {
          const size_t n = std::min<size_t>(want - done, 1000);
          const size_t r0 = row % rows_;
          const size_t m = std::min(n, rows_ - r0);
          Status s = upsert_(r0, m);
          if (!s.is_ok()) {
            if (error_.empty()) error_ = s.to_string();
          } else {
            acked_ += m;
          }
          done += m;
          row += m;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
    });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  ~Writer() { stop(); }
  double rate() const { return seconds_ > 0 ? static_cast<double>(acked_) / seconds_ : 0.0; }
  const std::string& error() const { return error_; }

 private:
  Upsert upsert_;
  double rate_;
  size_t rows_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  size_t acked_ = 0;
  double seconds_ = 0.0;
  std::string error_;
};

// ---------------------------------------------------------------------------------------------
// The runs.

struct Row {
  std::string config, transport, load;
  size_t clients = 0;
  LoadResult r;
  double ingest_rate = 0.0;
};

double median_of(std::vector<LoadResult>& runs, LoadResult* pick) {
  std::sort(runs.begin(), runs.end(), [](const LoadResult& a, const LoadResult& b) { return a.qps < b.qps; });
  *pick = runs[runs.size() / 2];
  return pick->qps;
}

/// One server configuration: a Service over the catalog with its servers on loopback.
struct Servers {
  std::unique_ptr<ResultCache> cache;
  std::unique_ptr<Service> service;
  std::unique_ptr<RestServer> rest;
  std::unique_ptr<GrpcServer> grpc;
  ApiKeys keys;
  ~Servers() {
    if (rest) rest->stop();
    if (grpc) grpc->stop(std::chrono::seconds(1));
  }
};

Result<std::unique_ptr<Servers>> start_servers(Catalog& catalog, const std::string& config,
                                               size_t max_clients) {
  auto s = std::make_unique<Servers>();
  ServiceOptions so;
  so.batch_window = config == "batching" ? std::chrono::microseconds(200) : std::chrono::microseconds(0);
  if (config == "cache") s->cache = std::make_unique<LruCache>();
  s->service = std::make_unique<Service>(catalog, so, nullptr, s->cache.get());
  RestServer::Options ro;
  ro.port = 0;
  ro.threads = max_clients + 2;  // a kept-alive connection holds its worker
  auto rest = RestServer::start(*s->service, s->keys, ro);
  if (!rest) return rest.status();
  s->rest = std::move(*rest);
  GrpcServer::Options go;
  go.address = "127.0.0.1:0";
  auto grpc = GrpcServer::start(*s->service, s->keys, go);
  if (!grpc) return grpc.status();
  s->grpc = std::move(*grpc);
  return s;
}

std::string ratio(double a, double b) {
  if (!(b > 0) || std::isnan(a)) return "n/a";
  return fmt("%.2fx", a / b);
}

int run_serve(ServeOptions opt) {
  if (opt.quick) {
    if (opt.max_base == 0) opt.max_base = 10000;
    if (opt.max_queries == 0) opt.max_queries = 1000;
    opt.seconds = std::min(opt.seconds, 1.0);
    opt.case_seconds = std::min(opt.case_seconds, 3.0);
  }
  auto clients = parse_counts(opt.clients, "--clients");
  if (!clients) return fail(clients.status());
  auto transports = parse_names(opt.transports, "--transports", {"inproc", "grpc", "grpc-stream", "rest"});
  if (!transports) return fail(transports.status());
  auto configs = parse_names(opt.configs, "--configs", {"plain", "batching", "cache"});
  if (!configs) return fail(configs.status());
  if (opt.seconds <= 0 || opt.runs == 0) return fail(Status::invalid_argument("--seconds and --runs must be > 0"));
  const bool with_hnswlib = opt.peers == "hnswlib";
  if (!with_hnswlib && opt.peers != "none") return fail(Status::invalid_argument("--peers: hnswlib or none"));

  Dataset ds;
  if (opt.dataset == "synthetic") {
    ds = synthetic_clustered(opt.synthetic_n, 1000, opt.dim, opt.clusters, opt.seed);
  } else {
    std::fprintf(stderr, "loading fashion-mnist from %s...\n", opt.data_dir.c_str());
    auto loaded = load_fashion_mnist(opt.data_dir);
    if (!loaded) return fail(loaded.status());
    ds = std::move(*loaded);
  }
  truncate_dataset(ds, opt.max_base, opt.max_queries);
  GroundTruthInfo gti;
  auto gt = load_or_compute_ground_truth(ds, opt.k, opt.cache_dir, opt.build_threads, &gti);
  if (!gt) return fail(gt.status());
  const size_t max_clients = *std::max_element(clients->begin(), clients->end());

  if (opt.index_kind == "flat") {
    std::printf("vecstream-bench serve: %s, %zu base x %zu queries, d=%zu, k=%zu, flat (exact scans), %zu shard(s)\n",
                ds.name.c_str(), ds.n, ds.nq, ds.d, opt.k, opt.shards);
  } else {
    std::printf("vecstream-bench serve: %s, %zu base x %zu queries, d=%zu, k=%zu, HNSW M=%zu efC=%zu ef=%zu%s, %zu shard(s)\n",
                ds.name.c_str(), ds.n, ds.nq, ds.d, opt.k, opt.m, opt.ef_construction, opt.ef,
                opt.quantized ? " (8-bit walk)" : "", opt.shards);
  }
  std::printf("cpu: %s | %u hardware threads | SIMD %s | clients and servers share these cores (loopback)\n",
              cpu_model().c_str(), std::thread::hardware_concurrency(), simd_level_name(detected_simd_level()));
  std::printf("closed loop: %.1f s per point, median QPS of %zu run(s); while ingesting: re-upserts at %.0f vectors/s\n",
              opt.seconds, opt.runs, opt.ingest_rate);

  auto work = WorkDir::make(opt.dir, "vecstream-serve");
  if (!work) return fail(work.status());
  auto catalog = Catalog::open(work->path());
  if (!catalog) return fail(catalog.status());
  Principal admin;
  Service loader(**catalog, ServiceOptions{}, nullptr, nullptr);
  {
    nlohmann::json cfg = {{"name", kCollection}, {"dim", ds.d}, {"metric", "l2"}, {"shards", opt.shards},
                          {"fsync", "interval"},
                          {"index", {{"kind", opt.index_kind}, {"m", opt.m}, {"ef_construction", opt.ef_construction},
                                     {"ef_search", opt.ef}, {"build_threads", opt.build_threads},
                                     {"quantized", opt.quantized}}}};
    if (opt.seal_rows > 0) cfg["seal_rows"] = opt.seal_rows;
    auto c = loader.create_collection(admin, cfg);
    if (!c) return fail(c.status());
  }
  auto upsert_rows = [&](Service& svc, size_t r0, size_t n) -> Status {
    std::vector<PointWrite> pts(n);
    for (size_t i = 0; i < n; ++i) {
      pts[i].id = PointId::number(r0 + i);
      pts[i].vector.assign(ds.base.data() + (r0 + i) * ds.d, ds.base.data() + (r0 + i + 1) * ds.d);
    }
    auto a = svc.upsert(admin, kCollection, std::move(pts));
    return a.is_ok() ? Status::ok() : a.status();
  };
  const auto t_load = Clock::now();
  for (size_t r0 = 0; r0 < ds.n; r0 += 1000) {
    Status s = upsert_rows(loader, r0, std::min<size_t>(1000, ds.n - r0));
    if (!s.is_ok()) return fail(s);
  }
  auto coll = (*catalog)->get(kCollection);
  if (!coll) return fail(coll.status());
  (*coll)->wait_indexed();
  const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
  // Segments, rows and tombstones summed over the shards: what a query has to walk.
  auto state = [&]() {
    size_t segs = 0, rows = 0, deleted = 0, unindexed = 0;
    uint64_t compactions = 0;
    for (const ShardStats& st : (*coll)->stats().shards) {
      segs += st.segments;
      rows += st.rows;
      deleted += st.deleted;
      unindexed += st.unindexed_rows;
      compactions += st.compactions;
    }
    char buf[200];
    std::snprintf(buf, sizeof buf, "%zu segment(s), %zu rows, %zu tombstoned, %zu not yet indexed, %llu compaction(s)",
                  segs, rows, deleted, unindexed, static_cast<unsigned long long>(compactions));
    return std::string(buf);
  };
  std::printf("vecstream: %zu points upserted and indexed in %.1f s (%.0f vectors/s); seal_rows %zu; %s\n",
              ds.n, load_s, static_cast<double>(ds.n) / load_s, (*coll)->config().shard.seal_rows,
              state().c_str());

  std::unique_ptr<StreamEngine> hnswlib;
  if (with_hnswlib) {
    StreamParams sp;
    sp.dim = ds.d;
    sp.M = opt.m;
    sp.ef_construction = opt.ef_construction;
    sp.ef_search = opt.ef;
    sp.build_threads = opt.build_threads;
    sp.capacity = ds.n;
    auto e = make_hnswlib_stream_engine(sp);
    if (!e) return fail(e.status());
    hnswlib = std::move(*e);
    const auto t0 = Clock::now();
    std::vector<uint64_t> ids;
    for (size_t r0 = 0; r0 < ds.n; r0 += 1000) {
      const size_t n = std::min<size_t>(1000, ds.n - r0);
      ids.resize(n);
      for (size_t i = 0; i < n; ++i) ids[i] = r0 + i;
      Status s = hnswlib->upsert(ids, ds.base.data() + r0 * ds.d);
      if (!s.is_ok()) return fail(s);
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("hnswlib: %s; built in %.1f s\n", hnswlib->describe().c_str(), s);
  }
  std::fflush(stdout);

  const Queries qs_plain = build_queries(ds, ds.nq, opt.k, opt.ef, /*use_cache=*/false);
  const Queries qs_cache = build_queries(ds, ds.nq, opt.k, opt.ef, /*use_cache=*/true);
  // The gRPC load process reads its queries from these files.
  auto load_dir = WorkDir::make("", "vecstream-serve-load");
  if (!load_dir) return fail(load_dir.status());
  const std::string queries_plain_file = load_dir->path() + "/queries-plain.pb";
  const std::string queries_cache_file = load_dir->path() + "/queries-cache.pb";
  const bool any_grpc = std::any_of(transports->begin(), transports->end(),
                                    [](const std::string& t) { return t.rfind("grpc", 0) == 0; });
  if (opt.grpc_load == "process" && any_grpc) {
    for (const auto& [file, qs] : {std::pair{&queries_plain_file, &qs_plain}, std::pair{&queries_cache_file, &qs_cache}}) {
      Status s = write_queries(*file, *qs);
      if (!s.is_ok()) return fail(s);
    }
  }
  auto service_writer = [&](Service& svc) -> Writer::Upsert {
    return [&svc, &upsert_rows](size_t r0, size_t n) { return upsert_rows(svc, r0, n); };
  };
  Writer::Upsert hnswlib_writer = [&](size_t r0, size_t n) -> Status {
    std::vector<uint64_t> ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = r0 + i;
    return hnswlib->upsert(ids, ds.base.data() + r0 * ds.d);
  };

  std::vector<Row> rows;
  auto measure = [&](const std::string& config, const std::string& transport, const std::string& load,
                     size_t n, const LoadRunner& load_with, const Writer::Upsert& upsert) {
    std::vector<LoadResult> runs;
    double rate = 0.0;
    std::string werr;
    for (size_t r = 0; r < opt.runs; ++r) {
      Writer w(upsert, load == "ingesting" ? opt.ingest_rate : 0.0, ds.n);
      w.start();
      const double cpu0 = process_cpu_seconds();
      LoadResult r1 = load_with(n, opt.seconds, 0.0);
      if (r1.requests > 0) r1.cpu_us_per_query = 1e6 * (process_cpu_seconds() - cpu0) / static_cast<double>(r1.requests);
      if (opt.grpc_load != "process") r1.load_cpu_us_per_query = NAN;  // the driver shares this process
      runs.push_back(std::move(r1));
      w.stop();
      rate = w.rate();
      if (werr.empty()) werr = w.error();
    }
    Row row{config, transport, load, n, {}, rate};
    median_of(runs, &row.r);
    if (!werr.empty()) row.r.first_error = "writer: " + werr;
    std::fprintf(stderr, "  %-9s %-11s %-9s %3zu clients: %8.0f QPS  p99 %7.3f ms  recall %.4f%s%s%s%s\n",
                 config.c_str(), transport.c_str(), load.c_str(), n, row.r.qps, row.r.p99_ms,
                 row.r.recall, row.r.first_error.empty() ? "" : "  error: ", row.r.first_error.c_str(),
                 transport == "hnswlib" ? "" : "  | ", transport == "hnswlib" ? "" : state().c_str());
    rows.push_back(row);
  };

  std::optional<LoadResult> rest_open;
  // The case study over each gRPC transport asked for (unary calls, and/or one stream per client).
  struct CaseStudy {
    std::string transport;
    LoadResult r;
    double insert_rate = 0.0;
    std::string writer_error;
  };
  std::vector<CaseStudy> case_studies;
  const size_t server_clients = std::max(max_clients, opt.open_loop_threads);
  // Every configuration's servers run side by side on the one collection, and each point is
  // measured for every configuration back to back, so the ratios (batching or cache on ÷ off)
  // compare the same collection state: while ingesting, the state drifts (tombstones, a growing
  // segment, compaction) and rows taken minutes apart would not be comparable.
  std::map<std::string, std::unique_ptr<Servers>> servers;
  for (const std::string& config : *configs) {
    auto sv = start_servers(**catalog, config, server_clients);
    if (!sv) return fail(sv.status());
    if (config == "cache") {  // one pass fills the cache: the idle rows then measure hits
      InprocClient warm(*(*sv)->service, qs_cache);
      std::vector<uint64_t> ids(qs_cache.k);
      bool cached = false;
      for (size_t q = 0; q < qs_cache.nq; ++q) (void)warm.search(q, ids.data(), &cached);
    }
    servers[config] = std::move(*sv);
  }
  // Threaded clients (one thread per connection) for in-process, REST and hnswlib; the gRPC
  // transports are driven from one thread by a load generator (grpc_load.h).
  auto threaded = [&](ClientFactory make, const Queries& qs) -> LoadRunner {
    return [make = std::move(make), &qs, &gt](size_t n, double seconds, double rate) {
      return rate > 0 ? open_loop(make, n, rate, seconds, qs, *gt) : closed_loop(make, n, seconds, qs, *gt);
    };
  };
  auto factory = [&](const std::string& config, const std::string& tr) -> LoadRunner {
    Servers& sv = *servers.at(config);
    const Queries& qs = config == "cache" ? qs_cache : qs_plain;
    if (tr == "inproc") {
      return threaded([&sv, &qs] { return std::make_unique<InprocClient>(*sv.service, qs); }, qs);
    }
    if (tr == "rest") {
      const int port = sv.rest->port();
      return threaded([port, &qs] { return std::make_unique<RestClient>(port, qs); }, qs);
    }
    const int port = sv.grpc->port();
    const bool stream = tr == "grpc-stream";
    if (opt.grpc_load == "thread") {
      const std::string client = opt.grpc_client;
      return [client, port, stream, &qs, &gt](size_t n, double seconds, double rate) {
        return score_answers(run_grpc_client(client, port, stream, n, qs.grpc.queries(), seconds, rate), *gt);
      };
    }
    const std::string& queries_file = config == "cache" ? queries_cache_file : queries_plain_file;
    const std::string client = opt.grpc_client;
    return [client, port, stream, &queries_file, &load_dir, &gt](size_t n, double seconds, double rate) {
      return grpc_load_process(client, load_dir->path(), queries_file, port, stream, n, seconds, rate, *gt);
    };
  };
  auto rows_at = [&](const char* load) {
    for (const std::string& tr : *transports) {
      for (size_t n : *clients) {
        for (const std::string& config : *configs) {
          Service& svc = *servers.at(config)->service;
          measure(config, tr, load, n, factory(config, tr), service_writer(svc));
        }
      }
    }
    if (hnswlib) {
      const LoadRunner run = threaded([&] { return std::make_unique<HnswlibClient>(*hnswlib, qs_plain); }, qs_plain);
      for (size_t n : *clients) measure("-", "hnswlib", load, n, run, hnswlib_writer);
    }
  };

  rows_at("idle");
  // The open-loop runs take the idle, fully indexed state (plain configuration); the case study
  // brings its own inserts.
  const bool have_rest = std::find(transports->begin(), transports->end(), "rest") != transports->end();
  if (servers.count("plain") && have_rest && opt.rest_rate > 0) {
    rest_open = factory("plain", "rest")(opt.open_loop_threads, std::max(opt.seconds, 3.0), opt.rest_rate);
    std::fprintf(stderr, "  REST open loop at %.0f QPS: p99 %.3f ms\n", opt.rest_rate, rest_open->p99_ms);
  }
  for (const std::string& tr : *transports) {
    if (!servers.count("plain") || tr.rfind("grpc", 0) != 0 || opt.case_qps <= 0) continue;
    Writer w(service_writer(*servers.at("plain")->service), opt.case_inserts, ds.n);
    w.start();
    CaseStudy cs;
    cs.transport = tr;
    cs.r = factory("plain", tr)(opt.open_loop_threads, opt.case_seconds, opt.case_qps);
    w.stop();
    cs.insert_rate = w.rate();
    cs.writer_error = w.error();
    std::fprintf(stderr, "  case study (%s %.0f QPS + %.0f inserts/s): p95 %.3f ms\n", tr.c_str(),
                 opt.case_qps, opt.case_inserts, cs.r.p95_ms);
    case_studies.push_back(std::move(cs));
  }
  (*coll)->wait_indexed();
  std::printf("before the ingesting rows: %s\n", state().c_str());
  rows_at("ingesting");
  std::printf("after them: %s\n", state().c_str());
  servers.clear();

  // ---- report
  auto find = [&](const std::string& config, const std::string& tr, const std::string& load,
                  size_t n) -> const Row* {
    for (const Row& r : rows) {
      if (r.config == config && r.transport == tr && r.load == load && r.clients == n) return &r;
    }
    return nullptr;
  };
  std::printf("\nclosed loop (each client: one request at a time, own connection); latency in ms\n");
  std::printf("cpu/q: CPU time of this process per answered query, in µs (gRPC rows: the server's "
              "alone, %s; REST and in-process rows include their client threads)\n",
              opt.grpc_load == "process" ? "its load runs in a process of its own" : "with its load driver thread");
  const size_t width = 139;
  print_rule(width);
  std::printf("%-9s %-11s %-10s %7s %9s %8s %8s %8s %8s %6s %9s %10s %10s\n", "config", "engine", "load",
              "clients", "QPS", "p50", "p95", "p99", "recall", "hits", "cpu/q", "÷inproc", "÷hnswlib");
  print_rule(width);
  for (const Row& r : rows) {
    const Row* base = find(r.config, "inproc", r.load, r.clients);
    const Row* peer = find("-", "hnswlib", r.load, r.clients);
    std::printf("%-9s %-11s %-10s %7zu %9.0f %8.3f %8.3f %8.3f %8.4f %5.0f%% %9.0f %10s %10s%s%s\n",
                r.config.c_str(), r.transport.c_str(), r.load.c_str(), r.clients, r.r.qps, r.r.p50_ms,
                r.r.p95_ms, r.r.p99_ms, r.r.recall, 100.0 * r.r.hit_ratio, r.r.cpu_us_per_query,
                r.transport == "hnswlib" || !base ? "" : ratio(r.r.qps, base->r.qps).c_str(),
                !peer || r.transport == "hnswlib" ? "" : ratio(r.r.qps, peer->r.qps).c_str(),
                r.r.errors || !r.r.first_error.empty() ? "  errors: " : "",
                r.r.errors || !r.r.first_error.empty()
                    ? (std::to_string(r.r.errors) + " " + r.r.first_error).c_str()
                    : "");
  }
  print_rule(width);
  double ingest_seen = 0.0;
  for (const Row& r : rows) ingest_seen = std::max(ingest_seen, r.ingest_rate);
  std::printf("while ingesting: re-upserts acknowledged at up to %.0f vectors/s (asked %.0f)\n",
              ingest_seen, opt.ingest_rate);

  std::printf("\ntargets\n");
  print_rule(width);
  auto verdict = [](bool ok) { return ok ? "PASS" : "MISS"; };
  const Row* ip = find("plain", "inproc", "idle", max_clients);
  for (const char* tr : {"grpc", "grpc-stream"}) {
    const Row* g = find("plain", tr, "idle", max_clients);
    if (!g || !ip) continue;
    const double rr = g->r.qps / ip->r.qps;
    std::printf("%s search QPS ÷ in-process, %zu clients, idle: %.2fx (target >= 0.7x) %s\n",
                std::strcmp(tr, "grpc") == 0 ? "gRPC (unary Search)" : "gRPC (SearchStream)",
                max_clients, rr, verdict(rr >= 0.7));
    if (opt.grpc_load == "process") {  // not a target: what the load's own cores would leave
      std::printf("  (server CPU per query: in-process %.0f µs, %s %.0f µs: %.2fx, the ratio with the "
                  "load on cores of its own; the load process took %.0f µs per query)\n",
                  ip->r.cpu_us_per_query, tr, g->r.cpu_us_per_query, ip->r.cpu_us_per_query / g->r.cpu_us_per_query,
                  g->r.load_cpu_us_per_query);
    }
  }
  if (rest_open) {
    const bool ok = rest_open->p99_ms <= 5.0 && rest_open->qps >= 0.98 * opt.rest_rate && !rest_open->errors;
    std::printf("REST open loop at %.0f QPS (%zu threads): achieved %.0f QPS, p50 %.3f / p95 %.3f / p99 %.3f ms, "
                "recall %.4f, %zu errors (target p99 <= 5 ms) %s\n",
                opt.rest_rate, opt.open_loop_threads, rest_open->qps, rest_open->p50_ms,
                rest_open->p95_ms, rest_open->p99_ms, rest_open->recall, rest_open->errors,
                verdict(ok));
  }
  for (const CaseStudy& cs : case_studies) {
    const LoadResult& c = cs.r;
    const bool ok = c.p95_ms <= 30.0 && c.recall >= 0.95 && c.qps >= 0.98 * opt.case_qps &&
                    !c.errors && cs.writer_error.empty();
    std::printf("case study: %s open loop at %.0f QPS + %.0f inserts/s for %.0f s: achieved %.0f QPS, "
                "inserts %.0f/s, p50 %.3f / p95 %.3f / p99 %.3f ms, recall@%zu %.4f, %zu errors%s%s "
                "(target p95 <= 30 ms, recall >= 0.95) %s\n",
                cs.transport.c_str(), opt.case_qps, opt.case_inserts, opt.case_seconds, c.qps,
                cs.insert_rate, c.p50_ms, c.p95_ms, c.p99_ms, opt.k, c.recall, c.errors,
                cs.writer_error.empty() ? "" : ", writer: ", cs.writer_error.c_str(), verdict(ok));
  }
  for (const char* tr : {"grpc", "grpc-stream", "rest", "inproc"}) {
    const Row* plain = find("plain", tr, "idle", max_clients);
    const Row* bat = find("batching", tr, "idle", max_clients);
    const Row* cache = find("cache", tr, "idle", max_clients);
    if (plain && bat) {
      std::printf("micro-batching on ÷ off, %s, %zu clients, idle: QPS %.2fx, p99 %.2fx\n", tr,
                  max_clients, bat->r.qps / plain->r.qps, bat->r.p99_ms / plain->r.p99_ms);
    }
    if (plain && cache) {
      std::printf("result cache on ÷ off, %s, %zu clients, idle (hits %.0f%%): QPS %.2fx\n", tr,
                  max_clients, 100.0 * cache->r.hit_ratio, cache->r.qps / plain->r.qps);
    }
  }
  print_rule(width);
  std::printf("RSS at the end: %.0f MiB\n", static_cast<double>(rss_bytes()) / (1 << 20));
  Status closed = (*catalog)->close();
  if (!closed.is_ok()) return fail(closed);
  return 0;
}

void add_serve_commands_impl(CLI::App& app) {
  auto opt = std::make_shared<ServeOptions>();
  CLI::App* s = app.add_subcommand(
      "serve", "Serving benchmark: gRPC and REST search over loopback (closed and open loop, "
               "micro-batching and cache on/off, idle and while ingesting) beside in-process "
               "queries and hnswlib");
  s->add_option("--dataset", opt->dataset, "fashion-mnist or synthetic")
      ->check(CLI::IsMember({"fashion-mnist", "synthetic"}))
      ->capture_default_str();
  s->add_option("--data-dir", opt->data_dir, "fashion-mnist: folder of the idx3 .gz files")->capture_default_str();
  s->add_option("--synthetic-n", opt->synthetic_n, "synthetic: base vectors")->capture_default_str();
  s->add_option("--dim", opt->dim, "synthetic: dimension")->capture_default_str();
  s->add_option("--max-base", opt->max_base, "keep only the first N base vectors (0 = all)")->capture_default_str();
  s->add_option("--max-queries", opt->max_queries, "keep only the first N queries (0 = all)")->capture_default_str();
  s->add_option("--k", opt->k, "neighbours per query (recall@k)")->check(CLI::Range(size_t{1}, size_t{1000}))->capture_default_str();
  s->add_option("--ef", opt->ef, "HNSW search beam width, every engine")->check(CLI::Range(size_t{1}, size_t{65536}))->capture_default_str();
  s->add_option("--m", opt->m, "HNSW links per node, every engine")->check(CLI::Range(size_t{4}, size_t{128}))->capture_default_str();
  s->add_option("--ef-construction", opt->ef_construction, "HNSW build beam width")->capture_default_str();
  s->add_option("--shards", opt->shards, "shards of the collection")->check(CLI::Range(size_t{1}, size_t{64}))->capture_default_str();
  s->add_option("--build-threads", opt->build_threads, "index build threads")->check(CLI::Range(size_t{1}, size_t{256}))->capture_default_str();
  s->add_option("--index", opt->index_kind, "index kind of the collection: hnsw, or flat (exact scans)")
      ->check(CLI::IsMember({"hnsw", "flat"}))
      ->capture_default_str();
  s->add_option("--seal-rows", opt->seal_rows, "rows of a growing segment before it is sealed (0 = the collection default)")->capture_default_str();
  s->add_flag("--quantized", opt->quantized, "HNSW walks on 8-bit codes and re-scores with floats");
  s->add_option("--clients", opt->clients, "comma-separated closed-loop client counts")->capture_default_str();
  s->add_option("--seconds", opt->seconds, "closed loop: seconds per point")->capture_default_str();
  s->add_option("--runs", opt->runs, "closed loop: runs per point (median QPS reported)")->capture_default_str();
  s->add_option("--transports", opt->transports, "any of inproc, grpc (unary Search), grpc-stream (SearchStream, one stream per client), rest")->capture_default_str();
  s->add_option("--configs", opt->configs, "server configurations: any of plain, batching, cache")->capture_default_str();
  s->add_option("--peers", opt->peers, "hnswlib or none")->capture_default_str();
  s->add_option("--ingest-rate", opt->ingest_rate, "while ingesting: re-upserted vectors/s")->capture_default_str();
  s->add_option("--rest-rate", opt->rest_rate, "REST open loop: arrival rate, QPS (0 = skip)")->capture_default_str();
  s->add_option("--case-qps", opt->case_qps, "case study: gRPC arrival rate, QPS, over each gRPC transport asked for (0 = skip)")->capture_default_str();
  s->add_option("--case-inserts", opt->case_inserts, "case study: upserted vectors/s")->capture_default_str();
  s->add_option("--case-seconds", opt->case_seconds, "case study: duration")->capture_default_str();
  s->add_option("--open-loop-threads", opt->open_loop_threads, "open loop: client threads")->check(CLI::Range(size_t{1}, size_t{1024}))->capture_default_str();
  s->add_option("--cache-dir", opt->cache_dir, "ground-truth cache folder ('' = no cache)")->capture_default_str();
  s->add_option("--dir", opt->dir, "data directory of the server (default: a temporary one)");
  s->add_option("--grpc-load", opt->grpc_load,
                 "where the gRPC load driver runs: process (its own, as real clients do) or thread "
                 "(inside the server's process, sharing gRPC's poller with the server)")
      ->check(CLI::IsMember({"process", "thread"}))
      ->capture_default_str();
  s->add_option("--grpc-client", opt->grpc_client,
                 "the gRPC load generator: h2 (a lean client of gRPC's HTTP/2 wire protocol, "
                 "nghttp2) or grpcpp (gRPC's own C++ client, which takes more of the shared cores)")
      ->check(CLI::IsMember({"h2", "grpcpp"}))
      ->capture_default_str();
  s->add_flag("--quick", opt->quick, "smoke run: 10k base, 1k queries, 1 s points, 3 s case study");
  s->callback([opt] { throw CLI::RuntimeError(run_serve(*opt)); });

  // The gRPC load process that `serve` starts (not for direct use: hidden from --help).
  auto lo = std::make_shared<GrpcLoadOptions>();
  CLI::App* l = app.add_subcommand("serve-grpc-load", "");
  l->group("");
  l->add_option("--client", lo->client)->check(CLI::IsMember({"h2", "grpcpp"}));
  l->add_option("--port", lo->port)->required();
  l->add_flag("--stream", lo->stream);
  l->add_option("--slots", lo->slots)->required()->check(CLI::Range(size_t{1}, size_t{4096}));
  l->add_option("--seconds", lo->seconds)->required()->check(CLI::PositiveNumber);
  l->add_option("--rate", lo->rate)->required()->check(CLI::NonNegativeNumber);
  l->add_option("--queries", lo->queries)->required();
  l->add_option("--answers", lo->answers)->required();
  l->callback([lo] { throw CLI::RuntimeError(run_grpc_load(*lo)); });
}

}  // namespace

void add_serve_commands(CLI::App& app) { add_serve_commands_impl(app); }

}  // namespace vecstream::bench
