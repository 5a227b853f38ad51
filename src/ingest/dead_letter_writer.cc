#include "ingest/dead_letter_writer.h"

#include <atomic>
#include <mutex>

#include "ingest/kafka_client.h"

namespace vecstream {

namespace {

// The outcome of one write() call. Each produced record holds a reference (the delivery report
// may come after write() gave up waiting), so it lives as long as the last record needs it.
struct Delivery {
  std::atomic<size_t> pending{0};
  std::mutex mu;
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* ref = static_cast<std::shared_ptr<Delivery>*>(m->_private);
  if (ref == nullptr) return;
  Delivery& d = **ref;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::lock_guard lk(d.mu);
    if (d.first_error.empty()) d.first_error = rd_kafka_err2str(m->err);
  }
  d.pending.fetch_sub(1);
  delete ref;
}

}  // namespace

struct DeadLetterWriter::Impl {
  kafka::Handle rk;
  ~Impl() {
    // Give records still in flight a moment, then purge the rest; the purge's delivery reports
    // (served by the second flush) free the references the records hold.
    if (!rk) return;
    rd_kafka_flush(rk.get(), 5000);
    rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk.get(), 1000);
  }
};

DeadLetterWriter::DeadLetterWriter(std::unique_ptr<Impl> impl, std::string topic)
    : impl_(std::move(impl)), topic_(std::move(topic)) {}

DeadLetterWriter::~DeadLetterWriter() = default;

Result<std::unique_ptr<DeadLetterWriter>> DeadLetterWriter::create(
    std::map<std::string, std::string> properties, std::string topic) {
  properties.insert_or_assign("enable.idempotence", "true");
  properties.insert_or_assign("acks", "all");
  properties.emplace("linger.ms", "5");  // unless given: a short wait batches a bad batch's letters
  auto conf = kafka::make_conf(properties);
  if (!conf.is_ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), on_delivery);
  kafka::set_log_callback(conf->get());
  auto rk = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk.is_ok()) return rk.status();
  auto impl = std::make_unique<Impl>();
  impl->rk = std::move(*rk);
  return std::unique_ptr<DeadLetterWriter>(new DeadLetterWriter(std::move(impl), std::move(topic)));
}

Status DeadLetterWriter::write(std::span<const DeadLetter> letters, std::chrono::milliseconds timeout) {
  if (letters.empty()) return Status::ok();
  rd_kafka_t* rk = impl_->rk.get();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delivery = std::make_shared<Delivery>();
  delivery->pending = letters.size();
  for (size_t i = 0; i < letters.size(); ++i) {
    const DeadLetter& l = letters[i];
    const std::string partition = std::to_string(l.partition);
    const std::string offset = std::to_string(l.offset);
    for (;;) {
      rd_kafka_headers_t* h = rd_kafka_headers_new(4);
      rd_kafka_header_add(h, kDeadLetterErrorHeader, -1, l.reason.data(),
                          static_cast<ssize_t>(l.reason.size()));
      rd_kafka_header_add(h, kDeadLetterTopicHeader, -1, l.source_topic.data(),
                          static_cast<ssize_t>(l.source_topic.size()));
      rd_kafka_header_add(h, kDeadLetterPartitionHeader, -1, partition.data(),
                          static_cast<ssize_t>(partition.size()));
      rd_kafka_header_add(h, kDeadLetterOffsetHeader, -1, offset.data(),
                          static_cast<ssize_t>(offset.size()));
      auto* ref = new std::shared_ptr<Delivery>(delivery);
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic_.c_str()),
          RD_KAFKA_V_KEY(const_cast<void*>(l.key), l.key_len),
          RD_KAFKA_V_VALUE(const_cast<void*>(l.value), l.value_len),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(ref),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;  // the message owns the headers now
      rd_kafka_headers_destroy(h);
      delete ref;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= deadline) {
        // The letters not produced will never report: take them off what we wait for.
        delivery->pending.fetch_sub(letters.size() - i);
        while (delivery->pending.load() > 0 && std::chrono::steady_clock::now() < deadline) {
          rd_kafka_poll(rk, 10);
        }
        return Status::io_error("dead-letter topic " + topic_ + ": cannot produce: " +
                                rd_kafka_err2str(err));
      }
      rd_kafka_poll(rk, 10);  // the local queue is full: serve deliveries, then try again
    }
  }
  while (delivery->pending.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::io_error("dead-letter topic " + topic_ + ": " +
                              std::to_string(delivery->pending.load()) +
                              " records not acknowledged in time");
    }
    rd_kafka_poll(rk, 10);
  }
  std::lock_guard lk(delivery->mu);
  if (!delivery->first_error.empty()) {
    return Status::io_error("dead-letter topic " + topic_ + ": " + delivery->first_error);
  }
  return Status::ok();
}

}  // namespace vecstream
