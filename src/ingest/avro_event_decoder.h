// AvroEventDecoder: stream events in Avro, as Confluent's Avro serializers write them — the same
// fields as the JSON and Protobuf events (json_event_decoder.h, protobuf_event_decoder.h), the
// same checks, the same error messages where they can be the same.
//
// Wire format (framing is required; a message without it is an error):
//
//   +------+--------------------------+----------------------------------------+
//   | 0x00 | schema id (4 bytes, BE)  | Avro binary body, in the writer schema |
//   +------+--------------------------+----------------------------------------+
//
// The writer schema is the file <schema_dir>/<schema id>.avsc (an export of the schema registry,
// one file per id), read the first time the id is seen and then kept for the decoder's life. The
// body is read in the writer schema and resolved to the reader schema by Avro's rules: fields the
// reader does not know are skipped, reader fields the writer lacks take the reader's default,
// int/long promote to long/float/double. The reader schema is proto/avro/stream_event.avsc
// (built in, see default_reader_schema()), or the operator's own (reader_schema_file) — e.g. to
// match a producer's record name, which Avro resolution requires to be equal:
//
//   record vecstream.v1.StreamEvent {
//     id:           long | string        required; a long must be >= 0 (ids of 2^63 and above
//                                         have no Avro long: send them as strings)
//     op:           enum Op {UPSERT, DELETE} = UPSERT
//     vector:       null | array<float> = null    upserts: the vector, or ...
//     text:         null | string = null           ... text for the embedding stage
//     payload_json: null | string = null           a JSON object, or null for none
//     ts_ms:        null | long = null             event time, epoch milliseconds, >= 0
//   }
//
// A custom reader schema must be a record with "id" (long, string, or a union of the two); the
// other fields are optional and, when present, have the types above (a union with null or the
// bare type); fields it has beyond these are resolved and ignored. An empty vector is no vector,
// as in Protobuf events. Framing is required because a bare body cannot be told from a framed
// one: a long id's union branch is byte 0, the magic byte.
//
// Working around libavro 1.11 (avro-c), whose resolver is used for everything else:
//  - it fills no defaults (a reader field the writer lacks fails resolution), so each writer gets
//    the reader schema less the fields it lacks, and the decoder applies their defaults itself;
//  - it maps enum symbols by position, not name, so "op" is read in the writer's own enum and
//    its symbol checked by name against the reader's;
//  - it crashes on some incompatible pairs (array or map items that do not resolve), so every
//    writer/reader pair is checked by Avro's rules (compatible()) before libavro sees it;
//  - it allocates whatever a length prefix says, so the body is first walked against the writer
//    schema: every length and count must fit in the bytes left, and the body must end exactly
//    where the record does (truncated bodies and trailing bytes get a precise error).
//
// Threading: not thread-safe; each apply thread owns one decoder. Every writer schema's resolver
// and the values it decodes into are made once and reused from message to message. Writer
// schemas are cached per id (the directory's files bound the cache); an id with no file is looked
// up again on each message that carries it, so a schema exported later is found.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "ingest/event_decoder.h"  // and AvroDecoderOptions

namespace vecstream {

class AvroEventDecoder final : public EventDecoder {
 public:
  /// NOT_FOUND: schema_dir or reader_schema_file does not exist. INVALID_ARGUMENT: schema_dir
  /// is empty or not a directory, the reader schema does not parse (the file and libavro's
  /// reason are named), or lacks "id", or has a field of the wrong type or default.
  static Result<std::unique_ptr<AvroEventDecoder>> create(const AvroDecoderOptions& options);
  ~AvroEventDecoder() override;

  void decode(std::span<const std::string_view> messages,
              std::vector<Result<Event>>* out) override;
  std::string_view format() const override { return "avro"; }

  /// One message. INVALID_ARGUMENT with the reason (the dead letter's) when it cannot be decoded,
  /// including a schema id with no file in schema_dir or a writer schema that does not resolve.
  Result<Event> decode_one(std::string_view message);

  /// The built-in reader schema (the text of proto/avro/stream_event.avsc).
  static std::string_view default_reader_schema();

 private:
  struct Reader;
  struct Writer;
  AvroEventDecoder();

  Result<Writer*> writer_for(uint32_t schema_id);

  AvroDecoderOptions options_;
  std::unique_ptr<Reader> reader_;                      // the reader schema and its fields
  std::map<uint32_t, std::unique_ptr<Writer>> writers_;  // by schema id; failures cached too
};

}  // namespace vecstream
