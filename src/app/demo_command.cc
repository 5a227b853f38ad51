#include "app/demo_command.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/child_process.h"
#include "app/corpus.h"
#include "app/rest_client.h"
#include "ingest/event_producer.h"
#include "obs/log.h"

namespace vecstream {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr int kPartitions = 2;
constexpr size_t kK = 10;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- Prometheus text, as a user's dashboard reads it ------------------------------------------

// Sum of every series of `name` (labels ignored).
double metric_sum(const std::string& text, std::string_view name) {
  double sum = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == '#' || line.substr(0, name.size()) != name) continue;
    if (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ') continue;
    const size_t sp = line.rfind(' ');
    if (sp == std::string_view::npos) continue;
    sum += std::strtod(std::string(line.substr(sp + 1)).c_str(), nullptr);
  }
  return sum;
}

// Cumulative bucket counts of histogram `name`, summed over its series: le -> count.
std::map<double, double> histogram_buckets(const std::string& text, const std::string& name) {
  std::map<double, double> out;
  const std::string prefix = name + "_bucket{";
  size_t pos = 0;
  while ((pos = text.find(prefix, pos)) != std::string::npos) {
    if (pos > 0 && text[pos - 1] != '\n') {
      pos += prefix.size();
      continue;
    }
    const size_t eol = std::min(text.find('\n', pos), text.size());
    const std::string line = text.substr(pos, eol - pos);
    pos = eol;
    const size_t le = line.find("le=\"");
    const size_t sp = line.rfind(' ');
    if (le == std::string::npos || sp == std::string::npos) continue;
    const std::string bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
    const double b = bound == "+Inf" ? INFINITY : std::strtod(bound.c_str(), nullptr);
    out[b] += std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return out;
}

// The q-quantile of the observations between two scrapes, as histogram_quantile() computes it.
double window_quantile(const std::map<double, double>& before, const std::map<double, double>& after,
                       double q) {
  std::vector<std::pair<double, double>> b;  // (le, cumulative count in the window)
  for (const auto& [le, c] : after) {
    auto it = before.find(le);
    b.emplace_back(le, c - (it == before.end() ? 0 : it->second));
  }
  if (b.empty() || b.back().second <= 0) return NAN;
  const double rank = q * b.back().second;
  double lower = 0, prev = 0;
  for (const auto& [le, c] : b) {
    if (c >= rank) {
      if (std::isinf(le)) return lower;  // in the +Inf bucket: the highest finite bound
      return lower + (le - lower) * ((rank - prev) / std::max(c - prev, 1e-9));
    }
    lower = le;
    prev = c;
  }
  return lower;
}

// ---- latency samples ---------------------------------------------------------------------------

class Samples {
 public:
  void add(double v) {
    std::lock_guard lk(mu_);
    v_.push_back(v);
  }
  std::vector<double> take() {
    std::lock_guard lk(mu_);
    std::vector<double> out;
    out.swap(v_);
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<double> v_;
};

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return NAN;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

std::atomic<int> g_signal{0};

// Sleeps up to `d`, waking early on Ctrl-C / SIGTERM (the signals are blocked in every thread and
// taken here, in the main thread, by sigtimedwait).
bool wait_or_signal(std::chrono::milliseconds d) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const timespec ts{static_cast<time_t>(d.count() / 1000), static_cast<long>((d.count() % 1000) * 1000000)};
  const int sig = ::sigtimedwait(&set, nullptr, &ts);
  if (sig > 0) g_signal = sig;
  return g_signal.load() != 0;
}

std::string fmt_count(double v) {
  char buf[64];
  const long long n = std::llround(v);
  std::string s = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  std::snprintf(buf, sizeof(buf), "%s%s", n < 0 ? "-" : "", out.c_str());
  return buf;
}

std::string fmt_ms(double seconds) {
  if (std::isnan(seconds)) return "  -  ";
  char buf[32];
  std::snprintf(buf, sizeof(buf), seconds < 0.01 ? "%.2f ms" : "%.0f ms", seconds * 1000);
  return buf;
}

nlohmann::json vector_json(const float* v, size_t d) {
  nlohmann::json a = nlohmann::json::array();
  for (size_t i = 0; i < d; ++i) a.push_back(v[i]);
  return a;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "vecstream demo: %s\n", what.c_str());
  return 1;
}

}  // namespace

int run_demo(const DemoArgs& args) {
  if (args.duration_s < 0 || args.images_per_s <= 0 || args.articles_per_s < 0 || args.interval_s <= 0 ||
      args.query_threads == 0 || args.delete_share < 0 || args.delete_share >= 1) {
    return fail("bad arguments: rates and interval must be positive, --delete-share in [0, 1)");
  }
  // The progress table is the output: this process's own log lines (the producers' client) go
  // unless VECSTREAM_LOG_LEVEL asks for them; the children log to files.
  obs::default_logger().set_level(obs::log_level_from_env(obs::LogLevel::kError));
  // ---- the corpora
  const std::string fashion_dir = args.fashion_dir.empty() ? kFashionMnistDir : args.fashion_dir;
  auto images = read_idx3(fashion_dir + "/train-images-idx3-ubyte.gz");
  if (!images.is_ok()) return fail(images.status().to_string());
  auto labels = read_idx1(fashion_dir + "/train-labels-idx1-ubyte.gz");
  if (!labels.is_ok()) return fail(labels.status().to_string());
  auto queries = read_idx3(fashion_dir + "/t10k-images-idx3-ubyte.gz");
  if (!queries.is_ok()) return fail(queries.status().to_string());
  const size_t dim = images->rows * images->cols;
  if (labels->size() != images->count || queries->rows * queries->cols != dim) {
    return fail("Fashion-MNIST files do not match each other (" + fashion_dir + ")");
  }
  auto synsets = load_wordnet_nouns(args.wordnet_file.empty() ? kWordNetNouns : args.wordnet_file);
  if (!synsets.is_ok()) return fail(synsets.status().to_string());
  std::printf("corpora: %s Fashion-MNIST images (%zu-d), %s WordNet glosses\n",
              fmt_count(static_cast<double>(images->count)).c_str(), dim,
              fmt_count(static_cast<double>(synsets->size())).c_str());

  // ---- working directory
  std::string work = args.data_dir;
  const bool temporary = work.empty();
  if (temporary) {
    char tmpl[] = "/tmp/vecstream-demo-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return fail("cannot create a temporary directory");
    work = tmpl;
  }
  std::error_code ec;
  fs::create_directories(work, ec);
  if (ec) return fail("cannot create " + work + ": " + ec.message());

  // ---- broker and server, each its own process
  ChildProcess broker, server;
  Status st = broker.start("kafka-dev", self_executable(),
                           {"kafka-dev", "--topic", "articles:" + std::to_string(kPartitions), "--topic",
                            "articles.dlq:1", "--topic", "images:" + std::to_string(kPartitions),
                            "--topic", "images.dlq:1"},
                           work + "/kafka-dev.log");
  if (!st.is_ok()) return fail(st.to_string());
  auto bootstrap = broker.first_line(20000);
  if (!bootstrap.is_ok()) return fail(bootstrap.status().to_string());
  std::printf("kafka-dev broker: %s (topics articles, images: %d partitions each)\n", bootstrap->c_str(),
              kPartitions);

  st = server.start("vecstream serve", self_executable(),
                    {"serve", "--data-dir", work + "/data", "--http-port", "0", "--grpc-address",
                     "127.0.0.1:0", "--set", "kafka.bootstrap_servers=" + *bootstrap, "--set",
                     "kafka.topics=articles,images", "--set", "kafka.group_id=vecstream-demo", "--set",
                     "kafka.properties.session.timeout.ms=6000", "--set", "kafka.properties.fetch.wait.max.ms=20", "--set", "cache.kind=none"},
                    work + "/serve.log");
  if (!st.is_ok()) return fail(st.to_string());
  auto ready = server.first_line(60000);
  if (!ready.is_ok()) return fail(ready.status().to_string() + "; log: " + work + "/serve.log");
  int http_port = 0;
  if (std::sscanf(ready->c_str(), "vecstream serving: REST %*[^:]:%d", &http_port) != 1 || http_port <= 0) {
    return fail("cannot read the server's port from: " + *ready);
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(http_port);
  std::printf("server: %s (REST), logs in %s\n", url.c_str(), work.c_str());

  RestClientOptions ro;
  ro.url = url;
  ro.timeout_seconds = 30;
  auto admin = RestClient::create(ro);
  if (!admin.is_ok()) return fail(admin.status().to_string());
  const nlohmann::json collections[] = {
      {{"name", "articles"}, {"dim", 256}, {"metric", "cosine"}, {"shards", kPartitions},
       {"fsync", "interval"}, {"index", {{"kind", "hnsw"}}}},
      {{"name", "images"}, {"dim", dim}, {"metric", "l2"}, {"shards", kPartitions},
       {"fsync", "interval"}, {"index", {{"kind", "hnsw"}}}}};
  for (const auto& c : collections) {
    auto r = (*admin)->send("POST", "/v1/collections", c.dump());
    if (!r.is_ok()) return fail(r.status().to_string());
    if (!r->ok()) return fail("create collection " + c["name"].get<std::string>() + ": " + r->describe_error());
  }

  // ---- the consumer group settles first: both topics' sources share one group, and the second
  // member's join revokes and re-assigns every partition (seconds on a loaded machine). The timed
  // run starts once every partition of both topics is assigned at the same moment (each assigned
  // partition has a lag series in /metrics), so it shows streaming, not the first rebalance.
  std::printf("waiting for the consumer group to assign %d partitions of each topic...\n", kPartitions);
  std::fflush(stdout);
  const auto group_deadline = Clock::now() + std::chrono::seconds(120);
  for (;;) {
    auto r = (*admin)->send("GET", "/metrics");
    int articles = 0, imgs = 0;
    if (r.is_ok() && r->ok()) {
      std::istringstream lines(r->raw_body);
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind("vecstream_ingest_consumer_lag_messages{", 0) != 0) continue;
        articles += line.find("topic=\"articles\"") != std::string::npos;
        imgs += line.find("topic=\"images\"") != std::string::npos;
      }
    }
    if (articles >= kPartitions && imgs >= kPartitions) break;
    if (Clock::now() > group_deadline) return fail("the Kafka consumer group did not assign every partition within 120 s; log: " + work + "/serve.log");
    if (wait_or_signal(std::chrono::milliseconds(200))) break;  // Ctrl-C: go on to the shutdown
  }

  // ---- producers
  auto img_producer = EventProducer::create(*bootstrap, "images");
  if (!img_producer.is_ok()) return fail(img_producer.status().to_string());
  auto art_producer = EventProducer::create(*bootstrap, "articles");
  if (!art_producer.is_ok()) return fail(art_producer.status().to_string());

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> produce_errors{0}, query_errors{0}, queries_done{0};
  std::atomic<uint64_t> recall_hits{0}, recall_total{0};
  std::mutex error_mu;
  std::string first_error;
  auto note_error = [&](const std::string& e) {
    std::lock_guard lk(error_mu);
    if (first_error.empty()) first_error = e;
  };

  // Paced production: each tick sends what the rate allows since the start.
  auto paced = [&](double rate, auto&& send_one) {
    const auto start = Clock::now();
    uint64_t sent = 0;
    while (!stop.load()) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const auto due = static_cast<uint64_t>(elapsed * rate);
      while (sent < due && !stop.load()) {
        Status s = send_one(sent);
        if (!s.is_ok()) {
          ++produce_errors;
          note_error(s.to_string());
        }
        ++sent;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  std::thread image_thread([&] {
    std::mt19937_64 rng(7);
    const uint64_t deletes_every = args.delete_share > 0 ? static_cast<uint64_t>(std::llround(1 / args.delete_share)) : 0;
    Event ev;
    paced(args.images_per_s, [&](uint64_t i) -> Status {
      const size_t row = i % images->count;  // past the end: re-upserts (replacements by id)
      ev = Event{};
      ev.id = PointId::number(row);
      ev.vector.emplace(images->pixels.begin() + static_cast<std::ptrdiff_t>(row * dim),
                        images->pixels.begin() + static_cast<std::ptrdiff_t>((row + 1) * dim));
      ev.payload = {{"class", fashion_mnist_class((*labels)[row])}, {"row", row}};
      ev.ts_ms = now_ms();
      VS_RETURN_IF_ERROR((*img_producer)->send(ev.id, event_to_json(ev)));
      if (deletes_every > 0 && i > 0 && i % deletes_every == 0 && row > 0) {
        Event del;
        del.op = EventOp::kDelete;
        del.id = PointId::number(rng() % row);  // an earlier image leaves
        del.ts_ms = now_ms();
        VS_RETURN_IF_ERROR((*img_producer)->send(del.id, event_to_json(del)));
      }
      return Status::ok();
    });
  });
  // Articles in a seeded shuffled order, so that any prefix of the stream spans every topic.
  std::vector<size_t> article_order(synsets->size());
  for (size_t i = 0; i < article_order.size(); ++i) article_order[i] = i;
  std::shuffle(article_order.begin(), article_order.end(), std::mt19937_64(11));
  std::atomic<uint64_t> articles_sent{0};
  std::thread article_thread([&] {
    if (args.articles_per_s <= 0) return;
    paced(args.articles_per_s, [&](uint64_t i) -> Status {
      const WordNetSynset& s = (*synsets)[article_order[i % article_order.size()]];
      auto id = PointId::string("wn-" + s.offset);
      if (!id.is_ok()) return id.status();
      Event ev;
      ev.id = *id;
      ev.text = s.words.empty() ? s.gloss : s.words[0] + ": " + s.gloss;
      ev.payload = {{"word", s.words.empty() ? "" : s.words[0]}, {"gloss", s.gloss}};
      ev.ts_ms = now_ms();
      Status st = (*art_producer)->send(ev.id, event_to_json(ev));
      articles_sent.store(i + 1);
      return st;
    });
  });

  // ---- query load
  Samples latencies;
  std::vector<std::thread> query_threads;
  for (size_t t = 0; t < args.query_threads; ++t) {
    query_threads.emplace_back([&, t] {
      auto client = RestClient::create(ro);
      if (!client.is_ok()) return;
      size_t q = t * 997;
      uint64_t n = 0;
      while (!stop.load()) {
        const float* v = queries->pixels.data() + (q % queries->count) * dim;
        ++q;
        nlohmann::json body = {{"vector", vector_json(v, dim)}, {"k", kK}, {"use_cache", false}};
        const auto t0 = Clock::now();
        auto r = (*client)->send("POST", "/v1/collections/images/search", body.dump());
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        if (!r.is_ok() || !r->ok()) {
          ++query_errors;
          note_error(r.is_ok() ? r->describe_error() : r.status().to_string());
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        latencies.add(secs);
        ++queries_done;
        // Every 20th query also exactly: recall@10 against exact search over the live points.
        if (++n % 20 != 0 || r->body["points"].size() < kK) continue;
        body["exact"] = true;
        auto exact = (*client)->send("POST", "/v1/collections/images/search", body.dump());
        if (!exact.is_ok() || !exact->ok()) continue;
        std::vector<nlohmann::json> truth;
        for (const auto& p : exact->body["points"]) truth.push_back(p["id"]);
        uint64_t hits = 0;
        for (const auto& p : r->body["points"]) {
          hits += std::find(truth.begin(), truth.end(), p["id"]) != truth.end();
        }
        recall_hits += hits;
        recall_total += std::min<uint64_t>(kK, truth.size());
      }
    });
  }

  // ---- progress
  std::printf("\n%6s  %-26s %8s %10s  %-30s %9s %10s\n", "time", "ingest (applied)", "lag", "fresh p99",
              "queries", "recall@10", "points");
  std::fflush(stdout);
  const auto t_start = Clock::now();
  std::string prev_metrics;
  auto scrape = [&]() -> std::string {
    auto r = (*admin)->send("GET", "/metrics");
    return r.is_ok() && r->ok() ? r->raw_body : std::string();
  };
  prev_metrics = scrape();
  double applied_total = 0, fresh_p99_max = 0, lag_max = 0, lost_total = 0;
  std::vector<double> all_latencies;
  uint64_t last_recall_hits = 0, last_recall_total = 0;
  bool server_died = false;
  auto prev_t = Clock::now();
  for (;;) {
    const bool signalled = wait_or_signal(std::chrono::milliseconds(static_cast<int64_t>(args.interval_s * 1000)));
    const double elapsed = std::chrono::duration<double>(Clock::now() - t_start).count();
    if (!server.alive() || !broker.alive()) {
      server_died = true;
      note_error(std::string(server.alive() ? "the broker" : "the server") + " exited unexpectedly");
      break;
    }
    const std::string m = scrape();
    const double dt = std::chrono::duration<double>(Clock::now() - prev_t).count();
    prev_t = Clock::now();
    const double ev_img = metric_sum(m, "vecstream_ingest_events_total") - metric_sum(prev_metrics, "vecstream_ingest_events_total");
    applied_total = metric_sum(m, "vecstream_ingest_events_total");
    const double lag = metric_sum(m, "vecstream_ingest_consumer_lag_messages");
    const double fresh = window_quantile(histogram_buckets(prev_metrics, "vecstream_ingest_freshness_seconds"),
                                         histogram_buckets(m, "vecstream_ingest_freshness_seconds"), 0.99);
    const double points = metric_sum(m, "vecstream_points");
    const double dlq = metric_sum(m, "vecstream_ingest_dead_letter_events_total");
    lost_total = metric_sum(m, "vecstream_ingest_lost_events_total");
    std::vector<double> lat = latencies.take();
    all_latencies.insert(all_latencies.end(), lat.begin(), lat.end());
    const double qps = static_cast<double>(lat.size()) / dt;
    const double p50 = percentile(lat, 0.50), p99 = percentile(lat, 0.99);
    const uint64_t rh = recall_hits.load(), rt = recall_total.load();
    char recall[32] = "   -";
    if (rt > last_recall_total) {
      std::snprintf(recall, sizeof(recall), "%.3f", static_cast<double>(rh - last_recall_hits) / static_cast<double>(rt - last_recall_total));
    }
    last_recall_hits = rh;
    last_recall_total = rt;
    if (!std::isnan(fresh)) fresh_p99_max = std::max(fresh_p99_max, fresh);
    lag_max = std::max(lag_max, lag);
    char ingest[64], query[64];
    std::snprintf(ingest, sizeof(ingest), "%s ev/s%s", fmt_count(ev_img / dt).c_str(),
                  dlq > 0 ? (" (" + fmt_count(dlq) + " DLQ)").c_str() : "");
    std::snprintf(query, sizeof(query), "%s qps p50 %s p99 %s", fmt_count(qps).c_str(), fmt_ms(p50).c_str(),
                  fmt_ms(p99).c_str());
    std::printf("%5.0fs  %-26s %8s %10s  %-30s %9s %10s\n", elapsed, ingest, fmt_count(lag).c_str(),
                fmt_ms(fresh).c_str(), query, recall, fmt_count(points).c_str());
    std::fflush(stdout);
    prev_metrics = m;
    if (signalled || (args.duration_s > 0 && elapsed >= args.duration_s)) break;
  }

  // ---- stop the load, then show what the stream built
  stop = true;
  image_thread.join();
  article_thread.join();
  for (auto& t : query_threads) t.join();
  const Status flushed_img = (*img_producer)->flush(std::chrono::seconds(10));
  const Status flushed_art = (*art_producer)->flush(std::chrono::seconds(10));
  const uint64_t produced = (*img_producer)->stats().delivered + (*art_producer)->stats().delivered;

  bool text_ok = false;
  if (!server_died) {
    // Let the server apply what was produced before the stop (lag back to 0), briefly.
    for (int i = 0; i < 300; ++i) {  // up to 30 s
      const std::string m = scrape();
      if (metric_sum(m, "vecstream_ingest_consumer_lag_messages") <= 0 &&
          metric_sum(m, "vecstream_ingest_events_total") + metric_sum(m, "vecstream_ingest_dead_letter_events_total") >=
              static_cast<double>(produced)) {
        applied_total = metric_sum(m, "vecstream_ingest_events_total");
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    // "More like this": a few articles of the stream, each searched with its own text; the
    // answers (itself excluded) are its related articles.
    std::printf("\nrelated articles (each article's text embedded by the server and searched):\n");
    const size_t sent = std::min<size_t>(articles_sent.load(), article_order.size());
    size_t shown = 0;
    for (size_t i = 0; i < sent && shown < 3; i += std::max<size_t>(1, sent / 7)) {
      const WordNetSynset& s = (*synsets)[article_order[i]];
      if (s.words.empty() || std::count(s.gloss.begin(), s.gloss.end(), ' ') < 5) continue;
      ++shown;
      const std::string text = s.words[0] + ": " + s.gloss;
      nlohmann::json body = {{"text", text}, {"k", 4}, {"with_payload", true}};
      auto r = (*admin)->send("POST", "/v1/collections/articles/search", body.dump());
      std::printf("  %s\n", text.size() > 100 ? (text.substr(0, 97) + "...").c_str() : text.c_str());
      if (!r.is_ok() || !r->ok()) {
        std::printf("    error: %s\n", r.is_ok() ? r->describe_error().c_str() : r.status().to_string().c_str());
        continue;
      }
      for (const auto& p : r->body["points"]) {
        if (p["id"] == "wn-" + s.offset) continue;
        text_ok = true;
        const auto& pl = p.value("payload", nlohmann::json::object());
        std::string gloss = pl.value("gloss", "");
        if (gloss.size() > 80) gloss = gloss.substr(0, 77) + "...";
        std::printf("    %.3f  %s: %s\n", p.value("score", 0.0), pl.value("word", "?").c_str(), gloss.c_str());
      }
    }
    if (args.articles_per_s <= 0) text_ok = true;  // no articles asked for
  }

  // ---- shut down: the producers, the server (it checkpoints on SIGTERM), then the broker
  img_producer->reset();
  art_producer->reset();
  const int server_exit = server.stop(60000);
  const int broker_exit = broker.stop(10000);
  const double seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  const double recall = recall_total.load() > 0
                            ? static_cast<double>(recall_hits.load()) / static_cast<double>(recall_total.load())
                            : NAN;
  const double p50 = percentile(all_latencies, 0.5), p99 = percentile(all_latencies, 0.99);
  std::printf("\nsummary: %.0f s; %s events produced, %s applied (%s/s); consumer lag max %s; freshness p99 max %s\n",
              seconds, fmt_count(static_cast<double>(produced)).c_str(), fmt_count(applied_total).c_str(),
              fmt_count(applied_total / seconds).c_str(), fmt_count(lag_max).c_str(), fmt_ms(fresh_p99_max).c_str());
  std::printf("         %s queries (p50 %s, p99 %s, %s errors); sampled recall@10 %.3f over %s exact checks\n",
              fmt_count(static_cast<double>(queries_done.load())).c_str(), fmt_ms(p50).c_str(), fmt_ms(p99).c_str(),
              fmt_count(static_cast<double>(query_errors.load())).c_str(), recall,
              fmt_count(static_cast<double>(recall_total.load() / kK)).c_str());
  if (lost_total > 0) {
    std::printf("         %s events lost: the dev broker's retention (5 MiB a partition) deleted them before they\n"
                "         were applied; lower the rates (see kafka-dev)\n", fmt_count(lost_total).c_str());
  }
  std::printf("         server exit %d (checkpointed), broker exit %d%s\n", server_exit, broker_exit,
              g_signal.load() ? " (stopped by signal)" : "");
  if (temporary && server_exit == 0) fs::remove_all(work, ec);

  bool ok = true;
  if (!first_error.empty()) std::printf("first error: %s\n", first_error.c_str());
  if (!flushed_img.is_ok() || !flushed_art.is_ok() || produce_errors.load() > 0) ok = false;
  if (applied_total <= 0 || queries_done.load() == 0 || !text_ok || server_died) ok = false;
  if (server_exit != 0 || broker_exit != 0) ok = false;
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace vecstream
