// KafkaSource: a Kafka consumer in a consumer group that feeds a Collection, exactly once.
//
// Mapping. Partition p of the topic feeds shard p of the collection, so the topic's partition
// count must equal the collection's shard count (checked when the source is created, and on every
// assignment). Producers key events by id so that all events of one id land in one partition, in
// order; an id that appears in two partitions lives in two shards. (Collection::get routes by
// hash(id) % shards; a producer that picks partition = PointId::stable_hash() % P keeps the two
// routes the same.)
//
// Exactly-once. Every shard write carries its SourcePosition ("topic/p", offset), which the shard
// logs in the same WAL record as the points and keeps in its checkpoints (shard.h). On start and
// on every assignment (eager or cooperative rebalancing, whichever the group's assignor uses) a
// partition starts at the shard's last applied offset + 1 — the shard's own state is the truth;
// offsets committed to the group serve lag monitoring only. Each partition's events are applied in
// order, in batches; a batch is split into runs of upserts and deletes (each one shard write,
// atomic in the WAL), and each run's position covers the dead-lettered events before the next run,
// so after a crash nothing applied is applied twice and nothing is skipped. Upserts and deletes
// are idempotent by id, so even a replay would converge.
//
// Dead letters. An event that cannot be applied (undecodable, no id, unknown op, wrong dimension,
// NaN/Inf, payload too large, text with no embedder) goes to the dead-letter topic with the reason
// (dead_letter_writer.h) and ingestion continues past it. The dead letters of a batch are
// acknowledged by the broker before the shard records any offset that covers them, so none is
// lost; a crash between the two sends them again (at-least-once, deduplicable by their
// source-position headers). Dead letters that end a batch are covered by that batch's last write;
// those of a batch with no write at all (every event bad) are covered by the partition's next
// write. Until then a source remembers them across rebalances and does not send them twice, but a
// new source (a restart) sends them again. Recording them in the shard without a write would need
// a point-less WAL record, which Shard does not offer.
//
// Back-pressure. Fetched events wait in bounded per-partition queues (max_queued_events); a full
// queue pauses the partition (fetching stops; the group membership stays alive) until it drains
// to half. A shard that refuses a write with RESOURCE_EXHAUSTED (its indexer too far behind,
// ShardOptions::max_unindexed_rows) pauses the partition too; the batch is retried with backoff
// from where it stopped, and the partition resumes once it is applied.
//
// Threads. One poll thread (consumer poll, rebalance callbacks, batching, pause/resume, offset
// commits and lag) and a pool of apply threads (decode, embed, validate, dead-letter, shard
// writes), at most one batch per partition at a time. Metrics: ingest_metrics.h.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "ingest/kafka_source_options.h"
#include "ingest/text_embedder.h"
#include "obs/metrics.h"
#include "segment/collection.h"

namespace vecstream {

struct PartitionProgress {
  int32_t partition = 0;
  bool assigned = false;        // this member owns the partition now
  bool paused = false;          // fetching paused for back-pressure
  int64_t applied_offset = -1;  // last offset the shard recorded (its durable truth); -1 = none
  int64_t consumed_offset = -1; // last offset applied or dead-lettered (>= applied_offset)
  int64_t high_watermark = -1;  // the broker's next offset, from its last fetch answer; -1 = unknown
  int64_t lag = -1;             // high_watermark - (consumed_offset + 1); -1 = unknown
};

struct KafkaSourceStats {
  uint64_t events_applied = 0;   // events written to shards
  uint64_t dead_lettered = 0;    // events sent to the dead-letter topic
  uint64_t batches = 0;          // partition batches finished
  uint64_t pauses = 0;           // partitions paused for back-pressure
  uint64_t write_rejections = 0; // shard writes refused with RESOURCE_EXHAUSTED (then retried)
  uint64_t assignments = 0;      // partition assignments received (rebalances)
  std::vector<PartitionProgress> partitions;  // one per partition of the topic
};

class KafkaSource {
 public:
  /// Validates `options`, connects, and checks that the topic exists with as many partitions as
  /// `collection` has shards (FAILED_PRECONDITION otherwise) and that the dead-letter topic
  /// exists (NOT_FOUND). Consumes nothing until start(). `collection` must outlive the source.
  /// `embedder` turns text into vectors for events without one (none: such events are dead
  /// letters, "no embedder configured"). Metrics go to `metrics` (default: obs::default_registry()).
  static Result<std::unique_ptr<KafkaSource>> create(const KafkaSourceOptions& options,
                                                     Collection* collection,
                                                     TextEmbedder embedder = nullptr,
                                                     obs::MetricsRegistry* metrics = nullptr);
  /// Stops (as stop()).
  ~KafkaSource();
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  /// Joins the consumer group and starts consuming. Once only.
  Status start();
  /// Leaves the group (batches not yet applied are dropped: the next owner, or the next start,
  /// resumes from the shards' offsets), stops the threads; returns health(). Idempotent.
  Status stop();
  /// OK while ingesting; otherwise the error that stopped it (a shard I/O error, a partition with
  /// no shard, a fatal client error). Any thread.
  Status health() const;
  /// Progress and counters. Any thread.
  KafkaSourceStats stats() const;

 private:
  struct Impl;
  explicit KafkaSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecstream
