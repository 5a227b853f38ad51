#include "ingest/kafka_source.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "ingest/dead_letter_writer.h"
#include "ingest/event_decoder.h"
#include "ingest/ingest_metrics.h"
#include "ingest/kafka_client.h"
#include "ingest/partition_scheduler.h"
#include "obs/log.h"

namespace vecstream {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kOffsetStoreInterval = std::chrono::milliseconds(100);
constexpr auto kDeadLetterTimeout = std::chrono::seconds(30);

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One fetched message of a batch, once decoded and checked.
struct Item {
  const rd_kafka_message_t* message = nullptr;
  Event event;
  Status error;             // not ok: a dead letter with error.message() as the reason
  const char* kind = "";    // the metrics label of the error
  int64_t event_ms = -1;    // event time for freshness; -1 = unknown
};

// A partition's fetched messages, applied as one unit. Progress is kept across retries: a batch
// refused half way resumes at its first unwritten run, its dead letters not sent again.
struct Batch {
  uint64_t generation = 0;
  std::vector<kafka::Message> messages;
  bool prepared = false;       // items decoded, embedded, validated
  bool dead_lettered = false;  // the items' dead letters acknowledged by the broker
  std::vector<Item> items;     // the messages not applied before, in offset order
  size_t next = 0;             // first item not yet written
};

}  // namespace

struct KafkaSource::Impl {
  // Per partition. The poll thread owns the plain fields; apply threads and stats() read the
  // atomics.
  struct Partition {
    int32_t id = 0;
    std::string source;  // "topic/p", the shard's name for this source
    Shard* shard = nullptr;
    obs::Gauge* lag_gauge = nullptr;

    bool assigned = false;
    bool paused = false;
    uint64_t generation = 0;  // bumped on every assign and revoke
    int64_t fetched = -1;     // last offset handed to a batch (re-deliveries are dropped)
    int64_t stored = -1;      // last offset stored for the group's commit
    std::vector<kafka::Message> pending;
    Clock::time_point pending_since{};
    bool out_of_range = false;  // the broker no longer holds our next offset; seeking to its start

    std::atomic<uint64_t> live_generation{0};  // batches of other generations are discarded
    std::atomic<int64_t> applied{-1};          // the shard's offset for this source
    std::atomic<int64_t> consumed{-1};         // applied or dead-lettered
    std::atomic<int64_t> high_watermark{-1};
    std::atomic<size_t> queued{0};             // events handed to apply threads, not done
    std::atomic<bool> stalled{false};          // the shard refused a write; retrying
    std::atomic<bool> assigned_now{false};
    std::atomic<bool> paused_now{false};
  };

  KafkaSourceOptions opts;
  std::string dlq_topic;
  Collection* collection = nullptr;
  TextEmbedder embedder;
  IngestMetrics metrics;
  obs::Counter* events_counter = nullptr;
  obs::Histogram* freshness_hist = nullptr;
  obs::Histogram* apply_hist = nullptr;
  obs::Histogram* embedding_hist = nullptr;
  obs::Counter* lost_counter = nullptr;
  obs::Counter* pauses_counter = nullptr;
  obs::Counter* rejections_counter = nullptr;
  obs::Gauge* paused_gauge = nullptr;

  kafka::Handle consumer;
  std::unique_ptr<DeadLetterWriter> dlq;
  std::vector<std::unique_ptr<EventDecoder>> decoders;  // one per apply thread
  std::vector<std::unique_ptr<Partition>> parts;
  std::unique_ptr<PartitionScheduler<Batch>> scheduler;
  std::thread poller;
  bool started = false;
  bool stopped = false;

  std::atomic<bool> stop_requested{false};
  std::atomic<bool> failed{false};
  mutable std::mutex error_mu;
  Status error;

  std::atomic<uint64_t> events_applied{0}, dead_lettered{0}, batches{0}, pauses{0},
      rejections{0}, assignments{0};

  ~Impl() { shutdown(); }

  // ---- any thread ----
  void fail(const Status& st) {
    {
      std::lock_guard lk(error_mu);
      if (error.is_ok()) error = st;
    }
    failed = true;
    obs::log_error("kafka source stopped", {{"topic", opts.topic}, {"error", st.to_string()}});
  }

  // ---- poll thread ----
  void poll_loop();
  void on_message(kafka::Message m);
  void on_offset_out_of_range(Partition& p, const std::string& why);
  void flush(Partition& p);
  void flow_control();
  void store_offsets_and_lag();
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list);
  void assign(Partition& p, rd_kafka_topic_partition_t* tp);
  void revoke(Partition& p);
  void set_paused(const std::vector<Partition*>& which, bool pause);

  // ---- apply threads ----
  JobOutcome apply(size_t thread, int32_t partition, Batch& b);
  JobOutcome prepare(size_t thread, Partition& p, Batch& b);

  void shutdown();
};

// ---------------------------------------------------------------------------------------------
// Creation

Result<std::unique_ptr<KafkaSource>> KafkaSource::create(const KafkaSourceOptions& options,
                                                         Collection* collection,
                                                         TextEmbedder embedder,
                                                         obs::MetricsRegistry* metrics) {
  VS_RETURN_IF_ERROR(options.validate());
  if (collection == nullptr) return Status::invalid_argument("kafka source: no collection");
  if (auto d = make_event_decoder(options.decoder_options()); !d.is_ok()) {
    return Status::invalid_argument("kafka source: format: " + d.status().message());
  }
  auto impl = std::make_unique<Impl>();
  impl->opts = options;
  impl->dlq_topic = options.dead_letter_topic();
  impl->collection = collection;
  impl->embedder = std::move(embedder);

  auto m = IngestMetrics::register_in(metrics != nullptr ? *metrics : obs::default_registry());
  if (!m.is_ok()) return m.status();
  impl->metrics = *m;
  const std::string& topic = options.topic;
  impl->events_counter = &impl->metrics.events->with({topic});
  impl->freshness_hist = &impl->metrics.freshness->with({topic});
  impl->apply_hist = &impl->metrics.batch_apply->with({topic});
  impl->embedding_hist = &impl->metrics.embedding->with({topic});
  impl->lost_counter = &impl->metrics.lost->with({topic});
  impl->pauses_counter = &impl->metrics.pauses->with({topic});
  impl->rejections_counter = &impl->metrics.rejections->with({topic});
  impl->paused_gauge = &impl->metrics.paused->with({topic});

  // The consumer. Offsets are stored by the source once applied (never automatically on
  // delivery) and committed in the background: for lag monitoring only.
  std::map<std::string, std::string> props = options.properties;
  props["bootstrap.servers"] = options.bootstrap_servers;
  props["group.id"] = options.group_id;
  props["enable.auto.offset.store"] = "false";
  props["enable.partition.eof"] = "false";
  // Every assignment names its start offset (the shard's, or initial_offset), so a reset happens
  // only when the broker no longer holds that offset: it must surface, not pass silently.
  if (!props.count("auto.offset.reset")) props["auto.offset.reset"] = "error";
  auto conf = kafka::make_conf(props);
  if (!conf.is_ok()) return conf.status();
  Impl* self = impl.get();
  rd_kafka_conf_set_opaque(conf->get(), self);
  kafka::set_log_callback(conf->get());
  rd_kafka_conf_set_rebalance_cb(
      conf->get(), [](rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list,
                      void* opaque) { static_cast<Impl*>(opaque)->on_rebalance(err, list); });
  rd_kafka_conf_set_error_cb(conf->get(), [](rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* s = static_cast<Impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      rd_kafka_fatal_error(rk, buf, sizeof(buf));
      s->fail(Status::io_error(std::string("kafka consumer: fatal error: ") + buf));
      return;
    }
    obs::log_warn("kafka consumer error", {{"topic", s->opts.topic}, {"error", reason}});
  });
  auto consumer = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!consumer.is_ok()) return consumer.status();
  impl->consumer = std::move(*consumer);

  // The partition count decides the shard of every event: check it before consuming anything.
  auto partitions = kafka::partition_count(impl->consumer.get(), topic, options.connect_timeout_ms);
  if (!partitions.is_ok()) return partitions.status();
  if (static_cast<size_t>(*partitions) != collection->shard_count()) {
    return Status::failed_precondition(
        "kafka topic \"" + topic + "\" has " + std::to_string(*partitions) +
        " partitions but collection \"" + collection->config().name + "\" has " +
        std::to_string(collection->shard_count()) +
        " shards: partition p feeds shard p, so the two counts must be equal");
  }
  auto dlq_partitions =
      kafka::partition_count(impl->consumer.get(), impl->dlq_topic, options.connect_timeout_ms);
  if (!dlq_partitions.is_ok()) {
    if (dlq_partitions.status().code() == StatusCode::kNotFound) {
      return Status::not_found("dead-letter topic \"" + impl->dlq_topic +
                               "\" does not exist: create it, or name another with dlq_topic");
    }
    return dlq_partitions.status();
  }

  std::map<std::string, std::string> producer_props = options.properties;
  producer_props["bootstrap.servers"] = options.bootstrap_servers;
  auto dlq = DeadLetterWriter::create(producer_props, impl->dlq_topic);
  if (!dlq.is_ok()) return dlq.status();
  impl->dlq = std::move(*dlq);

  const size_t threads = options.apply_threads != 0
                             ? options.apply_threads
                             : std::min<size_t>(static_cast<size_t>(*partitions), 4);
  for (size_t t = 0; t < threads; ++t) {
    auto d = make_event_decoder(options.decoder_options());
    if (!d.is_ok()) return d.status();
    impl->decoders.push_back(std::move(*d));
  }
  for (int32_t i = 0; i < *partitions; ++i) {
    auto p = std::make_unique<Impl::Partition>();
    p->id = i;
    p->source = kafka::source_name(topic, i);
    p->shard = &collection->shard(static_cast<size_t>(i));
    auto offsets = p->shard->source_offsets();
    if (auto it = offsets.find(p->source); it != offsets.end()) {
      p->applied = it->second;
      p->consumed = it->second;
    }
    impl->parts.push_back(std::move(p));
  }
  return std::unique_ptr<KafkaSource>(new KafkaSource(std::move(impl)));
}

KafkaSource::KafkaSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaSource::~KafkaSource() = default;  // Impl's destructor stops

Status KafkaSource::start() {
  Impl& s = *impl_;
  if (s.started) return Status::failed_precondition("kafka source: already started (once only)");
  s.started = true;
  s.scheduler = std::make_unique<PartitionScheduler<Batch>>(
      s.parts.size(), s.decoders.size(),
      [&s](size_t thread, int32_t partition, Batch& b) { return s.apply(thread, partition, b); },
      std::chrono::milliseconds(s.opts.retry_backoff_ms));
  // Callbacks (rebalance, errors, logs) are served by the consumer poll, on the poll thread.
  rd_kafka_poll_set_consumer(s.consumer.get());
  kafka::PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), s.opts.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(s.consumer.get(), topics.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Status st = Status::io_error("kafka subscribe to \"" + s.opts.topic + "\": " + rd_kafka_err2str(err));
    s.fail(st);
    return st;
  }
  s.poller = std::thread([&s] { s.poll_loop(); });
  obs::log_info("kafka source started", {{"topic", s.opts.topic},
                                         {"group", s.opts.group_id},
                                         {"partitions", s.parts.size()},
                                         {"apply_threads", s.decoders.size()}});
  return Status::ok();
}

Status KafkaSource::stop() {
  impl_->shutdown();
  return health();
}

void KafkaSource::Impl::shutdown() {
  if (stopped) return;
  stopped = true;
  if (!started) return;  // never consumed (or only half created)
  stop_requested = true;
  if (poller.joinable()) poller.join();  // the poll thread leaves the group on its way out
  if (scheduler) scheduler->stop();
  // Leaving the group revoked every partition; these are left only if it failed half way.
  for (auto& p : parts) {
    if (p->assigned) metrics.lag->remove({opts.topic, std::to_string(p->id)});
    if (p->paused) paused_gauge->sub(1.0);
    p->assigned = p->paused = false;
    p->assigned_now = false;
    p->paused_now = false;
  }
}

Status KafkaSource::health() const {
  std::lock_guard lk(impl_->error_mu);
  return impl_->error;
}

KafkaSourceStats KafkaSource::stats() const {
  const Impl& s = *impl_;
  KafkaSourceStats st;
  st.events_applied = s.events_applied;
  st.dead_lettered = s.dead_lettered;
  st.batches = s.batches;
  st.pauses = s.pauses;
  st.write_rejections = s.rejections;
  st.assignments = s.assignments;
  for (const auto& p : s.parts) {
    PartitionProgress pp;
    pp.partition = p->id;
    pp.assigned = p->assigned_now;
    pp.paused = p->paused_now;
    pp.applied_offset = p->applied;
    pp.consumed_offset = p->consumed;
    pp.high_watermark = p->high_watermark;
    pp.lag = pp.high_watermark < 0 ? -1 : std::max<int64_t>(0, pp.high_watermark - pp.consumed_offset - 1);
    st.partitions.push_back(pp);
  }
  return st;
}

// ---------------------------------------------------------------------------------------------
// Poll thread

void KafkaSource::Impl::poll_loop() {
  rd_kafka_t* rk = consumer.get();
  const int poll_ms = static_cast<int>(std::min<uint32_t>(opts.batch_max_ms, 50));
  auto last_store = Clock::now();
  while (!stop_requested && !failed) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, poll_ms);
    for (size_t n = 0; m != nullptr; ++n) {
      on_message(kafka::Message(m));
      if (n + 1 >= opts.batch_max_events || failed) break;
      m = rd_kafka_consumer_poll(rk, 0);
    }
    // Natural batching: a partition with no batch in flight gets what arrived at once (no
    // waiting for company when the shard is idle); one whose batch is still being applied
    // gathers events until that batch is done, batch_max_events, or batch_max_ms.
    const auto now = Clock::now();
    for (auto& p : parts) {
      if (!p->pending.empty() &&
          (p->queued.load() == 0 ||
           now - p->pending_since >= std::chrono::milliseconds(opts.batch_max_ms))) {
        flush(*p);
      }
    }
    flow_control();
    if (now - last_store >= kOffsetStoreInterval) {
      store_offsets_and_lag();
      last_store = now;
    }
  }
  // Leave the group: the revoke callback drops queued batches and waits for running ones; the
  // offsets stored by then are committed.
  store_offsets_and_lag();
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    obs::log_warn("kafka consumer close", {{"topic", opts.topic}, {"error", rd_kafka_err2str(err)}});
  }
}

void KafkaSource::Impl::on_message(kafka::Message m) {
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->partition >= 0 &&
        static_cast<size_t>(m->partition) < parts.size()) {
      on_offset_out_of_range(*parts[static_cast<size_t>(m->partition)], rd_kafka_message_errstr(m.get()));
      return;
    }
    obs::log_warn("kafka consumer error",
                  {{"topic", opts.topic}, {"partition", m->partition}, {"error", rd_kafka_message_errstr(m.get())}});
    return;
  }
  if (m->partition < 0 || static_cast<size_t>(m->partition) >= parts.size()) return;
  Partition& p = *parts[static_cast<size_t>(m->partition)];
  if (!p.assigned || m->offset <= p.fetched) return;  // revoked meanwhile, or delivered again
  if (p.out_of_range) {
    // The first event after the gap: everything between our position and it is gone.
    p.out_of_range = false;
    const int64_t expected = std::max(p.fetched, p.consumed.load()) + 1;
    if (m->offset > expected) {
      lost_counter->inc(static_cast<uint64_t>(m->offset - expected));
      obs::log_error("kafka events lost: the broker deleted them before they were applied",
                     {{"topic", opts.topic}, {"partition", p.id}, {"first_lost_offset", expected},
                      {"resumed_at_offset", m->offset}, {"lost", m->offset - expected}});
    }
  }
  p.fetched = m->offset;
  if (p.pending.empty()) p.pending_since = Clock::now();
  p.pending.push_back(std::move(m));
  if (p.pending.size() >= opts.batch_max_events) flush(p);
}

// The broker answered that our next offset is out of range: its retention deleted events this
// partition had not applied yet (or the topic was recreated). Those events cannot be had any more;
// say so loudly, count them once the first event after the gap arrives, and go on from the
// oldest event the broker still holds.
void KafkaSource::Impl::on_offset_out_of_range(Partition& p, const std::string& why) {
  if (!p.assigned) return;
  p.out_of_range = true;
  obs::log_error("kafka offset out of range: resuming at the oldest retained event",
                 {{"topic", opts.topic}, {"partition", p.id}, {"next_offset", std::max(p.fetched, p.consumed.load()) + 1},
                  {"error", why}});
  // The oldest offset the broker holds (a logical BEGINNING would go through the reset policy).
  int64_t low = 0, high = 0;
  rd_kafka_resp_err_t err =
      rd_kafka_query_watermark_offsets(consumer.get(), opts.topic.c_str(), p.id, &low, &high, 5000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail(Status::io_error("kafka topic " + opts.topic + " partition " + std::to_string(p.id) +
                          ": offset out of range, and the broker's offsets cannot be read: " +
                          rd_kafka_err2str(err)));
    return;
  }
  // A partition stopped by the reset policy takes no seek: it is assigned again, at `low`.
  rd_kafka_t* rk = consumer.get();
  rd_kafka_error_t* e = nullptr;
  if (std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0) {
    kafka::PartitionList one(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(one.get(), opts.topic.c_str(), p.id)->offset = low;
    e = rd_kafka_incremental_unassign(rk, one.get());
    if (e == nullptr) e = rd_kafka_incremental_assign(rk, one.get());
  } else {
    // Eager: the whole assignment again, every other partition at its current position.
    rd_kafka_topic_partition_list_t* raw = nullptr;
    err = rd_kafka_assignment(rk, &raw);
    kafka::PartitionList all(raw);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = rd_kafka_position(rk, all.get());
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < all->cnt; ++i) {
        if (all->elems[i].partition == p.id) all->elems[i].offset = low;
      }
      err = rd_kafka_assign(rk, all.get());
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) e = rd_kafka_error_new(err, "%s", rd_kafka_err2str(err));
  }
  if (e != nullptr) {
    fail(Status::io_error("kafka topic " + opts.topic + " partition " + std::to_string(p.id) +
                          ": resuming after offset out of range: " + rd_kafka_error_string(e)));
    rd_kafka_error_destroy(e);
  }
}

void KafkaSource::Impl::flush(Partition& p) {
  Batch b;
  b.generation = p.generation;
  b.messages = std::move(p.pending);
  p.pending.clear();
  p.queued += b.messages.size();
  scheduler->push(p.id, std::move(b));
}

void KafkaSource::Impl::set_paused(const std::vector<Partition*>& which, bool pause) {
  if (which.empty()) return;
  kafka::PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(which.size())));
  for (Partition* p : which) rd_kafka_topic_partition_list_add(list.get(), opts.topic.c_str(), p->id);
  rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(consumer.get(), list.get())
                                  : rd_kafka_resume_partitions(consumer.get(), list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    obs::log_warn(pause ? "kafka pause" : "kafka resume",
                  {{"topic", opts.topic}, {"error", rd_kafka_err2str(err)}});
    return;
  }
  for (Partition* p : which) {
    p->paused = pause;
    p->paused_now = pause;
    paused_gauge->add(pause ? 1.0 : -1.0);
    if (pause) {
      ++pauses;
      pauses_counter->inc();
    }
  }
}

void KafkaSource::Impl::flow_control() {
  std::vector<Partition*> to_pause, to_resume;
  for (auto& pp : parts) {
    Partition& p = *pp;
    if (!p.assigned) continue;
    const size_t load = p.queued + p.pending.size();
    const bool stalled = p.stalled;
    if (!p.paused && (stalled || load >= opts.max_queued_events)) {
      to_pause.push_back(&p);
    } else if (p.paused && !stalled && load <= opts.max_queued_events / 2) {
      to_resume.push_back(&p);
    }
  }
  set_paused(to_pause, true);
  set_paused(to_resume, false);
}

void KafkaSource::Impl::store_offsets_and_lag() {
  kafka::PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
  for (auto& pp : parts) {
    Partition& p = *pp;
    if (!p.assigned) continue;
    const int64_t consumed_now = p.consumed;
    if (consumed_now > p.stored) {
      rd_kafka_topic_partition_list_add(list.get(), opts.topic.c_str(), p.id)->offset = consumed_now + 1;
      p.stored = consumed_now;
    }
    int64_t lo = 0, hi = 0;
    if (rd_kafka_get_watermark_offsets(consumer.get(), opts.topic.c_str(), p.id, &lo, &hi) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        hi >= 0) {
      p.high_watermark = hi;
      p.lag_gauge->set(static_cast<double>(std::max<int64_t>(0, hi - consumed_now - 1)));
    }
  }
  if (list->cnt > 0) {
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer.get(), list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      obs::log_debug("kafka offsets store", {{"topic", opts.topic}, {"error", rd_kafka_err2str(err)}});
    }
  }
}

void KafkaSource::Impl::assign(Partition& p, rd_kafka_topic_partition_t* tp) {
  // Resume after the last event this shard applied, or this process consumed (dead letters after
  // the shard's last write are not in its offset, but were delivered: don't send them twice).
  int64_t last = p.consumed;
  const auto offsets = p.shard->source_offsets();
  if (auto it = offsets.find(p.source); it != offsets.end()) {
    p.applied = std::max<int64_t>(p.applied, it->second);
    last = std::max(last, it->second);
  }
  tp->offset = last >= 0 ? last + 1
               : opts.initial_offset == "earliest" ? RD_KAFKA_OFFSET_BEGINNING
                                                   : RD_KAFKA_OFFSET_END;
  p.assigned = true;
  p.assigned_now = true;
  ++p.generation;
  p.live_generation = p.generation;
  p.fetched = last;
  p.stored = last;
  p.pending.clear();
  p.queued = 0;
  p.stalled = false;
  p.paused = false;
  p.paused_now = false;
  p.high_watermark = -1;
  p.lag_gauge = &metrics.lag->with({opts.topic, std::to_string(p.id)});
  ++assignments;
  obs::log_info("kafka partition assigned",
                {{"topic", opts.topic}, {"partition", p.id}, {"start_offset", tp->offset}});
}

void KafkaSource::Impl::revoke(Partition& p) {
  if (!p.assigned) return;
  p.assigned = false;
  p.assigned_now = false;
  ++p.generation;
  p.live_generation = p.generation;  // a batch running now finishes; no later one starts
  p.pending.clear();
  scheduler->drop(p.id);
  p.queued = 0;
  p.stalled = false;
  if (p.paused) paused_gauge->sub(1.0);
  p.paused = false;
  p.paused_now = false;
  metrics.lag->remove({opts.topic, std::to_string(p.id)});
  obs::log_info("kafka partition revoked",
                {{"topic", opts.topic}, {"partition", p.id}, {"consumed_offset", p.consumed.load()}});
}

void KafkaSource::Impl::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list) {
  rd_kafka_t* rk = consumer.get();
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < list->cnt; ++i) {
      rd_kafka_topic_partition_t* tp = &list->elems[i];
      if (tp->partition < 0 || static_cast<size_t>(tp->partition) >= parts.size()) {
        // The topic grew after the source was created: this event's shard does not exist.
        fail(Status::failed_precondition(
            "kafka topic \"" + opts.topic + "\" now has partition " + std::to_string(tp->partition) +
            " but collection \"" + collection->config().name + "\" has " +
            std::to_string(parts.size()) + " shards (partition p feeds shard p)"));
        tp->offset = RD_KAFKA_OFFSET_END;
        continue;
      }
      assign(*parts[static_cast<size_t>(tp->partition)], tp);
    }
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, list)) {
        fail(Status::io_error(std::string("kafka incremental assign: ") + rd_kafka_error_string(e)));
        rd_kafka_error_destroy(e);
      }
    } else if (rd_kafka_resp_err_t e = rd_kafka_assign(rk, list); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fail(Status::io_error(std::string("kafka assign: ") + rd_kafka_err2str(e)));
    }
    return;
  }
  // Revoked (or lost, or a rebalance error): hand the partitions back after the batches in flight.
  if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    obs::log_warn("kafka rebalance error", {{"topic", opts.topic}, {"error", rd_kafka_err2str(err)}});
  }
  if (!rd_kafka_assignment_lost(rk)) store_offsets_and_lag();
  for (int i = 0; i < list->cnt; ++i) {
    const int32_t id = list->elems[i].partition;
    if (id >= 0 && static_cast<size_t>(id) < parts.size()) revoke(*parts[static_cast<size_t>(id)]);
  }
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, list)) {
      obs::log_warn("kafka incremental unassign", {{"topic", opts.topic}, {"error", rd_kafka_error_string(e)}});
      rd_kafka_error_destroy(e);
    }
  } else {
    rd_kafka_assign(rk, nullptr);
  }
}

// ---------------------------------------------------------------------------------------------
// Apply threads

JobOutcome KafkaSource::Impl::prepare(size_t thread, Partition& p, Batch& b) {
  const int64_t consumed_before = p.consumed;
  b.items.clear();
  std::vector<std::string_view> values;
  for (const kafka::Message& m : b.messages) {
    if (m->offset <= consumed_before) continue;  // applied (or dead-lettered) already
    Item it;
    it.message = m.get();
    b.items.push_back(std::move(it));
    values.emplace_back(static_cast<const char*>(m->payload), m->payload == nullptr ? 0 : m->len);
  }
  std::vector<Result<Event>> decoded;
  decoders[thread]->decode(values, &decoded);
  std::vector<size_t> need_text;
  for (size_t i = 0; i < b.items.size(); ++i) {
    Item& it = b.items[i];
    if (!decoded[i].is_ok()) {
      it.error = decoded[i].status();
      it.kind = "decode";
      continue;
    }
    it.event = std::move(*decoded[i]);
    if (it.event.ts_ms >= 0) {
      it.event_ms = it.event.ts_ms;
    } else {
      rd_kafka_timestamp_type_t type;
      const int64_t ts = rd_kafka_message_timestamp(it.message, &type);
      if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) it.event_ms = ts;
    }
    if (it.event.op == EventOp::kUpsert && !it.event.vector) need_text.push_back(i);
  }

  // The embedding stage, one call for the batch.
  if (!need_text.empty()) {
    if (!embedder) {
      for (size_t i : need_text) {
        b.items[i].error = Status::invalid_argument("event has text and no vector, and no embedder configured");
        b.items[i].kind = "embedding";
      }
    } else {
      std::vector<std::string> texts;
      for (size_t i : need_text) texts.push_back(*b.items[i].event.text);
      // Embedders are all-or-nothing: when a batch is refused (INVALID_ARGUMENT), each text is
      // embedded on its own so that only the refused ones become dead letters.
      auto embed = [&](const std::vector<std::string>& t) {
        const auto start = std::chrono::steady_clock::now();
        auto r = embedder(t);
        embedding_hist->observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        if (r.is_ok() && r->size() != t.size()) {
          return Result<std::vector<std::vector<float>>>(
              Status::internal("embedder returned " + std::to_string(r->size()) + " vectors for " +
                               std::to_string(t.size()) + " texts"));
        }
        return r;
      };
      auto retry_later = [&](const Status& st) {
        obs::log_warn("embedding failed; batch retried",
                      {{"topic", opts.topic}, {"partition", p.id}, {"error", st.to_string()}});
        return JobOutcome::kRetry;
      };
      auto vectors = embed(texts);
      if (!vectors.is_ok() && vectors.status().code() != StatusCode::kInvalidArgument) {
        return retry_later(vectors.status());
      }
      if (vectors.is_ok()) {
        for (size_t k = 0; k < need_text.size(); ++k) {
          b.items[need_text[k]].event.vector = std::move((*vectors)[k]);
        }
      } else {
        for (size_t k = 0; k < need_text.size(); ++k) {
          Item& it = b.items[need_text[k]];
          auto one = texts.size() == 1 ? vectors : embed({texts[k]});
          if (one.is_ok()) {
            it.event.vector = std::move((*one)[0]);
          } else if (one.status().code() == StatusCode::kInvalidArgument) {
            it.error = Status::invalid_argument("embedding: " + one.status().message());
            it.kind = "embedding";
          } else {
            return retry_later(one.status());
          }
        }
      }
    }
  }

  // The shard's own checks, point by point: one bad point must not sink its whole run. On a
  // copy of the vector: validate() normalises cosine vectors, and the write will do it again.
  for (Item& it : b.items) {
    if (!it.error.is_ok() || it.event.op != EventOp::kUpsert) continue;
    WriteBatch one;
    one.op = WriteOp::kUpsert;
    one.points.push_back(PointWrite{it.event.id, *it.event.vector, std::move(it.event.payload)});
    Status st = p.shard->validate(&one);
    it.event.payload = std::move(one.points[0].payload);
    if (!st.is_ok()) {
      it.error = st;
      it.kind = "invalid_point";
    }
  }
  b.prepared = true;
  return JobOutcome::kDone;
}

JobOutcome KafkaSource::Impl::apply(size_t thread, int32_t partition, Batch& b) {
  Partition& p = *parts[static_cast<size_t>(partition)];
  if (b.generation != p.live_generation || failed) return JobOutcome::kDone;
  obs::ScopedTimer timer(apply_hist);
  if (!b.prepared && prepare(thread, p, b) == JobOutcome::kRetry) {
    timer.cancel();
    return JobOutcome::kRetry;
  }

  if (!b.dead_lettered) {
    std::vector<DeadLetter> letters;
    for (const Item& it : b.items) {
      if (it.error.is_ok()) continue;
      const rd_kafka_message_t* m = it.message;
      letters.push_back(DeadLetter{m->key, m->key_len, m->payload, m->len, opts.topic, p.id,
                                   m->offset, it.error.message()});
    }
    Status st = dlq->write(letters, kDeadLetterTimeout);
    if (!st.is_ok()) {
      // Nothing of the batch is recorded as consumed yet: retry it (the partition is paused by
      // its growing queue meanwhile).
      obs::log_error("dead-letter write failed; batch retried",
                     {{"topic", opts.topic}, {"partition", p.id}, {"error", st.to_string()}});
      timer.cancel();
      return JobOutcome::kRetry;
    }
    for (const Item& it : b.items) {
      if (it.error.is_ok()) continue;
      metrics.dead_letters->with({opts.topic, it.kind}).inc();
      ++dead_lettered;
      obs::log_debug("dead letter", {{"topic", opts.topic},
                                     {"partition", p.id},
                                     {"offset", it.message->offset},
                                     {"reason", it.error.message()}});
    }
    b.dead_lettered = true;
  }

  // Runs of same-op events, each one shard write. A run's position reaches up to the next run's
  // first event, so the dead letters between them are covered by it.
  const int64_t last_offset = b.messages.back()->offset;
  const size_t n = b.items.size();
  size_t i = b.next;
  while (i < n) {
    if (!b.items[i].error.is_ok()) {
      ++i;
      continue;
    }
    const EventOp op = b.items[i].event.op;
    size_t j = i;
    std::vector<PointWrite> points;
    std::vector<PointId> ids;
    std::vector<int64_t> times;
    while (j < n && (!b.items[j].error.is_ok() || b.items[j].event.op == op)) {
      const Item& it = b.items[j++];
      if (!it.error.is_ok()) continue;
      // Copies: a refused write is retried with the same points.
      if (op == EventOp::kUpsert) {
        points.push_back(PointWrite{it.event.id, *it.event.vector, it.event.payload});
      } else {
        ids.push_back(it.event.id);
      }
      times.push_back(it.event_ms);
    }
    SourcePosition pos{p.source, j < n ? b.items[j].message->offset - 1 : last_offset};
    auto ack = op == EventOp::kUpsert ? p.shard->upsert(std::move(points), pos)
                                      : p.shard->remove(ids, pos);
    if (!ack.is_ok()) {
      if (ack.status().code() == StatusCode::kResourceExhausted) {
        // Back-pressure: pause the partition, retry this run later.
        p.stalled = true;
        ++rejections;
        rejections_counter->inc();
        b.next = i;
        timer.cancel();
        return JobOutcome::kRetry;
      }
      fail(Status(ack.status().code(), "shard " + std::to_string(p.id) + ": " + ack.status().message()));
      return JobOutcome::kDone;
    }
    p.applied = pos.offset;
    p.consumed = pos.offset;
    events_applied += times.size();
    events_counter->inc(times.size());
    const int64_t now = unix_ms();
    for (int64_t t : times) {
      if (t >= 0) freshness_hist->observe(static_cast<double>(std::max<int64_t>(0, now - t)) / 1000.0);
    }
    i = j;
    b.next = j;
  }
  // Whatever is left (dead letters after the last run, events applied before) is consumed.
  if (last_offset > p.consumed) p.consumed = last_offset;
  p.stalled = false;
  if (b.generation == p.live_generation) p.queued -= b.messages.size();
  ++batches;
  return JobOutcome::kDone;
}

}  // namespace vecstream
