#include "ingest/kafka_client.h"

#include <cstring>

#include "obs/log.h"

namespace vecstream::kafka {

Status set_conf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    return Status::invalid_argument("kafka property \"" + key + "\": " + err);
  }
  return Status::ok();
}

Result<Conf> make_conf(const std::map<std::string, std::string>& props) {
  Conf conf(rd_kafka_conf_new());
  for (const auto& [k, v] : props) VS_RETURN_IF_ERROR(set_conf(conf.get(), k, v));
  return conf;
}

void set_log_callback(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
    const char* client = rk != nullptr ? rd_kafka_name(rk) : "";
    // One property map serves the consumer and its dead-letter producer, so the producer's
    // "consumer property ... will be ignored" warnings are expected: debug, not warn.
    if (std::strcmp(fac, "CONFWARN") == 0 && std::strstr(buf, "will be ignored by this producer")) {
      level = 7;
    }
    // syslog levels: 0..3 errors, 4 warnings, 5..6 notices and info, 7 debug.
    if (level <= 3) {
      obs::log_error(buf, {{"kafka_client", client}, {"facility", fac}});
    } else if (level == 4) {
      obs::log_warn(buf, {{"kafka_client", client}, {"facility", fac}});
    } else if (level <= 6) {
      obs::log_info(buf, {{"kafka_client", client}, {"facility", fac}});
    } else {
      obs::log_debug(buf, {{"kafka_client", client}, {"facility", fac}});
    }
  });
}

Result<Handle> make_handle(rd_kafka_type_t type, Conf conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof(err));
  if (rk == nullptr) return Status::invalid_argument(std::string("kafka client: ") + err);
  conf.release();  // rd_kafka_new took it
  return Handle(rk);
}

Result<int> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  // The whole cluster's metadata, not the topic's: asking for a topic by name makes a broker
  // with auto.create.topics.enable (and the dev broker) create it.
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::io_error("kafka metadata (looking for topic \"" + topic + "\"): " +
                            rd_kafka_err2str(err));
  }
  Metadata hold(md);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& mt = md->topics[i];
    if (topic != mt.topic) continue;
    if (mt.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || mt.partition_cnt == 0) break;
    if (mt.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::io_error("kafka topic \"" + topic + "\": " + rd_kafka_err2str(mt.err));
    }
    return mt.partition_cnt;
  }
  return Status::not_found("kafka topic \"" + topic + "\" does not exist");
}

std::string source_name(const std::string& topic, int32_t partition) {
  return topic + "/" + std::to_string(partition);
}

}  // namespace vecstream::kafka
