#include "ingest/protobuf_event_decoder.h"

#include <cmath>
#include <limits>

#include "vecstream/v1/event.pb.h"

namespace vecstream {

struct ProtobufEventDecoder::Scratch {
  vecstream::v1::StreamEvent msg;
};

namespace {

Status bad(std::string what) { return Status::invalid_argument(std::move(what)); }

// Reads one base-128 varint at *p (advancing it); false when it runs past `end` or past 64 bits.
bool read_varint(const uint8_t** p, const uint8_t* end, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p == end) return false;
    const uint8_t b = *(*p)++;
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// Strips the Confluent framing (magic 0, schema id, message indexes) if present.
Status unframe(std::string_view* m) {
  if (m->empty() || static_cast<uint8_t>((*m)[0]) != 0) return Status::ok();
  if (m->size() < 5) return bad("malformed Protobuf: Confluent header shorter than 5 bytes");
  const uint8_t* p = reinterpret_cast<const uint8_t*>(m->data()) + 5;
  const uint8_t* end = reinterpret_cast<const uint8_t*>(m->data()) + m->size();
  uint64_t zz = 0;
  if (!read_varint(&p, end, &zz)) return bad("malformed Protobuf: truncated message-index count");
  const int64_t count = static_cast<int64_t>(zz >> 1) ^ -static_cast<int64_t>(zz & 1);
  // Count 0 is the short form of the path [0]; otherwise a path of `count` indexes.
  if (count < 0 || count > 16) {
    return bad("malformed Protobuf: bad message-index count " + std::to_string(count));
  }
  for (int64_t i = 0; i < count; ++i) {
    uint64_t idx = 0;
    if (!read_varint(&p, end, &idx)) return bad("malformed Protobuf: truncated message index");
    if (idx != 0 || count != 1) {
      return bad("Confluent message index does not name vecstream.v1.StreamEvent "
                 "(the path must be [0])");
    }
  }
  *m = std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(end - p));
  return Status::ok();
}

}  // namespace

ProtobufEventDecoder::ProtobufEventDecoder() : scratch_(std::make_unique<Scratch>()) {}
ProtobufEventDecoder::~ProtobufEventDecoder() = default;

void ProtobufEventDecoder::decode(std::span<const std::string_view> messages,
                                  std::vector<Result<Event>>* out) {
  out->clear();
  out->reserve(messages.size());
  for (std::string_view m : messages) out->push_back(decode_one(m));
}

Result<Event> ProtobufEventDecoder::decode_one(std::string_view message) {
  if (message.empty()) return bad("malformed Protobuf: empty message");
  VS_RETURN_IF_ERROR(unframe(&message));
  if (message.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return bad("malformed Protobuf: message too large");
  }
  vecstream::v1::StreamEvent& msg = scratch_->msg;
  msg.Clear();
  if (!msg.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
    return bad("malformed Protobuf: not a vecstream.v1.StreamEvent");
  }

  Event ev;
  switch (msg.id().kind_case()) {
    case vecstream::v1::PointId::kNum:
      ev.id = PointId::number(msg.id().num());
      break;
    case vecstream::v1::PointId::kStr: {
      auto s = PointId::string(msg.id().str());
      if (!s.is_ok()) return bad("\"id\": " + s.status().message());
      ev.id = std::move(*s);
      break;
    }
    default:
      return bad("missing \"id\"");
  }
  switch (msg.op()) {
    case vecstream::v1::StreamEvent::OP_UPSERT:
      ev.op = EventOp::kUpsert;
      break;
    case vecstream::v1::StreamEvent::OP_DELETE:
      ev.op = EventOp::kDelete;
      break;
    default:  // proto3 enums are open: a newer producer's value arrives as a bare number
      return bad("unknown op " + std::to_string(static_cast<int>(msg.op())) +
                 " (expected OP_UPSERT or OP_DELETE)");
  }
  if (msg.vector_size() > 0) {
    ev.vector.emplace(msg.vector().begin(), msg.vector().end());
    for (size_t i = 0; i < ev.vector->size(); ++i) {
      if (!std::isfinite((*ev.vector)[i])) {
        return bad("vector has NaN or infinite values (\"vector\"[" + std::to_string(i) + "])");
      }
    }
  }
  if (msg.has_text()) ev.text = msg.text();
  if (!msg.payload_json().empty()) {
    nlohmann::json p = nlohmann::json::parse(msg.payload_json(), nullptr, false);
    if (p.is_discarded()) return bad("\"payload_json\" is not valid JSON");
    if (p.is_null()) {
      // "null": no payload, as in the JSON format
    } else if (!p.is_object()) {
      return bad("\"payload_json\" must be a JSON object");
    } else {
      ev.payload = std::move(p);
    }
  }
  if (msg.has_ts_ms()) {
    if (msg.ts_ms() < 0) return bad("\"ts_ms\" must be non-negative (epoch milliseconds)");
    ev.ts_ms = msg.ts_ms();
  }
  if (ev.op == EventOp::kUpsert && !ev.vector && !ev.text) {
    return bad("an upsert needs \"vector\" or \"text\"");
  }
  return ev;
}

}  // namespace vecstream
