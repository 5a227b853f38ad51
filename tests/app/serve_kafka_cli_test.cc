// `vecstream serve` ingesting from Kafka, end to end with real processes: `vecstream kafka-dev`
// (a Kafka-protocol broker), the server configured with kafka.* keys, a producer writing JSON
// events, and REST to check what became searchable:
//   - the source waits for its collection, then consumes (vecstream_ingest_source_up);
//   - the exact final state after upserts, deletes, re-upserts; bad events counted as dead letters;
//   - text events embedded by the server's embedder, found by a text query;
//   - kill -9 mid-stream, restart on the same data directory, repeatedly: the state equals the
//     uninterrupted one (exactly once: nothing lost, no deleted id back);
//   - SIGTERM stops it cleanly.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app/child_process.h"
#include "app/serve_process.h"
#include "embed/wordnet.h"
#include "ingest/event_producer.h"

namespace vecstream {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double metric(const std::string& text, const std::string& series) {
  size_t pos = 0;
  while ((pos = text.find(series, pos)) != std::string::npos) {
    if ((pos == 0 || text[pos - 1] == '\n') && text.size() > pos + series.size() &&
        text[pos + series.size()] == ' ') {
      return std::strtod(text.c_str() + pos + series.size() + 1, nullptr);
    }
    pos += series.size();
  }
  return -1;
}

class Rest {
 public:
  explicit Rest(int port) : c_("127.0.0.1", port) {
    c_.set_connection_timeout(5);
    c_.set_read_timeout(30);
  }
  std::optional<json> call(const std::string& method, const std::string& path, const json& body = nullptr,
                           int* status = nullptr) {
    httplib::Result r = method == "GET"    ? c_.Get(path)
                        : method == "POST" ? c_.Post(path, body.dump(), "application/json")
                                           : c_.Put(path, body.dump(), "application/json");
    if (!r) return std::nullopt;
    if (status) *status = r->status;
    json j = json::parse(r->body, nullptr, false);
    return j.is_discarded() ? json(r->body) : j;
  }
  std::string metrics() {
    auto r = c_.Get("/metrics");
    return r ? r->body : "";
  }

 private:
  httplib::Client c_;
};

class ServeKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_
                    .start("kafka-dev", VECSTREAM_BIN,
                           {"kafka-dev", "--topic", "docs:2", "--topic", "docs.dlq:1", "--topic",
                            "texts:2", "--topic", "texts.dlq:1"},
                           dir_ / "kafka-dev.log")
                    .is_ok());
    auto b = broker_.first_line(20000);
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    bootstrap_ = *b;
  }

  std::unique_ptr<testing::ServeProcess> start_server() {
    auto s = std::make_unique<testing::ServeProcess>(
        VECSTREAM_BIN,
        std::vector<std::string>{"--set", "kafka.bootstrap_servers=" + bootstrap_, "--set",
                                 "kafka.topics=docs,texts=articles", "--set", "kafka.group_id=serve-test",
                                 "--set", "kafka.batch_max_ms=5", "--set",
                                 "kafka.properties.session.timeout.ms=4000", "--set",
                                 "kafka.properties.fetch.wait.max.ms=10", "--set", "cache.kind=none"},
        false, dir_ / "data");
    EXPECT_TRUE(s->started()) << s->log();
    return s;
  }

  // Until every produced event is applied or dead-lettered (consumer lag 0 for both topics, and
  // the counters add up), or 60 s.
  bool wait_caught_up(Rest& rest, double docs_events, double text_events) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      const std::string m = rest.metrics();
      const double docs = metric(m, "vecstream_ingest_events_total{topic=\"docs\"}") +
                          std::max(0.0, metric(m, "vecstream_ingest_dead_letter_events_total{topic=\"docs\",reason=\"invalid_point\"}")) +
                          std::max(0.0, metric(m, "vecstream_ingest_dead_letter_events_total{topic=\"docs\",reason=\"decode\"}"));
      const double texts = std::max(0.0, metric(m, "vecstream_ingest_events_total{topic=\"texts\"}"));
      if (docs >= docs_events && texts >= text_events) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  testing::TempDir dir_;
  ChildProcess broker_;
  std::string bootstrap_;
};

std::vector<float> vec_of(uint64_t id, uint64_t version) {
  return {static_cast<float>(id), static_cast<float>(version), static_cast<float>(id % 7), 1.0f};
}

std::string upsert(uint64_t id, uint64_t version) {
  Event e;
  e.id = PointId::number(id);
  e.vector = vec_of(id, version);
  e.payload = {{"v", version}};
  return event_to_json(e);
}

std::string remove(uint64_t id) {
  Event e;
  e.op = EventOp::kDelete;
  e.id = PointId::number(id);
  return event_to_json(e);
}

// The expected collection: id -> version (absent = deleted / never written).
void expect_state(Rest& rest, const std::map<uint64_t, uint64_t>& model, uint64_t max_id) {
  for (uint64_t id = 0; id < max_id; ++id) {
    int status = 0;
    auto r = rest.call("GET", "/v1/collections/docs/points/" + std::to_string(id), nullptr, &status);
    ASSERT_TRUE(r.has_value());
    auto it = model.find(id);
    if (it == model.end()) {
      EXPECT_EQ(status, 404) << "id " << id << " must be absent: " << r->dump();
      continue;
    }
    ASSERT_EQ(status, 200) << "id " << id << ": " << r->dump();
    const auto want = vec_of(id, it->second);
    ASSERT_EQ((*r)["vector"].size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ((*r)["vector"][i].get<float>(), want[i]) << id;
    EXPECT_EQ((*r)["payload"]["v"], it->second) << id;
  }
  auto info = rest.call("GET", "/v1/collections/docs");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ((*info)["stats"]["live"].get<size_t>(), model.size()) << info->dump();
}

TEST_F(ServeKafkaTest, IngestsExactlyOnceAcrossKillNineAndServesWhatItIngested) {
  auto server = start_server();
  ASSERT_TRUE(server->started());
  Rest rest(server->rest_port());
  // Configured, but its collections do not exist yet: the sources wait.
  EXPECT_EQ(metric(rest.metrics(), "vecstream_ingest_source_up{topic=\"docs\"}"), 0.0);

  auto producer = EventProducer::create(bootstrap_, "docs");
  ASSERT_TRUE(producer.is_ok()) << producer.status().to_string();
  auto text_producer = EventProducer::create(bootstrap_, "texts");
  ASSERT_TRUE(text_producer.is_ok());

  // Events written before the collections exist are not lost: the source starts at "earliest".
  std::map<uint64_t, uint64_t> model;
  uint64_t version = 0;
  double docs_events = 0;
  for (uint64_t id = 0; id < 200; ++id) {
    ASSERT_TRUE((*producer)->send(PointId::number(id), upsert(id, ++version)).is_ok());
    model[id] = version;
    ++docs_events;
  }
  ASSERT_TRUE((*producer)->flush(std::chrono::seconds(10)).is_ok());

  int status = 0;
  rest.call("POST", "/v1/collections", {{"name", "docs"}, {"dim", 4}, {"metric", "l2"}, {"shards", 2}}, &status);
  ASSERT_EQ(status, 201);
  rest.call("POST", "/v1/collections", {{"name", "articles"}, {"dim", 256}, {"metric", "cosine"}, {"shards", 2}},
            &status);
  ASSERT_EQ(status, 201);

  // Deletes, re-upserts, and bad events: one of the wrong dimension, one not JSON.
  for (uint64_t id = 0; id < 200; id += 4) {
    ASSERT_TRUE((*producer)->send(PointId::number(id), remove(id)).is_ok());
    model.erase(id);
    ++docs_events;
  }
  for (uint64_t id = 1; id < 200; id += 4) {
    ASSERT_TRUE((*producer)->send(PointId::number(id), upsert(id, ++version)).is_ok());
    model[id] = version;
    ++docs_events;
  }
  ASSERT_TRUE((*producer)->send_to(0, "bad", R"({"id": 999, "vector": [1, 2]})").is_ok());
  ASSERT_TRUE((*producer)->send_to(1, "junk", "\x01\x02 not json").is_ok());
  docs_events += 2;
  // Text events: WordNet glosses, embedded by the server's (hashing) embedder.
  const auto synsets = testing::load_noun_synsets(30);
  ASSERT_EQ(synsets.size(), 30u);
  for (size_t i = 0; i < synsets.size(); ++i) {
    Event e;
    e.id = *PointId::string("wn-" + synsets[i].offset);
    e.text = synsets[i].gloss;
    e.payload = {{"gloss", synsets[i].gloss}};
    ASSERT_TRUE((*text_producer)->send(e.id, event_to_json(e)).is_ok());
  }
  ASSERT_TRUE((*producer)->flush(std::chrono::seconds(10)).is_ok());
  ASSERT_TRUE((*text_producer)->flush(std::chrono::seconds(10)).is_ok());

  ASSERT_TRUE(wait_caught_up(rest, docs_events, 30)) << rest.metrics();
  const std::string m = rest.metrics();
  EXPECT_EQ(metric(m, "vecstream_ingest_source_up{topic=\"docs\"}"), 1.0);
  EXPECT_EQ(metric(m, "vecstream_ingest_dead_letter_events_total{topic=\"docs\",reason=\"invalid_point\"}"), 1.0);
  EXPECT_EQ(metric(m, "vecstream_ingest_dead_letter_events_total{topic=\"docs\",reason=\"decode\"}"), 1.0);
  EXPECT_GT(metric(m, "vecstream_ingest_embedding_seconds_count{topic=\"texts\"}"), 0.0);
  EXPECT_GT(metric(m, "vecstream_ingest_freshness_seconds_count{topic=\"docs\"}"), 0.0);
  expect_state(rest, model, 200);
  // A text query finds the article whose gloss it is (same embedder on both sides).
  for (size_t i : {0u, 7u, 29u}) {
    auto r = rest.call("POST", "/v1/collections/articles/search", {{"text", synsets[i].gloss}, {"k", 1}}, &status);
    ASSERT_EQ(status, 200) << r->dump();
    ASSERT_EQ((*r)["points"].size(), 1u);
    EXPECT_EQ((*r)["points"][0]["id"], "wn-" + synsets[i].offset);
  }

  // kill -9 while a stream of writes is being applied, restart on the same data, three times.
  std::mt19937_64 rng(5);
  for (int cycle = 0; cycle < 3; ++cycle) {
    for (int i = 0; i < 1500; ++i) {
      const uint64_t id = rng() % 400;
      if (rng() % 5 == 0) {
        ASSERT_TRUE((*producer)->send(PointId::number(id), remove(id)).is_ok());
        model.erase(id);
      } else {
        ASSERT_TRUE((*producer)->send(PointId::number(id), upsert(id, ++version)).is_ok());
        model[id] = version;
      }
    }
    // A marker per partition, last: once both are visible, everything before them was applied
    // (each partition is applied in order).
    std::vector<std::pair<uint64_t, uint64_t>> markers;  // id, version
    for (int32_t p = 0; p < 2; ++p) {
      uint64_t id = 1000;
      while ((*producer)->partition_of(PointId::number(id)) != p) ++id;
      ASSERT_TRUE((*producer)->send(PointId::number(id), upsert(id, ++version)).is_ok());
      model[id] = version;
      markers.emplace_back(id, version);
    }
    ASSERT_TRUE((*producer)->flush(std::chrono::seconds(10)).is_ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + 40 * cycle));  // mid-application
    server->kill9();
    server = start_server();
    ASSERT_TRUE(server->started());
    Rest again(server->rest_port());
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    size_t seen = 0;
    while (seen < markers.size() && Clock::now() < deadline) {
      seen = 0;
      for (const auto& [id, v] : markers) {
        auto r = again.call("GET", "/v1/collections/docs/points/" + std::to_string(id));
        seen += r && r->is_object() && r->contains("payload") && (*r)["payload"]["v"] == v;
      }
      if (seen < markers.size()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(seen, markers.size()) << "cycle " << cycle << ": " << again.metrics() << server->log();
    expect_state(again, model, 400);
  }
  EXPECT_EQ(server->stop(), 0) << server->log();
}

TEST_F(ServeKafkaTest, BadKafkaConfigurationIsAClearErrorAtStart) {
  testing::TempDir scratch;
  const std::string bin = VECSTREAM_BIN;
  auto r = testing::run_command(scratch, bin + " serve --data-dir " + (scratch / "d") +
                                             " --set kafka.topics=docs --set http.port=0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("kafka.bootstrap_servers"), std::string::npos) << r.err;
  // A topic whose collection exists with another shard count: refused at start, not ignored.
  {
    auto s = testing::ServeProcess(VECSTREAM_BIN, {}, false, scratch / "data");
    ASSERT_TRUE(s.started());
    Rest rest(s.rest_port());
    int status = 0;
    rest.call("POST", "/v1/collections", {{"name", "docs"}, {"dim", 4}, {"shards", 3}}, &status);
    ASSERT_EQ(status, 201);
    ASSERT_EQ(s.stop(), 0);
  }
  r = testing::run_command(scratch, bin + " serve --data-dir " + (scratch / "data") +
                                        " --http-port 0 --grpc-address 127.0.0.1:0 --set kafka.bootstrap_servers=" +
                                        bootstrap_ + " --set kafka.topics=docs");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("partitions"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace vecstream
