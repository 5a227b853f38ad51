#include "serve/rest_codec.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>

namespace vecstream {

namespace {

using json = nlohmann::json;

std::string at(const std::string& where, std::string_view field) {
  if (where.empty()) return std::string(field);
  return where + "." + std::string(field);
}

std::string indexed(const std::string& where, size_t i) {
  return where + "[" + std::to_string(i) + "]";
}

Status wrong_type(const std::string& path, std::string_view expected, const json& got) {
  return Status::invalid_argument(path + ": expected " + std::string(expected) + ", got " +
                                  got.type_name());
}

/// INVALID_ARGUMENT naming every key of `obj` not in `known`.
Status reject_unknown_fields(const json& obj, std::initializer_list<std::string_view> known,
                             const std::string& where) {
  std::string unknown;
  size_t count = 0;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || it.key() == k;
    if (ok) continue;
    if (count++) unknown += ", ";
    unknown += "\"" + it.key() + "\"";
  }
  if (count == 0) return Status::ok();
  std::string allowed;
  for (std::string_view k : known) {
    if (!allowed.empty()) allowed += ", ";
    allowed += k;
  }
  return Status::invalid_argument((where.empty() ? std::string("request") : where) +
                                  (count == 1 ? ": unknown field " : ": unknown fields ") +
                                  unknown + " (allowed: " + allowed + ")");
}

/// A JSON array of numbers into floats. Each element must be finite and within float range.
Status read_vector(const json& j, const std::string& path, std::vector<float>* out) {
  if (!j.is_array()) return wrong_type(path, "an array of numbers", j);
  out->clear();
  out->reserve(j.size());
  const auto& arr = j.get_ref<const json::array_t&>();
  for (size_t i = 0; i < arr.size(); ++i) {
    const json& e = arr[i];
    double d;
    switch (e.type()) {
      case json::value_t::number_float: d = e.get_ref<const json::number_float_t&>(); break;
      case json::value_t::number_integer:
        d = static_cast<double>(e.get_ref<const json::number_integer_t&>());
        break;
      case json::value_t::number_unsigned:
        d = static_cast<double>(e.get_ref<const json::number_unsigned_t&>());
        break;
      default: return wrong_type(indexed(path, i), "a number", e);
    }
    if (!std::isfinite(d)) {
      return Status::invalid_argument(indexed(path, i) + ": not a finite number (NaN or infinity)");
    }
    if (std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
      return Status::invalid_argument(indexed(path, i) + ": " + e.dump() +
                                      " is out of the range of a 32-bit float");
    }
    out->push_back(static_cast<float>(d));
  }
  return Status::ok();
}

Status read_size(const json& obj, std::string_view key, const std::string& where, size_t* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::ok();
  const json& v = *it;
  if (v.is_number_unsigned()) {
    *out = static_cast<size_t>(v.get_ref<const json::number_unsigned_t&>());
    return Status::ok();
  }
  if (v.is_number_integer()) {
    return Status::invalid_argument(at(where, key) + ": expected a non-negative integer, got " +
                                    v.dump());
  }
  if (v.is_number_float()) {
    return Status::invalid_argument(at(where, key) + ": expected an integer, got " + v.dump());
  }
  return wrong_type(at(where, key), "a non-negative integer", v);
}

Status read_bool(const json& obj, std::string_view key, const std::string& where, bool* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::ok();
  if (!it->is_boolean()) return wrong_type(at(where, key), "a boolean", *it);
  *out = it->get<bool>();
  return Status::ok();
}

Status read_filter(const json& obj, const std::string& where, std::optional<PayloadFilter>* out) {
  auto it = obj.find("filter");
  if (it == obj.end() || it->is_null()) return Status::ok();
  if (!it->is_object()) return wrong_type(at(where, "filter"), "an object", *it);
  auto f = PayloadFilter::parse(*it);
  if (!f.is_ok()) {
    // The filter's own messages start with "filter"; in a batch, say which query.
    return Status::invalid_argument(where.empty() ? f.status().message()
                                                  : where + "." + f.status().message());
  }
  *out = std::move(*f);
  return Status::ok();
}

void append_float(float v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void append_double(double v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void append_floats(const std::vector<float>& v, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out->push_back(',');
    append_float(v[i], out);
  }
  out->push_back(']');
}

void append_id(const PointId& id, std::string* out) {
  if (id.is_string()) {
    out->append(json(id.str()).dump(-1, ' ', false, json::error_handler_t::replace));
  } else {
    out->append(std::to_string(id.num()));
  }
}

void append_payload(const json& payload, std::string* out) {
  out->append(payload.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace

Result<json> parse_json_body(std::string_view body) {
  if (body.empty()) return Status::invalid_argument("request body: expected a JSON object, got nothing");
  try {
    return json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ..." (or
    // out_of_range.406 "number overflow parsing '1e999'").
    std::string msg = e.what();
    if (const size_t p = msg.find("] "); p != std::string::npos && msg.starts_with("[json")) {
      msg = msg.substr(p + 2);
    }
    return Status::invalid_argument("invalid JSON: " + msg);
  } catch (const std::exception& e) {
    return Status::invalid_argument(std::string("invalid JSON: ") + e.what());
  }
}

Result<std::vector<PointWrite>> parse_upsert_body(const json& body) {
  if (!body.is_object()) return wrong_type("request body", "an object", body);
  VS_RETURN_IF_ERROR(reject_unknown_fields(body, {"points"}, ""));
  auto it = body.find("points");
  if (it == body.end()) return Status::invalid_argument("points: required");
  if (!it->is_array()) return wrong_type("points", "an array of points", *it);
  if (it->empty()) return Status::invalid_argument("points: empty list, nothing to upsert");
  std::vector<PointWrite> out;
  out.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const json& p = (*it)[i];
    const std::string where = indexed("points", i);
    if (!p.is_object()) return wrong_type(where, "an object", p);
    VS_RETURN_IF_ERROR(reject_unknown_fields(p, {"id", "vector", "payload"}, where));
    PointWrite w;
    auto id_it = p.find("id");
    if (id_it == p.end()) return Status::invalid_argument(where + ".id: required");
    auto id = PointId::from_json(*id_it);
    if (!id.is_ok()) return Status::invalid_argument(where + "." + id.status().message());
    w.id = std::move(*id);
    auto v_it = p.find("vector");
    if (v_it == p.end()) return Status::invalid_argument(where + ".vector: required");
    VS_RETURN_IF_ERROR(read_vector(*v_it, where + ".vector", &w.vector));
    if (auto pl = p.find("payload"); pl != p.end() && !pl->is_null()) {
      if (!pl->is_object()) return wrong_type(where + ".payload", "an object", *pl);
      w.payload = *pl;
    }
    out.push_back(std::move(w));
  }
  return out;
}

Result<DeleteRequest> parse_delete_body(const json& body) {
  if (!body.is_object()) return wrong_type("request body", "an object", body);
  VS_RETURN_IF_ERROR(reject_unknown_fields(body, {"ids", "filter"}, ""));
  const bool has_ids = body.contains("ids");
  const bool has_filter = body.contains("filter");
  if (has_ids == has_filter) {
    return Status::invalid_argument("request: give exactly one of \"ids\" and \"filter\"");
  }
  DeleteRequest out;
  if (has_ids) {
    const json& ids = body["ids"];
    if (!ids.is_array()) return wrong_type("ids", "an array of ids", ids);
    out.ids.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      auto id = PointId::from_json(ids[i]);
      if (!id.is_ok()) {
        // PointId's messages start with "id: ".
        std::string msg = id.status().message();
        if (msg.starts_with("id: ")) msg = msg.substr(4);
        return Status::invalid_argument(indexed("ids", i) + ": " + msg);
      }
      out.ids.push_back(std::move(*id));
    }
    return out;
  }
  if (body["filter"].is_null()) return wrong_type("filter", "an object", body["filter"]);
  VS_RETURN_IF_ERROR(read_filter(body, "", &out.filter));
  return out;
}

Result<SearchRequest> parse_search_body(const json& body, const std::string& collection,
                                        const std::string& where) {
  if (!body.is_object()) return wrong_type(where.empty() ? "request body" : where, "an object", body);
  VS_RETURN_IF_ERROR(reject_unknown_fields(
      body,
      {"vector", "text", "k", "filter", "ef", "nprobe", "rerank_factor", "exact", "with_payload",
       "with_vector", "use_cache", "streaming"},
      where));
  SearchRequest r;
  r.collection = collection;
  auto v = body.find("vector");
  auto t = body.find("text");
  if (v != body.end() && t != body.end()) {
    return Status::invalid_argument(at(where, "vector") + ": give \"vector\" or \"text\", not both");
  }
  if (t != body.end()) {  // a text query: the service embeds it
    if (!t->is_string()) return wrong_type(at(where, "text"), "a string", *t);
    r.text = t->get<std::string>();
    if (r.text.empty()) return Status::invalid_argument(at(where, "text") + ": must not be empty");
  } else {
    if (v == body.end()) return Status::invalid_argument(at(where, "vector") + ": required");
    VS_RETURN_IF_ERROR(read_vector(*v, at(where, "vector"), &r.vector));
  }
  VS_RETURN_IF_ERROR(read_size(body, "k", where, &r.k));
  VS_RETURN_IF_ERROR(read_size(body, "ef", where, &r.ef));
  VS_RETURN_IF_ERROR(read_size(body, "nprobe", where, &r.nprobe));
  if (auto rf = body.find("rerank_factor"); rf != body.end()) {
    if (!rf->is_number()) return wrong_type(at(where, "rerank_factor"), "a number", *rf);
    const double d = rf->get<double>();
    if (!(d >= 0.0 && d <= 1000.0)) {
      return Status::invalid_argument(at(where, "rerank_factor") + ": must be in [0, 1000], got " +
                                      rf->dump());
    }
    r.rerank_factor = static_cast<float>(d);
  }
  VS_RETURN_IF_ERROR(read_bool(body, "exact", where, &r.exact));
  VS_RETURN_IF_ERROR(read_bool(body, "with_payload", where, &r.with_payload));
  VS_RETURN_IF_ERROR(read_bool(body, "with_vector", where, &r.with_vector));
  VS_RETURN_IF_ERROR(read_bool(body, "use_cache", where, &r.use_cache));
  VS_RETURN_IF_ERROR(read_bool(body, "streaming", where, &r.streaming));
  VS_RETURN_IF_ERROR(read_filter(body, where, &r.filter));
  return r;
}

std::optional<SearchRequest> parse_search_body_fast(std::string_view body,
                                                    const std::string& collection) {
  using simdjson::dom::element_type;
  // Reused per thread (no allocation per request); it keeps buffers for the largest document it
  // parsed, so only bodies up to kFastBodyBytes (a 16k-dim query is ~300 KB) come this way.
  constexpr size_t kFastBodyBytes = size_t{1} << 20;
  if (body.size() > kFastBodyBytes) return std::nullopt;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(body.data(), body.size()).get(obj) != simdjson::SUCCESS) return std::nullopt;
  SearchRequest r;
  r.collection = collection;
  // A positive integer, as the general path's read_size takes it. Zero goes the general way:
  // simdjson reads "-0" as 0, which the general path refuses as negative.
  auto positive = [](simdjson::dom::element e, size_t* out) {
    uint64_t u = 0;
    if (e.type() == element_type::INT64) {
      const int64_t i = e.get_int64().value_unsafe();
      if (i <= 0) return false;
      u = static_cast<uint64_t>(i);
    } else if (e.type() == element_type::UINT64) {
      u = e.get_uint64().value_unsafe();
    } else {
      return false;
    }
    *out = static_cast<size_t>(u);
    return true;
  };
  auto boolean = [](simdjson::dom::element e, bool* out) {
    if (e.type() != element_type::BOOL) return false;
    *out = e.get_bool().value_unsafe();
    return true;
  };
  auto number = [](simdjson::dom::element e, double* out) {
    switch (e.type()) {
      case element_type::DOUBLE: *out = e.get_double().value_unsafe(); return true;
      case element_type::INT64: *out = static_cast<double>(e.get_int64().value_unsafe()); return true;
      case element_type::UINT64: *out = static_cast<double>(e.get_uint64().value_unsafe()); return true;
      default: return false;
    }
  };
  constexpr std::string_view kKeys[] = {"vector", "k", "ef", "nprobe", "rerank_factor", "exact",
                                        "with_payload", "with_vector", "use_cache", "streaming"};
  uint32_t seen = 0;
  for (auto field : obj) {
    size_t key = 0;
    while (key < std::size(kKeys) && kKeys[key] != field.key) ++key;
    if (key == std::size(kKeys) || (seen & (1u << key))) return std::nullopt;  // unknown or twice
    seen |= 1u << key;
    const simdjson::dom::element v = field.value;
    bool ok = true;
    switch (key) {
      case 0: {
        simdjson::dom::array arr;
        if (v.get(arr) != simdjson::SUCCESS) return std::nullopt;
        r.vector.reserve(arr.size());
        for (simdjson::dom::element e : arr) {
          double d = 0.0;
          if (!number(e, &d) || !std::isfinite(d) ||
              std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
            return std::nullopt;
          }
          r.vector.push_back(static_cast<float>(d));
        }
        break;
      }
      case 1: ok = positive(v, &r.k); break;
      case 2: ok = positive(v, &r.ef); break;
      case 3: ok = positive(v, &r.nprobe); break;
      case 4: {
        double d = 0.0;
        ok = number(v, &d) && d >= 0.0 && d <= 1000.0;
        r.rerank_factor = static_cast<float>(d);
        break;
      }
      case 5: ok = boolean(v, &r.exact); break;
      case 6: ok = boolean(v, &r.with_payload); break;
      case 7: ok = boolean(v, &r.with_vector); break;
      case 8: ok = boolean(v, &r.use_cache); break;
      case 9: ok = boolean(v, &r.streaming); break;
    }
    if (!ok) return std::nullopt;
  }
  if (!(seen & 1u)) return std::nullopt;  // no vector: the general path says what is missing
  return r;
}

Result<std::vector<SearchRequest>> parse_search_batch_body(const json& body,
                                                           const std::string& collection) {
  if (!body.is_object()) return wrong_type("request body", "an object", body);
  VS_RETURN_IF_ERROR(reject_unknown_fields(body, {"queries"}, ""));
  auto q = body.find("queries");
  if (q == body.end()) return Status::invalid_argument("queries: required");
  if (!q->is_array()) return wrong_type("queries", "an array of queries", *q);
  std::vector<SearchRequest> out;
  out.reserve(q->size());
  for (size_t i = 0; i < q->size(); ++i) {
    auto r = parse_search_body((*q)[i], collection, indexed("queries", i));
    if (!r.is_ok()) return r.status();
    out.push_back(std::move(*r));
  }
  return out;
}

Result<PointId> parse_path_id(std::string_view segment, std::string_view id_type) {
  if (id_type == "string") return PointId::string(std::string(segment));
  const bool digits = !segment.empty() && segment.find_first_not_of("0123456789") == std::string_view::npos;
  uint64_t n = 0;
  bool fits = false;
  if (digits) {
    auto r = std::from_chars(segment.data(), segment.data() + segment.size(), n);
    fits = r.ec == std::errc() && r.ptr == segment.data() + segment.size();
  }
  if (id_type == "number") {
    if (!fits) {
      return Status::invalid_argument("id: \"" + std::string(segment) +
                                      "\" is not an unsigned 64-bit number (id_type=number)");
    }
    return PointId::number(n);
  }
  if (!id_type.empty()) {
    return Status::invalid_argument("id_type: expected \"number\" or \"string\", got \"" +
                                    std::string(id_type) + "\"");
  }
  if (fits) return PointId::number(n);
  return PointId::string(std::string(segment));
}

void append_search_response(const SearchResponse& r, Metric metric, bool with_payload,
                            bool with_vector, std::string* out) {
  out->append("{\"points\":[");
  for (size_t i = 0; i < r.points.size(); ++i) {
    const ScoredPoint& p = r.points[i];
    if (i) out->push_back(',');
    out->append("{\"id\":");
    append_id(p.id, out);
    out->append(",\"score\":");
    append_float(score_from_distance(metric, p.distance), out);
    out->append(",\"distance\":");
    append_float(p.distance, out);
    if (with_payload) {
      out->append(",\"payload\":");
      append_payload(p.payload, out);
    }
    if (with_vector) {
      out->append(",\"vector\":");
      append_floats(p.vector, out);
    }
    out->push_back('}');
  }
  out->append("],\"server_seconds\":");
  append_double(r.server_seconds, out);
  out->append(r.cached ? ",\"cached\":true}" : ",\"cached\":false}");
}

std::string encode_search_response(const SearchResponse& r, Metric metric, bool with_payload,
                                   bool with_vector) {
  std::string out;
  out.reserve(64 + r.points.size() * (64 + (with_vector && !r.points.empty()
                                                ? r.points[0].vector.size() * 12
                                                : 0)));
  append_search_response(r, metric, with_payload, with_vector, &out);
  return out;
}

std::string encode_point(const PointRecord& p) {
  std::string out = "{\"id\":";
  append_id(p.id, &out);
  out.append(",\"vector\":");
  append_floats(p.vector, &out);
  out.append(",\"payload\":");
  append_payload(p.payload, &out);
  out.push_back('}');
  return out;
}

std::string encode_ack(const WriteAck& a) {
  return "{\"seq\":" + std::to_string(a.seq) + ",\"applied\":" + std::to_string(a.applied) + "}";
}

}  // namespace vecstream
