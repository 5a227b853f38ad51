// The JSON event decoder: every field, every error, and batches that mix both.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ingest/event_decoder.h"
#include "ingest/json_event_decoder.h"

namespace vecstream {
namespace {

Result<Event> decode(const std::string& s) {
  JsonEventDecoder d;
  return d.decode_one(s);
}

std::string error_of(const std::string& s) {
  auto r = decode(s);
  EXPECT_FALSE(r.is_ok()) << s;
  if (r.is_ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << s;
  return r.status().message();
}

TEST(JsonEventDecoderTest, FullUpsert) {
  auto e = decode(R"({"id": 42, "op": "upsert", "vector": [1, -2.5, 3e2], "text": "hi",
                      "payload": {"lang": "en", "n": [1, 2.5, true, null], "o": {"x": -7}},
                      "ts": 1714567890123, "extra": {"ignored": 1}})");
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ(e->op, EventOp::kUpsert);
  EXPECT_EQ(e->id, PointId::number(42));
  ASSERT_TRUE(e->vector.has_value());
  EXPECT_EQ(*e->vector, (std::vector<float>{1.0f, -2.5f, 300.0f}));
  EXPECT_EQ(e->text, std::optional<std::string>("hi"));
  EXPECT_EQ(e->payload, nlohmann::json::parse(R"({"lang": "en", "n": [1, 2.5, true, null], "o": {"x": -7}})"));
  EXPECT_EQ(e->ts_ms, 1714567890123);
}

TEST(JsonEventDecoderTest, DefaultsAndAlternatives) {
  auto e = decode(R"({"id": "doc-1", "vector": [0.5]})");
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(e->op, EventOp::kUpsert);
  EXPECT_EQ(e->id.str(), "doc-1");
  EXPECT_TRUE(e->payload.is_null());
  EXPECT_EQ(e->ts_ms, -1);
  EXPECT_FALSE(e->text.has_value());

  auto big = decode(R"({"id": 18446744073709551615, "vector": [1]})");  // u64 max
  ASSERT_TRUE(big.is_ok());
  EXPECT_EQ(big->id.num(), 18446744073709551615ull);

  auto del = decode(R"({"id": 7, "op": "delete"})");
  ASSERT_TRUE(del.is_ok());
  EXPECT_EQ(del->op, EventOp::kDelete);
  EXPECT_FALSE(del->vector.has_value());

  auto text = decode(R"({"id": 8, "text": "a cat", "timestamp": 5, "payload": null})");
  ASSERT_TRUE(text.is_ok());
  EXPECT_FALSE(text->vector.has_value());
  EXPECT_EQ(*text->text, "a cat");
  EXPECT_EQ(text->ts_ms, 5);
  EXPECT_TRUE(text->payload.is_null());
}

TEST(JsonEventDecoderTest, Errors) {
  EXPECT_NE(error_of("not json").find("malformed JSON"), std::string::npos);
  EXPECT_NE(error_of("").find("malformed JSON"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "vector": [1,)").find("malformed JSON"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]").find("must be a JSON object"), std::string::npos);
  EXPECT_NE(error_of(R"({"vector": [1]})").find("missing \"id\""), std::string::npos);
  EXPECT_NE(error_of(R"({"id": -1, "vector": [1]})").find("\"id\" must be"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1.5, "vector": [1]})").find("\"id\" must be"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": true, "vector": [1]})").find("\"id\" must be"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": "", "vector": [1]})").find("\"id\""), std::string::npos);
  EXPECT_NE(error_of(R"({"id": ")" + std::string(300, 'x') + R"(", "vector": [1]})").find("\"id\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "op": "merge", "vector": [1]})").find("unknown op \"merge\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "op": 3, "vector": [1]})").find("\"op\" must be a string"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "vector": "1,2"})").find("array of numbers"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "vector": [1, "x"]})").find("\"vector\"[1] is not a number"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "vector": [1, 1e39]})").find("NaN or infinite"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "vector": [NaN]})").find("malformed JSON"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1})").find("needs \"vector\" or \"text\""), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "text": 5})").find("\"text\" must be a string"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "vector": [1], "payload": [1]})").find("\"payload\" must be a JSON object"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "vector": [1], "ts": "now"})").find("\"ts\" must be"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "vector": [1], "ts": -5})").find("\"ts\" must be"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "id": 2, "vector": [1]})").find("given twice"), std::string::npos);
  EXPECT_NE(error_of(R"({"id": 1, "ts": 1, "timestamp": 2, "vector": [1]})").find("given twice"),
            std::string::npos);
}

TEST(JsonEventDecoderTest, BatchKeepsOrderAndIsolatesErrors) {
  auto d = make_event_decoder("json");
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ((*d)->format(), "json");
  // Unpadded views into one buffer: the decoder must not read past each message.
  const std::string buf = R"({"id": 1, "vector": [1]}{bad{"id": 2, "op": "delete"})";
  std::vector<std::string_view> msgs = {std::string_view(buf).substr(0, 24),
                                        std::string_view(buf).substr(24, 4),
                                        std::string_view(buf).substr(28)};
  std::vector<Result<Event>> out;
  (*d)->decode(msgs, &out);
  ASSERT_EQ(out.size(), 3u);
  ASSERT_TRUE(out[0].is_ok());
  EXPECT_EQ(out[0]->id, PointId::number(1));
  EXPECT_FALSE(out[1].is_ok());
  ASSERT_TRUE(out[2].is_ok());
  EXPECT_EQ(out[2]->op, EventOp::kDelete);

  auto unknown = make_event_decoder("xml");
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("supported: json"), std::string::npos);
}

}  // namespace
}  // namespace vecstream
