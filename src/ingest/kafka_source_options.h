// KafkaSourceOptions: what a Kafka source needs to know — where the brokers are, which group and
// topic, where bad events go, how events are batched and how much may wait — with validation that
// names the offending field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "core/status.h"
#include "ingest/event_decoder.h"

namespace vecstream {

struct KafkaSourceOptions {
  std::string bootstrap_servers;  // "host:port,host:port" (librdkafka bootstrap.servers); required
  std::string group_id;           // consumer group (group.id); required
  std::string topic;              // the event topic; its partition count must equal the shards
  std::string dlq_topic;          // dead-letter topic; empty = "<topic>.dlq"; must exist
  std::string format = "json";    // event format: "json", "protobuf" or "avro" (event_decoder.h)
  // Format "avro" (avro_event_decoder.h): the directory of writer schemas, one <schema id>.avsc
  // per id of the Confluent framing (required), and the reader schema (empty = the built-in one,
  // proto/avro/stream_event.avsc).
  std::string avro_schema_dir;
  std::string avro_reader_schema;

  // Batching: a partition's fetched events go to the shard at once while it has no batch being
  // applied; while it has, they gather into the next batch until that one is done, the next holds
  // batch_max_events, or its oldest event has waited batch_max_ms. Batches grow with the load
  // and an idle shard adds no wait.
  size_t batch_max_events = 500;  // 1 .. 10000 (the shard's largest batch)
  uint32_t batch_max_ms = 20;     // 1 .. 60000

  // Back-pressure: a partition with this many events fetched and not yet applied is paused
  // (fetching stops) until it is down to half; memory stays bounded whatever the producers do.
  size_t max_queued_events = 10000;  // >= batch_max_events
  size_t apply_threads = 0;          // 0 = min(partitions, 4); at most 64
  uint32_t retry_backoff_ms = 50;    // first wait before retrying a refused batch; doubles to 5 s

  // Where a partition the shard has never applied anything from starts: "earliest" (every event
  // the topic still holds) or "latest" (only new ones). Partitions the shard knows always resume
  // at its last applied offset + 1.
  std::string initial_offset = "earliest";
  uint32_t connect_timeout_ms = 10000;  // metadata checks when the source is created

  // Extra librdkafka properties for the consumer and the dead-letter producer: security.protocol,
  // sasl.*, ssl.*, session.timeout.ms, partition.assignment.strategy ("cooperative-sticky" for
  // incremental rebalancing), client.id, ... The keys the source owns are refused:
  // bootstrap.servers, group.id (fields above), enable.auto.offset.store, enable.partition.eof.
  // (Against the dev broker keep session.timeout.ms above 3000: see dev_broker.h.)
  std::map<std::string, std::string> properties;

  /// INVALID_ARGUMENT naming the first bad field, or the property librdkafka refuses and why.
  Status validate() const;
  /// dlq_topic, or "<topic>.dlq".
  std::string dead_letter_topic() const;
  /// What make_event_decoder() needs: format and, for "avro", its schemas.
  EventDecoderOptions decoder_options() const;
};

/// Kafka's rule for topic names: 1-249 characters of [A-Za-z0-9._-], not "." or "..".
Status check_topic_name(const std::string& field, const std::string& name);

}  // namespace vecstream
