// The Avro event decoder: every field, number and string ids, deletes; schema evolution (older
// writers without optional fields, newer writers with fields the reader does not know, type
// promotions, a custom reader schema); unknown and unresolvable writer schemas; framing, truncated
// bodies, trailing bytes and garbage that must never crash; the options' errors; and the shipped
// proto/avro/stream_event.avsc against the built-in reader schema. Messages are written with
// libavro itself, in writer schemas kept in a temporary schema directory.
#include <gtest/gtest.h>

#include <avro.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ingest/avro_event_decoder.h"
#include "ingest/event_decoder.h"
#include "support/temp_dir.h"

namespace vecstream {
namespace {

// The reader schema's twin: what current producers write.
const std::string kCurrent = std::string(AvroEventDecoder::default_reader_schema());

// An older producer: no op, text, payload_json or ts_ms.
const std::string kOld = R"({"type": "record", "name": "StreamEvent", "namespace": "vecstream.v1",
  "fields": [{"name": "id", "type": ["long", "string"]},
             {"name": "vector", "type": {"type": "array", "items": "float"}}]})";

// A newer producer: fields the reader does not know, between and after the known ones.
const std::string kNewer = R"({"type": "record", "name": "StreamEvent", "namespace": "vecstream.v1",
  "fields": [{"name": "tenant", "type": "string"},
             {"name": "id", "type": ["long", "string"]},
             {"name": "meta", "type": {"type": "record", "name": "Meta", "fields": [
                 {"name": "tags", "type": {"type": "array", "items": "string"}},
                 {"name": "attrs", "type": {"type": "map", "values": "double"}},
                 {"name": "hash", "type": {"type": "fixed", "name": "H", "size": 4}}]}},
             {"name": "op", "type": {"type": "enum", "name": "Op", "symbols": ["UPSERT", "DELETE"]}},
             {"name": "vector", "type": ["null", {"type": "array", "items": "float"}]},
             {"name": "score", "type": ["null", "double"]},
             {"name": "text", "type": ["null", "string"]},
             {"name": "payload_json", "type": ["null", "string"]},
             {"name": "ts_ms", "type": ["null", "long"]},
             {"name": "flag", "type": "boolean"}]})";

// Promotions: int ids and timestamps read as long, int vector items as float, bare (non-union)
// text read into the reader's [null, string].
const std::string kPromoted = R"({"type": "record", "name": "StreamEvent",
  "fields": [{"name": "id", "type": "int"},
             {"name": "vector", "type": {"type": "array", "items": "int"}},
             {"name": "text", "type": "string"},
             {"name": "ts_ms", "type": "int"}]})";

// Builds one message in a writer schema with libavro's generic values; nullable fields start null.
class Message {
 public:
  explicit Message(const std::string& schema_json) {
    EXPECT_EQ(avro_schema_from_json_length(schema_json.data(), schema_json.size(), &schema_), 0)
        << avro_strerror();
    iface_ = avro_generic_class_from_schema(schema_);
    EXPECT_EQ(avro_generic_value_new(iface_, &value_), 0) << avro_strerror();
    for (size_t i = 0; i < avro_schema_record_size(schema_); ++i) {
      avro_schema_t t = avro_schema_record_field_get_by_index(schema_, static_cast<int>(i));
      if (!is_avro_union(t)) continue;
      avro_value_t f, branch;
      avro_value_get_by_index(&value_, i, &f, nullptr);
      for (size_t b = 0; b < avro_schema_union_size(t); ++b) {
        if (is_avro_null(avro_schema_union_branch(t, static_cast<int>(b)))) {
          avro_value_set_branch(&f, static_cast<int>(b), &branch);
          avro_value_set_null(&branch);
        }
      }
    }
  }
  ~Message() {
    avro_value_decref(&value_);
    avro_value_iface_decref(iface_);
    avro_schema_decref(schema_);
  }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  // The field `name`, or its union branch of type `want`.
  avro_value_t slot(const char* name, avro_type_t want) {
    avro_value_t f;
    EXPECT_EQ(avro_value_get_by_name(&value_, name, &f, nullptr), 0) << name;
    if (avro_value_get_type(&f) != AVRO_UNION) return f;
    avro_schema_t u = avro_value_get_schema(&f);
    for (size_t b = 0; b < avro_schema_union_size(u); ++b) {
      if (avro_typeof(avro_schema_union_branch(u, static_cast<int>(b))) == want) {
        avro_value_t branch;
        avro_value_set_branch(&f, static_cast<int>(b), &branch);
        return branch;
      }
    }
    ADD_FAILURE() << "no branch of the wanted type in " << name;
    return f;
  }
  Message& set_long(const char* name, int64_t v) {
    avro_value_t s = slot(name, AVRO_INT64);
    EXPECT_EQ(avro_value_set_long(&s, v), 0);
    return *this;
  }
  Message& set_int(const char* name, int32_t v) {
    avro_value_t s = slot(name, AVRO_INT32);
    EXPECT_EQ(avro_value_set_int(&s, v), 0);
    return *this;
  }
  Message& set_string(const char* name, const std::string& v) {
    avro_value_t s = slot(name, AVRO_STRING);
    EXPECT_EQ(avro_value_set_string_len(&s, v.c_str(), v.size() + 1), 0);
    return *this;
  }
  Message& set_enum(const char* name, int symbol) {
    avro_value_t s = slot(name, AVRO_ENUM);
    EXPECT_EQ(avro_value_set_enum(&s, symbol), 0);
    return *this;
  }
  Message& set_floats(const char* name, const std::vector<float>& v) {
    avro_value_t s = slot(name, AVRO_ARRAY);
    for (float x : v) {
      avro_value_t e;
      avro_value_append(&s, &e, nullptr);
      EXPECT_EQ(avro_value_set_float(&e, x), 0);
    }
    return *this;
  }
  Message& set_ints(const char* name, const std::vector<int32_t>& v) {
    avro_value_t s = slot(name, AVRO_ARRAY);
    for (int32_t x : v) {
      avro_value_t e;
      avro_value_append(&s, &e, nullptr);
      EXPECT_EQ(avro_value_set_int(&e, x), 0);
    }
    return *this;
  }
  avro_value_t& value() { return value_; }

  /// The Avro binary body alone.
  std::string body() {
    std::vector<char> buf(1 << 16);
    avro_writer_t w = avro_writer_memory(buf.data(), static_cast<int64_t>(buf.size()));
    EXPECT_EQ(avro_value_write(w, &value_), 0) << avro_strerror();
    const auto n = static_cast<size_t>(avro_writer_tell(w));
    avro_writer_free(w);
    return std::string(buf.data(), n);
  }
  /// Confluent framing + body.
  std::string framed(uint32_t schema_id) { return header(schema_id) + body(); }

  static std::string header(uint32_t schema_id) {
    std::string s(1, '\0');
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((schema_id >> shift) & 0xff);
    return s;
  }

 private:
  avro_schema_t schema_ = nullptr;
  avro_value_iface_t* iface_ = nullptr;
  avro_value_t value_{};
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

class AvroEventDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_ / "1.avsc", kCurrent);
    write_file(dir_ / "2.avsc", kOld);
    write_file(dir_ / "3.avsc", kNewer);
    write_file(dir_ / "4.avsc", kPromoted);
    decoder_ = make(AvroDecoderOptions{"", dir_.path()});
  }

  std::unique_ptr<AvroEventDecoder> make(const AvroDecoderOptions& o) {
    auto d = AvroEventDecoder::create(o);
    EXPECT_TRUE(d.is_ok()) << d.status().to_string();
    return d.is_ok() ? std::move(*d) : nullptr;
  }

  Result<Event> decode(const std::string& m) { return decoder_->decode_one(m); }

  // The error of a message that must be refused (INVALID_ARGUMENT: it becomes a dead letter).
  std::string error_of(const std::string& m) {
    auto r = decode(m);
    EXPECT_FALSE(r.is_ok()) << "the message should have been refused";
    if (r.is_ok()) return "";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
    return r.status().message();
  }

  testing::TempDir dir_;
  std::unique_ptr<AvroEventDecoder> decoder_;
};

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "expected \"" << (needle) << "\" in: " << (haystack)

TEST_F(AvroEventDecoderTest, FullUpsertWithNumberId) {
  ASSERT_TRUE(decoder_);
  Message m(kCurrent);
  m.set_long("id", 42).set_enum("op", 0).set_floats("vector", {1, -2.5f, 300});
  m.set_string("text", "hi").set_string("payload_json", R"({"lang": "en", "n": [1, 2.5, true, null]})");
  m.set_long("ts_ms", 1714567890123);
  auto e = decode(m.framed(1));
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(decoder_->format(), "avro");
  EXPECT_EQ(e->op, EventOp::kUpsert);
  EXPECT_EQ(e->id, PointId::number(42));
  EXPECT_EQ(*e->vector, (std::vector<float>{1.0f, -2.5f, 300.0f}));
  EXPECT_EQ(e->text, std::optional<std::string>("hi"));
  EXPECT_EQ(e->payload, nlohmann::json::parse(R"({"lang": "en", "n": [1, 2.5, true, null]})"));
  EXPECT_EQ(e->ts_ms, 1714567890123);
}

TEST_F(AvroEventDecoderTest, StringIdAndNullFieldsTakeNoValue) {
  ASSERT_TRUE(decoder_);
  Message m(kCurrent);
  m.set_string("id", "doc-1").set_enum("op", 0).set_floats("vector", {0.5f});
  auto e = decode(m.framed(1));
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->id, *PointId::string("doc-1"));
  EXPECT_TRUE(e->payload.is_null()) << "a null payload_json is no payload";
  EXPECT_EQ(e->ts_ms, -1) << "a null ts_ms is 'not given', not 0";
  EXPECT_FALSE(e->text.has_value());

  Message zero(kCurrent);
  zero.set_long("id", 0).set_enum("op", 0).set_string("text", "t").set_long("ts_ms", 0);
  zero.set_string("payload_json", "null");
  auto z = decode(zero.framed(1));
  ASSERT_TRUE(z.is_ok()) << z.status().to_string();
  EXPECT_EQ(z->id, PointId::number(0)) << "id 0 is a valid id";
  EXPECT_EQ(z->ts_ms, 0) << "ts_ms 0 is given, and kept";
  EXPECT_TRUE(z->payload.is_null()) << "payload_json \"null\" is no payload, as in JSON events";
  EXPECT_FALSE(z->vector.has_value());
}

TEST_F(AvroEventDecoderTest, DeleteNeedsOnlyTheId) {
  ASSERT_TRUE(decoder_);
  Message m(kCurrent);
  m.set_string("id", "gone").set_enum("op", 1);
  auto e = decode(m.framed(1));
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->op, EventOp::kDelete);
  EXPECT_EQ(e->id.str(), "gone");
}

TEST_F(AvroEventDecoderTest, OlderWriterWithoutOptionalFieldsGetsTheDefaults) {
  ASSERT_TRUE(decoder_);
  Message m(kOld);
  m.set_long("id", 7).set_floats("vector", {1, 2});
  auto e = decode(m.framed(2));
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->id, PointId::number(7));
  EXPECT_EQ(e->op, EventOp::kUpsert) << "op defaults to UPSERT";
  EXPECT_EQ(*e->vector, (std::vector<float>{1, 2}));
  EXPECT_FALSE(e->text.has_value()) << "text defaults to null";
  EXPECT_TRUE(e->payload.is_null()) << "payload_json defaults to null";
  EXPECT_EQ(e->ts_ms, -1) << "ts_ms defaults to null";
}

TEST_F(AvroEventDecoderTest, NewerWriterFieldsTheReaderDoesNotKnowAreSkipped) {
  ASSERT_TRUE(decoder_);
  Message m(kNewer);
  m.set_string("tenant", "acme").set_long("id", 9).set_enum("op", 0).set_floats("vector", {3, 4});
  {
    avro_value_t meta, tags, tag, attrs, attr, hash;
    avro_value_get_by_name(&m.value(), "meta", &meta, nullptr);
    avro_value_get_by_name(&meta, "tags", &tags, nullptr);
    for (const char* t : {"a", "bb", "ccc"}) {
      avro_value_append(&tags, &tag, nullptr);
      avro_value_set_string(&tag, t);
    }
    avro_value_get_by_name(&meta, "attrs", &attrs, nullptr);
    avro_value_add(&attrs, "k", &attr, nullptr, nullptr);
    avro_value_set_double(&attr, 0.25);
    avro_value_get_by_name(&meta, "hash", &hash, nullptr);
    static char h[4] = {1, 2, 3, 4};
    avro_value_set_fixed(&hash, h, 4);
    avro_value_t score = m.slot("score", AVRO_DOUBLE);
    avro_value_set_double(&score, 0.5);
    avro_value_t flag;
    avro_value_get_by_name(&m.value(), "flag", &flag, nullptr);
    avro_value_set_boolean(&flag, 1);
  }
  m.set_string("text", "new").set_string("payload_json", R"({"v": 3})").set_long("ts_ms", 5);
  auto e = decode(m.framed(3));
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->id, PointId::number(9));
  EXPECT_EQ(*e->vector, (std::vector<float>{3, 4}));
  EXPECT_EQ(e->text, std::optional<std::string>("new"));
  EXPECT_EQ(e->payload, nlohmann::json({{"v", 3}}));
  EXPECT_EQ(e->ts_ms, 5);
}

TEST_F(AvroEventDecoderTest, WriterTypesArePromotedToTheReaders) {
  ASSERT_TRUE(decoder_);
  Message m(kPromoted);
  m.set_int("id", 123).set_ints("vector", {1, -2, 16777216}).set_string("text", "x");
  m.set_int("ts_ms", 2000000000);
  auto e = decode(m.framed(4));
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->id, PointId::number(123)) << "int id promoted to long";
  EXPECT_EQ(*e->vector, (std::vector<float>{1, -2, 16777216})) << "int items promoted to float";
  EXPECT_EQ(e->text, std::optional<std::string>("x")) << "bare string read into [null, string]";
  EXPECT_EQ(e->ts_ms, 2000000000) << "int ts_ms promoted to long";
}

TEST_F(AvroEventDecoderTest, MixedWriterSchemasInOneBatch) {
  ASSERT_TRUE(decoder_);
  Message a(kCurrent), b(kOld), c(kPromoted);
  a.set_long("id", 1).set_enum("op", 1);
  b.set_long("id", 2).set_floats("vector", {1});
  c.set_int("id", 3).set_ints("vector", {2}).set_string("text", "").set_int("ts_ms", 1);
  const std::string ma = a.framed(1), mb = b.framed(2), mc = c.framed(4), bad = "\x01";
  const std::vector<std::string_view> batch = {ma, mb, bad, mc, ma};
  std::vector<Result<Event>> out;
  decoder_->decode(batch, &out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_TRUE(out[0].is_ok() && out[0]->op == EventOp::kDelete);
  EXPECT_TRUE(out[1].is_ok() && out[1]->id == PointId::number(2));
  EXPECT_FALSE(out[2].is_ok()) << "one bad message does not stop the batch";
  EXPECT_TRUE(out[3].is_ok() && out[3]->id == PointId::number(3));
  EXPECT_TRUE(out[4].is_ok() && out[4]->id == PointId::number(1)) << "cached writer reused";
}

TEST_F(AvroEventDecoderTest, CustomReaderSchemaWithTheProducersRecordName) {
  // A producer's own record name (resolution needs equal names), no op field (an upsert-only
  // stream), and a non-null default for ts_ms.
  const std::string reader = R"({"type": "record", "name": "Doc", "namespace": "com.acme",
    "fields": [{"name": "id", "type": "string"},
               {"name": "text", "type": "string"},
               {"name": "ts_ms", "type": "long", "default": 17}]})";
  const std::string writer = R"({"type": "record", "name": "Doc", "namespace": "com.acme",
    "fields": [{"name": "id", "type": "string"}, {"name": "text", "type": "string"},
               {"name": "lang", "type": "string"}]})";
  write_file(dir_ / "reader.avsc", reader);
  write_file(dir_ / "10.avsc", writer);
  auto d = make(AvroDecoderOptions{dir_ / "reader.avsc", dir_.path()});
  ASSERT_TRUE(d);
  Message m(writer);
  m.set_string("id", "d1").set_string("text", "hello").set_string("lang", "en");
  auto e = d->decode_one(m.framed(10));
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->id.str(), "d1");
  EXPECT_EQ(e->op, EventOp::kUpsert);
  EXPECT_EQ(e->text, std::optional<std::string>("hello"));
  EXPECT_EQ(e->ts_ms, 17) << "the reader's default for a field the writer lacks";

  // The built-in reader cannot read this producer: the record names differ.
  Message m2(writer);
  m2.set_string("id", "d1").set_string("text", "hello").set_string("lang", "en");
  EXPECT_HAS(error_of(m2.framed(10)), "does not resolve against the reader schema");

  // A reader field without a default that the writer lacks: unresolvable.
  const std::string strict = R"({"type": "record", "name": "StreamEvent", "namespace": "vecstream.v1",
    "fields": [{"name": "id", "type": ["long", "string"]},
               {"name": "vector", "type": {"type": "array", "items": "float"}},
               {"name": "text", "type": ["null", "string"]}]})";
  write_file(dir_ / "strict.avsc", strict);
  auto s = make(AvroDecoderOptions{dir_ / "strict.avsc", dir_.path()});
  ASSERT_TRUE(s);
  Message old(kOld);
  old.set_long("id", 1).set_floats("vector", {1});
  auto r = s->decode_one(old.framed(2));
  ASSERT_FALSE(r.is_ok());
  EXPECT_HAS(r.status().message(), "lacks the field \"text\", which the reader schema requires");
}

TEST_F(AvroEventDecoderTest, UnknownSchemaIdNamesTheIdAndTheDirectory) {
  ASSERT_TRUE(decoder_);
  Message m(kOld);
  m.set_long("id", 1).set_floats("vector", {1});
  const std::string msg = m.framed(77);
  const std::string err = error_of(msg);
  EXPECT_HAS(err, "unknown Avro schema id 77");
  EXPECT_HAS(err, dir_.path());
  // Not remembered: once the registry export has the schema, the same message decodes.
  write_file(dir_ / "77.avsc", kOld);
  EXPECT_TRUE(decode(msg).is_ok()) << "a schema added to the directory later is found";
}

TEST_F(AvroEventDecoderTest, UnresolvableWriterSchemasAreClearErrors) {
  ASSERT_TRUE(decoder_);
  struct Case {
    uint32_t id;
    std::string schema, needle;
  };
  const std::vector<Case> cases = {
      {20, R"({"type": "record", "name": "StreamEvent", "fields": [{"name": "id", "type": "boolean"}]})",
       "field \"id\": cannot read boolean as [long, string]"},
      // libavro 1.11 itself crashes resolving this pair: the decoder must refuse it first.
      {21, R"({"type": "record", "name": "StreamEvent", "fields": [{"name": "id", "type": "long"},
           {"name": "vector", "type": {"type": "array", "items": "double"}}]})",
       "field \"vector\""},
      {22, R"({"type": "record", "name": "StreamEvent", "fields": [{"name": "id", "type": "long"},
           {"name": "ts_ms", "type": ["null", "string"]}]})",
       "field \"ts_ms\""},
      {23, R"({"type": "record", "name": "StreamEvent", "fields": [{"name": "key", "type": "long"}]})",
       "has no field \"id\""},
      {24, R"({"type": "record", "name": "StreamEvent", "fields": [{"name": "id", "type": "lng"}]})",
       "does not parse"},
      {25, R"("string")", "not a record"},
      {26, R"({"type": "record", "name": "Other", "fields": [{"name": "id", "type": "long"}]})",
       "cannot read record Other as record StreamEvent"},
      {27, R"({"type": "record", "name": "StreamEvent", "fields": [{"name": "id", "type": "long"},
           {"name": "op", "type": "string"}]})",
       "field \"op\": cannot read string as an enum"},
  };
  for (const Case& c : cases) {
    write_file(dir_ / (std::to_string(c.id) + ".avsc"), c.schema);
    const std::string msg = Message::header(c.id) + std::string("\x02", 1);
    const std::string err = error_of(msg);
    EXPECT_HAS(err, "Avro writer schema " + std::to_string(c.id));
    EXPECT_HAS(err, c.needle);
    EXPECT_EQ(error_of(msg), err) << "the failure is remembered and repeated";
  }
}

TEST_F(AvroEventDecoderTest, EnumSymbolsResolveByNameAndUnknownOnesAreErrors) {
  ASSERT_TRUE(decoder_);
  // Another order and another enum name than the reader's, and a symbol the reader lacks.
  // (libavro 1.11 alone would map symbols by position: DELETE would become UPSERT.)
  const std::string writer = R"({"type": "record", "name": "StreamEvent", "fields": [
    {"name": "id", "type": "long"},
    {"name": "op", "type": {"type": "enum", "name": "Kind", "symbols": ["DELETE", "UPSERT", "MERGE"]}},
    {"name": "text", "type": "string"}]})";
  write_file(dir_ / "30.avsc", writer);
  Message del(writer), up(writer), merge(writer);
  del.set_long("id", 1).set_enum("op", 0).set_string("text", "x");
  up.set_long("id", 1).set_enum("op", 1).set_string("text", "x");
  merge.set_long("id", 1).set_enum("op", 2).set_string("text", "x");
  auto d = decode(del.framed(30));
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(d->op, EventOp::kDelete) << "writer symbol 0 is DELETE, whatever the reader's 0 is";
  auto u = decode(up.framed(30));
  ASSERT_TRUE(u.is_ok()) << u.status().to_string();
  EXPECT_EQ(u->op, EventOp::kUpsert) << "writer symbol 1 is UPSERT";
  EXPECT_HAS(error_of(merge.framed(30)), "unknown op \"MERGE\"");
}

TEST_F(AvroEventDecoderTest, UnionBranchesResolveByType) {
  ASSERT_TRUE(decoder_);
  // The writer's id union in the other order: [string, long] read as [long, string].
  const std::string writer = R"({"type": "record", "name": "StreamEvent", "fields": [
    {"name": "id", "type": ["string", "long"]}, {"name": "text", "type": ["string", "null"]}]})";
  write_file(dir_ / "31.avsc", writer);
  Message n(writer), s(writer);
  n.set_long("id", 5).set_string("text", "a");
  s.set_string("id", "five").set_string("text", "b");
  auto en = decode(n.framed(31));
  ASSERT_TRUE(en.is_ok()) << en.status().to_string();
  EXPECT_EQ(en->id, PointId::number(5));
  EXPECT_EQ(en->text, std::optional<std::string>("a"));
  auto es = decode(s.framed(31));
  ASSERT_TRUE(es.is_ok()) << es.status().to_string();
  EXPECT_EQ(es->id, *PointId::string("five"));
}

TEST_F(AvroEventDecoderTest, FramingIsRequired) {
  ASSERT_TRUE(decoder_);
  // A bare body is not accepted: it starts with the id's union branch, and branch 0 (a long id)
  // would look like the magic byte, so the two could not be told apart.
  Message m(kCurrent);
  m.set_string("id", "x").set_enum("op", 1);
  EXPECT_HAS(error_of(""), "malformed Avro: empty message");
  EXPECT_HAS(error_of(m.body()), "no Confluent framing (first byte 0x02");
  EXPECT_HAS(error_of(std::string("\x05\0\0\0\1", 5) + m.body()), "first byte 0x05");
  EXPECT_HAS(error_of(std::string("\0\0\0", 3)), "Confluent header shorter than 5 bytes");
  EXPECT_HAS(error_of(Message::header(1)), "body truncated") << "a header alone";
}

TEST_F(AvroEventDecoderTest, TruncatedBodiesAndTrailingBytesAreErrors) {
  ASSERT_TRUE(decoder_);
  Message m(kCurrent);
  m.set_string("id", "doc-1").set_enum("op", 0).set_floats("vector", {1, 2, 3});
  m.set_string("text", "some text").set_string("payload_json", R"({"a": 1})").set_long("ts_ms", 99);
  const std::string full = m.framed(1);
  ASSERT_TRUE(decode(full).is_ok());
  for (size_t n = 5; n < full.size(); ++n) {
    const std::string err = error_of(full.substr(0, n));
    EXPECT_HAS(err, "truncated") << "cut at " << n;
  }
  EXPECT_HAS(error_of(full + std::string(1, '\0')), "1 trailing bytes after the event");
  EXPECT_HAS(error_of(full + "xyz"), "3 trailing bytes");
}

TEST_F(AvroEventDecoderTest, BadValuesHaveTheSameErrorsAsTheOtherFormats) {
  ASSERT_TRUE(decoder_);
  {
    Message m(kCurrent);
    m.set_long("id", 1).set_enum("op", 0).set_floats("vector", {1, std::nanf(""), 3});
    EXPECT_HAS(error_of(m.framed(1)), "vector has NaN or infinite values (\"vector\"[1])");
  }
  {
    Message m(kCurrent);
    m.set_long("id", 1).set_enum("op", 0).set_floats("vector", {std::numeric_limits<float>::infinity()});
    EXPECT_HAS(error_of(m.framed(1)), "vector has NaN or infinite values");
  }
  {
    Message m(kCurrent);
    m.set_long("id", 1).set_enum("op", 0).set_floats("vector", {1}).set_long("ts_ms", -5);
    EXPECT_HAS(error_of(m.framed(1)), "\"ts_ms\" must be non-negative");
  }
  {
    Message m(kCurrent);
    m.set_long("id", -3).set_enum("op", 0).set_floats("vector", {1});
    EXPECT_HAS(error_of(m.framed(1)), "\"id\" must be a non-negative integer or a string");
  }
  {
    Message m(kCurrent);
    m.set_string("id", "").set_enum("op", 0).set_floats("vector", {1});
    EXPECT_HAS(error_of(m.framed(1)), "\"id\": ");
  }
  {
    Message m(kCurrent);
    m.set_string("id", std::string(300, 'x')).set_enum("op", 0).set_floats("vector", {1});
    EXPECT_HAS(error_of(m.framed(1)), "\"id\": ");
  }
  {
    Message m(kCurrent);
    m.set_long("id", 1).set_enum("op", 0).set_floats("vector", {1}).set_string("payload_json", "{oops");
    EXPECT_HAS(error_of(m.framed(1)), "\"payload_json\" is not valid JSON");
  }
  {
    Message m(kCurrent);
    m.set_long("id", 1).set_enum("op", 0).set_floats("vector", {1}).set_string("payload_json", "[1]");
    EXPECT_HAS(error_of(m.framed(1)), "\"payload_json\" must be a JSON object");
  }
  {
    Message m(kCurrent);
    m.set_long("id", 1).set_enum("op", 0);
    EXPECT_HAS(error_of(m.framed(1)), "an upsert needs \"vector\" or \"text\"");
  }
  {
    // An empty vector is no vector, as in Protobuf events.
    Message m(kCurrent);
    m.set_long("id", 1).set_enum("op", 0).set_floats("vector", {});
    EXPECT_HAS(error_of(m.framed(1)), "an upsert needs \"vector\" or \"text\"");
    Message t(kCurrent);
    t.set_long("id", 1).set_enum("op", 0).set_floats("vector", {}).set_string("text", "t");
    auto e = decode(t.framed(1));
    ASSERT_TRUE(e.is_ok()) << e.status().to_string();
    EXPECT_FALSE(e->vector.has_value()) << "an empty vector is no vector";
  }
}

TEST_F(AvroEventDecoderTest, GarbageNeverCrashes) {
  ASSERT_TRUE(decoder_);
  std::mt19937_64 rng(1234);
  Message m(kNewer);
  m.set_string("tenant", "t").set_long("id", 5).set_enum("op", 0).set_floats("vector", {1, 2});
  {
    avro_value_t flag;
    avro_value_get_by_name(&m.value(), "flag", &flag, nullptr);
    avro_value_set_boolean(&flag, 0);
  }
  const std::string valid = m.framed(3);
  ASSERT_TRUE(decode(valid).is_ok());
  size_t ok = 0, refused = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string msg;
    const uint32_t id = 1 + static_cast<uint32_t>(rng() % 4);
    if (iter % 2 == 0) {
      // Random bytes after a valid header (every writer schema).
      msg = Message::header(id);
      const size_t n = rng() % 64;
      for (size_t i = 0; i < n; ++i) msg += static_cast<char>(rng() & 0xff);
    } else {
      // A valid message with a few bytes flipped, cut or extended.
      msg = valid;
      for (int k = 0, flips = 1 + static_cast<int>(rng() % 4); k < flips; ++k) {
        msg[5 + rng() % (msg.size() - 5)] = static_cast<char>(rng() & 0xff);
      }
      if (rng() % 4 == 0) msg.resize(5 + rng() % (msg.size() - 5));
    }
    auto r = decode(msg);
    if (r.is_ok()) {
      ++ok;
    } else {
      ++refused;
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
    }
  }
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(ok + refused, 20000u);
  // Huge lengths and counts: refused without allocating for them.
  const std::string huge_string = Message::header(1) + std::string("\x02\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
  EXPECT_HAS(error_of(huge_string), "exceeds the");
  const std::string huge_array = Message::header(2) + std::string("\x00\x02\xfe\xff\xff\xff\x0f", 7);
  EXPECT_HAS(error_of(huge_array), "block count");
  const std::string long_varint = Message::header(2) + std::string(12, '\xff');
  EXPECT_HAS(error_of(long_varint), "varint longer than");
}

TEST_F(AvroEventDecoderTest, BadOptionsAreRefusedWithTheReason) {
  auto refused = [](const AvroDecoderOptions& o, StatusCode code, const std::string& needle) {
    auto d = AvroEventDecoder::create(o);
    ASSERT_FALSE(d.is_ok()) << needle;
    EXPECT_EQ(d.status().code(), code) << d.status().to_string();
    EXPECT_HAS(d.status().message(), needle);
  };
  refused({"", ""}, StatusCode::kInvalidArgument, "schema directory");
  refused({"", dir_ / "missing"}, StatusCode::kNotFound, "missing\" does not exist");
  refused({"", dir_ / "1.avsc"}, StatusCode::kInvalidArgument, "is not a directory");
  refused({dir_ / "nope.avsc", dir_.path()}, StatusCode::kNotFound, "nope.avsc");

  auto reader = [&](const std::string& text, const std::string& needle) {
    write_file(dir_ / "r.avsc", text);
    refused({dir_ / "r.avsc", dir_.path()}, StatusCode::kInvalidArgument, needle);
  };
  reader("{not json", "r.avsc: not valid JSON");
  reader(R"({"type": "record", "name": "E", "fields": [{"name": "id", "type": "lng"}]})",
         "r.avsc: does not parse: ");
  reader(R"(["long", "string"])", "must be a record");
  reader(R"({"type": "record", "name": "E", "fields": [{"name": "key", "type": "long"}]})",
         "lacks the field \"id\"");
  reader(R"({"type": "record", "name": "E", "fields": [{"name": "id", "type": "boolean"}]})",
         "\"id\" must be long, string or a union of the two");
  reader(R"({"type": "record", "name": "E", "fields": [{"name": "id", "type": ["null", "long"]}]})",
         "\"id\" must be long, string or a union of the two");
  reader(R"({"type": "record", "name": "E", "fields": [{"name": "id", "type": "long"},
           {"name": "vector", "type": {"type": "array", "items": "double"}}]})",
         "\"vector\" must be an array of float");
  reader(R"({"type": "record", "name": "E", "fields": [{"name": "id", "type": "long"},
           {"name": "ts_ms", "type": "string"}]})",
         "\"ts_ms\" must be long");
  reader(R"({"type": "record", "name": "E", "fields": [{"name": "id", "type": "long"},
           {"name": "text", "type": ["null", "string", "long"]}]})",
         "\"text\" must be string");
  reader(R"({"type": "record", "name": "E", "fields": [{"name": "id", "type": "long"},
           {"name": "op", "type": {"type": "enum", "name": "Op", "symbols": ["UPSERT", "DELETE"]},
            "default": "MERGE"}]})",
         "the default of \"op\" must be one of the enum's symbols");
}

TEST_F(AvroEventDecoderTest, FactoryMakesAvroDecodersFromOptions) {
  auto plain = make_event_decoder("avro");
  ASSERT_FALSE(plain.is_ok());
  EXPECT_HAS(plain.status().message(), "format avro needs an Avro schema directory");
  auto unknown = make_event_decoder("xml");
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_HAS(unknown.status().message(), "supported: json, protobuf, avro");
  EventDecoderOptions o;
  o.format = "avro";
  o.avro.schema_dir = dir_.path();
  auto d = make_event_decoder(o);
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ((*d)->format(), "avro");
  o.avro.schema_dir = dir_ / "missing";
  EXPECT_FALSE(make_event_decoder(o).is_ok()) << "the decoder's own errors come through";
  EXPECT_TRUE(make_event_decoder("json").is_ok());
  EXPECT_TRUE(make_event_decoder("protobuf").is_ok());
}

TEST(AvroStreamEventSchemaTest, ShippedFileEqualsTheBuiltInReaderSchema) {
  std::ifstream in(std::string(VECSTREAM_SOURCE_DIR) + "/proto/avro/stream_event.avsc");
  ASSERT_TRUE(in) << "proto/avro/stream_event.avsc is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string file = ss.str();
  const std::string_view builtin = AvroEventDecoder::default_reader_schema();
  EXPECT_EQ(nlohmann::json::parse(file), nlohmann::json::parse(builtin))
      << "the shipped schema and the built-in one differ (doc and defaults included)";
  avro_schema_t a = nullptr, b = nullptr;
  ASSERT_EQ(avro_schema_from_json_length(file.data(), file.size(), &a), 0) << avro_strerror();
  ASSERT_EQ(avro_schema_from_json_length(builtin.data(), builtin.size(), &b), 0) << avro_strerror();
  EXPECT_TRUE(avro_schema_equal(a, b));
  EXPECT_STREQ(avro_schema_name(a), "StreamEvent");
  EXPECT_STREQ(avro_schema_namespace(a), "vecstream.v1");
  avro_schema_decref(a);
  avro_schema_decref(b);
}

}  // namespace
}  // namespace vecstream
