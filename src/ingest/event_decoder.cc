#include "ingest/event_decoder.h"

#include "ingest/avro_event_decoder.h"
#include "ingest/json_event_decoder.h"
#include "ingest/protobuf_event_decoder.h"

namespace vecstream {

Result<std::unique_ptr<EventDecoder>> make_event_decoder(const EventDecoderOptions& options) {
  const std::string& format = options.format;
  if (format == "json") return std::unique_ptr<EventDecoder>(std::make_unique<JsonEventDecoder>());
  if (format == "protobuf") {
    return std::unique_ptr<EventDecoder>(std::make_unique<ProtobufEventDecoder>());
  }
  if (format == "avro") {
    if (options.avro.schema_dir.empty()) {
      return Status::invalid_argument("format avro needs an Avro schema directory");
    }
    auto d = AvroEventDecoder::create(options.avro);
    if (!d.is_ok()) return d.status();
    return std::unique_ptr<EventDecoder>(std::move(*d));
  }
  return Status::invalid_argument("unknown event format \"" + format +
                                  "\" (supported: json, protobuf, avro)");
}

Result<std::unique_ptr<EventDecoder>> make_event_decoder(std::string_view format) {
  EventDecoderOptions options;
  options.format = std::string(format);
  return make_event_decoder(options);
}

}  // namespace vecstream
