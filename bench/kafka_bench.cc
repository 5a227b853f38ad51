// vecstream-bench kafka: stream events through a Kafka-protocol broker into a collection and
// measure what the streaming path delivers — events/s into searchable state, freshness (event
// time -> applied, i.e. visible to the next query) and consumer lag.
//
// Set-up: the broker is `vecstream kafka-dev` (librdkafka's mock cluster) in its own process on
// 127.0.0.1; the consumer is a KafkaSource feeding a Collection of P shards (P = the topic's
// partitions) in this process, as in `vecstream serve`; a producer in this process writes JSON
// events keyed by id (partition = hash(id) % P). Per workload:
//   - 128-d: seeded synthetic clustered vectors;
//   - 784-d: Fashion-MNIST training images;
//   - text:  WordNet glosses, embedded on the way in by the built-in hashing embedder (256-d);
// two phases on a fresh collection:
//   1. max: --events events produced as fast as the source applies them (at most ~3 MiB a
//      partition ahead of it: the dev broker keeps only 5 MiB a partition); sustained rate =
//      events / (time from the first send until the last event is applied);
//   2. rate: once the index builder has caught up with phase 1, --rate events/s for --seconds
//      (new ids), paced; achieved applied rate, freshness p50/p99 of that phase alone, and the
//      highest lag seen (sampled every 50 ms).
// Peer: hnswlib (the same vectors, M and efConstruction, the same threads) building its index
// without Kafka, WAL or payloads — the ceiling of a pipeline that must also index; the ratio
// tells what the whole streaming path keeps of it. For text its input is the embedded vectors.
// Everything shares this machine's cores: broker, producer, source, indexer.
#include "kafka_bench.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/child_process.h"
#include "app/corpus.h"
#include "dataset.h"
#include "embed/embedder_factory.h"
#include "ingest/event_producer.h"
#include "ingest/ingest_metrics.h"
#include "ingest/kafka_source.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "peers.h"
#include "report.h"
#include "segment/collection.h"
#include "work_dir.h"

namespace vecstream::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct KafkaOptions {
  std::string workloads = "128,784,text";
  size_t events = 50000;     // max phase, per workload
  double rate = 5000;        // rate phase, events/s
  double seconds = 10;       // rate phase length
  int partitions = 2;
  std::string index = "hnsw";  // or flat: no index build competing for the cores
  size_t m = 16, ef_construction = 100;
  size_t build_threads = 1;  // index build threads per collection (and hnswlib's)
  size_t batch_max_ms = 5;
  size_t fetch_wait_ms = 10;
  std::string fashion_dir = kFashionMnistDir;
  std::string dir;           // working directory (default: temporary)
  std::string peers = "hnswlib";
  uint64_t seed = 42;
};

struct Workload {
  std::string name;
  size_t dim = 0;
  Metric metric = Metric::kL2;
  std::vector<float> vectors;      // n * dim (vector workloads)
  std::vector<std::string> texts;  // text workload
  size_t size() const { return texts.empty() ? vectors.size() / dim : texts.size(); }
};

struct PhaseResult {
  double seconds = 0;
  uint64_t events = 0;
  double applied_per_s = 0;
  double fresh_p50 = NAN, fresh_p99 = NAN;
  double lag_max = 0;
  uint64_t dead_letters = 0;
  uint64_t write_rejections = 0;  // shard writes refused (indexer behind), retried after a pause
  uint64_t pauses = 0;            // partitions paused for back-pressure
  uint64_t lost = 0;              // events the broker deleted before they were applied
};

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<Workload> load_workload(const std::string& name, const KafkaOptions& o, size_t need) {
  Workload w;
  w.name = name;
  if (name == "128") {
    Dataset ds = synthetic_clustered(need, 0, 128, 100, o.seed);
    w.dim = 128;
    w.vectors = std::move(ds.base);
  } else if (name == "784") {
    auto img = read_idx3(o.fashion_dir + "/train-images-idx3-ubyte.gz");
    if (!img.is_ok()) return img.status();
    w.dim = img->rows * img->cols;
    const size_t n = std::min(need, img->count);
    img->pixels.resize(n * w.dim);
    w.vectors = std::move(img->pixels);
  } else if (name == "text") {
    auto syn = load_wordnet_nouns(kWordNetNouns, need);
    if (!syn.is_ok()) return syn.status();
    for (const auto& s : *syn) w.texts.push_back((s.words.empty() ? "" : s.words[0] + ": ") + s.gloss);
    w.dim = 256;
    w.metric = Metric::kCosine;
  } else {
    return Status::invalid_argument("--workloads: unknown workload \"" + name + "\" (128, 784, text)");
  }
  return w;
}

std::string event_json(const Workload& w, size_t row, uint64_t id) {
  Event ev;
  ev.id = PointId::number(id);
  if (w.texts.empty()) {
    const float* v = w.vectors.data() + (row % w.size()) * w.dim;
    ev.vector.emplace(v, v + w.dim);
  } else {
    ev.text = w.texts[row % w.size()];
  }
  ev.payload = {{"row", row}};
  ev.ts_ms = unix_ms();
  return event_to_json(ev);
}

// One workload, both phases, on a fresh topic and collection.
struct WorkloadRun {
  PhaseResult max, rate;
  double peer_build_per_s = NAN;
  double index_catch_up_s = 0;  // after the max phase, until every row was indexed
  size_t rss_after = 0;
};

Status run_workload(const KafkaOptions& o, const std::string& bootstrap, const std::string& topic,
                    const std::string& dir, const Workload& w, Embedder* embedder, WorkloadRun* out) {
  auto config = CollectionConfig::from_json(
      {{"name", "k" + w.name},
       {"dim", w.dim},
       {"metric", std::string(metric_name(w.metric))},
       {"shards", o.partitions},
       {"fsync", "interval"},
       {"index", o.index == "flat" ? nlohmann::json{{"kind", "flat"}}
                                   : nlohmann::json{{"kind", "hnsw"}, {"m", o.m}, {"ef_construction", o.ef_construction},
                                                    {"build_threads", o.build_threads}}}});
  if (!config.is_ok()) return config.status();
  auto coll = Collection::create(dir, *config);
  if (!coll.is_ok()) return coll.status();

  obs::MetricsRegistry registry;
  KafkaSourceOptions so;
  so.bootstrap_servers = bootstrap;
  so.group_id = "bench-" + topic;
  so.topic = topic;
  so.batch_max_ms = static_cast<uint32_t>(o.batch_max_ms);
  so.properties["session.timeout.ms"] = "6000";
  so.properties["fetch.wait.max.ms"] = std::to_string(o.fetch_wait_ms);
  auto source = KafkaSource::create(so, coll->get(), make_text_embedder(embedder), &registry);
  if (!source.is_ok()) return source.status();
  auto producer = EventProducer::create(bootstrap, topic);
  if (!producer.is_ok()) return producer.status();
  VS_RETURN_IF_ERROR((*source)->start());

  auto ingest_metrics = IngestMetrics::register_in(registry);  // the source's own families
  if (!ingest_metrics.is_ok()) return ingest_metrics.status();
  auto freshness = [&] { return ingest_metrics->freshness->with({topic}).snapshot(); };
  auto applied = [&] { return (*source)->stats().events_applied + (*source)->stats().dead_lettered; };
  auto lag_now = [&] {
    int64_t lag = 0;
    for (const auto& p : (*source)->stats().partitions) lag += std::max<int64_t>(0, p.lag);
    return static_cast<double>(lag);
  };

  // The consumer group forms first (the dev broker waits 3 s for members): a warm-up event.
  VS_RETURN_IF_ERROR((*producer)->send(PointId::number(~uint64_t{0} >> 1), event_json(w, 0, ~uint64_t{0} >> 1)));
  VS_RETURN_IF_ERROR((*producer)->flush(std::chrono::seconds(10)));
  const auto warm_deadline = Clock::now() + std::chrono::seconds(60);
  while (applied() < 1) {
    if (Clock::now() > warm_deadline) return Status::io_error("the source consumed nothing within 60 s");
    VS_RETURN_IF_ERROR((*source)->health());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // Runs one phase: `send(i)` for i in [0, n) paced at `rate` (0 = as fast as possible).
  auto phase = [&](uint64_t first_id, uint64_t n, double rate, PhaseResult* r) -> Status {
    const uint64_t base = applied();
    const auto before = freshness();
    std::atomic<bool> done{false};
    double lag_max = 0;
    std::thread sampler([&] {
      while (!done.load()) {
        lag_max = std::max(lag_max, lag_now());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
    // The dev broker keeps 5 MiB a partition (dev_broker.h): as fast as possible means as fast as
    // the source applies with at most ~3 MiB a partition (uncompressed) produced ahead of it.
    const size_t json_bytes = event_json(w, 0, 0).size();
    const uint64_t lead = std::clamp<uint64_t>((3u << 20) * static_cast<uint64_t>(o.partitions) / json_bytes, 500, 50000);
    const auto t0 = Clock::now();
    Status st;
    for (uint64_t i = 0; i < n && st.is_ok(); ++i) {
      while (rate <= 0 && i > applied() - base + lead && st.is_ok()) {
        st = (*source)->health();
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      if (rate > 0) {
        const auto due = t0 + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(static_cast<double>(i) / rate));
        if (due > Clock::now()) std::this_thread::sleep_until(due);
      }
      const uint64_t id = first_id + i;
      st = (*producer)->send(PointId::number(id), event_json(w, static_cast<size_t>(id), id));
    }
    if (st.is_ok()) st = (*producer)->flush(std::chrono::seconds(60));
    const auto deadline = Clock::now() + std::chrono::seconds(300);
    while (st.is_ok() && applied() < base + n) {
      if (Clock::now() > deadline) st = Status::io_error("events not applied within 300 s");
      if (const double lost = ingest_metrics->lost->with({topic}).value(); lost > 0) {
        st = Status::io_error(std::to_string(static_cast<uint64_t>(lost)) +
                               " events deleted by the broker's retention before they were applied");
      }
      if (st.is_ok()) st = (*source)->health();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    done = true;
    sampler.join();
    VS_RETURN_IF_ERROR(st);
    // Freshness of this phase alone: the difference of two cumulative snapshots.
    obs::HistogramSnapshot after = freshness(), window = after;
    for (size_t b = 0; b < window.cumulative.size() && b < before.cumulative.size(); ++b) {
      window.cumulative[b] -= before.cumulative[b];
    }
    window.count = after.count - before.count;
    window.sum = after.sum - before.sum;
    r->seconds = secs;
    r->events = n;
    r->applied_per_s = static_cast<double>(n) / secs;
    r->fresh_p50 = window.quantile(0.5);
    r->fresh_p99 = window.quantile(0.99);
    r->lag_max = lag_max;
    const KafkaSourceStats stats = (*source)->stats();
    r->dead_letters = stats.dead_lettered;
    r->write_rejections = stats.write_rejections;
    r->pauses = stats.pauses;
    r->lost = static_cast<uint64_t>(ingest_metrics->lost->with({topic}).value());
    return Status::ok();
  };

  VS_RETURN_IF_ERROR(phase(0, o.events, 0, &out->max));
  // The max phase outruns the index builder (the growing segment serves the rest exactly); the
  // rate phase measures the steady state, so it starts once the builder has caught up.
  const auto catch_up = Clock::now();
  while ((*coll)->stats().unindexed_rows > 0) {
    if (Clock::now() - catch_up > std::chrono::seconds(600)) return Status::io_error("the index never caught up");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  out->index_catch_up_s = std::chrono::duration<double>(Clock::now() - catch_up).count();
  const auto rate_events = static_cast<uint64_t>(o.rate * o.seconds);
  VS_RETURN_IF_ERROR(phase(o.events, rate_events, o.rate, &out->rate));
  out->rss_after = rss_bytes();
  Status st = (*source)->stop();
  VS_RETURN_IF_ERROR((*coll)->close());
  return st;
}

double peer_build_rate(const KafkaOptions& o, const Workload& w, Embedder* embedder) {
  if (o.peers.find("hnswlib") == std::string::npos) return NAN;
  const size_t n = std::min(o.events, w.size());
  std::vector<float> data;
  if (w.texts.empty()) {
    data.assign(w.vectors.begin(), w.vectors.begin() + static_cast<std::ptrdiff_t>(n * w.dim));
  } else {
    data.resize(n * w.dim);
    std::vector<std::string_view> views(w.texts.begin(), w.texts.begin() + static_cast<std::ptrdiff_t>(n));
    if (!embedder->embed(views, data).is_ok()) return NAN;
  }
  AnnParams p;
  p.M = o.m;
  p.ef_construction = o.ef_construction;
  auto peer = make_hnswlib_runner(p);
  const auto t0 = Clock::now();
  if (!peer->build(data.data(), n, w.dim, o.build_threads).is_ok()) return NAN;
  return static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - t0).count();
}

int run_kafka(const KafkaOptions& o) {
  // The table is the output: the source's info lines (assignments, revocations) go unless asked for.
  obs::default_logger().set_level(obs::log_level_from_env(obs::LogLevel::kWarn));
  std::vector<std::string> names;
  {
    std::stringstream ss(o.workloads);
    for (std::string s; std::getline(ss, s, ',');) names.push_back(s);
  }
  auto work = WorkDir::make(o.dir, "vecstream-kafka-bench");
  if (!work.is_ok()) {
    std::fprintf(stderr, "kafka: %s\n", work.status().to_string().c_str());
    return 1;
  }
  std::vector<std::string> broker_args{"kafka-dev"};
  for (const auto& n : names) {
    broker_args.insert(broker_args.end(), {"--topic", "w" + n + ":" + std::to_string(o.partitions),
                                           "--topic", "w" + n + ".dlq:1"});
  }
  ChildProcess broker;
  Status st = broker.start("kafka-dev", vecstream_executable(), broker_args, work->path() + "/kafka-dev.log");
  auto bootstrap = st.is_ok() ? broker.first_line(20000) : Result<std::string>(st);
  if (!bootstrap.is_ok()) {
    std::fprintf(stderr, "kafka: cannot start the broker: %s\n", bootstrap.status().to_string().c_str());
    return 1;
  }
  auto embedder = make_embedder(EmbedderSpec{});
  if (!embedder.is_ok()) {
    std::fprintf(stderr, "kafka: %s\n", embedder.status().to_string().c_str());
    return 1;
  }

  std::printf("vecstream-bench kafka: %s; broker: vecstream kafka-dev (librdkafka mock cluster, own process) at %s\n",
              cpu_model().c_str(), bootstrap->c_str());
  std::printf("per workload: %d partitions = shards, %s M=%zu efC=%zu, %zu build thread(s), fsync interval, "
              "JSON events; max phase %zu events, rate phase %.0f ev/s for %.0f s; consumer fetch.wait.max.ms=%zu, "
              "batch_max_ms=%zu\n",
              o.partitions, o.index == "flat" ? "flat index (no HNSW)" : "HNSW", o.m, o.ef_construction,
              o.build_threads, o.events, o.rate, o.seconds,
              o.fetch_wait_ms, o.batch_max_ms);
  std::printf("peer: hnswlib building the same vectors (no Kafka, WAL, payloads), %zu thread(s)\n\n", o.build_threads);
  std::printf("%-9s %-5s %9s %12s %12s %12s %10s %14s %10s\n", "workload", "phase", "events", "applied/s",
              "fresh p50", "fresh p99", "lag max", "hnswlib add/s", "ratio");
  print_rule(100);
  int rc = 0;
  for (const auto& name : names) {
    auto w = load_workload(name, o, o.events + static_cast<size_t>(o.rate * o.seconds) + 1);
    if (!w.is_ok()) {
      std::fprintf(stderr, "kafka: %s\n", w.status().to_string().c_str());
      rc = 1;
      continue;
    }
    WorkloadRun r;
    r.peer_build_per_s = peer_build_rate(o, *w, embedder->get());
    st = run_workload(o, *bootstrap, "w" + name, work->path() + "/c" + name, *w, embedder->get(), &r);
    if (!st.is_ok()) {
      std::fprintf(stderr, "kafka: workload %s: %s\n", name.c_str(), st.to_string().c_str());
      rc = 1;
      continue;
    }
    const std::string label = name == "text" ? "text" : name + "-d";
    for (const auto* ph : {&r.max, &r.rate}) {
      const bool is_max = ph == &r.max;
      std::printf("%-9s %-5s %9llu %12s %12s %12s %10s %14s %10s\n", label.c_str(), is_max ? "max" : "rate",
                  static_cast<unsigned long long>(ph->events), fmt("%.0f", ph->applied_per_s).c_str(),
                  fmt("%.1f ms", ph->fresh_p50 * 1000).c_str(), fmt("%.1f ms", ph->fresh_p99 * 1000).c_str(),
                  fmt("%.0f", ph->lag_max).c_str(), is_max ? fmt("%.0f", r.peer_build_per_s).c_str() : "",
                  is_max ? fmt("%.2fx", ph->applied_per_s / r.peer_build_per_s).c_str() : "");
    }
    std::printf("%-9s index caught up %.1f s after the max phase; dead letters %llu; back-pressure: %llu write "
                "rejections, %llu pauses; lost %llu; RSS after %.0f MiB\n", "", r.index_catch_up_s,
                static_cast<unsigned long long>(r.rate.dead_letters),
                static_cast<unsigned long long>(r.rate.write_rejections),
                static_cast<unsigned long long>(r.rate.pauses), static_cast<unsigned long long>(r.rate.lost),
                static_cast<double>(r.rss_after) / (1 << 20));
    std::fflush(stdout);
  }
  print_rule(100);
  std::printf("applied/s: events written to shards (searchable at once: the growing segment is scanned exactly);\n"
              "freshness: event timestamp -> applied, from vecstream_ingest_freshness_seconds (bucket-interpolated);\n"
              "ratio: applied/s over hnswlib's add/s of the same vectors on the same cores.\n");
  const int broker_exit = broker.stop(10000);
  if (broker_exit != 0) std::fprintf(stderr, "kafka: broker exited with %d\n", broker_exit);
  return rc;
}

}  // namespace

void add_kafka_commands(CLI::App& app) {
  auto opt = std::make_shared<KafkaOptions>();
  CLI::App* s = app.add_subcommand(
      "kafka", "Kafka ingestion benchmark: events through a Kafka-protocol broker into a collection "
               "(sustained events/s into searchable state, freshness, lag) beside hnswlib's build rate");
  s->add_option("--workloads", opt->workloads, "comma-separated: 128 (synthetic), 784 (Fashion-MNIST), text (WordNet)")
      ->capture_default_str();
  s->add_option("--events", opt->events, "max phase: events produced as fast as possible")->capture_default_str();
  s->add_option("--rate", opt->rate, "rate phase: events per second")->check(CLI::PositiveNumber)->capture_default_str();
  s->add_option("--seconds", opt->seconds, "rate phase: seconds")->check(CLI::PositiveNumber)->capture_default_str();
  s->add_option("--partitions", opt->partitions, "topic partitions = collection shards")
      ->check(CLI::Range(1, 64))->capture_default_str();
  s->add_option("--index", opt->index, "hnsw, or flat (exact scans: nothing to build)")
      ->check(CLI::IsMember({"hnsw", "flat"}))->capture_default_str();
  s->add_option("--m", opt->m, "HNSW links per node")->capture_default_str();
  s->add_option("--ef-construction", opt->ef_construction, "HNSW build beam width")->capture_default_str();
  s->add_option("--build-threads", opt->build_threads, "index build threads per collection (and hnswlib's)")
      ->capture_default_str();
  s->add_option("--batch-max-ms", opt->batch_max_ms, "source batching wait")->capture_default_str();
  s->add_option("--fetch-wait-ms", opt->fetch_wait_ms, "consumer fetch.wait.max.ms")->capture_default_str();
  s->add_option("--fashion-dir", opt->fashion_dir, "Fashion-MNIST idx files")->capture_default_str();
  s->add_option("--dir", opt->dir, "working directory (default: a temporary one, removed)");
  s->add_option("--peers", opt->peers, "hnswlib, or none")->capture_default_str();
  s->add_option("--seed", opt->seed, "synthetic data seed")->capture_default_str();
  s->callback([opt] { throw CLI::RuntimeError(run_kafka(*opt)); });
}

}  // namespace vecstream::bench
