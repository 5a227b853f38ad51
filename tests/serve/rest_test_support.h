// Helpers for the REST server tests: a catalog + service + server on an ephemeral port of
// 127.0.0.1, and a small JSON client over httplib.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "segment/catalog.h"
#include "serve/api_keys.h"
#include "serve/rest_server.h"
#include "serve/service.h"
#include "support/temp_dir.h"

namespace vecstream::testing {

struct Reply {
  int status = 0;  // 0: no answer (connection failed)
  nlohmann::json body;
  std::string raw;
  std::string content_type;
  httplib::Headers headers;

  std::string error_code() const {
    return body.is_object() && body.contains("error") ? body["error"].value("code", "") : "";
  }
  std::string error_message() const {
    return body.is_object() && body.contains("error") ? body["error"].value("message", "") : "";
  }
};

inline Reply to_reply(const httplib::Result& r) {
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.raw = r->body;
  out.content_type = r->get_header_value("Content-Type");
  out.headers = r->headers;
  out.body = nlohmann::json::parse(r->body, nullptr, false);
  return out;
}

/// One request over a fresh connection. `method` is any of GET, POST, PUT, DELETE, PATCH, OPTIONS.
inline Reply call(httplib::Client& cli, const std::string& method, const std::string& path,
                  const std::string& body = "", const httplib::Headers& headers = {}) {
  const char* type = "application/json";
  if (method == "GET") return to_reply(cli.Get(path, headers));
  if (method == "POST") return to_reply(cli.Post(path, headers, body, type));
  if (method == "PUT") return to_reply(cli.Put(path, headers, body, type));
  if (method == "DELETE") {
    return to_reply(body.empty() ? cli.Delete(path, headers) : cli.Delete(path, headers, body, type));
  }
  if (method == "PATCH") return to_reply(cli.Patch(path, headers, body, type));
  if (method == "OPTIONS") return to_reply(cli.Options(path, headers));
  ADD_FAILURE() << "unsupported method " << method;
  return {};
}

/// A data directory, a Catalog, a Service and (after start()) a RestServer.
class RestFixture {
 public:
  /// `embedder` (not owned) answers text queries; none = they are refused.
  explicit RestFixture(Embedder* embedder = nullptr) {
    auto c = Catalog::open(dir_.path());
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    catalog_ = std::move(*c);
    service_ = std::make_unique<Service>(*catalog_, ServiceOptions{}, nullptr, nullptr, embedder);
  }
  ~RestFixture() {
    if (server_) server_->stop();
    server_.reset();
    service_.reset();
    if (catalog_) (void)catalog_->close();
  }

  void start(RestServer::Options o = {}, ApiKeys keys = {}) {
    o.port = 0;
    keys_ = std::move(keys);
    auto s = RestServer::start(*service_, keys_, std::move(o));
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    server_ = std::move(*s);
    ASSERT_GT(server_->port(), 0);
  }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_connection_timeout(5);
    c.set_read_timeout(30);
    c.set_tcp_nodelay(true);  // headers and body go in two writes: no Nagle delay between them
    return c;
  }

  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             const httplib::Headers& headers = {}) const {
    httplib::Client c = client();
    return testing::call(c, method, path, body, headers);
  }
  Reply call(const std::string& method, const std::string& path, const char* body,
             const httplib::Headers& headers = {}) const {
    return call(method, path, std::string(body), headers);
  }
  Reply call(const std::string& method, const std::string& path, const nlohmann::json& body,
             const httplib::Headers& headers = {}) const {
    return call(method, path, body.dump(), headers);
  }

  RestServer& server() { return *server_; }
  Service& service() { return *service_; }
  Catalog& catalog() { return *catalog_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Service> service_;
  ApiKeys keys_;
  std::unique_ptr<RestServer> server_;
};

}  // namespace vecstream::testing
