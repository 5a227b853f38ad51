// DevBroker: a Kafka-protocol cluster for development and tests, from librdkafka's mock cluster
// (rdkafka_mock.h). Its brokers listen on 127.0.0.1 (ports chosen by the OS) and speak the real
// wire protocol, so any Kafka client — ours, kcat, a JVM client — can produce and consume.
//
// What librdkafka 2.0.2's mock supports, and so what this broker supports: produce (idempotent
// and transactional too), fetch, metadata, list offsets, balanced consumer groups (JoinGroup /
// SyncGroup / Heartbeat / LeaveGroup, eager and cooperative assignors — the assignor runs in the
// group leader client), offset commit and fetch. Not supported: the admin API (CreateTopics,
// DeleteTopics: topics come from this class or from auto-creation on produce, 4 partitions),
// persistence (everything lives in memory and goes with the process), SASL/SSL listeners.
//
// Retention is fixed by the mock: each partition keeps its newest 5 MiB of record batches (as
// produced, so compressed batches hold more events). A consumer that falls further behind than
// that finds its next offset gone; the Kafka source reports such events as lost
// (vecstream_ingest_lost_events_total) and goes on from the oldest retained one. Producers that
// compress (EventProducer uses lz4 by default) and more partitions give a lagging consumer more room.
//
// Consumer group timing (the mock's, not configurable): a new group waits 3 s for members before
// its first assignment (the broker's group.initial.rebalance.delay.ms), and meanwhile expires any
// member whose session.timeout.ms is shorter — so clients need session.timeout.ms above 3000 (the
// librdkafka default, 45 s, is fine; tests use 4 s). A later rebalance waits session.timeout.ms
// - 1 s for every member to rejoin, and a member that died leaves only when its session expires.
//
// Threading: the cluster runs on librdkafka's own threads; construct and destroy on one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace vecstream {

struct DevTopic {
  std::string name;
  int partitions = 1;
};

struct DevBrokerOptions {
  int brokers = 1;               // 1..16
  std::vector<DevTopic> topics;  // created before bootstrap() is handed out
};

class DevBroker {
 public:
  /// Starts the cluster and creates the topics; INVALID_ARGUMENT for a bad count or topic.
  static Result<std::unique_ptr<DevBroker>> start(const DevBrokerOptions& options);
  ~DevBroker();
  DevBroker(const DevBroker&) = delete;
  DevBroker& operator=(const DevBroker&) = delete;

  /// The bootstrap.servers list, "127.0.0.1:port,127.0.0.1:port,...".
  const std::string& bootstrap() const { return bootstrap_; }
  /// Creates one more topic (any thread that does not race the destructor).
  Status create_topic(const DevTopic& topic);

  /// Parses "NAME:PARTITIONS" (or "NAME", one partition), as `vecstream kafka-dev --topic` takes.
  static Result<DevTopic> parse_topic(const std::string& spec);

 private:
  struct Impl;
  explicit DevBroker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_;
};

}  // namespace vecstream
