#include "ingest/event_producer.h"

#include <charconv>

#include "ingest/kafka_client.h"

namespace vecstream {

namespace {

struct Counters {
  std::atomic<uint64_t> sent{0}, delivered{0}, failed{0};
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* c = static_cast<Counters*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    c->delivered.fetch_add(1, std::memory_order_relaxed);
  } else {
    c->failed.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

struct EventProducer::Impl {
  Counters counters;  // before rk: delivery reports served by rk's teardown still count here
  kafka::Handle rk;
  ~Impl() {
    if (!rk) return;
    rd_kafka_flush(rk.get(), 5000);
    rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk.get(), 1000);
  }
};

EventProducer::EventProducer(std::unique_ptr<Impl> impl, std::string topic, int32_t partitions)
    : impl_(std::move(impl)), topic_(std::move(topic)), partitions_(partitions) {}

EventProducer::~EventProducer() = default;

Result<std::unique_ptr<EventProducer>> EventProducer::create(
    const std::string& bootstrap_servers, const std::string& topic,
    std::map<std::string, std::string> properties, std::chrono::milliseconds timeout) {
  if (bootstrap_servers.empty()) return Status::invalid_argument("producer: bootstrap_servers is required");
  properties.insert_or_assign("bootstrap.servers", bootstrap_servers);
  properties.insert_or_assign("enable.idempotence", "true");
  properties.insert_or_assign("acks", "all");
  properties.emplace("linger.ms", "5");
  properties.emplace("compression.type", "lz4");  // vectors as JSON text compress several-fold
  auto impl = std::make_unique<Impl>();
  auto conf = kafka::make_conf(properties);
  if (!conf.is_ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), on_delivery);
  rd_kafka_conf_set_opaque(conf->get(), &impl->counters);
  kafka::set_log_callback(conf->get());
  auto rk = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk.is_ok()) return rk.status();
  impl->rk = std::move(*rk);
  auto parts = kafka::partition_count(impl->rk.get(), topic, static_cast<int>(timeout.count()));
  if (!parts.is_ok()) return parts.status();
  return std::unique_ptr<EventProducer>(new EventProducer(std::move(impl), topic, *parts));
}

int32_t EventProducer::partition_of(const PointId& id) const {
  return static_cast<int32_t>(id.stable_hash() % static_cast<uint64_t>(partitions_));
}

Status EventProducer::send(const PointId& id, std::string_view value) {
  const std::string key = id.to_string();
  return send_to(partition_of(id), key, value);
}

Status EventProducer::send_to(int32_t partition, std::string_view key, std::string_view value) {
  if (partition < 0 || partition >= partitions_) {
    return Status::invalid_argument("producer: partition " + std::to_string(partition) +
                                    " out of range (topic " + topic_ + " has " +
                                    std::to_string(partitions_) + ")");
  }
  rd_kafka_t* rk = impl_->rk.get();
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return Status::io_error("producer: topic " + topic_ + ": " + rd_kafka_err2str(err));
    }
    rd_kafka_poll(rk, 5);  // full local queue: serve delivery reports, then try again
  }
  impl_->counters.sent.fetch_add(1, std::memory_order_relaxed);
  rd_kafka_poll(rk, 0);
  return Status::ok();
}

Status EventProducer::flush(std::chrono::milliseconds timeout) {
  rd_kafka_resp_err_t err = rd_kafka_flush(impl_->rk.get(), static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::io_error("producer: topic " + topic_ + ": flush: " + rd_kafka_err2str(err));
  }
  const uint64_t failed = impl_->counters.failed.load();
  if (failed > 0) {
    return Status::io_error("producer: topic " + topic_ + ": " + std::to_string(failed) +
                            " records refused by the broker");
  }
  return Status::ok();
}

EventProducerStats EventProducer::stats() const {
  return {impl_->counters.sent.load(), impl_->counters.delivered.load(), impl_->counters.failed.load()};
}

std::string event_to_json(const Event& event) {
  std::string out;
  out.reserve(64 + (event.vector ? event.vector->size() * 12 : 0));
  out += "{\"id\":";
  out += event.id.to_json().dump();
  if (event.op == EventOp::kDelete) out += ",\"op\":\"delete\"";
  if (event.vector) {
    out += ",\"vector\":[";
    char buf[32];
    for (size_t i = 0; i < event.vector->size(); ++i) {
      if (i) out += ',';
      auto r = std::to_chars(buf, buf + sizeof(buf), (*event.vector)[i]);
      out.append(buf, r.ptr);
    }
    out += ']';
  }
  if (event.text) out += ",\"text\":" + nlohmann::json(*event.text).dump();
  if (!event.payload.is_null()) out += ",\"payload\":" + event.payload.dump();
  if (event.ts_ms >= 0) out += ",\"ts\":" + std::to_string(event.ts_ms);
  out += '}';
  return out;
}

}  // namespace vecstream
