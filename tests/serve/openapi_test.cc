// openapi/vecstream.yaml against the REST server: the document's (method, path) pairs are exactly
// RestServer::routes(), every operation documents its responses and the error body, and each
// documented route, called for real, is served (neither 404 nor 405).
#include <algorithm>
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "serve/rest_server.h"
#include "serve/rest_test_support.h"

namespace vecstream {
namespace {

using json = nlohmann::json;

const char* const kMethods[] = {"get", "put", "post", "delete", "patch", "options", "head", "trace"};

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

YAML::Node load_document() {
  return YAML::LoadFile(VECSTREAM_OPENAPI_FILE);
}

std::set<std::pair<std::string, std::string>> documented_routes(const YAML::Node& doc) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& path : doc["paths"]) {
    for (const char* m : kMethods) {
      if (path.second[m]) out.insert({upper(m), path.first.as<std::string>()});
    }
  }
  return out;
}

TEST(OpenApi, DocumentIsOpenApi3WithErrorBody) {
  YAML::Node doc = load_document();
  ASSERT_TRUE(doc["openapi"]);
  EXPECT_EQ(doc["openapi"].as<std::string>().substr(0, 2), "3.");
  ASSERT_TRUE(doc["components"]["schemas"]["ErrorBody"]);
  EXPECT_TRUE(doc["components"]["schemas"]["ErrorBody"]["properties"]["error"]["properties"]["code"]);
  EXPECT_TRUE(doc["components"]["schemas"]["ErrorBody"]["properties"]["error"]["properties"]["message"]);
  for (const auto& path : doc["paths"]) {
    for (const char* m : kMethods) {
      const YAML::Node op = path.second[m];
      if (!op) continue;
      SCOPED_TRACE(upper(m) + " " + path.first.as<std::string>());
      ASSERT_TRUE(op["responses"]) << "no responses";
      EXPECT_TRUE(op["operationId"]);
      bool has_success = false;
      for (const auto& r : op["responses"]) has_success = has_success || r.first.as<std::string>()[0] == '2';
      EXPECT_TRUE(has_success);
      // Every path parameter in the template is declared (on the path or the operation).
      const std::string p = path.first.as<std::string>();
      for (size_t i = p.find('{'); i != std::string::npos; i = p.find('{', i + 1)) {
        const std::string name = p.substr(i + 1, p.find('}', i) - i - 1);
        bool declared = false;
        for (const YAML::Node& params : {path.second["parameters"], op["parameters"]}) {
          if (!params) continue;
          for (const auto& param : params) {
            YAML::Node resolved = param;
            if (param["$ref"]) {
              const std::string ref = param["$ref"].as<std::string>();
              resolved = doc["components"]["parameters"][ref.substr(ref.rfind('/') + 1)];
            }
            declared = declared || (resolved["name"] && resolved["name"].as<std::string>() == name &&
                                    resolved["in"].as<std::string>() == "path");
          }
        }
        EXPECT_TRUE(declared) << "path parameter " << name << " not declared";
      }
    }
  }
}

TEST(OpenApi, RoutesEqualTheServersRouteTable) {
  const auto documented = documented_routes(load_document());
  std::set<std::pair<std::string, std::string>> served;
  for (const RestRoute& r : RestServer::routes()) {
    EXPECT_TRUE(served.insert({std::string(r.method), std::string(r.path)}).second)
        << "duplicate route " << r.method << " " << r.path;
  }
  for (const auto& d : documented) {
    EXPECT_TRUE(served.count(d)) << "documented but not served: " << d.first << " " << d.second;
  }
  for (const auto& s : served) {
    EXPECT_TRUE(documented.count(s)) << "served but not documented: " << s.first << " " << s.second;
  }
}

TEST(OpenApi, EveryDocumentedRouteIsServed) {
  testing::RestFixture f;
  RestServer::Options o;
  o.metrics_text = [] { return std::string("vecstream_up 1\n"); };
  f.start(o);
  ASSERT_EQ(f.call("POST", "/v1/collections",
                   json{{"name", "c"}, {"dim", 2}, {"fsync", "none"}}).status,
            201);
  ASSERT_EQ(f.call("PUT", "/v1/collections/c/points",
                   json{{"points", {{{"id", 1}, {"vector", {1, 2}}}}}}).status,
            200);

  // A valid body for each route that takes one.
  const std::map<std::string, json> bodies = {
      {"POST /v1/collections", {{"name", "c2"}, {"dim", 2}, {"fsync", "none"}}},
      {"PUT /v1/collections/{name}/points", {{"points", {{{"id", 2}, {"vector", {3, 4}}}}}}},
      {"POST /v1/collections/{name}/points/delete", {{"ids", {2}}}},
      {"POST /v1/collections/{name}/search", {{"vector", {1, 2}}, {"k", 1}}},
      {"POST /v1/collections/{name}/search/batch", {{"queries", {{{"vector", {1, 2}}}}}}},
  };
  const auto documented = documented_routes(load_document());
  std::vector<std::pair<std::string, std::string>> routes(documented.begin(), documented.end());
  // Drops last, so that the other calls find the collection.
  std::stable_partition(routes.begin(), routes.end(),
                        [](const auto& r) { return r.first != "DELETE"; });
  for (const auto& [method, path] : routes) {
    SCOPED_TRACE(method + " " + path);
    std::string concrete = path;
    for (const auto& [param, value] : {std::pair<std::string, std::string>{"{name}", "c"}, {"{id}", "1"}}) {
      if (const size_t i = concrete.find(param); i != std::string::npos) concrete.replace(i, param.size(), value);
    }
    const auto b = bodies.find(method + " " + path);
    testing::Reply r = f.call(method, concrete, b == bodies.end() ? std::string() : b->second.dump());
    EXPECT_NE(r.status, 0) << "no answer";
    EXPECT_NE(r.status, 404) << r.raw;
    EXPECT_NE(r.status, 405) << r.raw;
    EXPECT_LT(r.status, 300) << r.raw;
  }
}

}  // namespace
}  // namespace vecstream
