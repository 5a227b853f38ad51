#include "serve/server_config.h"

#include <cstring>
#include <sstream>

#include <toml++/toml.h>

namespace vecstream {

namespace {

enum class Kind { kString, kInt, kBool };

struct KeySpec {
  const char* path;  // "section.key" or "key"
  Kind kind;
  int64_t lo, hi;    // integer range
  const char* help;
};

const KeySpec kKeys[] = {
    {"data_dir", Kind::kString, 0, 0, "directory of the collections"},
    {"log_level", Kind::kString, 0, 0, "debug | info | warn | error"},
    {"shutdown_grace_ms", Kind::kInt, 0, 600000, "drain time on SIGTERM before in-flight calls are cut"},
    {"http.enabled", Kind::kBool, 0, 0, "serve REST/JSON"},
    {"http.host", Kind::kString, 0, 0, "REST listen address"},
    {"http.port", Kind::kInt, 0, 65535, "REST port (0 = any free port)"},
    {"http.threads", Kind::kInt, 1, 1024, "REST worker threads"},
    {"http.max_body_bytes", Kind::kInt, 1024, int64_t{1} << 34, "largest REST request body"},
    {"http.keep_alive_timeout_s", Kind::kInt, 1, 3600,
     "seconds an idle kept-alive REST connection holds its worker"},
    {"http.keep_alive_max_requests", Kind::kInt, 1, int64_t{1} << 30,
     "requests one kept-alive REST connection carries before the server closes it"},
    {"http.tls_cert", Kind::kString, 0, 0, "PEM certificate: serve HTTPS"},
    {"http.tls_key", Kind::kString, 0, 0, "PEM private key for http.tls_cert"},
    {"grpc.enabled", Kind::kBool, 0, 0, "serve gRPC"},
    {"grpc.address", Kind::kString, 0, 0, "gRPC listen address host:port"},
    {"grpc.threads", Kind::kInt, 1, 1024, "gRPC worker threads"},
    {"grpc.max_message_bytes", Kind::kInt, 1024, int64_t{1} << 31, "largest gRPC message"},
    {"grpc.inline_search_max_ef", Kind::kInt, 0, 65536,
     "plain searches with max(ef, k) up to this run on gRPC's thread (0 = all on workers)"},
    {"grpc.tls_cert", Kind::kString, 0, 0, "PEM certificate: gRPC over TLS"},
    {"grpc.tls_key", Kind::kString, 0, 0, "PEM private key for grpc.tls_cert"},
    {"grpc.client_ca", Kind::kString, 0, 0, "PEM CA: require client certificates (mutual TLS)"},
    {"query.max_k", Kind::kInt, 1, 1000000, "largest k"},
    {"query.max_batch_queries", Kind::kInt, 1, 1000000, "largest search batch"},
    {"query.max_upsert_points", Kind::kInt, 1, 10000000, "largest upsert/delete request"},
    {"query.max_dim", Kind::kInt, 1, 65536, "largest collection dimension"},
    {"query.batch_window_us", Kind::kInt, 0, 1000000, "micro-batching window (0 = off)"},
    {"query.batch_max", Kind::kInt, 1, 4096, "queries per micro-batch"},
    {"cache.kind", Kind::kString, 0, 0, "none | lru | redis | tiered"},
    {"cache.lru_bytes", Kind::kInt, 0, int64_t{1} << 40, "in-process cache size"},
    {"cache.ttl_ms", Kind::kInt, 1, 86400000, "cached answers expire after this"},
    {"cache.redis_host", Kind::kString, 0, 0, "Redis host"},
    {"cache.redis_port", Kind::kInt, 1, 65535, "Redis port"},
    {"cache.redis_prefix", Kind::kString, 0, 0, "prefix of Vecstream's Redis keys"},
    {"embedder.kind", Kind::kString, 0, 0, "text queries: none | hashing | fasttext | remote"},
    {"embedder.dim", Kind::kInt, 0, 65536, "hashing: vector size (0 = 256); others: checked if set"},
    {"embedder.seed", Kind::kInt, 0, int64_t{1} << 62, "hashing: seed (0 = the default)"},
    {"embedder.model", Kind::kString, 0, 0, "fasttext: model file (.bin / .ftz)"},
    {"embedder.lowercase", Kind::kBool, 0, 0, "fasttext: lower-case ASCII before lookup"},
    {"embedder.address", Kind::kString, 0, 0, "remote: EmbeddingService host:port"},
    {"embedder.timeout_ms", Kind::kInt, 1, 600000, "remote: deadline of one embedding call"},
    {"kafka.bootstrap_servers", Kind::kString, 0, 0, "Kafka brokers host:port,... (empty = no ingestion)"},
    {"kafka.group_id", Kind::kString, 0, 0, "consumer group"},
    {"kafka.topics", Kind::kString, 0, 0, "topic[=collection],...: partition p feeds shard p"},
    {"kafka.format", Kind::kString, 0, 0, "event format: json | protobuf | avro"},
    {"kafka.avro_schema_dir", Kind::kString, 0, 0, "avro: writer schemas <schema-id>.avsc"},
    {"kafka.avro_reader_schema", Kind::kString, 0, 0, "avro: reader schema file (empty = built-in)"},
    {"kafka.batch_max_events", Kind::kInt, 1, 10000, "events applied as one shard write at most"},
    {"kafka.batch_max_ms", Kind::kInt, 1, 60000, "longest wait to fill a batch while one is being applied"},
    {"kafka.max_queued_events", Kind::kInt, 1, 10000000, "per partition; beyond it fetching pauses"},
    {"kafka.apply_threads", Kind::kInt, 0, 64, "decode/embed/write threads (0 = min(partitions, 4))"},
    {"kafka.initial_offset", Kind::kString, 0, 0, "earliest | latest, for partitions never applied"},
    {"kafka.embed_text", Kind::kBool, 0, 0, "embed events that carry text with the server's embedder"},
};

constexpr const char* kKafkaProperties = "kafka.properties.";

const KeySpec* find_key(const std::string& path) {
  for (const KeySpec& k : kKeys) {
    if (path == k.path) return &k;
  }
  // librdkafka's own properties pass through as strings; librdkafka checks them.
  static const KeySpec kProperty{kKafkaProperties, Kind::kString, 0, 0, "librdkafka property"};
  if (path.rfind(kKafkaProperties, 0) == 0 && path.size() > std::strlen(kKafkaProperties)) {
    return &kProperty;
  }
  return nullptr;
}

// "a,b=c" -> {a -> a}, {b -> c}.
Status parse_topics(const std::string& text, std::vector<ServerConfig::Kafka::Topic>* out) {
  out->clear();
  size_t i = 0;
  while (i <= text.size()) {
    size_t comma = text.find(',', i);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(i, comma - i);
    i = comma + 1;
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) {
      if (comma == text.size() && out->empty() && text.find_first_not_of(' ') == std::string::npos) break;
      return Status::invalid_argument("kafka.topics: empty entry in \"" + text + "\"");
    }
    ServerConfig::Kafka::Topic t;
    const size_t eq = item.find('=');
    t.topic = item.substr(0, eq);
    t.collection = eq == std::string::npos ? t.topic : item.substr(eq + 1);
    VS_RETURN_IF_ERROR(check_topic_name("kafka.topics", t.topic));
    if (t.collection.empty()) {
      return Status::invalid_argument("kafka.topics: empty collection name for topic " + t.topic);
    }
    for (const auto& other : *out) {
      if (other.topic == t.topic) return Status::invalid_argument("kafka.topics: topic " + t.topic + " given twice");
      if (other.collection == t.collection) {
        return Status::invalid_argument("kafka.topics: collection " + t.collection +
                                        " fed by two topics (" + other.topic + ", " + t.topic + ")");
      }
    }
    out->push_back(std::move(t));
  }
  return Status::ok();
}

// Flattens {"http": {"port": 1}} into {"http.port": 1}; api_keys stays a list.
Status flatten(const nlohmann::json& j, const std::string& prefix, nlohmann::json* flat,
               nlohmann::json* api_keys, const std::string& origin) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (prefix.empty() && it.key() == "api_keys") {
      *api_keys = it.value();
      continue;
    }
    if (it.value().is_object()) {
      VS_RETURN_IF_ERROR(flatten(it.value(), path, flat, api_keys, origin));
      continue;
    }
    if (!find_key(path)) return Status::invalid_argument(origin + ": unknown key \"" + path + "\"");
    (*flat)[path] = it.value();
  }
  return Status::ok();
}

// A value given as text (environment, --set): JSON if it parses as a scalar, else the string.
nlohmann::json text_value(const std::string& v) {
  nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
  if (!j.is_discarded() && (j.is_number() || j.is_boolean())) return j;
  return v;
}

Status set_override(const std::string& path, const std::string& value, const std::string& origin,
                    nlohmann::json* flat) {
  if (!find_key(path)) return Status::invalid_argument(origin + ": unknown key \"" + path + "\"");
  (*flat)[path] = text_value(value);
  return Status::ok();
}

template <typename T>
Status take_int(const nlohmann::json& flat, const char* path, T* out) {
  if (!flat.contains(path)) return Status::ok();
  const KeySpec* k = find_key(path);
  const auto& v = flat.at(path);
  if (!v.is_number_integer() || v.get<int64_t>() < k->lo || v.get<int64_t>() > k->hi) {
    return Status::invalid_argument(std::string(path) + ": must be an integer in [" +
                                    std::to_string(k->lo) + ", " + std::to_string(k->hi) + "]");
  }
  *out = static_cast<T>(v.get<int64_t>());
  return Status::ok();
}

Status take_string(const nlohmann::json& flat, const char* path, std::string* out) {
  if (!flat.contains(path)) return Status::ok();
  const auto& v = flat.at(path);
  if (!v.is_string()) return Status::invalid_argument(std::string(path) + ": must be a string");
  *out = v.get<std::string>();
  return Status::ok();
}

Status take_bool(const nlohmann::json& flat, const char* path, bool* out) {
  if (!flat.contains(path)) return Status::ok();
  const auto& v = flat.at(path);
  if (!v.is_boolean()) return Status::invalid_argument(std::string(path) + ": must be true or false");
  *out = v.get<bool>();
  return Status::ok();
}

}  // namespace

Result<ServerConfig> ServerConfig::from_toml(std::string_view toml_text, const char* const* env,
                                             const std::vector<std::string>& overrides) {
  nlohmann::json flat = nlohmann::json::object();
  nlohmann::json api_keys = nlohmann::json::array();
  if (!toml_text.empty()) {
    // Debian's toml++ is built with exceptions: parse errors arrive as toml::parse_error.
    toml::table parsed;
    try {
      parsed = toml::parse(toml_text);
    } catch (const toml::parse_error& err) {
      return Status::invalid_argument("config: " + std::string(err.description()) + " at line " +
                                      std::to_string(err.source().begin.line) + ", column " +
                                      std::to_string(err.source().begin.column));
    }
    std::ostringstream os;
    os << toml::json_formatter{parsed};
    nlohmann::json j = nlohmann::json::parse(os.str(), nullptr, false);
    if (j.is_discarded()) return Status::invalid_argument("config: cannot convert TOML");
    VS_RETURN_IF_ERROR(flatten(j, "", &flat, &api_keys, "config file"));
  }
  for (const char* const* e = env; e && *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("VECSTREAM_", 0) != 0) continue;
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = kv.substr(10, eq - 10);
    if (name == "SIMD" || name == "LOG_LEVEL_OVERRIDE" || name == "CRASH_CYCLES") continue;  // not server keys
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // Match VECSTREAM_HTTP_PORT to "http.port": try each section prefix.
    std::string path = name;
    for (const char* section : {"http_", "grpc_", "query_", "cache_", "embedder_", "kafka_"}) {
      if (name.rfind(section, 0) == 0) {
        path = std::string(section, std::strlen(section) - 1) + "." + name.substr(std::strlen(section));
      }
    }
    if (!find_key(path)) continue;  // other VECSTREAM_* variables belong to other tools
    VS_RETURN_IF_ERROR(set_override(path, kv.substr(eq + 1), "environment VECSTREAM_" + kv.substr(10, eq - 10), &flat));
  }
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos) {
      return Status::invalid_argument("--set " + o + ": expected section.key=value");
    }
    VS_RETURN_IF_ERROR(set_override(o.substr(0, eq), o.substr(eq + 1), "--set " + o, &flat));
  }

  ServerConfig c;
  VS_RETURN_IF_ERROR(take_string(flat, "data_dir", &c.data_dir));
  VS_RETURN_IF_ERROR(take_string(flat, "log_level", &c.log_level));
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error") {
    return Status::invalid_argument("log_level: debug, info, warn or error");
  }
  VS_RETURN_IF_ERROR(take_int(flat, "shutdown_grace_ms", &c.shutdown_grace_ms));
  VS_RETURN_IF_ERROR(take_bool(flat, "http.enabled", &c.http.enabled));
  VS_RETURN_IF_ERROR(take_string(flat, "http.host", &c.http.host));
  VS_RETURN_IF_ERROR(take_int(flat, "http.port", &c.http.port));
  VS_RETURN_IF_ERROR(take_int(flat, "http.threads", &c.http.threads));
  VS_RETURN_IF_ERROR(take_int(flat, "http.max_body_bytes", &c.http.max_body_bytes));
  VS_RETURN_IF_ERROR(take_int(flat, "http.keep_alive_timeout_s", &c.http.keep_alive_timeout_s));
  VS_RETURN_IF_ERROR(take_int(flat, "http.keep_alive_max_requests", &c.http.keep_alive_max_requests));
  VS_RETURN_IF_ERROR(take_string(flat, "http.tls_cert", &c.http.tls_cert));
  VS_RETURN_IF_ERROR(take_string(flat, "http.tls_key", &c.http.tls_key));
  if (c.http.tls_cert.empty() != c.http.tls_key.empty()) {
    return Status::invalid_argument("http.tls_cert and http.tls_key go together");
  }
  VS_RETURN_IF_ERROR(take_bool(flat, "grpc.enabled", &c.grpc.enabled));
  VS_RETURN_IF_ERROR(take_string(flat, "grpc.address", &c.grpc.address));
  VS_RETURN_IF_ERROR(take_int(flat, "grpc.threads", &c.grpc.threads));
  VS_RETURN_IF_ERROR(take_int(flat, "grpc.max_message_bytes", &c.grpc.max_message_bytes));
  VS_RETURN_IF_ERROR(take_int(flat, "grpc.inline_search_max_ef", &c.grpc.inline_search_max_ef));
  VS_RETURN_IF_ERROR(take_string(flat, "grpc.tls_cert", &c.grpc.tls_cert));
  VS_RETURN_IF_ERROR(take_string(flat, "grpc.tls_key", &c.grpc.tls_key));
  VS_RETURN_IF_ERROR(take_string(flat, "grpc.client_ca", &c.grpc.client_ca));
  if (c.grpc.tls_cert.empty() != c.grpc.tls_key.empty()) {
    return Status::invalid_argument("grpc.tls_cert and grpc.tls_key go together");
  }
  if (!c.grpc.client_ca.empty() && c.grpc.tls_cert.empty()) {
    return Status::invalid_argument("grpc.client_ca (mutual TLS) needs grpc.tls_cert and grpc.tls_key");
  }
  ServiceLimits& lim = c.service.limits;
  VS_RETURN_IF_ERROR(take_int(flat, "query.max_k", &lim.max_k));
  VS_RETURN_IF_ERROR(take_int(flat, "query.max_batch_queries", &lim.max_batch_queries));
  VS_RETURN_IF_ERROR(take_int(flat, "query.max_upsert_points", &lim.max_upsert_points));
  VS_RETURN_IF_ERROR(take_int(flat, "query.max_dim", &lim.max_dim));
  int64_t window_us = c.service.batch_window.count();
  VS_RETURN_IF_ERROR(take_int(flat, "query.batch_window_us", &window_us));
  c.service.batch_window = std::chrono::microseconds(window_us);
  VS_RETURN_IF_ERROR(take_int(flat, "query.batch_max", &c.service.batch_max));
  VS_RETURN_IF_ERROR(take_string(flat, "cache.kind", &c.cache.kind));
  if (c.cache.kind != "none" && c.cache.kind != "lru" && c.cache.kind != "redis" &&
      c.cache.kind != "tiered") {
    return Status::invalid_argument("cache.kind: none, lru, redis or tiered");
  }
  VS_RETURN_IF_ERROR(take_int(flat, "cache.lru_bytes", &c.cache.lru_bytes));
  VS_RETURN_IF_ERROR(take_int(flat, "cache.ttl_ms", &c.cache.ttl_ms));
  VS_RETURN_IF_ERROR(take_string(flat, "cache.redis_host", &c.cache.redis_host));
  VS_RETURN_IF_ERROR(take_int(flat, "cache.redis_port", &c.cache.redis_port));
  VS_RETURN_IF_ERROR(take_string(flat, "cache.redis_prefix", &c.cache.redis_prefix));
  VS_RETURN_IF_ERROR(take_string(flat, "embedder.kind", &c.embedder_kind));
  if (c.embedder_kind != "none" && c.embedder_kind != "hashing" && c.embedder_kind != "fasttext" &&
      c.embedder_kind != "remote") {
    return Status::invalid_argument("embedder.kind: none, hashing, fasttext or remote");
  }
  c.embedder.kind = c.embedder_kind;
  VS_RETURN_IF_ERROR(take_int(flat, "embedder.dim", &c.embedder.dim));
  VS_RETURN_IF_ERROR(take_int(flat, "embedder.seed", &c.embedder.seed));
  VS_RETURN_IF_ERROR(take_string(flat, "embedder.model", &c.embedder.model));
  VS_RETURN_IF_ERROR(take_bool(flat, "embedder.lowercase", &c.embedder.lowercase));
  VS_RETURN_IF_ERROR(take_string(flat, "embedder.address", &c.embedder.address));
  VS_RETURN_IF_ERROR(take_int(flat, "embedder.timeout_ms", &c.embedder.timeout_ms));
  if (c.embedder_kind == "fasttext" && c.embedder.model.empty()) {
    return Status::invalid_argument("embedder.model: kind fasttext needs a model file");
  }
  if (c.embedder_kind == "remote" && c.embedder.address.empty()) {
    return Status::invalid_argument("embedder.address: kind remote needs host:port");
  }

  KafkaSourceOptions& ks = c.kafka.source;
  ks.group_id = "vecstream";
  std::string topics;
  VS_RETURN_IF_ERROR(take_string(flat, "kafka.bootstrap_servers", &ks.bootstrap_servers));
  VS_RETURN_IF_ERROR(take_string(flat, "kafka.group_id", &ks.group_id));
  VS_RETURN_IF_ERROR(take_string(flat, "kafka.topics", &topics));
  VS_RETURN_IF_ERROR(take_string(flat, "kafka.format", &ks.format));
  VS_RETURN_IF_ERROR(take_string(flat, "kafka.avro_schema_dir", &ks.avro_schema_dir));
  VS_RETURN_IF_ERROR(take_string(flat, "kafka.avro_reader_schema", &ks.avro_reader_schema));
  VS_RETURN_IF_ERROR(take_int(flat, "kafka.batch_max_events", &ks.batch_max_events));
  VS_RETURN_IF_ERROR(take_int(flat, "kafka.batch_max_ms", &ks.batch_max_ms));
  VS_RETURN_IF_ERROR(take_int(flat, "kafka.max_queued_events", &ks.max_queued_events));
  VS_RETURN_IF_ERROR(take_int(flat, "kafka.apply_threads", &ks.apply_threads));
  VS_RETURN_IF_ERROR(take_string(flat, "kafka.initial_offset", &ks.initial_offset));
  VS_RETURN_IF_ERROR(take_bool(flat, "kafka.embed_text", &c.kafka.embed_text));
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    if (it.key().rfind(kKafkaProperties, 0) != 0) continue;
    const std::string name = it.key().substr(std::strlen(kKafkaProperties));
    if (it.value().is_string()) {
      ks.properties[name] = it.value().get<std::string>();
    } else if (it.value().is_number() || it.value().is_boolean()) {
      ks.properties[name] = it.value().dump();  // TOML 3000 or true: librdkafka wants text
    } else {
      return Status::invalid_argument(it.key() + ": must be a string, number or bool");
    }
  }
  VS_RETURN_IF_ERROR(parse_topics(topics, &c.kafka.topics));
  if (c.kafka.enabled() == ks.bootstrap_servers.empty()) {
    return Status::invalid_argument(ks.bootstrap_servers.empty()
                                        ? "kafka.topics needs kafka.bootstrap_servers"
                                        : "kafka.bootstrap_servers needs kafka.topics");
  }
  for (const auto& t : c.kafka.topics) {
    VS_RETURN_IF_ERROR(c.kafka.options_for(t).validate());
  }
  if (c.kafka.enabled() && c.kafka.embed_text && c.embedder_kind == "none") {
    c.kafka.embed_text = false;  // text events become dead letters: "no embedder configured"
  }

  if (!api_keys.is_array()) return Status::invalid_argument("api_keys: must be an array of tables");
  c.api_keys = api_keys;
  return c;
}

KafkaSourceOptions ServerConfig::Kafka::options_for(const Topic& t) const {
  KafkaSourceOptions o = source;
  o.topic = t.topic;
  o.dlq_topic.clear();
  return o;
}

Result<ServerConfig> ServerConfig::load(const std::string& toml_path, const char* const* env,
                                        const std::vector<std::string>& overrides) {
  std::string text;
  if (!toml_path.empty()) {
    try {
      toml::table parsed = toml::parse_file(toml_path);
      std::ostringstream os;
      os << parsed;
      text = os.str();
    } catch (const toml::parse_error& err) {
      return Status::invalid_argument(toml_path + ": " + std::string(err.description()) +
                                      " at line " + std::to_string(err.source().begin.line));
    }
  }
  auto c = from_toml(text, env, overrides);
  if (!c.is_ok() && !toml_path.empty()) {
    return Status(c.status().code(), toml_path + ": " + c.status().message());
  }
  return c;
}

nlohmann::json ServerConfig::kafka_json() const {
  const KafkaSourceOptions& s = kafka.source;
  std::string topics;
  for (const auto& t : kafka.topics) {
    if (!topics.empty()) topics += ",";
    topics += t.topic + (t.collection == t.topic ? "" : "=" + t.collection);
  }
  nlohmann::json props = nlohmann::json::object();
  for (const auto& [k, v] : s.properties) {
    const bool secret = k.find("password") != std::string::npos || k.find("secret") != std::string::npos ||
                        k.find("sasl.oauthbearer.config") != std::string::npos;
    props[k] = secret ? "***" : v;
  }
  return {{"bootstrap_servers", s.bootstrap_servers}, {"group_id", s.group_id}, {"topics", topics},
          {"format", s.format}, {"avro_schema_dir", s.avro_schema_dir},
          {"avro_reader_schema", s.avro_reader_schema}, {"batch_max_events", s.batch_max_events},
          {"batch_max_ms", s.batch_max_ms}, {"max_queued_events", s.max_queued_events},
          {"apply_threads", s.apply_threads}, {"initial_offset", s.initial_offset},
          {"embed_text", kafka.embed_text}, {"properties", props}};
}

nlohmann::json ServerConfig::to_json() const {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& k : api_keys) {
    nlohmann::json m = k;
    if (m.is_object() && m.contains("key")) m["key"] = "***";
    keys.push_back(m);
  }
  return {{"data_dir", data_dir},
          {"log_level", log_level},
          {"shutdown_grace_ms", shutdown_grace_ms},
          {"http", {{"enabled", http.enabled}, {"host", http.host}, {"port", http.port},
                    {"threads", http.threads}, {"max_body_bytes", http.max_body_bytes},
                    {"keep_alive_timeout_s", http.keep_alive_timeout_s},
                    {"keep_alive_max_requests", http.keep_alive_max_requests},
                    {"tls", !http.tls_cert.empty()}}},
          {"grpc", {{"enabled", grpc.enabled}, {"address", grpc.address}, {"threads", grpc.threads},
                    {"max_message_bytes", grpc.max_message_bytes},
                    {"inline_search_max_ef", grpc.inline_search_max_ef}, {"tls", !grpc.tls_cert.empty()},
                    {"mutual_tls", !grpc.client_ca.empty()}}},
          {"query", {{"max_k", service.limits.max_k},
                     {"max_batch_queries", service.limits.max_batch_queries},
                     {"max_upsert_points", service.limits.max_upsert_points},
                     {"max_dim", service.limits.max_dim},
                     {"batch_window_us", service.batch_window.count()},
                     {"batch_max", service.batch_max}}},
          {"cache", {{"kind", cache.kind}, {"lru_bytes", cache.lru_bytes}, {"ttl_ms", cache.ttl_ms},
                     {"redis_host", cache.redis_host}, {"redis_port", cache.redis_port},
                     {"redis_prefix", cache.redis_prefix}}},
          {"embedder", {{"kind", embedder_kind}, {"dim", embedder.dim}, {"seed", embedder.seed},
                        {"model", embedder.model}, {"lowercase", embedder.lowercase},
                        {"address", embedder.address}, {"timeout_ms", embedder.timeout_ms}}},
          {"kafka", kafka_json()},
          {"api_keys", keys}};
}

std::string ServerConfig::describe_keys() {
  std::string out = "Configuration keys (TOML file, VECSTREAM_<SECTION>_<KEY>, or --set section.key=value):\n";
  for (const KeySpec& k : kKeys) {
    char line[256];
    std::snprintf(line, sizeof(line), "  %-26s %-7s %s\n", k.path,
                  k.kind == Kind::kString ? "string" : k.kind == Kind::kInt ? "integer" : "bool", k.help);
    out += line;
  }
  out += "  kafka.properties.NAME      string  any librdkafka property (sasl.*, ssl.*, ...)\n";
  out += "  [[api_keys]]               table   name, key (>= 16 chars), role read|write|admin, collections\n";
  return out;
}

}  // namespace vecstream
