// ServerConfig: TOML, environment and --set overrides in that order; unknown keys and bad values
// are clear errors naming the key.
#include "serve/server_config.h"

#include <gtest/gtest.h>

namespace vecstream {
namespace {

TEST(ServerConfigTest, DefaultsAreTheEmbeddedLocalhostSetup) {
  auto c = ServerConfig::from_toml("", nullptr, {});
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->http.host, "127.0.0.1");
  EXPECT_EQ(c->http.port, 8080);
  EXPECT_EQ(c->grpc.address, "127.0.0.1:50051");
  EXPECT_TRUE(c->api_keys.empty());
  EXPECT_NE(ServerConfig::describe_keys().find("http.port"), std::string::npos);
  EXPECT_EQ(c->embedder_kind, "hashing");  // text queries work out of the box
  EXPECT_NE(ServerConfig::describe_keys().find("embedder.kind"), std::string::npos);
}

TEST(ServerConfigTest, EmbedderSection) {
  const char* env[] = {"VECSTREAM_EMBEDDER_DIM=128", nullptr};
  auto c = ServerConfig::from_toml("[embedder]\nkind = \"remote\"\naddress = \"127.0.0.1:1\"\n", env,
                                   {"embedder.timeout_ms=500"});
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->embedder_kind, "remote");
  EXPECT_EQ(c->embedder.kind, "remote");
  EXPECT_EQ(c->embedder.address, "127.0.0.1:1");
  EXPECT_EQ(c->embedder.dim, 128u);
  EXPECT_EQ(c->embedder.timeout_ms, 500u);
  EXPECT_EQ(c->to_json()["embedder"]["kind"], "remote");
  auto none = ServerConfig::from_toml("", nullptr, {"embedder.kind=none"});
  ASSERT_TRUE(none.is_ok());
  EXPECT_EQ(none->embedder_kind, "none");
}

TEST(ServerConfigTest, FileThenEnvironmentThenFlags) {
  const char* toml = R"(
data_dir = "/srv/vs"
[http]
port = 9000
threads = 8
keep_alive_max_requests = 500
[cache]
kind = "redis"
redis_port = 6400
[[api_keys]]
name = "reader"
key = "0123456789abcdef0123"
role = "read"
)";
  const char* env[] = {"VECSTREAM_HTTP_PORT=9100", "VECSTREAM_QUERY_MAX_K=50", "PATH=/bin",
                       "VECSTREAM_HTTP_KEEP_ALIVE_TIMEOUT_S=30",
                       "VECSTREAM_GRPC_INLINE_SEARCH_MAX_EF=0", "VECSTREAM_SIMD=avx2", nullptr};
  auto c = ServerConfig::from_toml(toml, env, {"http.port=9200", "grpc.enabled=false"});
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->data_dir, "/srv/vs");
  EXPECT_EQ(c->http.port, 9200);     // flag beats environment beats file
  EXPECT_EQ(c->http.threads, 8u);
  EXPECT_EQ(c->http.keep_alive_max_requests, 500u);
  EXPECT_EQ(c->http.keep_alive_timeout_s, 30);
  EXPECT_EQ(c->grpc.inline_search_max_ef, 0u);
  EXPECT_EQ(c->to_json()["grpc"]["inline_search_max_ef"], 0);
  EXPECT_EQ(c->to_json()["http"]["keep_alive_max_requests"], 500);
  EXPECT_EQ(c->service.limits.max_k, 50u);
  EXPECT_FALSE(c->grpc.enabled);
  EXPECT_EQ(c->cache.kind, "redis");
  EXPECT_EQ(c->cache.redis_port, 6400);
  ASSERT_EQ(c->api_keys.size(), 1u);
  EXPECT_EQ(c->to_json()["api_keys"][0]["key"], "***");
}

TEST(ServerConfigTest, KafkaSection) {
  auto off = ServerConfig::from_toml("", nullptr, {});
  ASSERT_TRUE(off.is_ok());
  EXPECT_FALSE(off->kafka.enabled());  // the embedded default ingests over the API only

  const char* toml = R"(
[kafka]
bootstrap_servers = "127.0.0.1:9092"
topics = "articles, images=fashion"
batch_max_ms = 5
[kafka.properties]
"session.timeout.ms" = 6000
security.protocol = "plaintext"
"sasl.password" = "hunter2hunter2"
)";
  const char* env[] = {"VECSTREAM_KAFKA_GROUP_ID=g1", nullptr};
  auto c = ServerConfig::from_toml(toml, env, {"kafka.format=protobuf", "kafka.properties.client.id=vs-1"});
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  ASSERT_TRUE(c->kafka.enabled());
  ASSERT_EQ(c->kafka.topics.size(), 2u);
  EXPECT_EQ(c->kafka.topics[0].topic, "articles");
  EXPECT_EQ(c->kafka.topics[0].collection, "articles");  // defaults to the topic's name
  EXPECT_EQ(c->kafka.topics[1].topic, "images");
  EXPECT_EQ(c->kafka.topics[1].collection, "fashion");
  const KafkaSourceOptions o = c->kafka.options_for(c->kafka.topics[1]);
  EXPECT_EQ(o.topic, "images");
  EXPECT_EQ(o.dead_letter_topic(), "images.dlq");
  EXPECT_EQ(o.bootstrap_servers, "127.0.0.1:9092");
  EXPECT_EQ(o.group_id, "g1");
  EXPECT_EQ(o.format, "protobuf");
  EXPECT_EQ(o.batch_max_ms, 5u);
  EXPECT_EQ(o.properties.at("session.timeout.ms"), "6000");  // a TOML integer passes as text
  EXPECT_EQ(o.properties.at("security.protocol"), "plaintext");  // dotted TOML keys too
  EXPECT_EQ(o.properties.at("client.id"), "vs-1");
  EXPECT_TRUE(c->kafka.embed_text);
  const auto j = c->to_json()["kafka"];
  EXPECT_EQ(j["topics"], "articles,images=fashion");
  EXPECT_EQ(j["properties"]["sasl.password"], "***");
  EXPECT_NE(ServerConfig::describe_keys().find("kafka.topics"), std::string::npos);
}

TEST(ServerConfigTest, BadConfigurationsAreClearErrors) {
  struct Case {
    const char* toml;
    std::vector<std::string> sets;
    const char* needle;
  };
  const Case cases[] = {
      {"[http]\nprot = 1\n", {}, "http.prot"},
      {"[http]\nport = 70000\n", {}, "http.port"},
      {"[http]\nport = \"x\"\n", {}, "http.port"},
      {"[http]\nkeep_alive_max_requests = 0\n", {}, "http.keep_alive_max_requests"},
      {"", {"http.keep_alive_timeout_s=-1"}, "http.keep_alive_timeout_s"},
      {"[grpc]\ninline_search_max_ef = 70000\n", {}, "grpc.inline_search_max_ef"},
      {"log_level = \"loud\"\n", {}, "log_level"},
      {"[cache]\nkind = \"memcached\"\n", {}, "cache.kind"},
      {"[grpc]\nclient_ca = \"/ca.pem\"\n", {}, "mutual TLS"},
      {"[http]\ntls_cert = \"/c.pem\"\n", {}, "tls_key"},
      {"this is not toml", {}, "line 1"},
      {"", {"nokey"}, "section.key=value"},
      {"", {"grpc.adress=x"}, "grpc.adress"},
      {"[embedder]\nkind = \"bert\"\n", {}, "embedder.kind"},
      {"[embedder]\nkind = \"fasttext\"\n", {}, "embedder.model"},
      {"[embedder]\nkind = \"remote\"\n", {}, "embedder.address"},
      {"", {"embedder.dim=-1"}, "embedder.dim"},
      {"", {"embedder.lowercase=maybe"}, "embedder.lowercase"},
      {"", {"kafka.topics=events"}, "kafka.bootstrap_servers"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1"}, "kafka.topics"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1", "kafka.topics=a,,b"}, "empty entry"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1", "kafka.topics=bad topic!"}, "kafka.topics"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1", "kafka.topics=a,a"}, "given twice"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1", "kafka.topics=a=c,b=c"}, "fed by two topics"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1", "kafka.topics=a", "kafka.format=xml"}, "xml"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1", "kafka.topics=a", "kafka.initial_offset=now"}, "initial_offset"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1", "kafka.topics=a", "kafka.batch_max_events=0"}, "kafka.batch_max_events"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1", "kafka.topics=a", "kafka.properties.no.such.key=1"}, "no.such.key"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1", "kafka.topics=a", "kafka.properties.group.id=x"}, "group.id"},
      {"", {"kafka.bootstrap_servers=127.0.0.1:1", "kafka.topics=a", "kafka.format=avro"}, "avro"},
  };
  for (const Case& c : cases) {
    auto r = ServerConfig::from_toml(c.toml, nullptr, c.sets);
    ASSERT_FALSE(r.is_ok()) << c.toml;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.needle), std::string::npos) << r.status().message();
  }
  const char* env[] = {"VECSTREAM_HTTP_PORT=notanumber", nullptr};
  auto r = ServerConfig::from_toml("", env, {});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("http.port"), std::string::npos);
  EXPECT_FALSE(ServerConfig::load("/nonexistent/vecstream.toml", nullptr, {}).is_ok());
}

}  // namespace
}  // namespace vecstream
