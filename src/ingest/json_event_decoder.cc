#include "ingest/json_event_decoder.h"

#include <simdjson.h>

#include <cmath>
#include <limits>

namespace vecstream {

struct JsonEventDecoder::Parser {
  simdjson::dom::parser dom;
};

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

Status bad(std::string what) { return Status::invalid_argument(std::move(what)); }

// "\"text\"" (built by appending: GCC 12 warns falsely on "literal" + std::string temporaries).
std::string quote(std::string_view s) {
  std::string q;
  q.reserve(s.size() + 2);
  q += '"';
  q += s;
  q += '"';
  return q;
}

// A simdjson value as nlohmann::json (payloads are stored as nlohmann::json by the shard).
nlohmann::json to_json(element e) {
  switch (e.type()) {
    case element_type::OBJECT: {
      simdjson::dom::object obj;  // a named value: ranging over a temporary result would dangle
      if (e.get(obj) != simdjson::SUCCESS) return nullptr;
      nlohmann::json o = nlohmann::json::object();
      for (auto field : obj) o[std::string(field.key)] = to_json(field.value);
      return o;
    }
    case element_type::ARRAY: {
      simdjson::dom::array arr;
      if (e.get(arr) != simdjson::SUCCESS) return nullptr;
      nlohmann::json a = nlohmann::json::array();
      for (element x : arr) a.push_back(to_json(x));
      return a;
    }
    case element_type::INT64:
      return e.get_int64().value_unsafe();
    case element_type::UINT64:
      return e.get_uint64().value_unsafe();
    case element_type::DOUBLE:
      return e.get_double().value_unsafe();
    case element_type::STRING:
      return std::string(e.get_string().value_unsafe());
    case element_type::BOOL:
      return e.get_bool().value_unsafe();
    case element_type::NULL_VALUE:
      return nullptr;
  }
  return nullptr;
}

Status read_id(element e, PointId* id) {
  if (e.type() == element_type::STRING) {
    auto s = PointId::string(std::string(e.get_string().value_unsafe()));
    if (!s.is_ok()) return bad("\"id\": " + s.status().message());
    *id = std::move(*s);
    return Status::ok();
  }
  if (e.type() == element_type::UINT64) {
    *id = PointId::number(e.get_uint64().value_unsafe());
    return Status::ok();
  }
  if (e.type() == element_type::INT64 && e.get_int64().value_unsafe() >= 0) {
    *id = PointId::number(static_cast<uint64_t>(e.get_int64().value_unsafe()));
    return Status::ok();
  }
  return bad("\"id\" must be a non-negative integer or a string");
}

Status read_vector(element e, std::vector<float>* v) {
  simdjson::dom::array arr;
  if (e.get(arr) != simdjson::SUCCESS) return bad("\"vector\" must be an array of numbers");
  v->clear();
  v->reserve(arr.size());
  for (element x : arr) {
    double d = 0.0;
    if (x.get_double().get(d) != simdjson::SUCCESS) {
      return bad("\"vector\"[" + std::to_string(v->size()) + "] is not a number");
    }
    // A double beyond float's range becomes infinite in the point; say so here, as the shard does.
    const float f = static_cast<float>(d);
    if (!std::isfinite(f)) {
      return bad("vector has NaN or infinite values (\"vector\"[" + std::to_string(v->size()) +
                 "] = " + std::to_string(d) + " is not a finite 32-bit float)");
    }
    v->push_back(f);
  }
  return Status::ok();
}

}  // namespace

JsonEventDecoder::JsonEventDecoder() : parser_(std::make_unique<Parser>()) {}
JsonEventDecoder::~JsonEventDecoder() = default;

void JsonEventDecoder::decode(std::span<const std::string_view> messages,
                              std::vector<Result<Event>>* out) {
  out->clear();
  out->reserve(messages.size());
  for (std::string_view m : messages) out->push_back(decode_one(m));
}

Result<Event> JsonEventDecoder::decode_one(std::string_view message) {
  // An empty (or null) Kafka value: simdjson would be handed a null pointer.
  if (message.empty()) return bad("malformed JSON: empty message");
  element root;
  // realloc_if_needed: Kafka's buffers lack simdjson's padding, so it copies into its own.
  auto err = parser_->dom.parse(message.data(), message.size(), true).get(root);
  if (err != simdjson::SUCCESS) {
    return bad(std::string("malformed JSON: ") + simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (root.get(obj) != simdjson::SUCCESS) return bad("event must be a JSON object");

  Event ev;
  bool has_id = false;
  unsigned seen = 0;  // one bit per known key
  for (auto field : obj) {
    const std::string_view key = field.key;
    unsigned bit = 0;
    if (key == "id") {
      bit = 1;
    } else if (key == "op") {
      bit = 2;
    } else if (key == "vector") {
      bit = 4;
    } else if (key == "text") {
      bit = 8;
    } else if (key == "payload") {
      bit = 16;
    } else if (key == "ts" || key == "timestamp") {
      bit = 32;
    } else {
      continue;
    }
    if (seen & bit) return bad("key " + quote(key) + " given twice");
    seen |= bit;
    const element v = field.value;
    switch (bit) {
      case 1:
        VS_RETURN_IF_ERROR(read_id(v, &ev.id));
        has_id = true;
        break;
      case 2: {
        std::string_view op;
        if (v.get(op) != simdjson::SUCCESS) return bad("\"op\" must be a string");
        if (op == "upsert") {
          ev.op = EventOp::kUpsert;
        } else if (op == "delete") {
          ev.op = EventOp::kDelete;
        } else {
          return bad("unknown op " + quote(op) + " (expected \"upsert\" or \"delete\")");
        }
        break;
      }
      case 4:
        ev.vector.emplace();
        VS_RETURN_IF_ERROR(read_vector(v, &*ev.vector));
        break;
      case 8: {
        std::string_view text;
        if (v.get(text) != simdjson::SUCCESS) return bad("\"text\" must be a string");
        ev.text = std::string(text);
        break;
      }
      case 16:
        if (v.type() == element_type::NULL_VALUE) break;
        if (v.type() != element_type::OBJECT) return bad("\"payload\" must be a JSON object");
        ev.payload = to_json(v);
        break;
      case 32: {
        int64_t ts = 0;
        if (v.get(ts) != simdjson::SUCCESS || ts < 0) {
          return bad(quote(key) + " must be a non-negative integer (epoch milliseconds)");
        }
        ev.ts_ms = ts;
        break;
      }
    }
  }
  if (!has_id) return bad("missing \"id\"");
  if (ev.op == EventOp::kUpsert && !ev.vector && !ev.text) {
    return bad("an upsert needs \"vector\" or \"text\"");
  }
  return ev;
}

}  // namespace vecstream
