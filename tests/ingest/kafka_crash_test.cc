// Exactly-once across crashes: a child process ingests a Kafka topic into a collection and the
// parent kill -9s it mid-stream, several times; each new child recovers the collection from its
// directory (checkpoint + WAL) and resumes from the shards' own positions. At the end the
// collection must equal the model of the whole stream exactly: every upsert's last version, every
// delete applied, no point twice, none missing. Dead letters are at-least-once: every bad event
// is in the dead-letter topic, and nothing else is.
//
// Each incarnation joins a new consumer group: the group's committed offsets play no part in
// where ingestion resumes (the shards decide), which this proves, and a fresh group spares the
// wait for the killed member's session to expire. The broker runs in its own process throughout.
//
// VECSTREAM_KAFKA_CRASH_CYCLES sets the number of kills (default 4).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <set>

#include "ingest/collection_model.h"
#include "ingest/dead_letter_writer.h"
#include "ingest/kafka_source.h"
#include "ingest/kafka_test_support.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace vecstream {
namespace {

using testing::CollectionModel;
using testing::vector_for;
using testing::vector_json;

constexpr size_t kDim = 8;
constexpr int32_t kParts = 2;
constexpr uint64_t kIds = 500;
constexpr size_t kChunk = 1500;  // events produced before each incarnation

CollectionConfig config() {
  auto c = CollectionConfig::from_json(
      {{"name", "crash"}, {"dim", kDim}, {"shards", kParts}, {"fsync", "always"},
       {"seal_rows", 256}, {"checkpoint_wal_bytes", 65536}, {"checkpoint_interval_ms", 0},
       {"index", {{"kind", "hnsw"}, {"m", 8}, {"ef_construction", 32}}}});
  return *c;
}

KafkaSourceOptions source_options(const std::string& bootstrap, const std::string& group) {
  KafkaSourceOptions o;
  o.bootstrap_servers = bootstrap;
  o.group_id = group;
  o.topic = "crash";
  o.batch_max_events = 50;
  o.batch_max_ms = 5;
  o.properties = {{"session.timeout.ms", "4000"},  // above the dev broker's first-join delay
                  {"heartbeat.interval.ms", "500"},
                  {"fetch.wait.max.ms", "50"},
                  {"log_level", "4"}};
  return o;
}

// The child: recover, ingest, report how many events it applied (8 bytes at a time) until killed.
[[noreturn]] void child_main(const std::string& dir, const std::string& bootstrap,
                             const std::string& group, int fd) {
  auto coll = Collection::open(dir);
  if (!coll.is_ok()) _exit(2);
  auto source = KafkaSource::create(source_options(bootstrap, group), coll->get());
  if (!source.is_ok()) _exit(3);
  if (!(*source)->start().is_ok()) _exit(4);
  for (;;) {
    if (!(*source)->health().is_ok()) _exit(5);
    const uint64_t applied = (*source)->stats().events_applied;
    if (::write(fd, &applied, sizeof(applied)) != sizeof(applied)) _exit(6);
    ::usleep(1000);
  }
}

struct Stream {
  CollectionModel model;
  std::set<std::pair<int32_t, int64_t>> bad;  // (partition, offset) of the events to dead-letter
  int64_t end[kParts] = {-1, -1};              // last offset produced per partition
  std::vector<int64_t> good[kParts];           // offsets of the events to apply
  uint64_t step = 0;
};

// Produces `n` more events (upserts, deletes, re-upserts of the same ids, a few bad ones) and
// updates the model. The producer lives only during the call: no thread survives it, so the
// parent may fork afterwards.
void produce(const std::string& bootstrap, size_t n, Stream* s, std::mt19937_64& rng) {
  testing::TestProducer producer(bootstrap);
  ASSERT_TRUE(producer.ok());
  std::vector<std::pair<size_t, int32_t>> bad_sent, good_sent;
  for (size_t i = 0; i < n; ++i, ++s->step) {
    const PointId id = PointId::number(rng() % kIds);
    const int32_t partition = static_cast<int32_t>(id.stable_hash() % kParts);
    const std::string key = id.to_string();
    const uint64_t r = rng() % 100;
    if (r < 3) {
      bad_sent.push_back({producer.send("crash", partition, &key, R"({"id": )" + key + R"(, "vector": [1, 2]})"),
                          partition});
    } else if (r < 5) {
      bad_sent.push_back({producer.send("crash", partition, &key, "{truncated"), partition});
    } else if (r < 30) {
      good_sent.push_back(
          {producer.send("crash", partition, &key, R"({"id": )" + key + R"(, "op": "delete"})"), partition});
      s->model.remove(id);
    } else {
      const auto v = vector_for(s->step, kDim);
      const nlohmann::json payload = {{"step", s->step}};
      good_sent.push_back({producer.send("crash", partition, &key,
                                         R"({"id": )" + key + R"(, "vector": )" + vector_json(v) +
                                             R"(, "payload": )" + payload.dump() + "}"),
                           partition});
      s->model.upsert(id, v, payload);
    }
  }
  ASSERT_TRUE(producer.flush());
  for (const auto& [index, partition] : bad_sent) s->bad.insert({partition, producer.offset(index)});
  for (const auto& [index, partition] : good_sent) s->good[partition].push_back(producer.offset(index));
  for (int32_t p = 0; p < kParts; ++p) s->end[p] = std::max(s->end[p], producer.last_offset("crash", p));
}

TEST(KafkaCrashTest, KillNineMidStreamThenRecoverExactlyOnce) {
  const int cycles = std::getenv("VECSTREAM_KAFKA_CRASH_CYCLES")
                         ? std::atoi(std::getenv("VECSTREAM_KAFKA_CRASH_CYCLES"))
                         : 4;
  testing::ForkedBroker broker({{"crash", kParts}, {"crash.dlq", 1}});
  ASSERT_TRUE(broker.ok());
  testing::TempDir dir;
  const std::string coll_dir = dir / "coll";
  {
    auto c = Collection::create(coll_dir, config());
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  }
  std::mt19937_64 rng(20240501);
  Stream stream;
  int mid_stream_kills = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    produce(broker.bootstrap(), kChunk, &stream, rng);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const std::string group = "crash-" + std::to_string(cycle);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      child_main(coll_dir, broker.bootstrap(), group, fds[1]);
    }
    ::close(fds[1]);
    // Kill once the child has applied a random number of events — fewer than the chunk just
    // produced, so the kill lands mid-stream: in a shard write, a dead letter, a checkpoint ...
    const uint64_t target = 20 + rng() % 600;
    uint64_t applied = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (applied < target && std::chrono::steady_clock::now() < deadline) {
      uint64_t v = 0;
      if (::read(fds[0], &v, sizeof(v)) != sizeof(v)) break;  // the child died
      applied = v;
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "cycle " << cycle << ": the child exited by itself (status " << status << ")";
    ASSERT_GE(applied, target) << "cycle " << cycle << ": the child made no progress in 30 s";
    mid_stream_kills += applied < kChunk;
  }
  EXPECT_EQ(mid_stream_kills, cycles);

  // The last incarnation, in this process, runs to the end of the stream.
  produce(broker.bootstrap(), 500, &stream, rng);
  auto coll = Collection::open(coll_dir);
  ASSERT_TRUE(coll.is_ok()) << coll.status().to_string();
  // Where the recovered shards say each partition resumes: exactly the good events after that
  // position must be applied now — one more would be applied twice, one less would be lost.
  uint64_t expect_applied = 0;
  for (int32_t p = 0; p < kParts; ++p) {
    const auto offsets = (*coll)->shard(static_cast<size_t>(p)).source_offsets();
    auto it = offsets.find("crash/" + std::to_string(p));
    ASSERT_NE(it, offsets.end()) << "partition " << p << ": no position recovered";
    for (int64_t o : stream.good[p]) expect_applied += o > it->second;
  }
  auto source = KafkaSource::create(source_options(broker.bootstrap(), "crash-final"), coll->get());
  ASSERT_TRUE(source.is_ok()) << source.status().to_string();
  ASSERT_TRUE((*source)->start().is_ok());
  ASSERT_TRUE(testing::wait_until(
      [&] {
        const auto st = (*source)->stats();
        for (const auto& pp : st.partitions) {
          if (pp.consumed_offset != stream.end[pp.partition]) return false;
        }
        return true;
      },
      std::chrono::seconds(40)));
  EXPECT_TRUE((*source)->health().is_ok());
  EXPECT_EQ((*source)->stats().events_applied, expect_applied);
  ASSERT_TRUE((*source)->stop().is_ok());
  stream.model.expect_matches(**coll);

  // Every bad event is in the dead-letter topic (some twice: at-least-once), and nothing else.
  auto letters = testing::read_topic(broker.bootstrap(), "crash.dlq", 1, stream.bad.size());
  std::set<std::pair<int32_t, int64_t>> lettered;
  for (const auto& r : letters) {
    EXPECT_EQ(r.headers.at(kDeadLetterTopicHeader), "crash");
    lettered.insert({std::stoi(r.headers.at(kDeadLetterPartitionHeader)),
                     std::stoll(r.headers.at(kDeadLetterOffsetHeader))});
  }
  EXPECT_EQ(lettered, stream.bad);
  EXPECT_GE(letters.size(), stream.bad.size());
}

}  // namespace
}  // namespace vecstream
