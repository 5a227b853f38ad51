#include "ingest/ingest_metrics.h"

namespace vecstream {

Result<IngestMetrics> IngestMetrics::register_in(obs::MetricsRegistry& r) {
  IngestMetrics m;
#define VS_FAMILY(field, expr)            \
  do {                                    \
    auto f = (expr);                      \
    if (!f.is_ok()) return f.status();    \
    m.field = *f;                         \
  } while (0)
  VS_FAMILY(events, r.counter_family("vecstream_ingest_events_total",
                                     "Stream events applied to a shard", {"topic"}));
  VS_FAMILY(dead_letters,
            r.counter_family("vecstream_ingest_dead_letter_events_total",
                             "Stream events sent to the dead-letter topic, by reason",
                             {"topic", "reason"}));
  VS_FAMILY(lag, r.gauge_family("vecstream_ingest_consumer_lag_messages",
                                "Messages in the partition not yet applied (high watermark - next offset)",
                                {"topic", "partition"}));
  VS_FAMILY(freshness,
            r.histogram_family("vecstream_ingest_freshness_seconds",
                               "Event time to applied (searchable), per event",
                               {"topic"}, obs::exponential_buckets(0.001, 2.0, 20)));
  VS_FAMILY(batch_apply, r.histogram_family("vecstream_ingest_batch_apply_seconds",
                                            "Time to decode, dead-letter and write one partition batch",
                                            {"topic"}));
  VS_FAMILY(embedding,
            r.histogram_family("vecstream_ingest_embedding_seconds",
                               "Time of one call to the embedding stage for a batch's texts",
                               {"topic"}, obs::exponential_buckets(0.0001, 2.0, 20)));
  VS_FAMILY(pauses, r.counter_family("vecstream_ingest_partition_pauses_total",
                                     "Partitions paused for back-pressure", {"topic"}));
  VS_FAMILY(rejections, r.counter_family("vecstream_ingest_write_rejections_total",
                                         "Shard writes refused with RESOURCE_EXHAUSTED (retried later)",
                                         {"topic"}));
  VS_FAMILY(paused, r.gauge_family("vecstream_ingest_paused_partitions",
                                   "Partitions paused for back-pressure now", {"topic"}));
  VS_FAMILY(lost, r.counter_family("vecstream_ingest_lost_events_total",
                                   "Events the broker deleted (retention) before they were applied",
                                   {"topic"}));
#undef VS_FAMILY
  return m;
}

}  // namespace vecstream
