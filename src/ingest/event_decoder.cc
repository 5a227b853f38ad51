#include "ingest/event_decoder.h"

#include "ingest/json_event_decoder.h"
#include "ingest/protobuf_event_decoder.h"

namespace vecstream {

Result<std::unique_ptr<EventDecoder>> make_event_decoder(std::string_view format) {
  if (format == "json") return std::unique_ptr<EventDecoder>(std::make_unique<JsonEventDecoder>());
  if (format == "protobuf") {
    return std::unique_ptr<EventDecoder>(std::make_unique<ProtobufEventDecoder>());
  }
  return Status::invalid_argument("unknown event format \"" + std::string(format) +
                                  "\" (supported: json, protobuf)");
}

}  // namespace vecstream
