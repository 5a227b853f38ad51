// JsonEventDecoder: the JSON form of a stream event, parsed with simdjson (DOM API; the parser's
// buffers are reused from message to message, so a steady stream allocates little).
//
//   {"id": 42 | "doc-42",            required: a non-negative integer or a 1..256-byte string
//    "op": "upsert" | "delete",      optional, default "upsert"
//    "vector": [0.1, -2, ...],       upsert: the vector (each value finite as a 32-bit float) ...
//    "text": "...",                  ... or text for the embedding stage (vector wins if both)
//    "payload": {...},               optional JSON object stored with the point
//    "ts": 1714567890123}            optional event time, epoch milliseconds ("timestamp" too)
//
// Other keys are ignored (producers may add fields before consumers know them); a known key given
// twice is an error, since which one was meant is unknowable.
#pragma once

#include <memory>

#include "ingest/event_decoder.h"

namespace vecstream {

class JsonEventDecoder final : public EventDecoder {
 public:
  JsonEventDecoder();
  ~JsonEventDecoder() override;

  void decode(std::span<const std::string_view> messages,
              std::vector<Result<Event>>* out) override;
  std::string_view format() const override { return "json"; }

  /// One message.
  Result<Event> decode_one(std::string_view message);

 private:
  struct Parser;
  std::unique_ptr<Parser> parser_;
};

}  // namespace vecstream
