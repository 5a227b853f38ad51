// IngestMetrics: the Prometheus metrics of ingestion (names are part of the interface, see
// shared/DESIGN.md "Metrics"), registered once per registry and shared by every source in it.
//
//   vecstream_ingest_events_total{topic}                      events applied to a shard
//   vecstream_ingest_dead_letter_events_total{topic,reason}   events sent to the dead-letter topic;
//                                                             reason: decode | embedding | invalid_point
//   vecstream_ingest_consumer_lag_messages{topic,partition}   high watermark - next offset to apply
//   vecstream_ingest_freshness_seconds{topic}                 event time ("ts", else the Kafka
//                                                             timestamp) to applied (searchable)
//   vecstream_ingest_batch_apply_seconds{topic}               decode + dead-letter + shard writes
//   vecstream_ingest_embedding_seconds{topic}                 one embedding call (the texts of a
//                                                             batch), failed calls included
//   vecstream_ingest_partition_pauses_total{topic}            partitions paused for back-pressure
//   vecstream_ingest_write_rejections_total{topic}            shard writes refused (RESOURCE_EXHAUSTED)
//   vecstream_ingest_paused_partitions{topic}                 partitions paused now
//   vecstream_ingest_lost_events_total{topic}                 events the broker deleted (retention)
//                                                             before they were applied
#pragma once

#include <string>

#include "core/status.h"
#include "obs/metrics.h"

namespace vecstream {

struct IngestMetrics {
  obs::Family<obs::Counter>* events = nullptr;
  obs::Family<obs::Counter>* dead_letters = nullptr;
  obs::Family<obs::Gauge>* lag = nullptr;
  obs::Family<obs::Histogram>* freshness = nullptr;
  obs::Family<obs::Histogram>* batch_apply = nullptr;
  obs::Family<obs::Histogram>* embedding = nullptr;
  obs::Family<obs::Counter>* pauses = nullptr;
  obs::Family<obs::Counter>* rejections = nullptr;
  obs::Family<obs::Gauge>* paused = nullptr;
  obs::Family<obs::Counter>* lost = nullptr;

  /// Gets or creates the families in `registry`.
  static Result<IngestMetrics> register_in(obs::MetricsRegistry& registry);
};

}  // namespace vecstream
