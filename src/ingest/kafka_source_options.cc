#include "ingest/kafka_source_options.h"

#include <cctype>

#include "ingest/kafka_client.h"

namespace vecstream {

namespace {

Status bad(const std::string& field, const std::string& what) {
  return Status::invalid_argument("kafka source: " + field + " " + what);
}

}  // namespace

Status check_topic_name(const std::string& field, const std::string& name) {
  if (name.empty()) return bad(field, "is required");
  if (name.size() > 249) return bad(field, "\"" + name + "\" is longer than 249 characters");
  if (name == "." || name == "..") return bad(field, "\"" + name + "\" is not a valid topic name");
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return bad(field, "\"" + name + "\": only letters, digits, '.', '_' and '-' are allowed");
    }
  }
  return Status::ok();
}

std::string KafkaSourceOptions::dead_letter_topic() const {
  return dlq_topic.empty() ? topic + ".dlq" : dlq_topic;
}

EventDecoderOptions KafkaSourceOptions::decoder_options() const {
  EventDecoderOptions o;
  o.format = format;
  o.avro.schema_dir = avro_schema_dir;
  o.avro.reader_schema_file = avro_reader_schema;
  return o;
}

Status KafkaSourceOptions::validate() const {
  if (bootstrap_servers.empty()) return bad("bootstrap_servers", "is required");
  if (group_id.empty()) return bad("group_id", "is required");
  VS_RETURN_IF_ERROR(check_topic_name("topic", topic));
  VS_RETURN_IF_ERROR(check_topic_name("dlq_topic", dead_letter_topic()));
  if (dead_letter_topic() == topic) return bad("dlq_topic", "must differ from topic");
  if (format.empty()) return bad("format", "is required");
  if (format != "json" && format != "protobuf" && format != "avro") {
    return bad("format", "\"" + format + "\" is not a known event format (json, protobuf, avro)");
  }
  if (format == "avro" && avro_schema_dir.empty()) {
    return bad("avro_schema_dir", "is required when format is \"avro\" (the directory of writer "
                                  "schemas, one <schema id>.avsc each)");
  }
  if (batch_max_events < 1 || batch_max_events > 10000) {
    return bad("batch_max_events", "must be in [1, 10000]");
  }
  if (batch_max_ms < 1 || batch_max_ms > 60000) return bad("batch_max_ms", "must be in [1, 60000]");
  if (max_queued_events < batch_max_events || max_queued_events > 10000000) {
    return bad("max_queued_events", "must be in [batch_max_events, 10000000]");
  }
  if (apply_threads > 64) return bad("apply_threads", "must be at most 64 (0 = automatic)");
  if (retry_backoff_ms < 1 || retry_backoff_ms > 5000) {
    return bad("retry_backoff_ms", "must be in [1, 5000]");
  }
  if (initial_offset != "earliest" && initial_offset != "latest") {
    return bad("initial_offset", "must be \"earliest\" or \"latest\"");
  }
  if (connect_timeout_ms < 1 || connect_timeout_ms > 600000) {
    return bad("connect_timeout_ms", "must be in [1, 600000]");
  }
  for (const char* owned : {"bootstrap.servers", "metadata.broker.list", "group.id",
                            "enable.auto.offset.store", "enable.partition.eof"}) {
    if (properties.count(owned)) {
      return bad("properties", "may not set \"" + std::string(owned) +
                                   "\": the source sets it (use the named option, if any)");
    }
  }
  // librdkafka knows its keys and values: ask it now rather than when connecting.
  auto conf = kafka::make_conf(properties);
  if (!conf.is_ok()) return bad("properties:", conf.status().message());
  return Status::ok();
}

}  // namespace vecstream
