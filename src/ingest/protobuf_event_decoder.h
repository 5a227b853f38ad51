// ProtobufEventDecoder: stream events as vecstream.v1.StreamEvent messages
// (proto/vecstream/v1/event.proto), the compact binary twin of the JSON event: the same fields,
// the same checks, the same error messages where they can be the same.
//
// Framing. A message is either the bare StreamEvent or the Confluent wire format written by
// Confluent's Protobuf serializers: magic byte 0, a 4-byte big-endian schema id, the message-index
// path (zig-zag varints), then the StreamEvent. A bare Protobuf message never starts with byte 0
// (field number 0 does not exist), so the two cannot be confused. The index path must be [0]
// (StreamEvent, the first message of its schema); the schema id is not checked, since Protobuf
// needs no writer schema to read a message (unknown fields are skipped, missing ones default).
#pragma once

#include <memory>

#include "ingest/event_decoder.h"

namespace vecstream {

class ProtobufEventDecoder final : public EventDecoder {
 public:
  ProtobufEventDecoder();
  ~ProtobufEventDecoder() override;

  void decode(std::span<const std::string_view> messages,
              std::vector<Result<Event>>* out) override;
  std::string_view format() const override { return "protobuf"; }

  /// One message.
  Result<Event> decode_one(std::string_view message);

 private:
  struct Scratch;
  std::unique_ptr<Scratch> scratch_;  // the message object, reused from event to event
};

}  // namespace vecstream
