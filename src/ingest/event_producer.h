// EventProducer: writes stream events to a Kafka topic — what the demo's producer and
// `vecstream bench kafka` use, and the reference for how a producer should write to a topic that
// Vecstream ingests: keyed by id, into partition stable_hash(id) % partitions, so that every
// event of one id lands in one partition, in order (kafka_source.h "Mapping"), and the API's
// routing (Collection::get) finds the point in the shard that partition feeds.
//
// Delivery: an idempotent producer (acks=all, lz4-compressed batches unless the properties say
// otherwise), so broker retries add no duplicates. send() queues
// and returns at once; when librdkafka's local queue is full it serves delivery reports until
// there is room (bounded memory: the queue is the bound). flush() waits for every report.
//
// Thread safety: any thread may call any method; sends from one thread keep their order.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "ingest/event.h"

namespace vecstream {

struct EventProducerStats {
  uint64_t sent = 0;       // records queued by send()
  uint64_t delivered = 0;  // acknowledged by the broker
  uint64_t failed = 0;     // refused for good (reported by delivery, after librdkafka's retries)
};

class EventProducer {
 public:
  /// A producer for `topic` on `bootstrap_servers`, with extra librdkafka `properties`
  /// (security, linger.ms ...). Waits up to `timeout` for the topic's metadata: NOT_FOUND when
  /// the cluster does not know the topic, IO_ERROR when no broker answers.
  static Result<std::unique_ptr<EventProducer>> create(
      const std::string& bootstrap_servers, const std::string& topic,
      std::map<std::string, std::string> properties = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Flushes for up to 5 s, then drops what is still queued.
  ~EventProducer();
  EventProducer(const EventProducer&) = delete;
  EventProducer& operator=(const EventProducer&) = delete;

  /// Queues one record keyed by `id` (its text form) into partition_of(id). IO_ERROR if
  /// librdkafka refuses it (not for a full queue: that waits).
  Status send(const PointId& id, std::string_view value);
  /// Queues one record into an explicit partition (tests that need a given layout).
  Status send_to(int32_t partition, std::string_view key, std::string_view value);
  /// Waits until every queued record is acknowledged or `timeout` passes (IO_ERROR then, or when
  /// any record failed; the count of failures is in stats()).
  Status flush(std::chrono::milliseconds timeout);

  int32_t partitions() const { return partitions_; }
  int32_t partition_of(const PointId& id) const;
  EventProducerStats stats() const;
  const std::string& topic() const { return topic_; }

 private:
  struct Impl;
  EventProducer(std::unique_ptr<Impl> impl, std::string topic, int32_t partitions);
  std::unique_ptr<Impl> impl_;
  std::string topic_;
  int32_t partitions_ = 1;
};

/// The JSON form of an event (json_event_decoder.h reads it back): {"id", "op", "vector" or
/// "text", "payload", "ts"}. Floats are written with the shortest text that reads back exactly.
std::string event_to_json(const Event& event);

}  // namespace vecstream
