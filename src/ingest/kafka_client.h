// Thin RAII over librdkafka's C handles, and configuration building that turns librdkafka's
// errors into Status. Internal to the ingest layer: nothing above it sees librdkafka types.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>

#include "core/status.h"

namespace vecstream::kafka {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const noexcept { rd_kafka_metadata_destroy(m); }
};

using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using Conf = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

/// A configuration with `props` set in order; INVALID_ARGUMENT naming the first key librdkafka
/// refuses (unknown key, bad value), with librdkafka's own explanation.
Result<Conf> make_conf(const std::map<std::string, std::string>& props);

/// Sets one property; INVALID_ARGUMENT as make_conf().
Status set_conf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value);

/// Routes librdkafka's log lines to the structured log (obs/log.h), with the client's name.
void set_log_callback(rd_kafka_conf_t* conf);

/// Creates a producer or consumer; takes ownership of `conf` whatever happens.
Result<Handle> make_handle(rd_kafka_type_t type, Conf conf);

/// The number of partitions of `topic` (never creates it): NOT_FOUND when the cluster does not
/// know it,
/// IO_ERROR when no broker answered within `timeout_ms`.
Result<int> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

/// "topic/partition": the source name a shard records for exactly-once resumption.
std::string source_name(const std::string& topic, int32_t partition);

}  // namespace vecstream::kafka
