#include "app/serve_command.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>

#include "app/stream_ingest.h"
#include "embed/embedder_factory.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "segment/catalog.h"
#include "serve/api_keys.h"
#include "serve/grpc_server.h"
#include "serve/lru_cache.h"
#include "serve/redis_cache.h"
#include "serve/rest_server.h"
#include "serve/server_config.h"
#include "serve/service.h"
#include "serve/tiered_cache.h"

extern char** environ;

namespace vecstream {

namespace {

std::unique_ptr<ResultCache> make_cache(const ServerConfig::Cache& c) {
  if (c.kind == "none") return nullptr;
  auto lru = [&] {
    LruCacheOptions o;
    o.max_bytes = c.lru_bytes;
    o.ttl = std::chrono::milliseconds(c.ttl_ms);
    return std::make_unique<LruCache>(o);
  };
  auto redis = [&] {
    RedisCacheOptions o;
    o.host = c.redis_host;
    o.port = c.redis_port;
    o.key_prefix = c.redis_prefix;
    o.ttl = std::chrono::milliseconds(c.ttl_ms);
    return std::make_unique<RedisCache>(o);
  };
  if (c.kind == "lru") return lru();
  if (c.kind == "redis") return redis();
  return std::make_unique<TieredCache>(lru(), redis());
}

int fail(const std::string& what, const Status& st) {
  obs::log_error(what, {{"error", st.to_string()}});
  std::fprintf(stderr, "vecstream serve: %s: %s\n", what.c_str(), st.to_string().c_str());
  return 1;
}

}  // namespace

void block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server
}

int run_serve(const ServeArgs& args) {
  auto config = ServerConfig::load(args.config_file, environ, args.overrides);
  if (!config.is_ok()) return fail("invalid configuration", config.status());
  if (args.print_config) {
    std::printf("%s\n", config->to_json().dump(2).c_str());
    return 0;
  }
  if (auto level = obs::parse_log_level(config->log_level)) obs::default_logger().set_level(*level);

  auto keys = ApiKeys::from_json(config->api_keys);
  if (!keys.is_ok()) return fail("invalid api_keys", keys.status());

  const auto t0 = std::chrono::steady_clock::now();
  auto catalog = Catalog::open(config->data_dir);
  if (!catalog.is_ok()) return fail("cannot open the data directory " + config->data_dir, catalog.status());
  obs::log_info("catalog open",
                {{"data_dir", config->data_dir},
                 {"collections", static_cast<uint64_t>((*catalog)->list().size())},
                 {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}});

  std::unique_ptr<Embedder> embedder;
  if (config->embedder_kind != "none") {
    auto e = make_embedder(config->embedder);
    if (!e.is_ok()) return fail("cannot create the embedder", e.status());
    embedder = std::move(*e);
    obs::log_info("embedder ready", {{"embedder", embedder->name()},
                                     {"dim", static_cast<uint64_t>(embedder->dimension())}});
  }

  obs::MetricsRegistry metrics;
  std::unique_ptr<ResultCache> cache = make_cache(config->cache);
  Service service(**catalog, config->service, &metrics, cache.get(), embedder.get());
  std::atomic<bool> ready{false};

  std::unique_ptr<RestServer> rest;
  if (config->http.enabled) {
    RestServer::Options o;
    o.host = config->http.host;
    o.port = config->http.port;
    o.threads = config->http.threads;
    o.max_body_bytes = config->http.max_body_bytes;
    o.keep_alive_timeout_s = config->http.keep_alive_timeout_s;
    o.keep_alive_max_requests = config->http.keep_alive_max_requests;
    o.tls_cert_file = config->http.tls_cert;
    o.tls_key_file = config->http.tls_key;
    o.metrics_text = [&metrics] { return metrics.expose(); };
    o.ready = [&ready] { return ready.load(); };
    auto r = RestServer::start(service, *keys, o);
    if (!r.is_ok()) return fail("cannot start REST", r.status());
    rest = std::move(*r);
    obs::log_info("REST listening", {{"host", config->http.host},
                                     {"port", static_cast<int64_t>(rest->port())},
                                     {"tls", !config->http.tls_cert.empty()}});
  }
  std::unique_ptr<GrpcServer> grpc;
  if (config->grpc.enabled) {
    GrpcServer::Options o;
    o.address = config->grpc.address;
    o.threads = config->grpc.threads;
    o.max_message_bytes = config->grpc.max_message_bytes;
    o.inline_search_max_ef = config->grpc.inline_search_max_ef;
    o.tls_cert_file = config->grpc.tls_cert;
    o.tls_key_file = config->grpc.tls_key;
    o.client_ca_file = config->grpc.client_ca;
    auto g = GrpcServer::start(service, *keys, o);
    if (!g.is_ok()) {
      if (rest) rest->stop();
      return fail("cannot start gRPC", g.status());
    }
    grpc = std::move(*g);
    obs::log_info("gRPC listening", {{"address", config->grpc.address},
                                     {"port", static_cast<int64_t>(grpc->port())},
                                     {"tls", !config->grpc.tls_cert.empty()},
                                     {"mutual_tls", !config->grpc.client_ca.empty()}});
  }
  std::unique_ptr<StreamIngest> ingest;
  if (config->kafka.enabled()) {
    auto in = StreamIngest::start(config->kafka, catalog->get(), embedder.get(), &metrics);
    if (!in.is_ok()) {
      if (grpc) grpc->stop(std::chrono::milliseconds(0));
      if (rest) rest->stop();
      return fail("cannot start Kafka ingestion", in.status());
    }
    ingest = std::move(*in);
    obs::log_info("kafka ingestion configured",
                  {{"bootstrap_servers", config->kafka.source.bootstrap_servers},
                   {"topics", config->kafka_json()["topics"].get<std::string>()}});
  }
  ready = true;
  std::printf("vecstream serving: REST %s:%d, gRPC %s (port %d); SIGTERM to stop\n",
              config->http.host.c_str(), rest ? rest->port() : 0, config->grpc.address.c_str(),
              grpc ? grpc->port() : 0);
  std::fflush(stdout);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);

  obs::log_info("shutting down", {{"signal", static_cast<int64_t>(sig)}});
  ready = false;
  if (grpc) grpc->stop(std::chrono::milliseconds(config->shutdown_grace_ms));
  if (rest) rest->stop();
  ingest.reset();  // leaves the consumer group; no write after this
  Status st = (*catalog)->close();
  if (!st.is_ok()) return fail("checkpoint at shutdown", st);
  obs::log_info("stopped cleanly");
  return 0;
}

}  // namespace vecstream
