// EventDecoder: turns the bytes of stream messages into Events. One implementation per wire
// format (json_event_decoder.h, protobuf_event_decoder.h, avro_event_decoder.h), chosen by name
// with make_event_decoder().
//
// Errors are per message and never stop a batch: a message that cannot be decoded gets a Status
// whose message is the reason the dead-letter record carries. A decoder checks what the format
// itself can check (shape, types, id, op, finite numbers); what depends on the collection
// (dimension, payload size) is checked by the shard before anything is written.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "ingest/event.h"

namespace vecstream {

class EventDecoder {
 public:
  virtual ~EventDecoder() = default;

  /// Decodes every message of a batch: (*out)[i] is messages[i]'s event or its error.
  /// Not thread-safe: a decoder keeps scratch buffers (each apply thread owns one).
  virtual void decode(std::span<const std::string_view> messages,
                      std::vector<Result<Event>>* out) = 0;

  /// The format's name ("json", "protobuf", "avro").
  virtual std::string_view format() const = 0;
};

/// Where an Avro decoder finds its schemas (avro_event_decoder.h).
struct AvroDecoderOptions {
  std::string reader_schema_file;  // an .avsc file; empty = the built-in reader schema
  std::string schema_dir;          // directory of writer schemas, named <schema id>.avsc; required
};

/// What make_event_decoder() needs: the format, and for "avro" where its schemas are.
struct EventDecoderOptions {
  std::string format = "json";  // "json", "protobuf" or "avro"
  AvroDecoderOptions avro;      // format "avro" only
};

/// A decoder for `options.format`. INVALID_ARGUMENT naming the formats known for an unknown one;
/// for "avro", AvroEventDecoder::create()'s errors.
Result<std::unique_ptr<EventDecoder>> make_event_decoder(const EventDecoderOptions& options);

/// A decoder for `format`: "json" or "protobuf" ("avro" needs its schema directory: use the
/// overload above). INVALID_ARGUMENT naming the formats known otherwise.
Result<std::unique_ptr<EventDecoder>> make_event_decoder(std::string_view format);

}  // namespace vecstream
