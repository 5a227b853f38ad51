#include "ingest/dev_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cctype>
#include <charconv>

#include "ingest/kafka_client.h"

namespace vecstream {

struct DevBroker::Impl {
  kafka::Handle rk;  // the handle the mock cluster keeps its books on; destroyed after it
  rd_kafka_mock_cluster_t* cluster = nullptr;
  ~Impl() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
  }
};

namespace {

Status check_topic(const DevTopic& t) {
  if (t.name.empty() || t.name.size() > 249) {
    return Status::invalid_argument("topic name must have 1 to 249 characters");
  }
  for (char c : t.name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return Status::invalid_argument("topic \"" + t.name +
                                      "\": only letters, digits, '.', '_' and '-' are allowed");
    }
  }
  if (t.partitions < 1 || t.partitions > 1024) {
    return Status::invalid_argument("topic \"" + t.name + "\": partitions must be in [1, 1024]");
  }
  return Status::ok();
}

}  // namespace

DevBroker::DevBroker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

DevBroker::~DevBroker() = default;

Result<std::unique_ptr<DevBroker>> DevBroker::start(const DevBrokerOptions& options) {
  if (options.brokers < 1 || options.brokers > 16) {
    return Status::invalid_argument("brokers must be in [1, 16]");
  }
  for (const DevTopic& t : options.topics) VS_RETURN_IF_ERROR(check_topic(t));
  // The handle only hosts the cluster: no bootstrap servers, quiet logs.
  auto conf = kafka::make_conf({{"log_level", "3"}});
  if (!conf.is_ok()) return conf.status();
  auto rk = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk.is_ok()) return rk.status();
  auto impl = std::make_unique<Impl>();
  impl->rk = std::move(*rk);
  impl->cluster = rd_kafka_mock_cluster_new(impl->rk.get(), options.brokers);
  if (impl->cluster == nullptr) return Status::internal("librdkafka could not start a mock cluster");
  std::unique_ptr<DevBroker> broker(new DevBroker(std::move(impl)));
  for (const DevTopic& t : options.topics) VS_RETURN_IF_ERROR(broker->create_topic(t));
  return broker;
}

Status DevBroker::create_topic(const DevTopic& topic) {
  VS_RETURN_IF_ERROR(check_topic(topic));
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(impl_->cluster, topic.name.c_str(), topic.partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::invalid_argument("topic \"" + topic.name + "\": " + rd_kafka_err2str(err));
  }
  return Status::ok();
}

Result<DevTopic> DevBroker::parse_topic(const std::string& spec) {
  DevTopic t;
  const size_t colon = spec.rfind(':');
  t.name = spec.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string n = spec.substr(colon + 1);
    int v = 0;
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
    if (n.empty() || ec != std::errc() || end != n.data() + n.size()) {
      return Status::invalid_argument("topic \"" + spec + "\": expected NAME:PARTITIONS");
    }
    t.partitions = v;
  }
  VS_RETURN_IF_ERROR(check_topic(t));
  return t;
}

}  // namespace vecstream
