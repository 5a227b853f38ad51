// DeadLetterWriter: sends events that cannot be applied to the dead-letter topic, as they came
// (same key, same value), with headers that say why and where from:
//
//   vecstream-error             the reason ("missing \"id\"", "vector has dimension 3, ...")
//   vecstream-source-topic      the topic the event was read from
//   vecstream-source-partition  its partition (decimal)
//   vecstream-source-offset     its offset (decimal)
//
// Delivery is at-least-once: write() returns once the broker has acknowledged every record (an
// idempotent producer, acks=all, so broker retries add no duplicates), and the Kafka source
// records the events as consumed only after that. A crash between the two sends them again after
// the restart; (source topic, partition, offset) identifies a record for whoever deduplicates.
//
// Thread safety: write() may be called from any thread, concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace vecstream {

inline constexpr char kDeadLetterErrorHeader[] = "vecstream-error";
inline constexpr char kDeadLetterTopicHeader[] = "vecstream-source-topic";
inline constexpr char kDeadLetterPartitionHeader[] = "vecstream-source-partition";
inline constexpr char kDeadLetterOffsetHeader[] = "vecstream-source-offset";

struct DeadLetter {
  const void* key = nullptr;  // the original key (nullptr = none)
  size_t key_len = 0;
  const void* value = nullptr;  // the original value (nullptr = none)
  size_t value_len = 0;
  std::string_view source_topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string reason;
};

class DeadLetterWriter {
 public:
  /// A producer for `topic` with the given librdkafka properties (bootstrap.servers, security
  /// settings ...); the writer adds enable.idempotence and acks=all.
  static Result<std::unique_ptr<DeadLetterWriter>> create(std::map<std::string, std::string> properties,
                                                          std::string topic);
  ~DeadLetterWriter();
  DeadLetterWriter(const DeadLetterWriter&) = delete;
  DeadLetterWriter& operator=(const DeadLetterWriter&) = delete;

  /// Sends every letter and waits until all are acknowledged: IO_ERROR (naming the first failure)
  /// if any was refused or `timeout` passed. Some may have been delivered even then.
  Status write(std::span<const DeadLetter> letters, std::chrono::milliseconds timeout);

  const std::string& topic() const { return topic_; }

 private:
  struct Impl;
  DeadLetterWriter(std::unique_ptr<Impl> impl, std::string topic);
  std::unique_ptr<Impl> impl_;
  std::string topic_;
};

}  // namespace vecstream
