// The Protobuf event decoder: every field, bare and Confluent-framed messages, schema evolution
// (unknown fields skipped, missing ones defaulted), every error, and garbage that must never crash.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ingest/event_decoder.h"
#include "ingest/protobuf_event_decoder.h"
#include "vecstream/v1/event.pb.h"

namespace vecstream {
namespace {

using vecstream::v1::StreamEvent;

std::string bytes_of(const StreamEvent& m) {
  std::string s;
  EXPECT_TRUE(m.SerializeToString(&s));
  return s;
}

// Confluent wire format: magic 0, schema id (big-endian), then `indexes` (already encoded).
std::string confluent(const std::string& body, uint32_t schema_id, const std::string& indexes) {
  std::string s(1, '\0');
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((schema_id >> shift) & 0xff);
  return s + indexes + body;
}

StreamEvent upsert(uint64_t id, std::vector<float> v) {
  StreamEvent m;
  m.mutable_id()->set_num(id);
  for (float x : v) m.add_vector(x);
  return m;
}

Result<Event> decode(const std::string& s) {
  ProtobufEventDecoder d;
  return d.decode_one(s);
}

std::string error_of(const std::string& s) {
  auto r = decode(s);
  EXPECT_FALSE(r.is_ok());
  if (r.is_ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

TEST(ProtobufEventDecoderTest, FullUpsert) {
  StreamEvent m = upsert(42, {1, -2.5f, 300});
  m.set_text("hi");
  m.set_payload_json(R"({"lang": "en", "n": [1, 2.5, true, null]})");
  m.set_ts_ms(1714567890123);
  auto e = decode(bytes_of(m));
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->op, EventOp::kUpsert);
  EXPECT_EQ(e->id, PointId::number(42));
  EXPECT_EQ(*e->vector, (std::vector<float>{1.0f, -2.5f, 300.0f}));
  EXPECT_EQ(e->text, std::optional<std::string>("hi"));
  EXPECT_EQ(e->payload, nlohmann::json::parse(R"({"lang": "en", "n": [1, 2.5, true, null]})"));
  EXPECT_EQ(e->ts_ms, 1714567890123);
}

TEST(ProtobufEventDecoderTest, DefaultsAndAlternatives) {
  StreamEvent s;
  s.mutable_id()->set_str("doc-1");
  s.add_vector(0.5f);
  auto e = decode(bytes_of(s));
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->id.str(), "doc-1");
  EXPECT_EQ(e->op, EventOp::kUpsert);
  EXPECT_TRUE(e->payload.is_null());
  EXPECT_EQ(e->ts_ms, -1);  // not given (presence), not 0
  EXPECT_FALSE(e->text.has_value());

  StreamEvent zero_ts = upsert(3, {1});
  zero_ts.set_ts_ms(0);
  EXPECT_EQ(decode(bytes_of(zero_ts))->ts_ms, 0);

  StreamEvent big = upsert(std::numeric_limits<uint64_t>::max(), {1});
  EXPECT_EQ(decode(bytes_of(big))->id.num(), std::numeric_limits<uint64_t>::max());

  StreamEvent del;
  del.mutable_id()->set_num(7);
  del.set_op(StreamEvent::OP_DELETE);
  auto d = decode(bytes_of(del));
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->op, EventOp::kDelete);
  EXPECT_FALSE(d->vector.has_value());

  StreamEvent text;
  text.mutable_id()->set_num(8);
  text.set_text("a cat");
  text.set_payload_json("null");
  auto t = decode(bytes_of(text));
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->text, std::optional<std::string>("a cat"));
  EXPECT_TRUE(t->payload.is_null());

  // 7 and "7" are different points, as in the API.
  StreamEvent seven;
  seven.mutable_id()->set_str("7");
  seven.add_vector(1);
  EXPECT_EQ(decode(bytes_of(seven))->id, *PointId::string("7"));
}

TEST(ProtobufEventDecoderTest, ConfluentFraming) {
  const std::string body = bytes_of(upsert(5, {1, 2}));
  // Index path [0] in its short form (count 0), and spelled out (count 1, index 0).
  for (const std::string& idx : {std::string(1, '\0'), std::string("\x02\x00", 2)}) {
    auto e = decode(confluent(body, 12345, idx));
    ASSERT_TRUE(e.is_ok()) << e.status().to_string();
    EXPECT_EQ(e->id, PointId::number(5));
    EXPECT_EQ(*e->vector, (std::vector<float>{1, 2}));
  }
  // Another message of the schema, or a nested one: not a StreamEvent.
  EXPECT_NE(error_of(confluent(body, 1, std::string("\x02\x01", 2))).find("message index"),
            std::string::npos);
  EXPECT_NE(error_of(confluent(body, 1, std::string("\x04\x00\x00", 3))).find("message index"),
            std::string::npos);
  // Truncated headers.
  EXPECT_NE(error_of(std::string("\0\0\0", 3)).find("shorter than 5 bytes"), std::string::npos);
  EXPECT_NE(error_of(std::string("\0\0\0\0\1", 5)).find("truncated message-index count"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("\0\0\0\0\1\x02", 6)).find("truncated message index"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("\0\0\0\0\1\x01", 6)).find("bad message-index count"),
            std::string::npos);  // zig-zag 1 = -1
}

TEST(ProtobufEventDecoderTest, SchemaEvolution) {
  // A newer producer adds fields the consumer does not know: they are skipped.
  std::string newer = bytes_of(upsert(9, {3}));
  newer += std::string("\xb8\x06\x2a", 3);  // field 103, varint 42
  newer += std::string("\xc2\x06\x03xyz", 6);  // field 104, length-delimited "xyz"
  auto e = decode(newer);
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->id, PointId::number(9));
  EXPECT_EQ(*e->vector, (std::vector<float>{3}));
  // An older producer leaves out fields: they take their defaults.
  StreamEvent older;
  older.mutable_id()->set_num(10);
  older.set_text("only text");
  auto o = decode(bytes_of(older));
  ASSERT_TRUE(o.is_ok());
  EXPECT_EQ(o->op, EventOp::kUpsert);
  EXPECT_EQ(o->ts_ms, -1);
  EXPECT_TRUE(o->payload.is_null());
}

TEST(ProtobufEventDecoderTest, BadEvents) {
  EXPECT_NE(error_of("").find("empty message"), std::string::npos);
  EXPECT_NE(error_of("\xff\xff\xff\xff").find("malformed Protobuf"), std::string::npos);
  const std::string whole = bytes_of(upsert(1, {1, 2, 3, 4}));
  EXPECT_NE(error_of(whole.substr(0, whole.size() - 3)).find("malformed Protobuf"),
            std::string::npos);  // truncated

  StreamEvent no_id;
  no_id.add_vector(1);
  EXPECT_EQ(error_of(bytes_of(no_id)), "missing \"id\"");
  StreamEvent unset_id = upsert(1, {1});
  unset_id.mutable_id()->clear_kind();  // PointId given, neither num nor str set
  EXPECT_EQ(error_of(bytes_of(unset_id)), "missing \"id\"");
  StreamEvent long_id;
  long_id.mutable_id()->set_str(std::string(257, 'x'));
  long_id.add_vector(1);
  EXPECT_NE(error_of(bytes_of(long_id)).find("\"id\": "), std::string::npos);
  StreamEvent empty_id;
  empty_id.mutable_id()->set_str("");
  empty_id.add_vector(1);
  EXPECT_NE(error_of(bytes_of(empty_id)).find("\"id\": "), std::string::npos);

  StreamEvent op = upsert(1, {1});
  op.set_op(static_cast<StreamEvent::Op>(7));
  EXPECT_NE(error_of(bytes_of(op)).find("unknown op 7"), std::string::npos);

  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    EXPECT_NE(error_of(bytes_of(upsert(1, {0, bad}))).find("vector has NaN or infinite values (\"vector\"[1])"),
              std::string::npos);
  }
  StreamEvent bad_json = upsert(1, {1});
  bad_json.set_payload_json("{not json");
  EXPECT_EQ(error_of(bytes_of(bad_json)), "\"payload_json\" is not valid JSON");
  StreamEvent array_json = upsert(1, {1});
  array_json.set_payload_json("[1, 2]");
  EXPECT_EQ(error_of(bytes_of(array_json)), "\"payload_json\" must be a JSON object");
  StreamEvent neg_ts = upsert(1, {1});
  neg_ts.set_ts_ms(-5);
  EXPECT_NE(error_of(bytes_of(neg_ts)).find("ts_ms"), std::string::npos);
  StreamEvent nothing;
  nothing.mutable_id()->set_num(1);
  EXPECT_EQ(error_of(bytes_of(nothing)), "an upsert needs \"vector\" or \"text\"");
}

TEST(ProtobufEventDecoderTest, GarbageNeverCrashes) {
  std::mt19937_64 rng(7);
  ProtobufEventDecoder d;
  const std::string good = bytes_of(upsert(77, {1, 2, 3}));
  size_t decoded = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string s;
    if (i % 2 == 0) {
      s.resize(rng() % 64);
      for (char& c : s) c = static_cast<char>(rng());
    } else {  // a valid message with a few bytes flipped or cut
      s = good;
      for (int f = 0; f < 3; ++f) s[rng() % s.size()] = static_cast<char>(rng());
      s.resize(rng() % (s.size() + 1));
    }
    auto r = d.decode_one(s);
    if (r.is_ok()) {
      ++decoded;
      // Whatever decodes is a well-formed event.
      EXPECT_TRUE(r->op == EventOp::kDelete || r->vector || r->text);
      if (r->vector) {
        for (float x : *r->vector) EXPECT_TRUE(std::isfinite(x));
      }
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_LT(decoded, 5000u);
}

TEST(ProtobufEventDecoderTest, BatchesAndTheFactory) {
  auto d = make_event_decoder("protobuf");
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ((*d)->format(), "protobuf");
  const std::string a = bytes_of(upsert(1, {1})), b = "\x08", c = bytes_of(upsert(2, {2}));
  std::vector<std::string_view> batch = {a, b, c};
  std::vector<Result<Event>> out;
  (*d)->decode(batch, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].is_ok());
  EXPECT_FALSE(out[1].is_ok());  // one bad message fails alone
  ASSERT_TRUE(out[2].is_ok());
  EXPECT_EQ(out[2]->id, PointId::number(2));

  auto unknown = make_event_decoder("xml");
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("supported: json, protobuf, avro"), std::string::npos);
}

}  // namespace
}  // namespace vecstream
