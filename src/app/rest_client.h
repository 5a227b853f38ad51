// RestClient: the command-line client's connection to a running `vecstream serve`, over the REST
// API of serve/rest_server.h (routes under /v1, documented in openapi/vecstream.yaml), on
// cpp-httplib's client (HTTPS through OpenSSL).
//
// Two kinds of failure are kept apart, because a user acts differently on them:
//   - transport: the request got no HTTP answer (connection refused, timeout, TLS handshake or
//     certificate verification failed). send() returns it as a Status (IO_ERROR, with the URL
//     and a hint); the request may or may not have reached the server.
//   - server: an HTTP answer outside 2xx. send() returns it as a RestReply; error() turns the
//     body {"error":{"code","message"}} into a Status and describe_error() into one line.
//
// Thread-safety: one RestClient per thread (httplib::Client is not shared between threads).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace httplib {
class Client;
}

namespace vecstream {

struct RestClientOptions {
  /// http://host[:port][/base] or https://...; the base path, if any, prefixes every route.
  std::string url;
  /// Sent as "Authorization: Bearer <key>"; empty = none.
  std::string api_key;
  /// PEM bundle of the CAs trusted for an https:// server; empty = the system's default store.
  std::string ca_cert_file;
  /// Connect, read and write timeout, each.
  double timeout_seconds = 30.0;
};

/// An HTTP answer of the server.
struct RestReply {
  int http_status = 0;
  nlohmann::json body;   // the parsed body; discarded (is_discarded()) when it is not JSON
  std::string raw_body;  // the body as received

  bool ok() const { return http_status >= 200 && http_status < 300; }
  /// The server's error code ("NOT_FOUND", "METHOD_NOT_ALLOWED", ...), or "HTTP <n>" when the
  /// body carries none (an answer from a proxy, say).
  std::string error_code() const;
  /// The server's error message, or the start of the raw body.
  std::string error_message() const;
  /// "NOT_FOUND (HTTP 404): collection \"x\" does not exist".
  std::string describe_error() const;
  /// The error as a Status: the server's code mapped back onto StatusCode (codes that exist only
  /// in HTTP become INTERNAL), the message as describe_error().
  Status error() const;
};

class RestClient {
 public:
  /// Checks the options (URL syntax, scheme, readable CA file, timeout > 0); no I/O beyond that.
  /// INVALID_ARGUMENT naming what is wrong.
  static Result<std::unique_ptr<RestClient>> create(const RestClientOptions& options);
  ~RestClient();
  RestClient(const RestClient&) = delete;
  RestClient& operator=(const RestClient&) = delete;

  /// One request. `method` is GET, POST, PUT or DELETE; `path` starts with '/' and is already
  /// percent-encoded; `body` (JSON text) is sent when not empty. Any HTTP answer is a RestReply
  /// (see ok()); no answer is IO_ERROR.
  Result<RestReply> send(std::string_view method, const std::string& path,
                         const std::string& body = "");

  /// The server's URL as given (for messages).
  const std::string& url() const { return url_; }

 private:
  RestClient(std::unique_ptr<httplib::Client> http, std::string url, std::string base_path,
             double timeout_seconds);

  std::unique_ptr<httplib::Client> http_;
  std::string url_;
  std::string base_path_;
  double timeout_seconds_;
};

/// Percent-encodes one path segment (a collection name, a point id): everything but
/// [A-Za-z0-9-._~].
std::string url_encode_segment(std::string_view s);

}  // namespace vecstream
