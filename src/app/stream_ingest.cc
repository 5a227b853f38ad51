#include "app/stream_ingest.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "obs/log.h"

namespace vecstream {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::seconds(1);
constexpr auto kRetryInterval = std::chrono::seconds(5);

}  // namespace

struct StreamIngest::Impl {
  struct Topic {
    ServerConfig::Kafka::Topic names;
    KafkaSourceOptions options;
    std::shared_ptr<Collection> collection;  // held while the source runs
    std::unique_ptr<KafkaSource> source;
    std::string state = "waiting for collection";
    std::string error;
    Clock::time_point retry_at{};
    bool logged_waiting = false;
    obs::Gauge* up = nullptr;
  };

  Catalog* catalog = nullptr;
  TextEmbedder embedder;
  obs::MetricsRegistry* metrics = nullptr;

  mutable std::mutex mu;  // topics' state; the supervisor holds it while it changes a source
  std::condition_variable cv;
  bool stopping = false;
  std::vector<Topic> topics;
  std::thread supervisor;

  // Starts t's source if its collection exists. Called with mu held.
  Status try_start(Topic& t) {
    auto c = catalog->get(t.names.collection);
    if (!c.is_ok()) {
      if (!t.logged_waiting) {
        obs::log_info("kafka ingestion waits for its collection",
                      {{"topic", t.names.topic}, {"collection", t.names.collection}});
        t.logged_waiting = true;
      }
      return Status::ok();
    }
    auto s = KafkaSource::create(t.options, c->get(), embedder, metrics);
    Status st = s.is_ok() ? (*s)->start() : s.status();
    if (!st.is_ok()) {
      t.state = "failed";
      t.error = st.to_string();
      t.retry_at = Clock::now() + kRetryInterval;
      obs::log_error("kafka source failed to start; retrying",
                     {{"topic", t.names.topic}, {"collection", t.names.collection}, {"error", t.error}});
      return st;
    }
    t.collection = std::move(*c);
    t.source = std::move(*s);
    t.state = "running";
    t.error.clear();
    t.up->set(1);
    obs::log_info("kafka ingestion started",
                  {{"topic", t.names.topic}, {"collection", t.names.collection},
                   {"group", t.options.group_id}, {"format", t.options.format}});
    return Status::ok();
  }

  void release(Topic& t) {
    if (t.source) (void)t.source->stop();
    t.source.reset();
    t.collection.reset();
    t.up->set(0);
  }

  // One look at every topic. Called with mu held.
  void supervise() {
    for (Topic& t : topics) {
      if (t.source) {
        Status h = t.source->health();
        if (!h.is_ok()) {
          release(t);
          t.state = "failed";
          t.error = h.to_string();
          t.retry_at = Clock::now() + kRetryInterval;
          obs::log_error("kafka source stopped; retrying",
                         {{"topic", t.names.topic}, {"error", t.error}});
        } else if (!catalog->get(t.names.collection).is_ok()) {
          release(t);
          t.state = "waiting for collection";
          t.logged_waiting = false;
          obs::log_info("collection dropped: kafka ingestion released",
                        {{"topic", t.names.topic}, {"collection", t.names.collection}});
        }
        continue;
      }
      if (Clock::now() < t.retry_at) continue;
      (void)try_start(t);
    }
  }

  void run() {
    std::unique_lock lock(mu);
    while (!stopping) {
      cv.wait_for(lock, kPollInterval, [&] { return stopping; });
      if (!stopping) supervise();
    }
  }
};

Result<std::unique_ptr<StreamIngest>> StreamIngest::start(const ServerConfig::Kafka& config,
                                                          Catalog* catalog, Embedder* embedder,
                                                          obs::MetricsRegistry* metrics) {
  auto impl = std::make_unique<Impl>();
  impl->catalog = catalog;
  impl->embedder = config.embed_text ? make_text_embedder(embedder) : nullptr;
  impl->metrics = metrics;
  auto up = metrics->gauge_family("vecstream_ingest_source_up",
                                  "1 while the topic's Kafka source consumes, 0 while it waits or failed",
                                  {"topic"});
  if (!up.is_ok()) return up.status();
  for (const auto& names : config.topics) {
    Impl::Topic t;
    t.names = names;
    t.options = config.options_for(names);
    t.up = &(*up)->with({names.topic});
    t.up->set(0);
    impl->topics.push_back(std::move(t));
  }
  {
    std::lock_guard lock(impl->mu);
    for (auto& t : impl->topics) {
      Status st = impl->try_start(t);
      if (!st.is_ok()) {
        for (auto& other : impl->topics) impl->release(other);
        return Status(st.code(), "kafka topic " + t.names.topic + " -> collection " +
                                     t.names.collection + ": " + st.message());
      }
    }
  }
  Impl* raw = impl.get();
  impl->supervisor = std::thread([raw] { raw->run(); });
  return std::unique_ptr<StreamIngest>(new StreamIngest(std::move(impl)));
}

StreamIngest::StreamIngest(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StreamIngest::~StreamIngest() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->supervisor.joinable()) impl_->supervisor.join();
  for (auto& t : impl_->topics) impl_->release(t);
}

std::vector<TopicIngestStatus> StreamIngest::status() const {
  std::lock_guard lock(impl_->mu);
  std::vector<TopicIngestStatus> out;
  for (const auto& t : impl_->topics) {
    TopicIngestStatus s;
    s.topic = t.names.topic;
    s.collection = t.names.collection;
    s.state = t.state;
    s.error = t.error;
    if (t.source) s.stats = t.source->stats();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace vecstream
