// Kafka test support for the ingest tests: a Kafka-protocol broker in its own process (a DevBroker
// — librdkafka's mock cluster — in a forked child that dies with the test), a producer that
// records where every message landed, and a reader that collects a topic's records with their
// headers. Everything stays on 127.0.0.1.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ingest/dev_broker.h"

namespace vecstream::testing {

/// A DevBroker running in a forked child process. Fork it before the test process starts any
/// thread (librdkafka's included): the child must not inherit locks held by other threads.
class ForkedBroker {
 public:
  explicit ForkedBroker(std::vector<DevTopic> topics, int brokers = 1) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      if (::getppid() != parent) _exit(1);
      sigset_t stop;
      sigemptyset(&stop);
      sigaddset(&stop, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &stop, nullptr);
      DevBrokerOptions o;
      o.brokers = brokers;
      o.topics = std::move(topics);
      auto broker = DevBroker::start(o);
      if (!broker.is_ok()) _exit(2);
      const std::string line = (*broker)->bootstrap() + "\n";
      if (::write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(3);
      ::close(fds[1]);
      int sig = 0;
      sigwait(&stop, &sig);
      broker->reset();
      _exit(0);
    }
    ::close(fds[1]);
    if (pid_ < 0) {
      ::close(fds[0]);
      return;
    }
    // The bootstrap line, within 20 s.
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (got.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{fds[0], POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    if (auto nl = got.find('\n'); nl != std::string::npos) bootstrap_ = got.substr(0, nl);
  }
  ~ForkedBroker() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  ForkedBroker(const ForkedBroker&) = delete;
  ForkedBroker& operator=(const ForkedBroker&) = delete;

  bool ok() const { return !bootstrap_.empty(); }
  const std::string& bootstrap() const { return bootstrap_; }

 private:
  pid_t pid_ = -1;
  std::string bootstrap_;
};

/// An idempotent producer (per-partition order kept across retries) that records each
/// message's offset as the broker acknowledges it.
class TestProducer {
 public:
  explicit TestProducer(const std::string& bootstrap) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err));
    rd_kafka_conf_set(conf, "linger.ms", "1", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
      auto* self = static_cast<TestProducer*>(opaque);
      const size_t index = reinterpret_cast<size_t>(m->_private);
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++self->failures_;
        return;
      }
      self->offsets_[index] = m->offset;
      int64_t& last = self->last_[{rd_kafka_topic_name(m->rkt), m->partition}];
      last = std::max(last, m->offset);
    });
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  }
  ~TestProducer() {
    if (rk_ != nullptr) {
      rd_kafka_flush(rk_, 10000);
      rd_kafka_destroy(rk_);
    }
  }
  TestProducer(const TestProducer&) = delete;
  TestProducer& operator=(const TestProducer&) = delete;

  bool ok() const { return rk_ != nullptr; }

  /// Queues one message; returns its index (offset(index) once flushed). A null key sends none.
  size_t send(const std::string& topic, int32_t partition, const std::string* key,
              const std::string& value) {
    const size_t index = offsets_.size();
    offsets_.push_back(-1);
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_KEY(key ? const_cast<char*>(key->data()) : nullptr, key ? key->size() : 0),
          RD_KAFKA_V_VALUE(value.empty() ? nullptr : const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(index)), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        ++failures_;
        break;
      }
      rd_kafka_poll(rk_, 10);
    }
    rd_kafka_poll(rk_, 0);
    return index;
  }

  /// Waits until every message is acknowledged; true if all were.
  bool flush() { return rd_kafka_flush(rk_, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR && failures_ == 0; }

  int64_t offset(size_t index) const { return offsets_[index]; }
  /// The last acknowledged offset in topic/partition; -1 if none.
  int64_t last_offset(const std::string& topic, int32_t partition) const {
    auto it = last_.find({topic, partition});
    return it == last_.end() ? -1 : it->second;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  std::vector<int64_t> offsets_;  // by send() index
  std::map<std::pair<std::string, int32_t>, int64_t> last_;
  size_t failures_ = 0;
};

struct TopicRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  bool has_key = false;
  std::string key;
  bool has_value = false;
  std::string value;
  std::map<std::string, std::string> headers;
};

/// Reads `topic` (all `partitions`, from the start) until `expected` records came, or `timeout`;
/// then goes on for `linger` to catch records beyond the expected ones.
inline std::vector<TopicRecord> read_topic(const std::string& bootstrap, const std::string& topic,
                                           int partitions, size_t expected,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(20),
                                           std::chrono::milliseconds linger = std::chrono::milliseconds(300)) {
  std::vector<TopicRecord> out;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  const std::string group = "reader-" + std::to_string(std::random_device{}());
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (rk == nullptr) return out;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool lingering = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!lingering && out.size() >= expected) {
      lingering = true;
      deadline = std::chrono::steady_clock::now() + linger;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      TopicRecord r;
      r.partition = m->partition;
      r.offset = m->offset;
      r.has_key = m->key != nullptr;
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      r.has_value = m->payload != nullptr;
      if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* v = nullptr;
        size_t n = 0;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
          r.headers[name] = v ? std::string(static_cast<const char*>(v), n) : "";
        }
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

/// The offsets `group` has committed for `topic`'s partitions (-1 where none), asked of the
/// group coordinator without joining the group.
inline std::vector<int64_t> committed_offsets(const std::string& bootstrap, const std::string& group,
                                              const std::string& topic, int partitions) {
  std::vector<int64_t> out(static_cast<size_t>(partitions), -1);
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (rk == nullptr) return out;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  if (rd_kafka_committed(rk, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) {
      if (list->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[i].offset >= 0) {
        out[static_cast<size_t>(list->elems[i].partition)] = list->elems[i].offset;
      }
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  return out;
}

}  // namespace vecstream::testing
