// KafkaSource against a real Kafka-protocol broker (librdkafka's mock cluster in its own process):
// end to end to the exact final state, dead letters of every kind with their reasons, the
// embedding hook, Protobuf and Avro events, back-pressure, rebalancing between two members, and the errors of a partition
// count that does not match the shards or a bad configuration.
#include <avro.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ingest/dead_letter_writer.h"
#include "ingest/ingest_metrics.h"
#include "ingest/kafka_source.h"
#include "ingest/collection_model.h"
#include "ingest/kafka_test_support.h"
#include "segment/collection.h"
#include "support/temp_dir.h"
#include "support/wait.h"
#include "vecstream/v1/event.pb.h"

namespace vecstream {
namespace {

using testing::CollectionModel;
using testing::ForkedBroker;
using testing::TestProducer;
using testing::vector_for;
using testing::vector_json;

constexpr int kSession = 4000;  // ms: above the dev broker's 3 s first-join delay (dev_broker.h), far below 45 s

// One broker for the whole binary, forked before any test starts a thread.
ForkedBroker* g_broker = nullptr;

class BrokerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    g_broker = new ForkedBroker({{"e2e", 3},      {"e2e.dlq", 1},    {"bad", 2},  {"bad-dlq", 1},
                                 {"text", 1},     {"text.dlq", 1},   {"bp", 2},   {"bp.dlq", 1},
                                 {"rebal", 4},    {"rebal.dlq", 1},  {"three", 3}, {"three.dlq", 1},
                                 {"nodlq", 2},    {"proto", 2},      {"proto.dlq", 1},
                                 {"avro", 2},     {"avro.dlq", 1},   {"retention", 1}, {"retention.dlq", 1},
                                 {"idle", 1},     {"idle.dlq", 1}});
  }
  void TearDown() override {
    delete g_broker;
    g_broker = nullptr;
  }
};
const auto* const g_environment = ::testing::AddGlobalTestEnvironment(new BrokerEnvironment);

class KafkaSourceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(g_broker != nullptr && g_broker->ok()) << "the broker did not start"; }

  KafkaSourceOptions options(const std::string& topic) {
    KafkaSourceOptions o;
    o.bootstrap_servers = g_broker->bootstrap();
    o.group_id = "vs-" + topic + "-" + std::to_string(std::random_device{}());
    o.topic = topic;
    o.batch_max_events = 64;
    o.batch_max_ms = 5;
    o.properties = {{"session.timeout.ms", std::to_string(kSession)},
                    {"heartbeat.interval.ms", "300"},
                    {"fetch.wait.max.ms", "50"},
                    {"log_level", "4"}};
    return o;
  }
};

std::unique_ptr<Collection> make_collection(const std::string& dir, size_t shards, size_t dim,
                                            const std::string& metric = "l2",
                                            const std::string& index = "hnsw") {
  auto config = CollectionConfig::from_json({{"name", "ingest"}, {"dim", dim}, {"metric", metric},
                                             {"shards", shards}, {"fsync", "none"},
                                             {"index", {{"kind", index}}}});
  EXPECT_TRUE(config.is_ok());
  auto c = Collection::create(dir, *config);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  return c.is_ok() ? std::move(*c) : nullptr;
}

// Waits until every partition has consumed what the producer wrote and reports lag 0.
bool wait_caught_up(const KafkaSource& s, const TestProducer& p, const std::string& topic,
                    std::chrono::seconds timeout = std::chrono::seconds(40)) {
  return testing::wait_until(
      [&] {
        const auto st = s.stats();
        for (const auto& pp : st.partitions) {
          if (pp.consumed_offset != p.last_offset(topic, pp.partition) || pp.lag != 0) return false;
        }
        return true;
      },
      timeout);
}

// Produces an event for `id` to the partition of the shard that Collection routes it to.
size_t send_event(TestProducer& p, const std::string& topic, size_t partitions, const PointId& id,
                  const std::string& json) {
  const std::string key = id.to_string();
  return p.send(topic, static_cast<int32_t>(id.stable_hash() % partitions), &key, json);
}

TEST_F(KafkaSourceTest, EndToEndReachesTheExactFinalState) {
  constexpr size_t kDim = 8, kParts = 3;
  testing::TempDir dir;
  auto coll = make_collection(dir / "c", kParts, kDim);
  ASSERT_TRUE(coll);
  TestProducer producer(g_broker->bootstrap());
  ASSERT_TRUE(producer.ok());
  CollectionModel model;
  std::mt19937_64 rng(7);
  auto produce = [&](size_t n, uint64_t version_base) {
    for (size_t i = 0; i < n; ++i) {
      const uint64_t k = rng() % 400;
      const PointId id = k % 2 ? PointId::number(k) : *PointId::string("doc-" + std::to_string(k));
      const uint64_t version = version_base + i;
      if (rng() % 10 < 3) {
        send_event(producer, "e2e", kParts, id,
                   R"({"id": )" + id.to_json().dump() + R"(, "op": "delete"})");
        model.remove(id);
      } else {
        const auto v = vector_for(version, kDim);
        const nlohmann::json payload = {{"version", version}, {"tag", k % 5 == 0 ? "five" : "other"}};
        send_event(producer, "e2e", kParts, id,
                   R"({"id": )" + id.to_json().dump() + R"(, "vector": )" + vector_json(v) +
                       R"(, "payload": )" + payload.dump() + R"(, "ts": )" +
                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count()) +
                       "}");
        model.upsert(id, v, payload);
      }
    }
    ASSERT_TRUE(producer.flush());
  };
  produce(2000, 0);  // a backlog before the source starts ...

  obs::MetricsRegistry metrics;
  const KafkaSourceOptions e2e_options = options("e2e");
  const std::string group_of_first = e2e_options.group_id;
  auto source = KafkaSource::create(e2e_options, coll.get(), nullptr, &metrics);
  ASSERT_TRUE(source.is_ok()) << source.status().to_string();
  ASSERT_TRUE((*source)->start().is_ok());
  ASSERT_TRUE(wait_caught_up(**source, producer, "e2e"));
  model.expect_matches(*coll);

  produce(1000, 100000);  // ... and a live stream while it runs
  ASSERT_TRUE(wait_caught_up(**source, producer, "e2e"));
  model.expect_matches(*coll);

  const KafkaSourceStats st = (*source)->stats();
  EXPECT_EQ(st.events_applied, 3000u);
  EXPECT_EQ(st.dead_lettered, 0u);
  EXPECT_GE(st.assignments, kParts);
  for (const auto& pp : st.partitions) {
    EXPECT_TRUE(pp.assigned);
    EXPECT_EQ(pp.applied_offset, producer.last_offset("e2e", pp.partition));
    // The shard itself holds the position: that is what a restart resumes from.
    const auto offsets = coll->shard(static_cast<size_t>(pp.partition)).source_offsets();
    EXPECT_EQ(offsets.at("e2e/" + std::to_string(pp.partition)), pp.applied_offset);
  }
  const std::string text = metrics.expose();
  EXPECT_NE(text.find("vecstream_ingest_events_total{topic=\"e2e\"} 3000"), std::string::npos) << text;
  // The lag gauges reach 0 (they are refreshed every 100 ms).
  EXPECT_TRUE(testing::wait_until(
      [&] {
        const std::string t = metrics.expose();
        for (size_t p = 0; p < kParts; ++p) {
          const std::string series = "vecstream_ingest_consumer_lag_messages{topic=\"e2e\",partition=\"" +
                                     std::to_string(p) + "\"} 0\n";
          if (t.find(series) == std::string::npos) return false;
        }
        return true;
      },
      std::chrono::seconds(5)))
      << metrics.expose();
  EXPECT_NE(text.find("vecstream_ingest_freshness_seconds_count{topic=\"e2e\"} 3000"), std::string::npos);
  EXPECT_NE(text.find("vecstream_ingest_batch_apply_seconds_count{topic=\"e2e\"}"), std::string::npos);
  EXPECT_TRUE((*source)->stop().is_ok());
  // Leaving the group committed the consumed positions (for lag monitoring by Kafka tools).
  const auto committed = testing::committed_offsets(g_broker->bootstrap(), group_of_first, "e2e", kParts);
  for (int32_t p = 0; p < static_cast<int32_t>(kParts); ++p) {
    EXPECT_EQ(committed[static_cast<size_t>(p)], producer.last_offset("e2e", p) + 1) << "partition " << p;
  }

  // A restart resumes after the shards' offsets: nothing is applied twice, nothing is missing.
  produce(300, 200000);
  auto again = KafkaSource::create(options("e2e"), coll.get(), nullptr, &metrics);
  ASSERT_TRUE(again.is_ok());
  ASSERT_TRUE((*again)->start().is_ok());
  ASSERT_TRUE(wait_caught_up(**again, producer, "e2e"));
  EXPECT_EQ((*again)->stats().events_applied, 300u);
  model.expect_matches(*coll);
}

// The events that must be dead-lettered, with a piece of the reason each must carry.
struct BadEvent {
  std::string value;
  std::string reason;
};

std::vector<BadEvent> bad_events() {
  return {
      {"not json", "malformed JSON"},
      {"", "malformed JSON"},  // a null value
      {"[1, 2, 3, 4]", "must be a JSON object"},
      {R"({"vector": [1, 2, 3, 4]})", "missing \"id\""},
      {R"({"id": -3, "vector": [1, 2, 3, 4]})", "\"id\" must be"},
      {R"({"id": 2.5, "vector": [1, 2, 3, 4]})", "\"id\" must be"},
      {R"({"id": "", "vector": [1, 2, 3, 4]})", "\"id\""},
      {R"({"id": 1000, "op": "merge", "vector": [1, 2, 3, 4]})", "unknown op \"merge\""},
      {R"({"id": 1001, "vector": [1, 2, 3]})", "vector has dimension 3, collection has 4"},
      {R"({"id": 1002, "vector": [1, 2, 3, 4, 5]})", "vector has dimension 5"},
      {R"({"id": 1003, "vector": [1e39, 0, 0, 1]})", "NaN or infinite"},
      {R"({"id": 1004, "vector": [NaN, 0, 0, 1]})", "malformed JSON"},
      {R"({"id": 1005, "vector": [1, "x", 0, 1]})", "is not a number"},
      {R"({"id": 1006, "text": "no vector here"})", "no embedder configured"},
      {R"({"id": 1007})", "needs \"vector\" or \"text\""},
      {R"({"id": 1008, "vector": [0, 0, 0, 0]})", "zero vector under cosine"},
      {R"({"id": 1009, "vector": [1, 2, 3, 4], "payload": [1]})", "\"payload\" must be a JSON object"},
      {R"({"id": 1010, "vector": [1, 2, 3, 4], "ts": "yesterday"})", "\"ts\" must be"},
      {R"({"id": 1011, "vector": [1, 2, 3, 4], "payload": {"big": ")" + std::string(70000, 'x') + "\"}}",
       "payload of"},
  };
}

TEST_F(KafkaSourceTest, BadEventsGoToTheDeadLetterTopicWithTheirReason) {
  constexpr size_t kParts = 2;
  testing::TempDir dir;
  auto coll = make_collection(dir / "c", kParts, 4, "cosine");
  ASSERT_TRUE(coll);
  TestProducer producer(g_broker->bootstrap());
  const auto bad = bad_events();
  CollectionModel model;
  struct Sent {
    size_t index;
    int32_t partition;
    std::string key;
    const BadEvent* event;
  };
  std::vector<Sent> sent_bad;
  // Both partitions: good events with bad ones between them, and bad ones at the very end.
  uint64_t next_good = 0;
  auto good = [&](int32_t partition) {
    for (;;) {
      const PointId id = PointId::number(next_good++);
      if (id.stable_hash() % kParts != static_cast<uint64_t>(partition)) continue;
      std::vector<float> v = {1.0f, static_cast<float>(id.num()), 0.5f, -2.0f};
      send_event(producer, "bad", kParts, id,
                 R"({"id": )" + std::to_string(id.num()) + R"(, "vector": )" + vector_json(v) + "}");
      // The collection stores cosine vectors normalised, as its own checks do it.
      WriteBatch as_stored;
      as_stored.points.push_back({id, v, nullptr});
      EXPECT_TRUE(coll->shard(0).validate(&as_stored).is_ok());
      model.upsert(id, as_stored.points[0].vector, nullptr);
      return;
    }
  };
  for (int32_t p = 0; p < static_cast<int32_t>(kParts); ++p) {
    for (size_t i = 0; i < bad.size(); ++i) {
      good(p);
      const std::string key = "bad-" + std::to_string(p) + "-" + std::to_string(i);
      sent_bad.push_back({producer.send("bad", p, &key, bad[i].value), p, key, &bad[i]});
    }
  }
  ASSERT_TRUE(producer.flush());

  obs::MetricsRegistry metrics;
  KafkaSourceOptions o = options("bad");
  o.dlq_topic = "bad-dlq";
  auto source = KafkaSource::create(o, coll.get(), nullptr, &metrics);
  ASSERT_TRUE(source.is_ok()) << source.status().to_string();
  ASSERT_TRUE((*source)->start().is_ok());
  ASSERT_TRUE(wait_caught_up(**source, producer, "bad"));
  // The batches ended with a dead letter: the last write's position covers it.
  for (const auto& pp : (*source)->stats().partitions) {
    EXPECT_EQ(pp.applied_offset, producer.last_offset("bad", pp.partition));
  }
  // A dead letter alone in its batch: consumed, but no shard write records it.
  for (int32_t p = 0; p < static_cast<int32_t>(kParts); ++p) {
    const std::string key = "tail-" + std::to_string(p);
    sent_bad.push_back({producer.send("bad", p, &key, bad[0].value), p, key, &bad[0]});
  }
  ASSERT_TRUE(producer.flush());
  ASSERT_TRUE(wait_caught_up(**source, producer, "bad"));
  EXPECT_TRUE((*source)->health().is_ok());
  model.expect_matches(*coll);
  const auto st = (*source)->stats();
  EXPECT_EQ(st.dead_lettered, sent_bad.size());
  for (const auto& pp : st.partitions) {
    EXPECT_EQ(pp.consumed_offset, producer.last_offset("bad", pp.partition));
    EXPECT_EQ(pp.applied_offset, pp.consumed_offset - 1);
  }

  auto letters = testing::read_topic(g_broker->bootstrap(), "bad-dlq", 1, sent_bad.size());
  ASSERT_EQ(letters.size(), sent_bad.size()) << "each bad event exactly once";
  std::map<std::string, const testing::TopicRecord*> by_key;
  for (const auto& r : letters) by_key[r.key] = &r;
  for (const Sent& s : sent_bad) {
    auto it = by_key.find(s.key);
    ASSERT_NE(it, by_key.end()) << s.key;
    const testing::TopicRecord& r = *it->second;
    EXPECT_EQ(r.value, s.event->value) << s.key;
    EXPECT_EQ(r.has_value, !s.event->value.empty());
    EXPECT_NE(r.headers.at(kDeadLetterErrorHeader).find(s.event->reason), std::string::npos)
        << s.key << ": " << r.headers.at(kDeadLetterErrorHeader) << " lacks " << s.event->reason;
    EXPECT_EQ(r.headers.at(kDeadLetterTopicHeader), "bad");
    EXPECT_EQ(r.headers.at(kDeadLetterPartitionHeader), std::to_string(s.partition));
    EXPECT_EQ(r.headers.at(kDeadLetterOffsetHeader), std::to_string(producer.offset(s.index)));
  }
  const std::string text = metrics.expose();
  EXPECT_NE(text.find("vecstream_ingest_dead_letter_events_total{topic=\"bad\",reason=\"invalid_point\"} 8"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("vecstream_ingest_dead_letter_events_total{topic=\"bad\",reason=\"embedding\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("vecstream_ingest_dead_letter_events_total{topic=\"bad\",reason=\"decode\"} 30"),
            std::string::npos);

  ASSERT_TRUE((*source)->stop().is_ok());
  auto again = KafkaSource::create(o, coll.get(), nullptr, &metrics);
  ASSERT_TRUE(again.is_ok());
  ASSERT_TRUE((*again)->start().is_ok());
  ASSERT_TRUE(wait_caught_up(**again, producer, "bad"));
  // A new process knows only the shards' positions: the tails (one letter per partition) come
  // again — at-least-once for dead letters, documented in kafka_source.h — and nothing else.
  EXPECT_EQ((*again)->stats().dead_lettered, kParts);
  EXPECT_EQ((*again)->stats().events_applied, 0u);
  model.expect_matches(*coll);
}

TEST_F(KafkaSourceTest, TextEventsGoThroughTheEmbedder) {
  testing::TempDir dir;
  auto coll = make_collection(dir / "c", 1, 3);
  ASSERT_TRUE(coll);
  TestProducer producer(g_broker->bootstrap());
  CollectionModel model;
  std::atomic<int> calls{0}, failures_left{2};
  // Deterministic "embedding": length, vowels, spaces. "reject me" is refused; the first two
  // calls fail as an unreachable service would (the batch must be retried, not dead-lettered).
  TextEmbedder embed = [&](const std::vector<std::string>& texts) -> Result<std::vector<std::vector<float>>> {
    ++calls;
    if (failures_left.fetch_sub(1) > 0) return Status::io_error("embedding service unavailable");
    std::vector<std::vector<float>> out;
    for (const std::string& t : texts) {
      if (t == "reject me") return Status::invalid_argument("text refused");
      float vowels = 0, spaces = 0;
      for (char c : t) {
        vowels += std::string("aeiou").find(c) != std::string::npos;
        spaces += c == ' ';
      }
      out.push_back({static_cast<float>(t.size()), vowels, spaces});
    }
    return out;
  };
  const std::vector<std::string> texts = {"a cat", "the quick brown fox", "hello"};
  for (size_t i = 0; i < texts.size(); ++i) {
    const PointId id = PointId::number(i);
    send_event(producer, "text", 1, id,
               R"({"id": )" + std::to_string(i) + R"(, "text": ")" + texts[i] + R"(", "payload": {"t": ")" +
                   texts[i] + R"("}})");
    float vowels = 0, spaces = 0;
    for (char c : texts[i]) {
      vowels += std::string("aeiou").find(c) != std::string::npos;
      spaces += c == ' ';
    }
    model.upsert(id, {static_cast<float>(texts[i].size()), vowels, spaces}, {{"t", texts[i]}});
  }
  // A vector wins over text; a given vector needs no embedder.
  send_event(producer, "text", 1, PointId::number(10), R"({"id": 10, "vector": [1, 2, 3], "text": "x"})");
  model.upsert(PointId::number(10), {1, 2, 3}, nullptr);
  ASSERT_TRUE(producer.flush());

  KafkaSourceOptions o = options("text");
  o.batch_max_ms = 200;  // produced before the start: one fetch, one batch, one embedding call
  o.retry_backoff_ms = 10;
  auto source = KafkaSource::create(o, coll.get(), embed);
  ASSERT_TRUE(source.is_ok()) << source.status().to_string();
  ASSERT_TRUE((*source)->start().is_ok());
  ASSERT_TRUE(wait_caught_up(**source, producer, "text"));
  model.expect_matches(*coll);
  EXPECT_EQ((*source)->stats().dead_lettered, 0u);
  EXPECT_GE(calls.load(), 3);  // two transient failures, then success

  // A refused text is a dead letter with the embedder's reason.
  const size_t idx = send_event(producer, "text", 1, PointId::number(20), R"({"id": 20, "text": "reject me"})");
  ASSERT_TRUE(producer.flush());
  ASSERT_TRUE(wait_caught_up(**source, producer, "text"));
  EXPECT_EQ((*source)->stats().dead_lettered, 1u);
  auto letters = testing::read_topic(g_broker->bootstrap(), "text.dlq", 1, 1);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].headers.at(kDeadLetterErrorHeader), "embedding: text refused");
  EXPECT_EQ(letters[0].headers.at(kDeadLetterOffsetHeader), std::to_string(producer.offset(idx)));
  model.expect_matches(*coll);

  // A refused text in a batch with good ones sinks only itself: the embedder refuses the whole
  // call, the source embeds text by text, and the good events are applied.
  send_event(producer, "text", 1, PointId::number(21), R"({"id": 21, "text": "a cat"})");
  send_event(producer, "text", 1, PointId::number(22), R"({"id": 22, "text": "reject me"})");
  send_event(producer, "text", 1, PointId::number(23), R"({"id": 23, "text": "hello"})");
  model.upsert(PointId::number(21), {5, 2, 1}, nullptr);
  model.upsert(PointId::number(23), {5, 2, 0}, nullptr);
  ASSERT_TRUE(producer.flush());
  ASSERT_TRUE(wait_caught_up(**source, producer, "text"));
  EXPECT_EQ((*source)->stats().dead_lettered, 2u);
  model.expect_matches(*coll);
}

// Natural batching: a partition with no batch in flight sends what arrived at once, and
// batch_max_ms only bounds the wait while a batch is being applied. With a 30 s batch_max_ms,
// lone events on an idle shard must still be applied within seconds.
TEST_F(KafkaSourceTest, AnIdleShardGetsALoneEventWithoutWaitingForTheBatchTimer) {
  testing::TempDir dir;
  auto coll = make_collection(dir / "c", 1, 4);
  ASSERT_TRUE(coll);
  TestProducer producer(g_broker->bootstrap());
  ASSERT_TRUE(producer.ok());
  KafkaSourceOptions o = options("idle");
  o.batch_max_ms = 30000;
  auto source = KafkaSource::create(o, coll.get(), nullptr);
  ASSERT_TRUE(source.is_ok()) << source.status().to_string();
  ASSERT_TRUE((*source)->start().is_ok());
  ASSERT_TRUE(testing::wait_until(
      [&] {
        const auto st = (*source)->stats();
        return !st.partitions.empty() && st.partitions[0].assigned;
      },
      std::chrono::seconds(30)));
  for (size_t i = 0; i < 3; ++i) {
    send_event(producer, "idle", 1, PointId::number(i),
               R"({"id": )" + std::to_string(i) + R"(, "vector": [1, 2, 3, 4]})");
    ASSERT_TRUE(producer.flush());
    // Well under the 30 s batch timer (a fetch and a shard write, plus CI slack).
    ASSERT_TRUE(testing::wait_until([&] { return coll->stats().live == i + 1; }, std::chrono::seconds(12)))
        << "event " << i << " waited for the batch timer";
  }
  EXPECT_TRUE((*source)->stop().is_ok());
}

// The same stream in Protobuf (format "protobuf"): upserts with string and number ids, payloads,
// deletes and re-upserts, half of them in the Confluent wire format, and one undecodable message
// that must become a dead letter while everything around it is applied.
TEST_F(KafkaSourceTest, ProtobufEventsReachTheExactFinalState) {
  constexpr size_t kDim = 4, kParts = 2;
  testing::TempDir dir;
  auto coll = make_collection(dir / "c", kParts, kDim);
  ASSERT_TRUE(coll);
  TestProducer producer(g_broker->bootstrap());
  ASSERT_TRUE(producer.ok());
  CollectionModel model;
  std::mt19937_64 rng(11);
  auto encode = [&](const vecstream::v1::StreamEvent& m, bool framed) {
    std::string body;
    EXPECT_TRUE(m.SerializeToString(&body));
    return framed ? std::string("\0\0\0\0\x07\0", 6) + body : body;
  };
  for (size_t i = 0; i < 600; ++i) {
    const uint64_t k = rng() % 120;
    const PointId id = k % 2 ? PointId::number(k) : *PointId::string("doc-" + std::to_string(k));
    vecstream::v1::StreamEvent m;
    if (id.is_string()) {
      m.mutable_id()->set_str(id.str());
    } else {
      m.mutable_id()->set_num(id.num());
    }
    if (rng() % 10 < 3) {
      m.set_op(vecstream::v1::StreamEvent::OP_DELETE);
      model.remove(id);
    } else {
      const auto v = vector_for(i, kDim);
      for (float x : v) m.add_vector(x);
      const nlohmann::json payload = {{"i", i}};
      m.set_payload_json(payload.dump());
      m.set_ts_ms(1700000000000 + static_cast<int64_t>(i));
      model.upsert(id, v, payload);
    }
    const std::string key = id.to_string();
    producer.send("proto", static_cast<int32_t>(id.stable_hash() % kParts), &key, encode(m, i % 2));
  }
  const std::string garbage_key = "garbage";
  const size_t garbage = producer.send("proto", 1, &garbage_key, std::string("\xff\xff\xff", 3));
  ASSERT_TRUE(producer.flush());

  KafkaSourceOptions o = options("proto");
  o.format = "protobuf";
  auto source = KafkaSource::create(o, coll.get());
  ASSERT_TRUE(source.is_ok()) << source.status().to_string();
  ASSERT_TRUE((*source)->start().is_ok());
  ASSERT_TRUE(wait_caught_up(**source, producer, "proto"));
  model.expect_matches(*coll);
  EXPECT_EQ((*source)->stats().dead_lettered, 1u);
  auto letters = testing::read_topic(g_broker->bootstrap(), "proto.dlq", 1, 1);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_NE(letters[0].headers.at(kDeadLetterErrorHeader).find("malformed Protobuf"), std::string::npos)
      << letters[0].headers.at(kDeadLetterErrorHeader);
  EXPECT_EQ(letters[0].headers.at(kDeadLetterOffsetHeader), std::to_string(producer.offset(garbage)));
  EXPECT_TRUE((*source)->stop().is_ok());
}

// One Avro writer schema: writes events in it (Confluent framing, schema id `id`) with libavro.
class AvroEventWriter {
 public:
  AvroEventWriter(const std::string& schema_json, uint32_t id) : id_(id) {
    EXPECT_EQ(avro_schema_from_json_length(schema_json.data(), schema_json.size(), &schema_), 0)
        << avro_strerror();
    iface_ = avro_generic_class_from_schema(schema_);
  }
  ~AvroEventWriter() {
    avro_value_iface_decref(iface_);
    avro_schema_decref(schema_);
  }
  AvroEventWriter(const AvroEventWriter&) = delete;
  AvroEventWriter& operator=(const AvroEventWriter&) = delete;

  std::string encode(const PointId& pid, bool del, const std::vector<float>& v,
                     const nlohmann::json& payload, int64_t ts_ms) {
    avro_value_t rec;
    EXPECT_EQ(avro_generic_value_new(iface_, &rec), 0);
    avro_value_t f;
    if (pid.is_string()) {
      f = slot(&rec, "id", AVRO_STRING);
      avro_value_set_string(&f, pid.str().c_str());
    } else {
      f = slot(&rec, "id", AVRO_INT64);
      avro_value_set_long(&f, static_cast<int64_t>(pid.num()));
    }
    f = slot(&rec, "op", AVRO_ENUM);
    avro_value_set_enum(&f, del ? 1 : 0);
    for (size_t i = 0; i < avro_schema_record_size(schema_); ++i) {
      const std::string name = avro_schema_record_field_name(schema_, static_cast<int>(i));
      if (name == "vector") {
        f = slot(&rec, "vector", del ? AVRO_NULL : AVRO_ARRAY);
        for (float x : del ? std::vector<float>{} : v) {
          avro_value_t e;
          avro_value_append(&f, &e, nullptr);
          avro_value_set_float(&e, x);
        }
      } else if (name == "payload_json" || name == "text") {
        const bool given = name == "payload_json" && !del;
        f = slot(&rec, name.c_str(), given ? AVRO_STRING : AVRO_NULL);
        if (given) avro_value_set_string(&f, payload.dump().c_str());
      } else if (name == "ts_ms") {
        f = slot(&rec, "ts_ms", AVRO_INT64);
        avro_value_set_long(&f, ts_ms);
      } else if (name == "source") {
        f = slot(&rec, "source", AVRO_STRING);
        avro_value_set_string(&f, "newer-producer");
      }
    }
    std::vector<char> buf(1 << 16);
    avro_writer_t w = avro_writer_memory(buf.data(), static_cast<int64_t>(buf.size()));
    EXPECT_EQ(avro_value_write(w, &rec), 0) << avro_strerror();
    std::string out(1, '\0');
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((id_ >> shift) & 0xff);
    out.append(buf.data(), static_cast<size_t>(avro_writer_tell(w)));
    avro_writer_free(w);
    avro_value_decref(&rec);
    return out;
  }

 private:
  // A field, or its union branch of type `want` (null set to null).
  static avro_value_t slot(avro_value_t* rec, const char* name, avro_type_t want) {
    avro_value_t f;
    EXPECT_EQ(avro_value_get_by_name(rec, name, &f, nullptr), 0) << name;
    if (avro_value_get_type(&f) != AVRO_UNION) return f;
    avro_schema_t u = avro_value_get_schema(&f);
    for (size_t b = 0; b < avro_schema_union_size(u); ++b) {
      if (avro_typeof(avro_schema_union_branch(u, static_cast<int>(b))) == want) {
        avro_value_t branch;
        avro_value_set_branch(&f, static_cast<int>(b), &branch);
        if (want == AVRO_NULL) avro_value_set_null(&branch);
        return branch;
      }
    }
    ADD_FAILURE() << "no branch of the wanted type in " << name;
    return f;
  }

  uint32_t id_;
  avro_schema_t schema_ = nullptr;
  avro_value_iface_t* iface_ = nullptr;
};

// The same stream in Avro (format "avro"), written by two producer generations into one topic:
// schema 1, older (id as [string, long], no text or ts_ms), and schema 2, newer (the reader's
// fields plus one it does not know). Upserts with string and number ids, payloads, deletes and
// re-upserts, and one message with a schema id the directory lacks, which must become a dead
// letter while everything around it is applied.
TEST_F(KafkaSourceTest, AvroEventsReachTheExactFinalState) {
  constexpr size_t kDim = 4, kParts = 2;
  testing::TempDir dir;
  auto coll = make_collection(dir / "c", kParts, kDim);
  ASSERT_TRUE(coll);
  const std::string v1 = R"({"type": "record", "name": "StreamEvent", "namespace": "vecstream.v1",
    "fields": [{"name": "id", "type": ["string", "long"]},
               {"name": "op", "type": {"type": "enum", "name": "Op", "symbols": ["UPSERT", "DELETE"]}},
               {"name": "vector", "type": ["null", {"type": "array", "items": "float"}]},
               {"name": "payload_json", "type": ["null", "string"]}]})";
  nlohmann::json newer = nlohmann::json::parse(
      std::ifstream(std::string(VECSTREAM_SOURCE_DIR) + "/proto/avro/stream_event.avsc"));
  ASSERT_TRUE(newer.is_object()) << "proto/avro/stream_event.avsc";
  newer["fields"].push_back({{"name", "source"}, {"type", "string"}});
  const std::string v2 = newer.dump();
  ASSERT_TRUE(std::filesystem::create_directories(dir / "schemas"));
  std::ofstream(dir / "schemas/1.avsc") << v1;
  std::ofstream(dir / "schemas/2.avsc") << v2;
  AvroEventWriter old_producer(v1, 1), new_producer(v2, 2);

  TestProducer producer(g_broker->bootstrap());
  ASSERT_TRUE(producer.ok());
  CollectionModel model;
  std::mt19937_64 rng(13);
  for (size_t i = 0; i < 600; ++i) {
    const uint64_t k = rng() % 120;
    const PointId id = k % 2 ? PointId::number(k) : *PointId::string("doc-" + std::to_string(k));
    const bool del = rng() % 10 < 3;
    const auto v = vector_for(i, kDim);
    const nlohmann::json payload = {{"i", i}};
    if (del) {
      model.remove(id);
    } else {
      model.upsert(id, v, payload);
    }
    AvroEventWriter& w = i % 2 ? new_producer : old_producer;
    const std::string key = id.to_string();
    producer.send("avro", static_cast<int32_t>(id.stable_hash() % kParts), &key,
                  w.encode(id, del, v, payload, 1700000000000 + static_cast<int64_t>(i)));
  }
  const std::string unknown_key = "unknown-schema";
  const size_t unknown = producer.send(
      "avro", 1, &unknown_key, std::string("\0\0\0\0\x63", 5) + std::string("\x02\x02", 2));
  ASSERT_TRUE(producer.flush());

  KafkaSourceOptions o = options("avro");
  o.format = "avro";
  o.avro_schema_dir = dir / "schemas";
  auto source = KafkaSource::create(o, coll.get());
  ASSERT_TRUE(source.is_ok()) << source.status().to_string();
  ASSERT_TRUE((*source)->start().is_ok());
  ASSERT_TRUE(wait_caught_up(**source, producer, "avro"));
  model.expect_matches(*coll);
  EXPECT_EQ((*source)->stats().dead_lettered, 1u) << "only the message with an unknown schema id";
  auto letters = testing::read_topic(g_broker->bootstrap(), "avro.dlq", 1, 1);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_NE(letters[0].headers.at(kDeadLetterErrorHeader).find("unknown Avro schema id 99"),
            std::string::npos)
      << letters[0].headers.at(kDeadLetterErrorHeader);
  EXPECT_EQ(letters[0].headers.at(kDeadLetterOffsetHeader), std::to_string(producer.offset(unknown)));
  EXPECT_TRUE((*source)->stop().is_ok());
}

TEST_F(KafkaSourceTest, BackPressurePausesAndLosesNothing) {
  constexpr size_t kDim = 32, kParts = 2;
  testing::TempDir dir;
  // Writers are refused (RESOURCE_EXHAUSTED) as soon as any row waits for the indexer, which
  // inserts one row per step: every write after the first meets a backlog.
  auto config = CollectionConfig::from_json({{"name", "bp"}, {"dim", kDim}, {"shards", kParts},
                                             {"fsync", "none"},
                                             {"index", {{"kind", "hnsw"}, {"ef_construction", 400}}}});
  ASSERT_TRUE(config.is_ok());
  config->shard.max_unindexed_rows = 0;
  config->shard.write_stall_ms = 1;
  config->shard.index_batch = 1;
  auto coll = Collection::create(dir / "c", *config);
  ASSERT_TRUE(coll.is_ok());
  TestProducer producer(g_broker->bootstrap());
  CollectionModel model;
  for (uint64_t i = 0; i < 1600; ++i) {
    const PointId id = PointId::number(i % 700);
    const auto v = vector_for(i, kDim);
    send_event(producer, "bp", kParts, id,
               R"({"id": )" + std::to_string(id.num()) + R"(, "vector": )" + vector_json(v) + "}");
    model.upsert(id, v, nullptr);
  }
  ASSERT_TRUE(producer.flush());
  KafkaSourceOptions o = options("bp");
  o.batch_max_events = 100;
  o.max_queued_events = 200;
  o.retry_backoff_ms = 2;
  auto source = KafkaSource::create(o, coll->get());
  ASSERT_TRUE(source.is_ok()) << source.status().to_string();
  ASSERT_TRUE((*source)->start().is_ok());
  ASSERT_TRUE(wait_caught_up(**source, producer, "bp", std::chrono::seconds(50)));
  const auto st = (*source)->stats();
  EXPECT_GE(st.write_rejections, 1u);
  EXPECT_GE(st.pauses, 1u);
  EXPECT_EQ(st.events_applied, 1600u);
  // Once the queues have drained, every partition is fetching again.
  EXPECT_TRUE(testing::wait_until([&] {
    for (const auto& pp : (*source)->stats().partitions) {
      if (pp.paused) return false;
    }
    return true;
  }, std::chrono::seconds(5)));
  EXPECT_TRUE((*source)->health().is_ok());
  model.expect_matches(**coll);
}

TEST_F(KafkaSourceTest, RebalancesBetweenMembersWithoutLoss) {
  constexpr size_t kDim = 4, kParts = 4;
  testing::TempDir dir;
  auto a_coll = make_collection(dir / "a", kParts, kDim, "l2", "flat");
  auto b_coll = make_collection(dir / "b", kParts, kDim, "l2", "flat");
  ASSERT_TRUE(a_coll && b_coll);
  TestProducer producer(g_broker->bootstrap());
  CollectionModel model;
  uint64_t version = 0;
  auto produce = [&](size_t n) {
    for (size_t i = 0; i < n; ++i, ++version) {
      const PointId id = PointId::number(version % 150);
      if (version % 7 == 3) {
        send_event(producer, "rebal", kParts, id, R"({"id": )" + std::to_string(id.num()) + R"(, "op": "delete"})");
        model.remove(id);
      } else {
        const auto v = vector_for(version, kDim);
        send_event(producer, "rebal", kParts, id,
                   R"({"id": )" + std::to_string(id.num()) + R"(, "vector": )" + vector_json(v) + "}");
        model.upsert(id, v, nullptr);
      }
    }
    ASSERT_TRUE(producer.flush());
  };
  // Incremental (cooperative) rebalancing: members keep their partitions while others move.
  KafkaSourceOptions o = options("rebal");
  o.properties["partition.assignment.strategy"] = "cooperative-sticky";
  produce(400);
  auto a = KafkaSource::create(o, a_coll.get());
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  ASSERT_TRUE((*a)->start().is_ok());
  ASSERT_TRUE(wait_caught_up(**a, producer, "rebal"));

  auto b = KafkaSource::create(o, b_coll.get());
  ASSERT_TRUE(b.is_ok());
  ASSERT_TRUE((*b)->start().is_ok());
  auto owned = [](const KafkaSource& s) {
    size_t n = 0;
    for (const auto& p : s.stats().partitions) n += p.assigned;
    return n;
  };
  // The group splits the partitions between the two members.
  ASSERT_TRUE(testing::wait_until([&] { return owned(**a) + owned(**b) == kParts && owned(**b) > 0 && owned(**a) > 0; },
                                  std::chrono::seconds(30)))
      << owned(**a) << " + " << owned(**b);
  produce(400);
  // Each partition is consumed by its owner.
  ASSERT_TRUE(testing::wait_until(
      [&] {
        const auto sa = (*a)->stats(), sb = (*b)->stats();
        for (size_t p = 0; p < kParts; ++p) {
          const auto& owner = sa.partitions[p].assigned ? sa.partitions[p] : sb.partitions[p];
          if (owner.consumed_offset != producer.last_offset("rebal", static_cast<int32_t>(p))) return false;
        }
        return true;
      },
      std::chrono::seconds(30)));

  // B leaves: A takes its partitions back and catches up on them from its own shards' positions.
  EXPECT_TRUE((*b)->stop().is_ok());
  produce(200);
  ASSERT_TRUE(testing::wait_until([&] { return owned(**a) == kParts; }, std::chrono::seconds(30)));
  ASSERT_TRUE(wait_caught_up(**a, producer, "rebal"));
  model.expect_matches(*a_coll);
  EXPECT_GE((*a)->stats().assignments, kParts + 1);
  EXPECT_TRUE((*a)->health().is_ok());
}

// The dev broker keeps only the newest 5 MiB of a partition (dev_broker.h), as a real broker's
// retention would: a source that resumes at an offset the broker has deleted must say that events
// were lost (metric and error log), count them exactly, and go on from the oldest retained event.
TEST_F(KafkaSourceTest, EventsTheBrokerDeletedAreReportedAsLost) {
  testing::TempDir dir;
  auto coll = make_collection(dir / "c", 1, 3);
  ASSERT_TRUE(coll);
  TestProducer producer(g_broker->bootstrap());
  auto event = [](size_t i, size_t pad) {
    return R"({"id": )" + std::to_string(i) + R"(, "vector": [1, 2, 3], "payload": {"pad": ")" +
           std::string(pad, 'x') + R"("}})";
  };
  for (size_t i = 0; i < 10; ++i) send_event(producer, "retention", 1, PointId::number(i), event(i, 10));
  ASSERT_TRUE(producer.flush());
  obs::MetricsRegistry registry;
  {
    auto source = KafkaSource::create(options("retention"), coll.get(), nullptr, &registry);
    ASSERT_TRUE(source.is_ok()) << source.status().to_string();
    ASSERT_TRUE((*source)->start().is_ok());
    ASSERT_TRUE(wait_caught_up(**source, producer, "retention"));
    ASSERT_TRUE((*source)->stop().is_ok());
  }
  // While no source runs, 8 MiB more: the broker drops the oldest of them, and offset 10 with them.
  const size_t more = 2000;
  for (size_t i = 10; i < 10 + more; ++i) send_event(producer, "retention", 1, PointId::number(i), event(i, 4000));
  ASSERT_TRUE(producer.flush());
  auto source = KafkaSource::create(options("retention"), coll.get(), nullptr, &registry);
  ASSERT_TRUE(source.is_ok());
  ASSERT_TRUE((*source)->start().is_ok());
  ASSERT_TRUE(wait_caught_up(**source, producer, "retention"));
  auto lost = IngestMetrics::register_in(registry);
  ASSERT_TRUE(lost.is_ok());
  const auto n_lost = static_cast<size_t>(lost->lost->with({"retention"}).value());
  EXPECT_GT(n_lost, 0u) << "8 MiB must have pushed offset 10 out of the dev broker's 5 MiB";
  EXPECT_LT(n_lost, more);
  // Exactly the events the broker still held were applied after the gap; none twice, none lost
  // beyond what the counter says.
  for (size_t i = 0; i < 10; ++i) EXPECT_TRUE(coll->get(PointId::number(i)).has_value()) << i;
  for (size_t i = 10; i < 10 + more; ++i) {
    EXPECT_EQ(coll->get(PointId::number(i)).has_value(), i >= 10 + n_lost) << i;
  }
  EXPECT_EQ(coll->stats().live, 10 + more - n_lost);
}

TEST_F(KafkaSourceTest, PartitionCountMustEqualShardCount) {
  testing::TempDir dir;
  auto two = make_collection(dir / "two", 2, 4);
  ASSERT_TRUE(two);
  auto s = KafkaSource::create(options("three"), two.get());
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("\"three\" has 3 partitions"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("has 2 shards"), std::string::npos);

  auto missing = KafkaSource::create(options("no-such-topic"), two.get());
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().to_string();
  EXPECT_NE(missing.status().message().find("no-such-topic"), std::string::npos);

  auto no_dlq = KafkaSource::create(options("nodlq"), two.get());
  ASSERT_FALSE(no_dlq.is_ok());
  EXPECT_EQ(no_dlq.status().code(), StatusCode::kNotFound);
  EXPECT_NE(no_dlq.status().message().find("dead-letter topic \"nodlq.dlq\""), std::string::npos)
      << no_dlq.status().message();

  // Unreachable brokers: a clear error after the connect timeout, not a hang.
  KafkaSourceOptions far = options("three");
  far.bootstrap_servers = "127.0.0.1:1";
  far.connect_timeout_ms = 1500;
  auto unreachable = KafkaSource::create(far, two.get());
  ASSERT_FALSE(unreachable.is_ok());
  EXPECT_EQ(unreachable.status().code(), StatusCode::kIoError) << unreachable.status().to_string();
}

TEST_F(KafkaSourceTest, BadConfigurationIsRefusedWithTheField) {
  testing::TempDir dir;
  auto coll = make_collection(dir / "c", 3, 4);
  ASSERT_TRUE(coll);
  auto refused = [&](KafkaSourceOptions o, const std::string& expect) {
    auto s = KafkaSource::create(o, coll.get());
    EXPECT_FALSE(s.is_ok()) << expect;
    if (s.is_ok()) return;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << s.status().to_string();
    EXPECT_NE(s.status().message().find(expect), std::string::npos) << s.status().message();
  };
  const KafkaSourceOptions good = options("three");
  EXPECT_TRUE(good.validate().is_ok());
  KafkaSourceOptions o = good;
  o.bootstrap_servers.clear();
  refused(o, "bootstrap_servers is required");
  o = good;
  o.group_id.clear();
  refused(o, "group_id is required");
  o = good;
  o.topic = "bad topic!";
  refused(o, "topic \"bad topic!\"");
  o = good;
  o.dlq_topic = "three";
  refused(o, "dlq_topic must differ");
  o = good;
  o.batch_max_events = 0;
  refused(o, "batch_max_events");
  o = good;
  o.batch_max_events = 20000;
  refused(o, "batch_max_events");
  o = good;
  o.max_queued_events = 10;
  refused(o, "max_queued_events");
  o = good;
  o.initial_offset = "middle";
  refused(o, "initial_offset");
  o = good;
  o.format = "xml";
  refused(o, "\"xml\"");
  o = good;
  o.format = "avro";
  refused(o, "avro_schema_dir is required");
  o.avro_schema_dir = dir / "no-such-dir";
  auto no_dir = KafkaSource::create(o, coll.get());
  ASSERT_FALSE(no_dir.is_ok()) << "an Avro schema directory that does not exist is refused";
  EXPECT_NE(no_dir.status().message().find("no-such-dir"), std::string::npos) << no_dir.status().message();
  o = good;
  o.properties["no.such.property"] = "1";
  refused(o, "no.such.property");
  o = good;
  o.properties["session.timeout.ms"] = "soon";
  refused(o, "session.timeout.ms");
  o = good;
  o.properties["group.id"] = "sneaky";
  refused(o, "may not set \"group.id\"");
  o = good;
  o.properties["enable.auto.offset.store"] = "true";
  refused(o, "enable.auto.offset.store");
  auto none = KafkaSource::create(good, nullptr);
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vecstream
