#include "ingest/avro_event_decoder.h"

#include <avro.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

namespace vecstream {

namespace {

// The text of proto/avro/stream_event.avsc (a test keeps the two equal).
constexpr std::string_view kDefaultReaderSchema = R"({
  "type": "record",
  "name": "StreamEvent",
  "namespace": "vecstream.v1",
  "doc": "A Vecstream stream event in Avro (src/ingest/avro_event_decoder.h).",
  "fields": [
    {"name": "id", "type": ["long", "string"],
     "doc": "Required: a non-negative long, or a 1..256-byte string."},
    {"name": "op", "type": {"type": "enum", "name": "Op", "symbols": ["UPSERT", "DELETE"]},
     "default": "UPSERT"},
    {"name": "vector", "type": ["null", {"type": "array", "items": "float"}], "default": null,
     "doc": "Upserts: the vector, or ..."},
    {"name": "text", "type": ["null", "string"], "default": null,
     "doc": "... text for the embedding stage (the vector wins if both are given)."},
    {"name": "payload_json", "type": ["null", "string"], "default": null,
     "doc": "A JSON object stored with the point, or null for none."},
    {"name": "ts_ms", "type": ["null", "long"], "default": null,
     "doc": "Event time, epoch milliseconds."}
  ]
}
)";

constexpr int kMaxDepth = 32;  // nesting of writer/reader schemas and of bodies

Status bad(std::string what) { return Status::invalid_argument(std::move(what)); }

std::string quote(std::string_view s) {
  std::string q;
  q.reserve(s.size() + 2);
  q += '"';
  q += s;
  q += '"';
  return q;
}

std::string avro_error() {
  const char* e = avro_strerror();
  return (e != nullptr && *e != '\0') ? std::string(e) : std::string("unknown libavro error");
}

// Owners of libavro's reference-counted objects.
struct SchemaDecref {
  void operator()(avro_obj_t* s) const { avro_schema_decref(s); }
};
using SchemaPtr = std::unique_ptr<avro_obj_t, SchemaDecref>;
struct IfaceDecref {
  void operator()(avro_value_iface_t* i) const { avro_value_iface_decref(i); }
};
using IfacePtr = std::unique_ptr<avro_value_iface_t, IfaceDecref>;
struct ReaderFree {
  void operator()(avro_reader_t r) const { avro_reader_free(r); }
};
using MemReaderPtr = std::unique_ptr<std::remove_pointer_t<avro_reader_t>, ReaderFree>;
struct WriterFree {
  void operator()(avro_writer_t w) const { avro_writer_free(w); }
};
using MemWriterPtr = std::unique_ptr<std::remove_pointer_t<avro_writer_t>, WriterFree>;

avro_schema_t deref(avro_schema_t s) {
  for (int i = 0; i < kMaxDepth && is_avro_link(s); ++i) s = avro_schema_link_target(s);
  return s;
}

// "long", "record vecstream.v1.StreamEvent"-style names for messages.
std::string describe(avro_schema_t s, int depth = 0) {
  s = deref(s);
  if (depth > 4) return "...";
  switch (avro_typeof(s)) {
    case AVRO_STRING: return "string";
    case AVRO_BYTES: return "bytes";
    case AVRO_INT32: return "int";
    case AVRO_INT64: return "long";
    case AVRO_FLOAT: return "float";
    case AVRO_DOUBLE: return "double";
    case AVRO_BOOLEAN: return "boolean";
    case AVRO_NULL: return "null";
    case AVRO_RECORD: return std::string("record ") + avro_schema_name(s);
    case AVRO_ENUM: return std::string("enum ") + avro_schema_name(s);
    case AVRO_FIXED: return std::string("fixed ") + avro_schema_name(s);
    case AVRO_MAP: return "map<" + describe(avro_schema_map_values(s), depth + 1) + ">";
    case AVRO_ARRAY: return "array<" + describe(avro_schema_array_items(s), depth + 1) + ">";
    case AVRO_UNION: {
      std::string u = "[";
      for (size_t i = 0; i < avro_schema_union_size(s); ++i) {
        if (i > 0) u += ", ";
        u += describe(avro_schema_union_branch(s, static_cast<int>(i)), depth + 1);
      }
      return u + "]";
    }
    default: return "link";
  }
}

// ---- schema compatibility -------------------------------------------------------------------
// Avro's resolution rules as libavro 1.11 implements them (no bytes<->string promotion; record
// and enum names compared without namespace). Checked before avro_resolved_writer_new() is
// called, because libavro crashes on some incompatible pairs (array or map items that do not
// resolve). Stricter than libavro in one way: every branch of a writer union must resolve.
bool promotes(avro_type_t w, avro_type_t r) {
  if (w == r) return true;
  switch (w) {
    case AVRO_INT32: return r == AVRO_INT64 || r == AVRO_FLOAT || r == AVRO_DOUBLE;
    case AVRO_INT64: return r == AVRO_FLOAT || r == AVRO_DOUBLE;
    case AVRO_FLOAT: return r == AVRO_DOUBLE;
    default: return false;
  }
}

Status compatible(avro_schema_t w, avro_schema_t r, int depth) {
  w = deref(w);
  r = deref(r);
  if (depth > kMaxDepth) return bad("schemas nested deeper than " + std::to_string(kMaxDepth));
  const auto cannot = [&] { return bad("cannot read " + describe(w) + " as " + describe(r)); };
  if (is_avro_union(w)) {
    for (size_t i = 0; i < avro_schema_union_size(w); ++i) {
      avro_schema_t b = avro_schema_union_branch(w, static_cast<int>(i));
      if (Status s = compatible(b, r, depth + 1); !s.is_ok()) {
        return bad("union branch " + describe(b) + ": " + s.message());
      }
    }
    return Status::ok();
  }
  if (is_avro_union(r)) {
    for (size_t i = 0; i < avro_schema_union_size(r); ++i) {
      if (compatible(w, avro_schema_union_branch(r, static_cast<int>(i)), depth + 1).is_ok()) {
        return Status::ok();
      }
    }
    return cannot();
  }
  const avro_type_t wt = avro_typeof(w);
  switch (wt) {
    case AVRO_RECORD: {
      if (!is_avro_record(r) || std::strcmp(avro_schema_name(w), avro_schema_name(r)) != 0) {
        return cannot();
      }
      for (size_t i = 0; i < avro_schema_record_size(r); ++i) {
        const char* name = avro_schema_record_field_name(r, static_cast<int>(i));
        const int wi = avro_schema_record_field_get_index(w, name);
        if (wi < 0) {
          return bad("reader field " + quote(name) + " of " + describe(r) +
                     " is not in the writer (defaults are supported for top-level fields only)");
        }
        Status s = compatible(avro_schema_record_field_get_by_index(w, wi),
                              avro_schema_record_field_get_by_index(r, static_cast<int>(i)),
                              depth + 1);
        if (!s.is_ok()) return bad("field " + quote(name) + ": " + s.message());
      }
      return Status::ok();
    }
    case AVRO_ENUM:
      if (!is_avro_enum(r) || std::strcmp(avro_schema_name(w), avro_schema_name(r)) != 0) {
        return cannot();
      }
      return Status::ok();
    case AVRO_FIXED:
      if (!is_avro_fixed(r) || std::strcmp(avro_schema_name(w), avro_schema_name(r)) != 0 ||
          avro_schema_fixed_size(w) != avro_schema_fixed_size(r)) {
        return cannot();
      }
      return Status::ok();
    case AVRO_ARRAY:
      if (!is_avro_array(r)) return cannot();
      if (Status s = compatible(avro_schema_array_items(w), avro_schema_array_items(r), depth + 1);
          !s.is_ok()) {
        return bad("array items: " + s.message());
      }
      return Status::ok();
    case AVRO_MAP:
      if (!is_avro_map(r)) return cannot();
      if (Status s = compatible(avro_schema_map_values(w), avro_schema_map_values(r), depth + 1);
          !s.is_ok()) {
        return bad("map values: " + s.message());
      }
      return Status::ok();
    default:
      return promotes(wt, avro_typeof(r)) ? Status::ok() : cannot();
  }
}

// ---- body walk ------------------------------------------------------------------------------
// Checks that a body is one well-formed value of the writer schema and nothing more, with every
// length and count bounded by the bytes left, before libavro reads it.
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  size_t left() const { return static_cast<size_t>(end - p); }
};

Status truncated() { return bad("body truncated"); }

Status read_varint(Cursor& c, int max_bytes, int64_t* out) {
  uint64_t v = 0;
  for (int i = 0; i < max_bytes; ++i) {
    if (c.p == c.end) return truncated();
    const uint8_t b = *c.p++;
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      *out = static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
      return Status::ok();
    }
  }
  return bad("varint longer than " + std::to_string(max_bytes) + " bytes");
}

Status read_long(Cursor& c, int64_t* out) { return read_varint(c, 10, out); }

Status read_int(Cursor& c, int64_t* out) {
  VS_RETURN_IF_ERROR(read_varint(c, 5, out));
  if (*out < std::numeric_limits<int32_t>::min() || *out > std::numeric_limits<int32_t>::max()) {
    return bad("int out of 32-bit range");
  }
  return Status::ok();
}

Status skip(Cursor& c, uint64_t n) {
  if (n > c.left()) return truncated();
  c.p += n;
  return Status::ok();
}

Status read_length(Cursor& c, const char* what) {
  int64_t n = 0;
  VS_RETURN_IF_ERROR(read_long(c, &n));
  if (n < 0) return bad(std::string("negative ") + what + " length");
  if (static_cast<uint64_t>(n) > c.left()) {
    return bad("body truncated: " + std::string(what) + " length " + std::to_string(n) +
               " exceeds the " + std::to_string(c.left()) + " bytes left");
  }
  c.p += n;
  return Status::ok();
}

Status walk(avro_schema_t s, Cursor& c, int depth);

// Array and map blocks: count (negative: followed by the block's byte size), then the items.
Status walk_blocks(avro_schema_t items, bool is_map, Cursor& c, int depth) {
  for (;;) {
    int64_t count = 0;
    VS_RETURN_IF_ERROR(read_long(c, &count));
    if (count == 0) return Status::ok();
    if (count < 0) {
      if (count == std::numeric_limits<int64_t>::min()) return bad("bad block count");
      count = -count;
      int64_t size = 0;
      VS_RETURN_IF_ERROR(read_long(c, &size));
      if (size < 0 || static_cast<uint64_t>(size) > c.left()) return bad("bad block size");
    }
    // Even zero-byte items are refused beyond this: no decoder loops on a garbage count.
    if (static_cast<uint64_t>(count) > c.left()) {
      return bad("body truncated: block count " + std::to_string(count) + " exceeds the " +
                 std::to_string(c.left()) + " bytes left");
    }
    for (int64_t i = 0; i < count; ++i) {
      if (is_map) VS_RETURN_IF_ERROR(read_length(c, "map key"));
      VS_RETURN_IF_ERROR(walk(items, c, depth + 1));
    }
  }
}

Status walk(avro_schema_t s, Cursor& c, int depth) {
  if (depth > kMaxDepth) return bad("value nested deeper than " + std::to_string(kMaxDepth));
  s = deref(s);
  int64_t n = 0;
  switch (avro_typeof(s)) {
    case AVRO_NULL: return Status::ok();
    case AVRO_BOOLEAN:
      if (c.p == c.end) return truncated();
      if (*c.p > 1) return bad("boolean byte is neither 0 nor 1");
      ++c.p;
      return Status::ok();
    case AVRO_INT32: return read_int(c, &n);
    case AVRO_INT64: return read_long(c, &n);
    case AVRO_FLOAT: return skip(c, 4);
    case AVRO_DOUBLE: return skip(c, 8);
    case AVRO_STRING: return read_length(c, "string");
    case AVRO_BYTES: return read_length(c, "bytes");
    case AVRO_FIXED: return skip(c, static_cast<uint64_t>(avro_schema_fixed_size(s)));
    case AVRO_ENUM:
      VS_RETURN_IF_ERROR(read_int(c, &n));
      if (n < 0 || n >= avro_schema_enum_number_of_symbols(s)) {
        return bad("enum index " + std::to_string(n) + " out of range for " + describe(s));
      }
      return Status::ok();
    case AVRO_UNION:
      VS_RETURN_IF_ERROR(read_long(c, &n));
      if (n < 0 || static_cast<uint64_t>(n) >= avro_schema_union_size(s)) {
        return bad("union branch " + std::to_string(n) + " out of range for " + describe(s));
      }
      return walk(avro_schema_union_branch(s, static_cast<int>(n)), c, depth + 1);
    case AVRO_ARRAY: return walk_blocks(avro_schema_array_items(s), false, c, depth);
    case AVRO_MAP: return walk_blocks(avro_schema_map_values(s), true, c, depth);
    case AVRO_RECORD:
      for (size_t i = 0; i < avro_schema_record_size(s); ++i) {
        const int f = static_cast<int>(i);
        Status st = walk(avro_schema_record_field_get_by_index(s, f), c, depth + 1);
        if (!st.is_ok()) {
          if (depth > 0) return st;
          return bad("field " + quote(avro_schema_record_field_name(s, f)) + ": " + st.message());
        }
      }
      return Status::ok();
    default:
      return bad("unsupported schema type " + describe(s));
  }
}

// ---- reader schema --------------------------------------------------------------------------
// The fields the decoder knows, by role.
enum Role : size_t { kId, kOp, kVector, kText, kPayload, kTs, kRoles };
constexpr std::array<const char*, kRoles> kRoleNames = {"id",   "op",           "vector",
                                                         "text", "payload_json", "ts_ms"};

// `s`, or its one non-null branch if it is a union [null, T] / [T, null]; nullptr otherwise.
avro_schema_t non_null(avro_schema_t s) {
  s = deref(s);
  if (!is_avro_union(s)) return s;
  avro_schema_t found = nullptr;
  for (size_t i = 0; i < avro_schema_union_size(s); ++i) {
    avro_schema_t b = deref(avro_schema_union_branch(s, static_cast<int>(i)));
    if (is_avro_null(b)) continue;
    if (found != nullptr) return nullptr;
    found = b;
  }
  return found;
}

Status read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return Status::ok();
}

// Field `index` of a record value, through its union if it is one. *is_null: the value is null,
// or a union the resolver never chose a branch of (libavro does not choose the array branch of
// [null, array] for an empty array).
Status field_of(avro_value_t* record, int index, avro_value_t* out, bool* is_null) {
  if (avro_value_get_by_index(record, static_cast<size_t>(index), out, nullptr) != 0) {
    return Status::internal("avro: cannot read field: " + avro_error());
  }
  if (avro_value_get_type(out) == AVRO_UNION) {
    avro_value_t branch;
    if (avro_value_get_current_branch(out, &branch) != 0) {
      *is_null = true;
      return Status::ok();
    }
    *out = branch;
  }
  *is_null = avro_value_get_type(out) == AVRO_NULL;
  return Status::ok();
}

// A string value, without copying (valid until the value is reset).
Status string_of(avro_value_t* v, std::string_view* out) {
  const char* p = nullptr;
  size_t size = 0;
  if (avro_value_get_string(v, &p, &size) != 0) return Status::internal("avro: " + avro_error());
  *out = std::string_view(p, size > 0 ? size - 1 : 0);  // libavro counts the trailing NUL
  return Status::ok();
}

// The values used for the known fields a writer lacks: the reader's defaults.
struct Defaults {
  std::string op = "UPSERT";
  std::optional<std::vector<float>> vector;
  std::optional<std::string> text, payload;
  std::optional<int64_t> ts;
};

// Checks the type of a known reader field and reads its default (`def`, null when none).
Status check_reader_field(Role role, avro_schema_t type, const nlohmann::json* def,
                          Defaults* d) {
  const std::string field = quote(kRoleNames[role]);
  avro_schema_t t = deref(type);
  avro_schema_t nn = non_null(t);
  const auto wrong = [&](const char* expected) {
    return bad(field + " must be " + expected + " (it is " + describe(t) + ")");
  };
  const auto wrong_default = [&](const char* expected) {
    return bad("the default of " + field + " must be " + expected);
  };
  switch (role) {
    case kId: {
      const auto id_type = [](avro_schema_t b) { return is_avro_int64(b) || is_avro_string(b); };
      bool ok = id_type(t);
      if (is_avro_union(t)) {
        ok = avro_schema_union_size(t) > 0;
        for (size_t i = 0; i < avro_schema_union_size(t); ++i) {
          ok = ok && id_type(deref(avro_schema_union_branch(t, static_cast<int>(i))));
        }
      }
      if (!ok) return wrong("long, string or a union of the two");
      return Status::ok();
    }
    case kOp:
      if (!is_avro_enum(t)) return wrong("an enum (UPSERT, DELETE)");
      if (def != nullptr) {
        if (!def->is_string() ||
            avro_schema_enum_get_by_name(t, def->get<std::string>().c_str()) < 0) {
          return wrong_default("one of the enum's symbols");
        }
        d->op = def->get<std::string>();
      }
      return Status::ok();
    case kVector:
      if (nn == nullptr || !is_avro_array(nn) ||
          !is_avro_float(deref(avro_schema_array_items(nn)))) {
        return wrong("an array of float, optionally in a union with null");
      }
      if (def != nullptr && !def->is_null()) {
        if (!def->is_array()) return wrong_default("null or an array of numbers");
        std::vector<float> v;
        for (const auto& x : *def) {
          if (!x.is_number()) return wrong_default("null or an array of numbers");
          v.push_back(x.get<float>());
        }
        d->vector = std::move(v);
      }
      return Status::ok();
    case kText:
    case kPayload:
      if (nn == nullptr || !is_avro_string(nn)) {
        return wrong("string, optionally in a union with null");
      }
      if (def != nullptr && !def->is_null()) {
        if (!def->is_string()) return wrong_default("null or a string");
        (role == kText ? d->text : d->payload) = def->get<std::string>();
      }
      return Status::ok();
    case kTs:
      if (nn == nullptr || !is_avro_int64(nn)) {
        return wrong("long, optionally in a union with null");
      }
      if (def != nullptr && !def->is_null()) {
        if (!def->is_number_integer()) return wrong_default("null or an integer");
        d->ts = def->get<int64_t>();
      }
      return Status::ok();
    case kRoles:
      break;
  }
  return Status::ok();
}

// The field object named `name` of a record schema's JSON; nullptr if none.
const nlohmann::json* json_field(const nlohmann::json& record, std::string_view name) {
  auto it = record.find("fields");
  if (it == record.end() || !it->is_array()) return nullptr;
  for (const auto& f : *it) {
    if (f.is_object() && f.contains("name") && f["name"] == name) return &f;
  }
  return nullptr;
}

// An enum schema as JSON (libavro writes it; nlohmann parses it).
Result<nlohmann::json> enum_json(avro_schema_t e) {
  std::vector<char> buf(64 * 1024);
  MemWriterPtr w(avro_writer_memory(buf.data(), static_cast<int64_t>(buf.size())));
  if (!w || avro_schema_to_json(e, w.get()) != 0) {
    return bad("cannot write " + describe(e) + " as JSON: " + avro_error());
  }
  nlohmann::json j = nlohmann::json::parse(
      std::string_view(buf.data(), static_cast<size_t>(avro_writer_tell(w.get()))), nullptr, false);
  if (j.is_discarded()) return bad("cannot write " + describe(e) + " as JSON");
  return j;
}

}  // namespace

struct AvroEventDecoder::Reader {
  std::string name;     // the file, or "(built-in)"
  nlohmann::json json;  // its JSON: writers' projections and the defaults are made from it
  SchemaPtr schema;
  Defaults defaults;
  avro_schema_t op_enum = nullptr;  // the reader's "op" enum (owned by `schema`); null: no "op"
  MemReaderPtr mem;  // one memory reader, pointed at each body in turn
};

// One writer schema (one schema id): the schema, the reader schema projected on the fields the
// writer has (libavro's resolver does not fill defaults: the decoder does, from Defaults), the
// resolver and the value it fills, all made once.
struct AvroEventDecoder::Writer {
  Status error;  // not ok: the schema id is unusable, and every message with it gets this
  SchemaPtr writer;
  SchemaPtr projected;
  std::array<int, kRoles> index{};  // field index in `projected`; -1 = the writer lacks it
  IfacePtr value_iface, resolver_iface;
  avro_value_t value{};     // an instance of `projected`, filled through ...
  avro_value_t resolved{};  // ... this resolved writer, which reads the writer's binary form
  bool has_value = false, has_resolved = false;

  ~Writer() {
    if (has_resolved) avro_value_decref(&resolved);
    if (has_value) avro_value_decref(&value);
  }
};

AvroEventDecoder::AvroEventDecoder() : reader_(std::make_unique<Reader>()) {}
AvroEventDecoder::~AvroEventDecoder() {
  writers_.clear();  // the values before the reader's schema
}

std::string_view AvroEventDecoder::default_reader_schema() { return kDefaultReaderSchema; }

Result<std::unique_ptr<AvroEventDecoder>> AvroEventDecoder::create(
    const AvroDecoderOptions& options) {
  const auto fail = [](const std::string& what) { return bad("avro decoder: " + what); };
  if (options.schema_dir.empty()) {
    return fail("a schema directory (writer schemas named <schema id>.avsc) is required");
  }
  std::error_code ec;
  if (!std::filesystem::exists(options.schema_dir, ec)) {
    return Status::not_found("avro decoder: schema directory \"" + options.schema_dir +
                             "\" does not exist");
  }
  if (!std::filesystem::is_directory(options.schema_dir, ec)) {
    return fail("schema directory \"" + options.schema_dir + "\" is not a directory");
  }

  std::unique_ptr<AvroEventDecoder> d(new AvroEventDecoder());
  d->options_ = options;
  Reader& r = *d->reader_;
  std::string text;
  if (options.reader_schema_file.empty()) {
    r.name = "(built-in)";
    text = std::string(kDefaultReaderSchema);
  } else {
    r.name = options.reader_schema_file;
    if (!read_file(options.reader_schema_file, &text).is_ok()) {
      return Status::not_found("avro decoder: cannot read reader schema file \"" +
                               options.reader_schema_file + "\"");
    }
  }
  const std::string where = "reader schema " + r.name + ": ";
  r.json = nlohmann::json::parse(text, nullptr, false);
  if (r.json.is_discarded()) return fail(where + "not valid JSON");
  avro_schema_t schema = nullptr;
  if (avro_schema_from_json_length(text.data(), text.size(), &schema) != 0) {
    return fail(where + "does not parse: " + avro_error());
  }
  r.schema.reset(schema);
  if (!is_avro_record(schema) || !r.json.is_object()) {
    return fail(where + "must be a record (it is " + describe(schema) + ")");
  }
  for (size_t role = 0; role < kRoles; ++role) {
    const char* name = kRoleNames[role];
    const int index = avro_schema_record_field_get_index(schema, name);
    if (index < 0) {
      if (role == kId) return fail(where + "lacks the field \"id\"");
      continue;
    }
    const nlohmann::json* field = json_field(r.json, name);
    const nlohmann::json* def =
        field != nullptr && field->contains("default") ? &(*field)["default"] : nullptr;
    avro_schema_t type = avro_schema_record_field_get_by_index(schema, index);
    Status s = check_reader_field(static_cast<Role>(role), type, def, &r.defaults);
    if (!s.is_ok()) return fail(where + s.message());
    if (role == kOp) r.op_enum = deref(type);
  }
  static const char kEmpty[1] = {0};
  r.mem.reset(avro_reader_memory(kEmpty, 0));
  if (!r.mem) return Status::internal("avro decoder: cannot make a memory reader");
  return d;
}

Result<AvroEventDecoder::Writer*> AvroEventDecoder::writer_for(uint32_t schema_id) {
  if (auto it = writers_.find(schema_id); it != writers_.end()) {
    if (!it->second->error.is_ok()) return it->second->error;
    return it->second.get();
  }
  const std::string file = std::to_string(schema_id) + ".avsc";
  const std::string path = options_.schema_dir + "/" + file;
  std::string text;
  if (!read_file(path, &text).is_ok()) {
    // Not remembered: the schema may be added to the directory later.
    return bad("unknown Avro schema id " + std::to_string(schema_id) + ": no file " + file +
               " in the schema directory \"" + options_.schema_dir + "\"");
  }
  auto w = std::make_unique<Writer>();
  const Reader& r = *reader_;
  const Status loaded = [&]() -> Status {
    avro_schema_t ws = nullptr;
    if (avro_schema_from_json_length(text.data(), text.size(), &ws) != 0) {
      return bad("does not parse: " + avro_error());
    }
    w->writer.reset(ws);
    if (!is_avro_record(ws)) return bad("is " + describe(ws) + ", not a record");
    if (avro_schema_record_field_get_index(ws, "id") < 0) return bad("has no field \"id\"");
    // The reader schema without the fields the writer lacks, each of which needs a default.
    nlohmann::json projected = r.json;
    nlohmann::json fields = nlohmann::json::array();
    for (const auto& f : r.json["fields"]) {
      const std::string name = f.value("name", "");
      const int wi = avro_schema_record_field_get_index(ws, name.c_str());
      if (wi >= 0 && name == "op") {
        // libavro resolves enums by position, not by symbol name: read the writer's own enum
        // and map its symbols by name in decode_one().
        avro_schema_t wop = deref(avro_schema_record_field_get_by_index(ws, wi));
        if (!is_avro_enum(wop)) {
          return bad("does not resolve against the reader schema: field \"op\": cannot read " +
                     describe(wop) + " as an enum");
        }
        auto type = enum_json(wop);
        if (!type.is_ok()) return type.status();
        nlohmann::json op = f;
        op["type"] = std::move(*type);
        op.erase("default");
        fields.push_back(std::move(op));
      } else if (wi >= 0) {
        fields.push_back(f);
      } else if (!f.contains("default")) {
        return bad("lacks the field " + quote(name) +
                   ", which the reader schema requires (it has no default)");
      }
    }
    projected["fields"] = std::move(fields);
    const std::string ptext = projected.dump();
    avro_schema_t ps = nullptr;
    if (avro_schema_from_json_length(ptext.data(), ptext.size(), &ps) != 0) {
      return bad("cannot project the reader schema on it: " + avro_error());
    }
    w->projected.reset(ps);
    if (Status s = compatible(ws, ps, 0); !s.is_ok()) {
      return bad("does not resolve against the reader schema: " + s.message());
    }
    for (size_t role = 0; role < kRoles; ++role) {
      w->index[role] = avro_schema_record_field_get_index(ps, kRoleNames[role]);
    }
    w->value_iface.reset(avro_generic_class_from_schema(ps));
    if (!w->value_iface) return bad("libavro: " + avro_error());
    if (avro_generic_value_new(w->value_iface.get(), &w->value) != 0) {
      return bad("libavro: " + avro_error());
    }
    w->has_value = true;
    w->resolver_iface.reset(avro_resolved_writer_new(ws, ps));
    if (!w->resolver_iface) {
      return bad("does not resolve against the reader schema: " + avro_error());
    }
    if (avro_resolved_writer_new_value(w->resolver_iface.get(), &w->resolved) != 0) {
      return bad("libavro: " + avro_error());
    }
    w->has_resolved = true;
    avro_resolved_writer_set_dest(&w->resolved, &w->value);
    return Status::ok();
  }();
  if (!loaded.is_ok()) {
    // Remembered: a registry's schema ids are immutable, so the file will not get better.
    w->error = bad("Avro writer schema " + std::to_string(schema_id) + " (" + path + ") " +
                   loaded.message());
  }
  Writer* out = w.get();
  writers_.emplace(schema_id, std::move(w));
  if (!out->error.is_ok()) return out->error;
  return out;
}

void AvroEventDecoder::decode(std::span<const std::string_view> messages,
                              std::vector<Result<Event>>* out) {
  out->clear();
  out->reserve(messages.size());
  for (std::string_view m : messages) out->push_back(decode_one(m));
}

Result<Event> AvroEventDecoder::decode_one(std::string_view message) {
  if (message.empty()) return bad("malformed Avro: empty message");
  const auto* bytes = reinterpret_cast<const uint8_t*>(message.data());
  if (bytes[0] != 0) {
    char magic[8];
    std::snprintf(magic, sizeof(magic), "0x%02x", bytes[0]);
    return bad(std::string("malformed Avro: no Confluent framing (first byte ") + magic +
               ", expected magic byte 0x00 and a 4-byte schema id)");
  }
  if (message.size() < 5) return bad("malformed Avro: Confluent header shorter than 5 bytes");
  const uint32_t schema_id = (uint32_t{bytes[1]} << 24) | (uint32_t{bytes[2]} << 16) |
                             (uint32_t{bytes[3]} << 8) | uint32_t{bytes[4]};
  auto writer = writer_for(schema_id);
  if (!writer.is_ok()) return writer.status();
  Writer& w = **writer;

  Cursor c{bytes + 5, bytes + message.size()};
  if (Status s = walk(w.writer.get(), c, 0); !s.is_ok()) {
    return bad("malformed Avro (writer schema " + std::to_string(schema_id) + "): " + s.message());
  }
  if (c.p != c.end) {
    return bad("malformed Avro (writer schema " + std::to_string(schema_id) + "): " +
               std::to_string(c.left()) + " trailing bytes after the event");
  }
  avro_reader_memory_set_source(reader_->mem.get(), message.data() + 5,
                                static_cast<int64_t>(message.size() - 5));
  avro_value_reset(&w.value);
  if (avro_value_read(reader_->mem.get(), &w.resolved) != 0) {
    return bad("malformed Avro (writer schema " + std::to_string(schema_id) +
               "): cannot resolve the event against the reader schema: " + avro_error());
  }

  const Defaults& def = reader_->defaults;
  Event ev;
  {
    avro_value_t v;
    bool null = false;
    VS_RETURN_IF_ERROR(field_of(&w.value, w.index[kId], &v, &null));
    if (null) return bad("missing \"id\"");
    if (avro_value_get_type(&v) == AVRO_STRING) {
      std::string_view s;
      VS_RETURN_IF_ERROR(string_of(&v, &s));
      auto id = PointId::string(std::string(s));
      if (!id.is_ok()) return bad("\"id\": " + id.status().message());
      ev.id = std::move(*id);
    } else {
      int64_t n = -1;
      if (avro_value_get_long(&v, &n) != 0 || n < 0) {
        return bad("\"id\" must be a non-negative integer or a string");
      }
      ev.id = PointId::number(static_cast<uint64_t>(n));
    }
  }
  std::string_view op = def.op;
  if (w.index[kOp] >= 0) {
    // The value is in the writer's enum (see writer_for): its symbol, by name, must be one of
    // the reader's.
    avro_value_t v;
    bool null = false;
    VS_RETURN_IF_ERROR(field_of(&w.value, w.index[kOp], &v, &null));
    int symbol = -1;
    const char* name = nullptr;
    if (!null && avro_value_get_enum(&v, &symbol) == 0) {
      name = avro_schema_enum_get(avro_value_get_schema(&v), symbol);
    }
    if (name == nullptr) return bad("\"op\" is not a symbol of its enum");
    if (avro_schema_enum_get_by_name(reader_->op_enum, name) < 0) {
      return bad("unknown op " + quote(name) + " (not a symbol of the reader schema's enum " +
                 avro_schema_name(reader_->op_enum) + ")");
    }
    op = name;
  }
  if (op == "UPSERT") {
    ev.op = EventOp::kUpsert;
  } else if (op == "DELETE") {
    ev.op = EventOp::kDelete;
  } else {
    return bad("unknown op " + quote(op) + " (expected UPSERT or DELETE)");
  }
  if (w.index[kVector] >= 0) {
    // Empty = none, as in Protobuf events (libavro leaves [null, array] unset for an empty one).
    avro_value_t v;
    bool null = false;
    VS_RETURN_IF_ERROR(field_of(&w.value, w.index[kVector], &v, &null));
    size_t n = 0;
    if (!null && avro_value_get_size(&v, &n) != 0) return Status::internal("avro: " + avro_error());
    if (n > 0) {
      ev.vector.emplace();
      ev.vector->reserve(n);
      for (size_t i = 0; i < n; ++i) {
        avro_value_t x;
        float f = 0;
        if (avro_value_get_by_index(&v, i, &x, nullptr) != 0 || avro_value_get_float(&x, &f) != 0) {
          return Status::internal("avro: " + avro_error());
        }
        ev.vector->push_back(f);
      }
    }
  } else {
    ev.vector = def.vector;
  }
  if (ev.vector) {
    for (size_t i = 0; i < ev.vector->size(); ++i) {
      if (!std::isfinite((*ev.vector)[i])) {
        return bad("vector has NaN or infinite values (\"vector\"[" + std::to_string(i) + "])");
      }
    }
  }
  if (w.index[kText] >= 0) {
    avro_value_t v;
    bool null = false;
    VS_RETURN_IF_ERROR(field_of(&w.value, w.index[kText], &v, &null));
    if (!null) {
      std::string_view s;
      VS_RETURN_IF_ERROR(string_of(&v, &s));
      ev.text = std::string(s);
    }
  } else {
    ev.text = def.text;
  }
  std::optional<std::string_view> payload;
  if (w.index[kPayload] >= 0) {
    avro_value_t v;
    bool null = false;
    VS_RETURN_IF_ERROR(field_of(&w.value, w.index[kPayload], &v, &null));
    if (!null) {
      std::string_view s;
      VS_RETURN_IF_ERROR(string_of(&v, &s));
      payload = s;
    }
  } else if (def.payload) {
    payload = *def.payload;
  }
  if (payload) {
    nlohmann::json p = nlohmann::json::parse(*payload, nullptr, false);
    if (p.is_discarded()) return bad("\"payload_json\" is not valid JSON");
    if (p.is_null()) {
      // "null": no payload, as in the JSON format
    } else if (!p.is_object()) {
      return bad("\"payload_json\" must be a JSON object");
    } else {
      ev.payload = std::move(p);
    }
  }
  // (A flag and a value rather than std::optional: GCC 12 warns falsely on the latter here.)
  bool has_ts = def.ts.has_value();
  int64_t ts = def.ts.value_or(-1);
  if (w.index[kTs] >= 0) {
    avro_value_t v;
    bool null = false;
    VS_RETURN_IF_ERROR(field_of(&w.value, w.index[kTs], &v, &null));
    has_ts = !null;
    if (has_ts && avro_value_get_long(&v, &ts) != 0) {
      return Status::internal("avro: " + avro_error());
    }
  }
  if (has_ts) {
    if (ts < 0) return bad("\"ts_ms\" must be non-negative (epoch milliseconds)");
    ev.ts_ms = ts;
  }
  if (ev.op == EventOp::kUpsert && !ev.vector && !ev.text) {
    return bad("an upsert needs \"vector\" or \"text\"");
  }
  return ev;
}

}  // namespace vecstream
