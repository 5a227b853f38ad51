// RestServer: Vecstream's REST/JSON API over HTTP/1.1 (or HTTPS), on cpp-httplib. It mirrors the
// gRPC API under /v1/... and adds the operational endpoints; openapi/vecstream.yaml documents
// every route in routes() (a test keeps the two equal).
//
//   GET    /healthz                                   200 while the process serves
//   GET    /readyz                                    200 when Options::ready() says so, else 503
//   GET    /metrics                                   Prometheus text (Options::metrics_text)
//   POST   /v1/collections                            create (body: collection config) -> 201
//   GET    /v1/collections                            list
//   GET    /v1/collections/{name}                     describe
//   DELETE /v1/collections/{name}                     drop
//   PUT    /v1/collections/{name}/points              upsert {"points":[...]}
//   POST   /v1/collections/{name}/points/delete       delete {"ids":[...]} | {"filter":{...}}
//   GET    /v1/collections/{name}/points/{id}         get (?id_type=string|number)
//   POST   /v1/collections/{name}/search              search
//   POST   /v1/collections/{name}/search/batch        batch search {"queries":[...]}
//   GET    /v1/stats                                  stats
//
// Every error is an HTTP 4xx/5xx with {"error":{"code","message"}}: Service errors through
// status_map.h; the transport's own ones here — unknown route 404 NOT_FOUND, known route with
// another method 405 METHOD_NOT_ALLOWED (with Allow), body above max_body_bytes 413
// RESOURCE_EXHAUSTED, malformed HTTP 400, not ready 503 UNAVAILABLE.
//
// Authentication: "Authorization: Bearer <key>" or "X-Api-Key: <key>", looked up in ApiKeys; the
// Principal goes to the Service, which authorises (role, collection scope). /healthz, /readyz and
// /metrics need no key.
//
// Threading: one acceptor thread and a fixed pool of Options::threads workers (a connection is
// served by one worker for as long as it is kept alive; no thread per request). Handlers call the
// Service, which may be called from any thread. stop() (and the destructor) closes the listening
// socket, lets requests already being handled finish and send their answers, then joins every
// thread. The Service and ApiKeys must outlive the server (ApiKeys is copied at start).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "serve/api_keys.h"
#include "serve/service.h"

namespace vecstream {

/// One entry of the route table: method and path as the OpenAPI document writes them
/// ("/v1/collections/{name}").
struct RestRoute {
  std::string_view method;
  std::string_view path;
  bool needs_auth = true;
};

class RestServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0 = pick a free port; port() tells which
    size_t threads = 4;
    size_t max_body_bytes = size_t{64} << 20;
    /// Both set = HTTPS with this PEM certificate (chain) and private key.
    std::string tls_cert_file, tls_key_file;
    /// GET /metrics body; empty function = /metrics answers 404.
    std::function<std::string()> metrics_text;
    /// GET /readyz; empty function = always ready.
    std::function<bool()> ready;
    /// How long an idle kept-alive connection holds its worker.
    int keep_alive_timeout_s = 5;
    /// Requests one kept-alive connection may carry before the server closes it. httplib's own
    /// default (5) makes a busy client reconnect every 5 requests.
    size_t keep_alive_max_requests = 10000;
  };

  /// Binds, starts the workers and returns once the server accepts connections.
  /// INVALID_ARGUMENT for bad options (one TLS file without the other, unreadable or invalid
  /// certificate/key, threads == 0); IO_ERROR when the address cannot be bound.
  static Result<std::unique_ptr<RestServer>> start(Service& service, const ApiKeys& keys,
                                                   Options options);
  ~RestServer();
  RestServer(const RestServer&) = delete;
  RestServer& operator=(const RestServer&) = delete;

  int port() const;
  bool tls() const;
  /// Graceful: stop accepting, finish the requests being handled, join. Idempotent; any thread
  /// but a request handler's.
  void stop();

  /// Every (method, path) the server answers, in a fixed order.
  static const std::vector<RestRoute>& routes();

 private:
  struct Impl;
  explicit RestServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecstream
