// ServerConfig: everything `vecstream serve` can be told, from three sources, later ones winning:
//   1. a TOML file (--config FILE),
//   2. environment variables VECSTREAM_<SECTION>_<KEY> (e.g. VECSTREAM_HTTP_PORT=9000,
//      VECSTREAM_DATA_DIR=/var/lib/vecstream),
//   3. flags: the named ones of `vecstream serve` and any number of --set section.key=value.
// Every key is known in advance: an unknown key or a value of the wrong type or range is a clear
// error at start, naming the key and where it came from. `vecstream serve --help` lists them
// (describe_keys()).
//
// TOML layout (all optional; defaults = the embedded default: localhost only, no TLS, no keys):
//   data_dir = "./vecstream-data"
//   log_level = "info"                  # debug | info | warn | error
//   shutdown_grace_ms = 10000
//   [http]  enabled, host, port, threads, max_body_bytes, keep_alive_timeout_s,
//           keep_alive_max_requests, tls_cert, tls_key
//   [grpc]  enabled, address, threads, max_message_bytes, inline_search_max_ef, tls_cert, tls_key,
//           client_ca
//   [query] max_k, max_batch_queries, max_upsert_points, max_dim, batch_window_us, batch_max
//   [cache] kind (none | lru | redis | tiered), lru_bytes, ttl_ms, redis_host, redis_port,
//           redis_prefix
//   [embedder] kind (none | hashing | fasttext | remote), dim, seed, model, lowercase, address,
//           timeout_ms — the embedder of text queries ({"text": ...} instead of a vector)
//   [kafka] bootstrap_servers, group_id, topics ("topic[=collection],..."), format, avro_schema_dir,
//           avro_reader_schema, batch_max_events, batch_max_ms, max_queued_events, apply_threads,
//           initial_offset, embed_text — streaming ingestion (ingest/kafka_source.h); off while
//           bootstrap_servers is empty
//   [kafka.properties] any librdkafka property (security.protocol, sasl.*, ssl.*, ...), as strings
//   [[api_keys]] name, key, role (read | write | admin), collections = [...]
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "embed/embedder_factory.h"
#include "ingest/kafka_source_options.h"
#include "serve/service.h"

namespace vecstream {

struct ServerConfig {
  std::string data_dir = "./vecstream-data";
  std::string log_level = "info";
  uint32_t shutdown_grace_ms = 10000;

  struct Http {
    bool enabled = true;
    std::string host = "127.0.0.1";
    int port = 8080;
    size_t threads = 4;
    size_t max_body_bytes = 64u << 20;
    int keep_alive_timeout_s = 5;             // RestServer::Options
    size_t keep_alive_max_requests = 10000;   // RestServer::Options
    std::string tls_cert, tls_key;
  } http;

  struct Grpc {
    bool enabled = true;
    std::string address = "127.0.0.1:50051";
    size_t threads = 4;
    size_t max_message_bytes = 64u << 20;
    size_t inline_search_max_ef = 256;  // GrpcServer::Options
    std::string tls_cert, tls_key, client_ca;
  } grpc;

  ServiceOptions service;

  struct Cache {
    std::string kind = "lru";
    size_t lru_bytes = 256u << 20;
    uint32_t ttl_ms = 60000;
    std::string redis_host = "127.0.0.1";
    int redis_port = 6379;
    std::string redis_prefix = "vecstream:";
  } cache;

  /// Text queries: the embedder that turns a query's text into its vector. "none" refuses text
  /// queries; the default is the built-in hashing embedder (256-d, no model files).
  std::string embedder_kind = "hashing";
  EmbedderSpec embedder;  // its parameters (embedder.kind mirrors embedder_kind unless "none")

  /// Streaming ingestion from Kafka: one KafkaSource per topic, each feeding its collection.
  struct Kafka {
    struct Topic {
      std::string topic;
      std::string collection;  // defaults to the topic's name
    };
    std::vector<Topic> topics;  // empty = no Kafka ingestion
    /// Everything but topic: bootstrap_servers, group_id, format, batching, properties, ...
    KafkaSourceOptions source;
    /// Events that carry text and no vector go through the server's embedder (embedder.*).
    bool embed_text = true;

    bool enabled() const { return !topics.empty(); }
    /// The options of one topic's source (dead letters go to "<topic>.dlq").
    KafkaSourceOptions options_for(const Topic& t) const;
  } kafka;

  nlohmann::json api_keys = nlohmann::json::array();

  /// Builds the configuration from a TOML file (empty path = none), the process environment
  /// (`env`, a null-terminated array like environ; null = none) and "section.key=value" overrides.
  static Result<ServerConfig> load(const std::string& toml_path, const char* const* env,
                                   const std::vector<std::string>& overrides);
  /// Same from TOML text (tests).
  static Result<ServerConfig> from_toml(std::string_view toml_text, const char* const* env,
                                        const std::vector<std::string>& overrides);
  /// The effective configuration (API keys masked), for logs and `serve --print-config`.
  nlohmann::json to_json() const;
  /// The [kafka] part of to_json() (secret-looking properties masked).
  nlohmann::json kafka_json() const;
  /// One line per key: name, type, default — the text of `vecstream serve --help`.
  static std::string describe_keys();
};

}  // namespace vecstream
