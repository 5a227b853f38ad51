// RestServer over real sockets on 127.0.0.1 (ephemeral ports), driven by httplib::Client: the
// whole API, read-your-writes, every kind of bad input (each a 4xx with a JSON error body that
// changes nothing), authentication and authorisation, body limits, TLS, graceful stop.
#include "serve/rest_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "embed/hashing_embedder.h"
#include "serve/rest_codec.h"
#include "serve/rest_test_support.h"

namespace vecstream {
namespace {

using json = nlohmann::json;
using testing::Reply;
using testing::RestFixture;

json collection_config(const std::string& name, size_t dim = 4, const std::string& metric = "l2") {
  return {{"name", name}, {"dim", dim}, {"metric", metric}, {"fsync", "none"}};
}

json point(const json& id, std::vector<float> v, json payload = nullptr) {
  json p = {{"id", id}, {"vector", v}};
  if (!payload.is_null()) p["payload"] = payload;
  return p;
}

size_t live_points(RestFixture& f, const std::string& name) {
  auto info = f.service().describe_collection(Principal{}, name);
  EXPECT_TRUE(info.is_ok()) << info.status().to_string();
  return info.is_ok() ? info->stats.live : 0;
}

/// A 4xx with the JSON error body {"error":{"code","message"}}.
void expect_error(const Reply& r, int http, const std::string& code,
                  const std::string& message_part = "") {
  EXPECT_EQ(r.status, http) << r.raw;
  EXPECT_EQ(r.content_type, "application/json") << r.raw;
  ASSERT_TRUE(r.body.is_object()) << r.raw;
  ASSERT_TRUE(r.body.contains("error")) << r.raw;
  EXPECT_EQ(r.error_code(), code) << r.raw;
  EXPECT_FALSE(r.error_message().empty()) << r.raw;
  if (!message_part.empty()) {
    EXPECT_NE(r.error_message().find(message_part), std::string::npos)
        << "message \"" << r.error_message() << "\" lacks \"" << message_part << "\"";
  }
}

class RestServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    f_.start();
    ASSERT_EQ(f_.call("POST", "/v1/collections", collection_config("docs")).status, 201);
  }
  void upsert_sample() {
    json body = {{"points",
                  {point(1, {1, 0, 0, 0}, {{"color", "red"}, {"price", 5}}),
                   point(2, {0, 1, 0, 0}, {{"color", "blue"}, {"price", 15}}),
                   point("doc-3", {0, 0, 1, 0}, {{"color", "red"}, {"price", 25}}),
                   point(4, {0, 0, 0, 1})}}};
    Reply r = f_.call("PUT", "/v1/collections/docs/points", body);
    ASSERT_EQ(r.status, 200) << r.raw;
  }
  RestFixture f_;
};

// ---------------------------------------------------------------------------------------------
// The API, end to end.

TEST_F(RestServerTest, CreateDescribeListDrop) {
  Reply r = f_.call("POST", "/v1/collections", collection_config("other", 8, "cosine"));
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["config"]["name"], "other");
  EXPECT_EQ(r.body["config"]["dim"], 8);
  EXPECT_EQ(r.body["config"]["metric"], "cosine");
  EXPECT_EQ(r.body["stats"]["live"], 0);
  bool location = false;
  for (const auto& [k, v] : r.headers) location = location || (k == "Location" && v == "/v1/collections/other");
  EXPECT_TRUE(location);

  expect_error(f_.call("POST", "/v1/collections", collection_config("other")), 409,
               "ALREADY_EXISTS");

  r = f_.call("GET", "/v1/collections");
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["collections"].size(), 2u);
  std::vector<std::string> names;
  for (const auto& c : r.body["collections"]) names.push_back(c["config"]["name"]);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"docs", "other"}));

  r = f_.call("GET", "/v1/collections/other");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["config"]["dim"], 8);

  r = f_.call("DELETE", "/v1/collections/other");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["dropped"], true);
  expect_error(f_.call("GET", "/v1/collections/other"), 404, "NOT_FOUND", "other");
  expect_error(f_.call("DELETE", "/v1/collections/other"), 404, "NOT_FOUND");
}

TEST_F(RestServerTest, UpsertGetSearchDelete) {
  upsert_sample();
  EXPECT_EQ(live_points(f_, "docs"), 4u);

  // Get: numeric id, string id, a numeric-looking string id, a percent-encoded one.
  Reply r = f_.call("GET", "/v1/collections/docs/points/1");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["id"], 1);
  EXPECT_EQ(r.body["vector"], json({1.0, 0.0, 0.0, 0.0}));
  EXPECT_EQ(r.body["payload"]["color"], "red");
  r = f_.call("GET", "/v1/collections/docs/points/doc-3");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["id"], "doc-3");
  expect_error(f_.call("GET", "/v1/collections/docs/points/1?id_type=string"), 404, "NOT_FOUND");
  ASSERT_EQ(f_.call("PUT", "/v1/collections/docs/points",
                    json{{"points", {point("7", {0.5f, 0.5f, 0, 0}), point("a/b c", {0, 0.5f, 0.5f, 0})}}})
                .status,
            200);
  r = f_.call("GET", "/v1/collections/docs/points/7?id_type=string");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["id"], "7");
  expect_error(f_.call("GET", "/v1/collections/docs/points/7"), 404, "NOT_FOUND");
  r = f_.call("GET", "/v1/collections/docs/points/a%2Fb%20c");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["id"], "a/b c");
  r = f_.call("GET", "/v1/collections/docs/points/4?id_type=number");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["payload"], nullptr);
  expect_error(f_.call("GET", "/v1/collections/docs/points/x?id_type=number"), 400,
               "INVALID_ARGUMENT", "id_type=number");
  expect_error(f_.call("GET", "/v1/collections/docs/points/1?id_type=uuid"), 400,
               "INVALID_ARGUMENT", "id_type");
  expect_error(f_.call("GET", "/v1/collections/docs/points/1?foo=1"), 400, "INVALID_ARGUMENT",
               "\"foo\"");
  ASSERT_EQ(f_.call("POST", "/v1/collections/docs/points/delete",
                    json{{"ids", {"7", "a/b c"}}})
                .status,
            200);

  // Search: plain, then with payload and vector; L2 score is the distance.
  r = f_.call("POST", "/v1/collections/docs/search", json{{"vector", {0.9, 0.1, 0, 0}}, {"k", 2}});
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["points"].size(), 2u);
  EXPECT_EQ(r.body["points"][0]["id"], 1);
  EXPECT_FALSE(r.body["points"][0].contains("payload"));
  EXPECT_FALSE(r.body["points"][0].contains("vector"));
  EXPECT_NEAR(r.body["points"][0]["distance"].get<double>(), 0.02, 1e-5);
  EXPECT_EQ(r.body["points"][0]["score"], r.body["points"][0]["distance"]);
  EXPECT_EQ(r.body["cached"], false);
  EXPECT_GE(r.body["server_seconds"].get<double>(), 0.0);

  r = f_.call("POST", "/v1/collections/docs/search",
              json{{"vector", {0, 0, 1, 0}}, {"k", 10}, {"with_payload", true},
                   {"with_vector", true}, {"exact", true}, {"streaming", true},
                   {"use_cache", false}, {"ef", 32}, {"nprobe", 0}, {"rerank_factor", 0}});
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["points"].size(), 4u);
  EXPECT_EQ(r.body["points"][0]["id"], "doc-3");
  EXPECT_EQ(r.body["points"][0]["payload"]["price"], 25);
  EXPECT_EQ(r.body["points"][0]["vector"], json({0.0, 0.0, 1.0, 0.0}));

  // Filtered: red only, price below 20.
  json filter = {{"and", {{{"field", "color"}, {"eq", "red"}},
                          {{"field", "price"}, {"range", {{"lt", 20}}}}}}};
  r = f_.call("POST", "/v1/collections/docs/search",
              json{{"vector", {0, 0, 1, 0}}, {"k", 10}, {"filter", filter}});
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["points"].size(), 1u);
  EXPECT_EQ(r.body["points"][0]["id"], 1);

  // Batch: answers in request order.
  r = f_.call("POST", "/v1/collections/docs/search/batch",
              json{{"queries",
                    {json{{"vector", {0, 1, 0, 0}}, {"k", 1}},
                     json{{"vector", {0, 0, 0, 1}}, {"k", 1}, {"with_payload", true}},
                     json{{"vector", {0, 0, 1, 0}}, {"k", 3}, {"filter", {{"field", "color"}, {"eq", "red"}}}}}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["results"].size(), 3u);
  EXPECT_EQ(r.body["results"][0]["points"][0]["id"], 2);
  EXPECT_EQ(r.body["results"][1]["points"][0]["id"], 4);
  EXPECT_EQ(r.body["results"][1]["points"][0]["payload"], nullptr);
  ASSERT_EQ(r.body["results"][2]["points"].size(), 2u);
  EXPECT_EQ(r.body["results"][2]["points"][0]["id"], "doc-3");

  // Delete by ids (one missing), then by filter.
  r = f_.call("POST", "/v1/collections/docs/points/delete", json{{"ids", {2, 99}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["applied"], 1);
  EXPECT_GT(r.body["seq"].get<uint64_t>(), 0u);
  expect_error(f_.call("GET", "/v1/collections/docs/points/2"), 404, "NOT_FOUND");
  r = f_.call("POST", "/v1/collections/docs/points/delete",
              json{{"filter", {{"field", "color"}, {"eq", "red"}}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["applied"], 2);
  r = f_.call("POST", "/v1/collections/docs/search", json{{"vector", {1, 0, 0, 0}}, {"k", 10}});
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["points"].size(), 1u);
  EXPECT_EQ(r.body["points"][0]["id"], 4);

  // Stats.
  r = f_.call("GET", "/v1/stats");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["collections"]["docs"]["live"], 1);
}

TEST_F(RestServerTest, ScoreIsSimilarityForInnerProductAndCosine) {
  ASSERT_EQ(f_.call("POST", "/v1/collections", collection_config("ip", 2, "ip")).status, 201);
  ASSERT_EQ(f_.call("PUT", "/v1/collections/ip/points", json{{"points", {point(1, {2, 0})}}}).status, 200);
  Reply r = f_.call("POST", "/v1/collections/ip/search", json{{"vector", {3, 0}}, {"k", 1}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_FLOAT_EQ(r.body["points"][0]["score"].get<float>(), 6.0f);
  EXPECT_FLOAT_EQ(r.body["points"][0]["distance"].get<float>(), -6.0f);

  ASSERT_EQ(f_.call("POST", "/v1/collections", collection_config("cos", 2, "cosine")).status, 201);
  ASSERT_EQ(f_.call("PUT", "/v1/collections/cos/points", json{{"points", {point(1, {0, 5})}}}).status, 200);
  r = f_.call("POST", "/v1/collections/cos/search", json{{"vector", {0, 2}}, {"k", 1}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_NEAR(r.body["points"][0]["score"].get<double>(), 1.0, 1e-6);
  // Shortest float form on the wire: 0.1f is written as 0.1.
  ASSERT_EQ(f_.call("PUT", "/v1/collections/docs/points",
                    json{{"points", {point(5, {0.1f, 0.2f, 0.3f, 0.4f})}}}).status, 200);
  r = f_.call("GET", "/v1/collections/docs/points/5");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.raw.find("[0.1,0.2,0.3,0.4]"), std::string::npos) << r.raw;
}

TEST_F(RestServerTest, ReadYourWritesOverHttp) {
  ASSERT_EQ(f_.call("POST", "/v1/collections",
                    json{{"name", "ryw"}, {"dim", 8}, {"index", {{"kind", "hnsw"}}}, {"seal_rows", 64}})
                .status,
            201);
  httplib::Client cli = f_.client();
  cli.set_keep_alive(true);
  for (int i = 0; i < 200; ++i) {
    std::vector<float> v(8, 0.0f);
    v[i % 8] = 10.0f + static_cast<float>(i);
    v[(i + 3) % 8] = -static_cast<float>(i);
    Reply up = testing::call(cli, "PUT", "/v1/collections/ryw/points",
                             json{{"points", {point(1000 + i, v)}}}.dump());
    ASSERT_EQ(up.status, 200) << up.raw;
    EXPECT_EQ(up.body["applied"], 1);
    Reply s = testing::call(cli, "POST", "/v1/collections/ryw/search",
                            json{{"vector", v}, {"k", 1}}.dump());
    ASSERT_EQ(s.status, 200) << s.raw;
    ASSERT_EQ(s.body["points"].size(), 1u) << s.raw;
    ASSERT_EQ(s.body["points"][0]["id"], 1000 + i) << "write " << i << " not visible: " << s.raw;
    // A delete is visible at once, too.
    if (i % 10 == 9) {
      Reply d = testing::call(cli, "POST", "/v1/collections/ryw/points/delete",
                              json{{"ids", {1000 + i}}}.dump());
      ASSERT_EQ(d.status, 200) << d.raw;
      Reply g = testing::call(cli, "GET", "/v1/collections/ryw/points/" + std::to_string(1000 + i));
      ASSERT_EQ(g.status, 404) << g.raw;
      s = testing::call(cli, "POST", "/v1/collections/ryw/search",
                        json{{"vector", v}, {"k", 1}}.dump());
      ASSERT_EQ(s.status, 200) << s.raw;
      ASSERT_NE(s.body["points"][0]["id"], 1000 + i);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bad input: a precise 4xx with the JSON error body, and nothing changes.

TEST_F(RestServerTest, BadUpsertsAre400AndChangeNothing) {
  upsert_sample();
  const std::string path = "/v1/collections/docs/points";
  struct Case {
    std::string body;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"", "expected a JSON object"},
      {"{", "invalid JSON"},
      {R"({"points":[{"id":9,"vector":[1,2,3,NaN]}]})", "invalid JSON"},
      {R"({"points":[{"id":9,"vector":[1,2,3,1e999]}]})", "number overflow parsing '1e999'"},
      {R"({"points":[{"id":9,"vector":[1,2,3,1e300]}]})", "32-bit float"},
      {R"([1,2])", "expected an object"},
      {R"({"points":{}})", "points: expected an array"},
      {R"({"points":[]})", "empty"},
      {R"({"points":[{"id":9,"vector":"1,2,3,4"}]})", "points[0].vector: expected an array of numbers, got string"},
      {R"({"points":[{"id":9,"vector":[1,2,"3",4]}]})", "points[0].vector[2]: expected a number, got string"},
      {R"({"points":[{"id":9,"vector":[1,2,null,4]}]})", "points[0].vector[2]"},
      {R"({"points":[{"id":9,"vector":[1,2,3]}]})", "dimension"},
      {R"({"points":[{"id":9,"vector":[1,2,3,4,5]}]})", "dimension"},
      {R"({"points":[{"id":-9,"vector":[1,2,3,4]}]})", "points[0].id"},
      {R"({"points":[{"id":1.5,"vector":[1,2,3,4]}]})", "points[0].id"},
      {R"({"points":[{"id":"","vector":[1,2,3,4]}]})", "points[0].id"},
      {R"({"points":[{"vector":[1,2,3,4]}]})", "points[0].id: required"},
      {R"({"points":[{"id":9}]})", "points[0].vector: required"},
      {R"({"points":[{"id":9,"vector":[1,2,3,4],"payload":[1]}]})", "points[0].payload: expected an object, got array"},
      {R"({"points":[{"id":9,"vector":[1,2,3,4],"payload":"x"}]})", "payload"},
      {R"({"points":[{"id":9,"vector":[1,2,3,4],"colour":"x"}]})", "unknown field \"colour\""},
      {R"({"points":[],"upsert":1,"mode":2})", "unknown fields \"mode\", \"upsert\""},
      // One bad point in a batch: the good one before it is not applied either.
      {R"({"points":[{"id":9,"vector":[1,2,3,4]},{"id":10,"vector":[1,2]}]})", "dimension"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    expect_error(f_.call("PUT", path, c.body), 400, "INVALID_ARGUMENT", c.message_part);
  }
  EXPECT_EQ(live_points(f_, "docs"), 4u);
  expect_error(f_.call("GET", "/v1/collections/docs/points/9"), 404, "NOT_FOUND");
}

TEST_F(RestServerTest, BadSearchesAre400) {
  upsert_sample();
  struct Case {
    std::string body;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"", "expected a JSON object"},
      {"{\"vector\":[1,2,3,4]", "invalid JSON"},
      {R"({"vector":[1,2,3,NaN]})", "invalid JSON"},
      {R"({"vector":[1,2,3,1e999]})", "invalid JSON: number overflow parsing '1e999'"},
      {R"({"vector":[1,2,3]})", "dimension"},
      {R"({"vector":[]})", "dimension"},
      {R"({"k":3})", "vector: required"},
      {R"({"vector":{"a":1}})", "vector: expected an array of numbers, got object"},
      {R"({"vector":[1,2,3,true]})", "vector[3]: expected a number, got boolean"},
      {R"({"vector":[1,2,3,4],"k":"10"})", "k: expected a non-negative integer, got string"},
      {R"({"vector":[1,2,3,4],"k":2.5})", "k: expected an integer"},
      {R"({"vector":[1,2,3,4],"k":-1})", "k: expected a non-negative integer"},
      {R"({"vector":[1,2,3,4],"k":0})", "k must be in"},
      {R"({"vector":[1,2,3,4],"k":100000})", "k must be in"},
      {R"({"vector":[1,2,3,4],"ef":"x"})", "ef: expected"},
      {R"({"vector":[1,2,3,4],"exact":"yes"})", "exact: expected a boolean, got string"},
      {R"({"vector":[1,2,3,4],"with_payload":1})", "with_payload: expected a boolean"},
      {R"({"vector":[1,2,3,4],"rerank_factor":-1})", "rerank_factor"},
      {R"({"vector":[1,2,3,4],"filter":"color=red"})", "filter: expected an object, got string"},
      {R"({"vector":[1,2,3,4],"filter":{"field":"color","like":"r"}})", "filter"},
      {R"({"vector":[1,2,3,4],"top_k":3})", "unknown field \"top_k\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    expect_error(f_.call("POST", "/v1/collections/docs/search", c.body), 400, "INVALID_ARGUMENT",
                 c.message_part);
  }
  const std::vector<Case> batch_cases = {
      {"[]", "expected an object"},
      {R"({"queries":{}})", "queries: expected an array"},
      {R"({"queries":[]})", "empty batch"},
      {R"({})", "queries: required"},
      {R"({"queries":[{"vector":[1,2,3,4]},{"vector":[1,2,3,"4"]}]})", "queries[1].vector[3]"},
      {R"({"queries":[{"vector":[1,2,3,4]},{"vector":[1,2,3,4],"kk":1}]})", "queries[1]: unknown field \"kk\""},
      {R"({"queries":[{"vector":[1,2,3,4],"filter":{"and":[]}}]})", "queries[0].filter"},
      {R"({"queries":[{"vector":[1,2,3]}]})", "dimension"},
      {R"({"queries":[1]})", "queries[0]: expected an object"},
      {R"({"queries":[],"k":3})", "unknown field \"k\""},
  };
  for (const Case& c : batch_cases) {
    SCOPED_TRACE(c.body);
    expect_error(f_.call("POST", "/v1/collections/docs/search/batch", c.body), 400,
                 "INVALID_ARGUMENT", c.message_part);
  }
}

TEST_F(RestServerTest, BadDeletesAndCreatesAre400AndChangeNothing) {
  upsert_sample();
  const std::string path = "/v1/collections/docs/points/delete";
  expect_error(f_.call("POST", path, ""), 400, "INVALID_ARGUMENT");
  expect_error(f_.call("POST", path, "{\"ids\":[1,"), 400, "INVALID_ARGUMENT", "invalid JSON");
  expect_error(f_.call("POST", path, R"({})"), 400, "INVALID_ARGUMENT", "exactly one");
  expect_error(f_.call("POST", path, R"({"ids":[1],"filter":{"field":"a","exists":true}})"), 400,
               "INVALID_ARGUMENT", "exactly one");
  expect_error(f_.call("POST", path, R"({"ids":1})"), 400, "INVALID_ARGUMENT", "ids: expected an array");
  expect_error(f_.call("POST", path, R"({"ids":[1,{"x":1}]})"), 400, "INVALID_ARGUMENT", "ids[1]");
  expect_error(f_.call("POST", path, R"({"ids":[1,-2]})"), 400, "INVALID_ARGUMENT", "ids[1]");
  expect_error(f_.call("POST", path, R"({"ids":[]})"), 400, "INVALID_ARGUMENT");
  expect_error(f_.call("POST", path, R"({"filter":null})"), 400, "INVALID_ARGUMENT", "filter");
  expect_error(f_.call("POST", path, R"({"filter":{"field":"color"}})"), 400, "INVALID_ARGUMENT",
               "filter");
  expect_error(f_.call("POST", path, R"({"ids":[1],"where":{}})"), 400, "INVALID_ARGUMENT",
               "unknown field \"where\"");
  EXPECT_EQ(live_points(f_, "docs"), 4u);

  expect_error(f_.call("POST", "/v1/collections", ""), 400, "INVALID_ARGUMENT");
  expect_error(f_.call("POST", "/v1/collections", "{\"name\":"), 400, "INVALID_ARGUMENT", "invalid JSON");
  expect_error(f_.call("POST", "/v1/collections", R"({"name":"x","dim":"4"})"), 400,
               "INVALID_ARGUMENT", "dim");
  expect_error(f_.call("POST", "/v1/collections", R"({"name":"x","dim":4,"colour":1})"), 400,
               "INVALID_ARGUMENT", "colour");
  expect_error(f_.call("POST", "/v1/collections", R"({"name":"x y","dim":4})"), 400,
               "INVALID_ARGUMENT");
  expect_error(f_.call("POST", "/v1/collections", R"({"name":"x","dim":4,"metric":"hamming"})"), 400,
               "INVALID_ARGUMENT", "metric");
  Reply r = f_.call("GET", "/v1/collections");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["collections"].size(), 1u);
}

TEST_F(RestServerTest, UnknownCollectionIs404) {
  const json q = {{"vector", {1, 2, 3, 4}}};
  expect_error(f_.call("GET", "/v1/collections/nope"), 404, "NOT_FOUND", "nope");
  expect_error(f_.call("DELETE", "/v1/collections/nope"), 404, "NOT_FOUND");
  expect_error(f_.call("PUT", "/v1/collections/nope/points", json{{"points", {point(1, {1, 2, 3, 4})}}}),
               404, "NOT_FOUND");
  expect_error(f_.call("POST", "/v1/collections/nope/points/delete", json{{"ids", {1}}}), 404,
               "NOT_FOUND");
  expect_error(f_.call("GET", "/v1/collections/nope/points/1"), 404, "NOT_FOUND");
  expect_error(f_.call("POST", "/v1/collections/nope/search", q), 404, "NOT_FOUND");
  expect_error(f_.call("POST", "/v1/collections/nope/search/batch", json{{"queries", {q}}}), 404,
               "NOT_FOUND");
}

TEST_F(RestServerTest, UnknownRouteIs404AndWrongMethodIs405) {
  expect_error(f_.call("GET", "/v2/collections"), 404, "NOT_FOUND", "/v2/collections");
  expect_error(f_.call("GET", "/"), 404, "NOT_FOUND");
  expect_error(f_.call("GET", "/v1/collections/docs/points"), 405, "METHOD_NOT_ALLOWED");
  expect_error(f_.call("GET", "/v1/collections/docs/unknown"), 404, "NOT_FOUND");
  expect_error(f_.call("GET", "/v1/collections/"), 404, "NOT_FOUND");
  expect_error(f_.call("POST", "/healthz", "{}"), 405, "METHOD_NOT_ALLOWED");
  expect_error(f_.call("OPTIONS", "/v1/stats"), 405, "METHOD_NOT_ALLOWED");
  Reply r = f_.call("PATCH", "/v1/collections/docs", "{}");
  expect_error(r, 405, "METHOD_NOT_ALLOWED");
  std::string allow;
  for (const auto& [k, v] : r.headers) if (k == "Allow") allow = v;
  EXPECT_EQ(allow, "GET, DELETE");
  r = f_.call("DELETE", "/v1/collections/docs/points/delete");
  expect_error(r, 405, "METHOD_NOT_ALLOWED");
  expect_error(f_.call("GET", "/v1/collections/docs/points/a%zz"), 400, "INVALID_ARGUMENT",
               "percent");
  // A long path is one more unknown route.
  expect_error(f_.call("GET", "/" + std::string(7000, 'a')), 404, "NOT_FOUND");
  // GET on ".../points/delete" reads the point whose string id is "delete".
  expect_error(f_.call("GET", "/v1/collections/docs/points/delete"), 404, "NOT_FOUND", "\"delete\"");
}

// curl -d sends application/x-www-form-urlencoded by default; the body is still JSON, and the
// query parameters come from the URL only.
TEST_F(RestServerTest, BodyIsJsonWhateverTheContentType) {
  httplib::Client cli = f_.client();
  const std::string body = json{{"points", {point(11, {0, 0, 1, 0})}}}.dump();
  Reply r = testing::to_reply(cli.Put("/v1/collections/docs/points", body, "application/x-www-form-urlencoded"));
  ASSERT_EQ(r.status, 200) << r.raw;
  r = testing::to_reply(cli.Post("/v1/collections/docs/search", json{{"vector", {0, 0, 1, 0}}, {"k", 1}}.dump(),
                        "text/plain"));
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["points"][0]["id"], 11) << r.raw;
  // A form body is not JSON: a clear 400, nothing changed.
  r = testing::to_reply(cli.Put("/v1/collections/docs/points", "points=1&x=2", "application/x-www-form-urlencoded"));
  expect_error(r, 400, "INVALID_ARGUMENT");
  // Query parameters: '+' and percent escapes decode, unknown keys and bad escapes are rejected.
  expect_error(f_.call("GET", "/v1/collections/docs/points/11?bogus=1"), 400, "INVALID_ARGUMENT", "bogus");
  expect_error(f_.call("GET", "/v1/collections/docs/points/11?id_type=%zz"), 400, "INVALID_ARGUMENT",
               "percent");
  EXPECT_EQ(f_.call("GET", "/v1/collections/docs/points/11?id_type=%6Eumber").status, 200);
  expect_error(f_.call("GET", "/v1/collections/docs/points/11?id_type=num+ber"), 400, "INVALID_ARGUMENT");
}

TEST(RestServerLimits, OversizedBodyIs413AndChangesNothing) {
  RestFixture f;
  RestServer::Options o;
  o.max_body_bytes = 1024;
  f.start(o);
  ASSERT_EQ(f.call("POST", "/v1/collections", collection_config("docs")).status, 201);
  json points = json::array();
  for (int i = 0; i < 100; ++i) points.push_back(point(i, {1, 2, 3, 4}));
  const std::string body = json{{"points", points}}.dump();
  ASSERT_GT(body.size(), 1024u);
  Reply r = f.call("PUT", "/v1/collections/docs/points", body);
  expect_error(r, 413, "RESOURCE_EXHAUSTED", "exceeds the limit of 1024 bytes");
  EXPECT_EQ(live_points(f, "docs"), 0u);
  // A search body over the limit, too; a small one passes.
  std::vector<float> big(400, 1.0f);
  expect_error(f.call("POST", "/v1/collections/docs/search", json{{"vector", big}}), 413,
               "RESOURCE_EXHAUSTED");
  EXPECT_EQ(f.call("PUT", "/v1/collections/docs/points", json{{"points", {point(1, {1, 2, 3, 4})}}}).status,
            200);
}

TEST(RestServerLimits, ServiceLimitsAre429) {
  RestFixture f;
  f.start();
  ASSERT_EQ(f.call("POST", "/v1/collections", collection_config("docs")).status, 201);
  json qs = json::array();
  for (size_t i = 0; i <= f.service().options().limits.max_batch_queries; ++i) {
    qs.push_back({{"vector", {1, 2, 3, 4}}});
  }
  expect_error(f.call("POST", "/v1/collections/docs/search/batch", json{{"queries", qs}}), 429,
               "RESOURCE_EXHAUSTED");
}

// ---------------------------------------------------------------------------------------------
// Authentication and authorisation.

class RestAuthTest : public ::testing::Test {
 protected:
  static constexpr const char* kAdmin = "admin-key-0123456789";
  static constexpr const char* kWriter = "write-key-0123456789";
  static constexpr const char* kReader = "read-key-01234567890";
  static constexpr const char* kDocsReader = "docs-read-0123456789";
  static constexpr const char* kOtherWriter = "other-write-012345678";

  void SetUp() override {
    auto keys = ApiKeys::from_json(json::parse(std::string(R"([
      {"name": "admin", "key": ")") + kAdmin + R"(", "role": "admin"},
      {"name": "writer", "key": ")" + kWriter + R"(", "role": "write"},
      {"name": "reader", "key": ")" + kReader + R"(", "role": "read"},
      {"name": "docs-reader", "key": ")" + kDocsReader + R"(", "role": "read", "collections": ["docs"]},
      {"name": "other-writer", "key": ")" + kOtherWriter + R"(", "role": "write", "collections": ["other"]}
    ])"));
    ASSERT_TRUE(keys.is_ok()) << keys.status().to_string();
    RestServer::Options o;
    o.metrics_text = [] { return std::string("vecstream_up 1\n"); };
    f_.start(o, *keys);
    for (const char* name : {"docs", "other"}) {
      ASSERT_EQ(f_.call("POST", "/v1/collections", collection_config(name), bearer(kAdmin)).status, 201);
    }
    ASSERT_EQ(f_.call("PUT", "/v1/collections/docs/points",
                      json{{"points", {point(1, {1, 0, 0, 0})}}}, bearer(kWriter))
                  .status,
              200);
  }
  static httplib::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }
  static httplib::Headers x_api_key(const std::string& key) { return {{"X-Api-Key", key}}; }
  RestFixture f_;
};

TEST_F(RestAuthTest, MissingOrUnknownKeyIs401AndChangesNothing) {
  const json up = {{"points", {point(2, {0, 1, 0, 0})}}};
  for (const httplib::Headers& h :
       {httplib::Headers{}, bearer("not-a-key-0123456789"), x_api_key("nope"),
        httplib::Headers{{"Authorization", std::string("Basic ") + kAdmin}}, bearer("")}) {
    Reply r = f_.call("PUT", "/v1/collections/docs/points", up, h);
    expect_error(r, 401, "UNAUTHENTICATED");
    bool challenge = false;
    for (const auto& [k, v] : r.headers) challenge = challenge || k == "WWW-Authenticate";
    EXPECT_TRUE(challenge);
    expect_error(f_.call("GET", "/v1/collections", "", h), 401, "UNAUTHENTICATED");
    expect_error(f_.call("POST", "/v1/collections/docs/search", json{{"vector", {1, 0, 0, 0}}}, h),
                 401, "UNAUTHENTICATED");
    expect_error(f_.call("DELETE", "/v1/collections/docs", "", h), 401, "UNAUTHENTICATED");
    expect_error(f_.call("POST", "/v1/collections", collection_config("third"), h), 401,
                 "UNAUTHENTICATED");
    expect_error(f_.call("GET", "/v1/stats", "", h), 401, "UNAUTHENTICATED");
  }
  EXPECT_EQ(live_points(f_, "docs"), 1u);
  EXPECT_EQ(f_.catalog().list().size(), 2u);
  // The operational endpoints need no key.
  EXPECT_EQ(f_.call("GET", "/healthz").status, 200);
  EXPECT_EQ(f_.call("GET", "/readyz").status, 200);
  Reply m = f_.call("GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.raw, "vecstream_up 1\n");
}

TEST_F(RestAuthTest, RolesAre403AndChangeNothing) {
  // A read key may read (both header forms) but not write or administer.
  EXPECT_EQ(f_.call("GET", "/v1/collections/docs/points/1", "", bearer(kReader)).status, 200);
  EXPECT_EQ(f_.call("GET", "/v1/collections/docs/points/1", "", x_api_key(kReader)).status, 200);
  EXPECT_EQ(f_.call("GET", "/v1/collections/docs/points/1", "",
                    {{"Authorization", std::string("bearer   ") + kReader}}).status, 200);
  EXPECT_EQ(f_.call("POST", "/v1/collections/docs/search", json{{"vector", {1, 0, 0, 0}}},
                    bearer(kReader)).status, 200);
  expect_error(f_.call("PUT", "/v1/collections/docs/points", json{{"points", {point(2, {0, 1, 0, 0})}}},
                       bearer(kReader)),
               403, "PERMISSION_DENIED", "write");
  expect_error(f_.call("POST", "/v1/collections/docs/points/delete", json{{"ids", {1}}},
                       x_api_key(kReader)),
               403, "PERMISSION_DENIED");
  expect_error(f_.call("POST", "/v1/collections/docs/points/delete",
                       json{{"filter", {{"field", "a"}, {"exists", false}}}}, bearer(kReader)),
               403, "PERMISSION_DENIED");
  // A write key may write but not create or drop.
  expect_error(f_.call("POST", "/v1/collections", collection_config("third"), bearer(kWriter)), 403,
               "PERMISSION_DENIED", "admin");
  expect_error(f_.call("DELETE", "/v1/collections/docs", "", bearer(kWriter)), 403,
               "PERMISSION_DENIED");
  EXPECT_EQ(live_points(f_, "docs"), 1u);
  EXPECT_EQ(f_.catalog().list().size(), 2u);
}

TEST_F(RestAuthTest, CollectionScopedKeys) {
  // docs-reader sees docs only.
  EXPECT_EQ(f_.call("GET", "/v1/collections/docs", "", bearer(kDocsReader)).status, 200);
  expect_error(f_.call("GET", "/v1/collections/other", "", bearer(kDocsReader)), 403,
               "PERMISSION_DENIED", "other");
  expect_error(f_.call("POST", "/v1/collections/other/search", json{{"vector", {1, 0, 0, 0}}},
                       bearer(kDocsReader)),
               403, "PERMISSION_DENIED");
  Reply r = f_.call("GET", "/v1/collections", "", bearer(kDocsReader));
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body["collections"].size(), 1u);
  EXPECT_EQ(r.body["collections"][0]["config"]["name"], "docs");
  r = f_.call("GET", "/v1/stats", "", bearer(kDocsReader));
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.body["collections"].contains("docs"));
  EXPECT_FALSE(r.body["collections"].contains("other"));

  // other-writer writes to other only.
  const json up = {{"points", {point(7, {0, 0, 1, 0})}}};
  EXPECT_EQ(f_.call("PUT", "/v1/collections/other/points", up, bearer(kOtherWriter)).status, 200);
  expect_error(f_.call("PUT", "/v1/collections/docs/points", up, bearer(kOtherWriter)), 403,
               "PERMISSION_DENIED", "docs");
  EXPECT_EQ(live_points(f_, "docs"), 1u);
  EXPECT_EQ(live_points(f_, "other"), 1u);
}

// ---------------------------------------------------------------------------------------------
// Operations: health, readiness, metrics, graceful stop, ports, concurrency.

TEST(RestServerOps, HealthReadyMetrics) {
  RestFixture f;
  std::atomic<bool> ready{false};
  RestServer::Options o;
  o.ready = [&ready] { return ready.load(); };
  f.start(o);
  Reply r = f.call("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["status"], "ok");
  expect_error(f.call("GET", "/readyz"), 503, "UNAVAILABLE");
  ready = true;
  EXPECT_EQ(f.call("GET", "/readyz").status, 200);
  expect_error(f.call("GET", "/metrics"), 404, "NOT_FOUND", "metrics");

  RestFixture g;
  RestServer::Options with_metrics;
  with_metrics.metrics_text = [] { return std::string("# TYPE vecstream_up gauge\nvecstream_up 1\n"); };
  g.start(with_metrics);
  r = g.call("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.raw, "# TYPE vecstream_up gauge\nvecstream_up 1\n");
}

// A busy client keeps its connection: httplib's default closes a kept-alive connection after 5
// requests, and at 2,000 QPS the reconnects gave a tail of about a second.
TEST(RestServerOps, KeptAliveConnectionCarriesManyRequests) {
  RestFixture f;
  f.start();
  httplib::Client cli = f.client();
  cli.set_keep_alive(true);
  for (int i = 0; i < 50; ++i) {
    auto r = cli.Get("/healthz");
    ASSERT_TRUE(r) << "request " << i;
    ASSERT_EQ(r->status, 200);
    EXPECT_NE(r->get_header_value("Connection"), "close") << "the server closed the connection after request " << i;
  }
  // The limit is an option: a server told 3 closes the connection with the third answer.
  RestFixture g;
  RestServer::Options o;
  o.keep_alive_max_requests = 3;
  g.start(o);
  httplib::Client c3 = g.client();
  c3.set_keep_alive(true);
  for (int i = 0; i < 3; ++i) {
    auto r = c3.Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->get_header_value("Connection") == "close", i == 2) << "request " << i;
  }
}

TEST(RestServerOps, StopFinishesRequestsInFlight) {
  RestFixture f;
  std::atomic<int> entered{0};
  RestServer::Options o;
  o.metrics_text = [&entered] {
    entered++;
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return std::string("vecstream_up 1\n");
  };
  f.start(o);
  const int port = f.server().port();
  Reply slow;
  std::thread t([&] { slow = f.call("GET", "/metrics"); });
  while (entered.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  f.server().stop();  // returns once the in-flight request has been answered
  t.join();
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(slow.raw, "vecstream_up 1\n");
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(1);
  EXPECT_FALSE(cli.Get("/healthz"));
  f.server().stop();  // idempotent
}

TEST(RestServerOps, PortInUseAndBadOptions) {
  RestFixture f;
  f.start();
  RestServer::Options o;
  o.port = f.server().port();
  auto second = RestServer::start(f.service(), ApiKeys{}, o);
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.status().code(), StatusCode::kIoError) << second.status().to_string();

  RestServer::Options zero;
  zero.port = 0;
  zero.threads = 0;
  EXPECT_EQ(RestServer::start(f.service(), ApiKeys{}, zero).status().code(),
            StatusCode::kInvalidArgument);
  RestServer::Options no_requests;
  no_requests.port = 0;
  no_requests.keep_alive_max_requests = 0;
  EXPECT_EQ(RestServer::start(f.service(), ApiKeys{}, no_requests).status().code(),
            StatusCode::kInvalidArgument);
  RestServer::Options half_tls;
  half_tls.port = 0;
  half_tls.tls_cert_file = "/nonexistent/cert.pem";
  EXPECT_EQ(RestServer::start(f.service(), ApiKeys{}, half_tls).status().code(),
            StatusCode::kInvalidArgument);
  half_tls.tls_key_file = "/nonexistent/key.pem";
  EXPECT_EQ(RestServer::start(f.service(), ApiKeys{}, half_tls).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(RestServerOps, ConcurrentClients) {
  RestFixture f;
  RestServer::Options o;
  o.threads = 4;
  f.start(o);
  ASSERT_EQ(f.call("POST", "/v1/collections", collection_config("docs")).status, 201);
  constexpr int kThreads = 8, kOps = 40;
  std::atomic<int> failures{0};
  std::mutex first_failure_mu;
  std::string first_failure;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps; ++i) {
        const int id = t * 1000 + i;
        const std::vector<float> v = {static_cast<float>(t), static_cast<float>(i), 1, 0};
        Reply up = f.call("PUT", "/v1/collections/docs/points", json{{"points", {point(id, v)}}});
        Reply s = f.call("POST", "/v1/collections/docs/search", json{{"vector", v}, {"k", 1}});
        if (up.status != 200 || s.status != 200 || s.body["points"][0]["id"] != id) {
          if (failures++ == 0) {
            std::lock_guard<std::mutex> lock(first_failure_mu);
            first_failure = "id " + std::to_string(id) + ": upsert " + std::to_string(up.status) +
                            " " + up.raw + " / search " + std::to_string(s.status) + " " + s.raw;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << "first failure: " << first_failure;
  EXPECT_EQ(live_points(f, "docs"), static_cast<size_t>(kThreads * kOps));
}

TEST(RestServerText, TextQueriesOverHttp) {
  HashingEmbedder::Options eo;
  eo.dim = 4;
  auto embedder = HashingEmbedder::create(eo);
  ASSERT_TRUE(embedder.is_ok());
  RestFixture f(embedder->get());
  f.start();
  ASSERT_EQ(f.call("POST", "/v1/collections", collection_config("docs")).status, 201);
  const auto cat = *(*embedder)->embed_one("a cat on a mat");
  const auto dog = *(*embedder)->embed_one("dogs bark at night");
  ASSERT_EQ(f.call("PUT", "/v1/collections/docs/points",
                   json{{"points", {point(1, cat), point(2, dog)}}}).status, 200);
  Reply r = f.call("POST", "/v1/collections/docs/search", json{{"text", "dogs bark at night"}, {"k", 1}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["points"][0]["id"], 2);
  Reply batch = f.call("POST", "/v1/collections/docs/search/batch",
                       json{{"queries", {{{"text", "a cat on a mat"}, {"k", 1}}, {{"vector", dog}, {"k", 1}}}}});
  ASSERT_EQ(batch.status, 200) << batch.raw;

  auto expect_400 = [&](const json& body, const std::string& needle) {
    Reply b = f.call("POST", "/v1/collections/docs/search", body);
    EXPECT_EQ(b.status, 400) << body.dump() << " -> " << b.raw;
    EXPECT_NE(b.raw.find(needle), std::string::npos) << b.raw;
  };
  expect_400(json{{"text", "x"}, {"vector", {1, 2, 3, 4}}}, "not both");
  expect_400(json{{"text", 5}}, "text");
  expect_400(json{{"text", ""}}, "must not be empty");
  expect_400(json{{"text", "   "}}, "text: ");
  expect_400(json::object(), "vector: required");

  RestFixture plain;  // no embedder: a clear 400, not a 500
  plain.start();
  ASSERT_EQ(plain.call("POST", "/v1/collections", collection_config("docs")).status, 201);
  Reply none = plain.call("POST", "/v1/collections/docs/search", json{{"text", "dogs"}});
  EXPECT_EQ(none.status, 400) << none.raw;
  EXPECT_NE(none.raw.find("need an embedder"), std::string::npos) << none.raw;
}

// ---------------------------------------------------------------------------------------------
// TLS.

TEST(RestServerTls, SelfSignedCertificate) {
  testing::TempDir certs;
  const std::string cert = certs / "cert.pem", key = certs / "key.pem";
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  RestFixture f;
  RestServer::Options o;
  o.tls_cert_file = cert;
  o.tls_key_file = key;
  f.start(o);
  EXPECT_TRUE(f.server().tls());
  const int port = f.server().port();

  httplib::SSLClient tls("127.0.0.1", port);
  tls.set_ca_cert_path(cert);
  tls.enable_server_certificate_verification(true);
  tls.set_connection_timeout(5);
  Reply r = testing::to_reply(tls.Get("/healthz"));
  ASSERT_EQ(r.status, 200) << "TLS request failed";
  r = testing::to_reply(tls.Post("/v1/collections", collection_config("docs").dump(), "application/json"));
  ASSERT_EQ(r.status, 201) << r.raw;
  r = testing::to_reply(tls.Put("/v1/collections/docs/points",
                                json{{"points", {point(1, {1, 2, 3, 4})}}}.dump(), "application/json"));
  ASSERT_EQ(r.status, 200) << r.raw;
  r = testing::to_reply(tls.Post("/v1/collections/docs/search",
                                 json{{"vector", {1, 2, 3, 4}}, {"k", 1}}.dump(), "application/json"));
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["points"][0]["id"], 1);

  // Plain HTTP to the TLS port gets no HTTP answer.
  httplib::Client plain("127.0.0.1", port);
  plain.set_connection_timeout(2);
  plain.set_read_timeout(2);
  auto pr = plain.Get("/healthz");
  EXPECT_TRUE(!pr || pr->status != 200);

  // A client that does not trust the certificate refuses the server.
  httplib::SSLClient untrusting("127.0.0.1", port);
  untrusting.set_ca_cert_path(certs / "nonexistent.pem");
  untrusting.enable_server_certificate_verification(true);
  untrusting.set_connection_timeout(2);
  EXPECT_FALSE(untrusting.Get("/healthz"));

  // A key that does not match the certificate, or garbage, is refused at start.
  std::ofstream(certs / "garbage.pem") << "not a certificate\n";
  RestServer::Options bad;
  bad.port = 0;
  bad.tls_cert_file = certs / "garbage.pem";
  bad.tls_key_file = key;
  EXPECT_EQ(RestServer::start(f.service(), ApiKeys{}, bad).status().code(),
            StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Codec pieces that are easier to check without a server.

TEST(RestCodec, PathIds) {
  auto n = parse_path_id("42", "");
  ASSERT_TRUE(n.is_ok());
  EXPECT_FALSE(n->is_string());
  EXPECT_EQ(n->num(), 42u);
  auto big = parse_path_id("18446744073709551616", "");  // 2^64: does not fit, so a string
  ASSERT_TRUE(big.is_ok());
  EXPECT_TRUE(big->is_string());
  auto s = parse_path_id("42", "string");
  ASSERT_TRUE(s.is_ok());
  EXPECT_TRUE(s->is_string());
  EXPECT_TRUE(parse_path_id("-1", "")->is_string());
  EXPECT_FALSE(parse_path_id("abc", "number").is_ok());
  EXPECT_FALSE(parse_path_id("1", "int").is_ok());
}

TEST(RestCodec, IntegersAndFloatsInVectors) {
  auto j = parse_json_body(R"({"points":[{"id":18446744073709551615,"vector":[1,-2,3.5,1e-50]}]})");
  ASSERT_TRUE(j.is_ok());
  auto p = parse_upsert_body(*j);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ((*p)[0].id.num(), 18446744073709551615ull);
  EXPECT_EQ((*p)[0].vector, (std::vector<float>{1.0f, -2.0f, 3.5f, 0.0f}));
}

}  // namespace
}  // namespace vecstream
