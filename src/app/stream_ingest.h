// StreamIngest: the Kafka side of `vecstream serve` — one KafkaSource per configured topic, each
// feeding its collection of the server's catalog, with the server's embedder as the embedding
// stage for events that carry text.
//
// A topic's collection need not exist when the server starts: a supervisor thread looks for it
// every second and starts the source once it is there (create it over the API with as many shards
// as the topic has partitions). A source that fails (its broker's topic gone, a shard I/O error,
// a partition count that does not match the shards) is stopped, logged with its error, and tried
// again every few seconds; a dropped collection releases its source. State per topic is in
// status() and in the gauge vecstream_ingest_source_up{topic} (1 = consuming).
//
// Threads: start/stop from the owner's thread; status() from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "embed/embedder.h"
#include "ingest/kafka_source.h"
#include "obs/metrics.h"
#include "segment/catalog.h"
#include "serve/server_config.h"

namespace vecstream {

struct TopicIngestStatus {
  std::string topic;
  std::string collection;
  std::string state;   // "waiting for collection" | "running" | "failed"
  std::string error;   // the last failure, if any
  KafkaSourceStats stats;  // of the running source (empty otherwise)
};

class StreamIngest {
 public:
  /// Starts the supervisor (and every source whose collection exists). `catalog`, `embedder`
  /// (may be null: text events become dead letters) and `metrics` must outlive this object.
  /// Fails at once only for a source whose collection exists and cannot be started: a server
  /// that is told to ingest must not come up silently deaf.
  static Result<std::unique_ptr<StreamIngest>> start(const ServerConfig::Kafka& config,
                                                     Catalog* catalog, Embedder* embedder,
                                                     obs::MetricsRegistry* metrics);
  /// Stops every source (leaving the consumer group); no write happens after it returns.
  ~StreamIngest();
  StreamIngest(const StreamIngest&) = delete;
  StreamIngest& operator=(const StreamIngest&) = delete;

  /// One entry per configured topic.
  std::vector<TopicIngestStatus> status() const;

 private:
  struct Impl;
  explicit StreamIngest(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecstream
