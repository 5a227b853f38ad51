#include "app/rest_client.h"

#include <httplib.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>

namespace vecstream {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct ParsedUrl {
  std::string scheme;  // "http" | "https"
  std::string host;    // as written, brackets kept for IPv6 ("[::1]")
  int port = 0;
  std::string base_path;  // "" or "/prefix" without a trailing slash
};

/// scheme://host[:port][/base]; no user info, query or fragment.
Result<ParsedUrl> parse_url(const std::string& url) {
  const auto bad = [&](const std::string& why) {
    return Status::invalid_argument("--url \"" + url + "\": " + why +
                                    " (expected http://HOST[:PORT] or https://HOST[:PORT])");
  };
  ParsedUrl out;
  const size_t sep = url.find("://");
  if (sep == std::string::npos) return bad("no scheme");
  out.scheme = lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") return bad("scheme must be http or https");
  std::string_view rest = std::string_view(url).substr(sep + 3);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return bad("user information is not supported");
  if (path.find_first_of("?#") != std::string_view::npos)
    return bad("no query or fragment allowed");
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in the host");
    out.host = std::string(authority.substr(0, close + 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after the host");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (out.host.empty() || out.host == "[]") return bad("no host");
  if (port_text.empty()) {
    out.port = out.scheme == "https" ? 443 : 80;
  } else {
    auto r = std::from_chars(port_text.data(), port_text.data() + port_text.size(), out.port);
    if (r.ec != std::errc() || r.ptr != port_text.data() + port_text.size() || out.port < 1 ||
        out.port > 65535) {
      return bad("port must be a number in [1, 65535]");
    }
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.base_path = std::string(path);
  return out;
}

/// What the user should know about a request that got no HTTP answer.
std::string describe_transport_error(httplib::Error e, const std::string& url, double timeout_s) {
  char timeout[32];
  std::snprintf(timeout, sizeof(timeout), "%g s", timeout_s);
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect to " + url +
             ": connection refused or host unreachable (is `vecstream serve` running there?)";
    case httplib::Error::ConnectionTimeout:
      return "cannot connect to " + url + ": no connection within " + timeout;
    case httplib::Error::Read:
      return "no answer from " + url + ": the connection broke or the answer took longer than " +
             timeout + " (--timeout)";
    case httplib::Error::Write:
      return "cannot send the request to " + url + ": the connection broke";
    case httplib::Error::SSLConnection:
      return "TLS handshake with " + url + " failed (does the server speak HTTPS there?)";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the CA certificates to verify " + url + " (--ca-cert)";
    case httplib::Error::SSLServerVerification:
      return "the certificate of " + url +
             " is not trusted (give the CA that signed it with --ca-cert)";
    default:
      return "request to " + url + " failed: " + httplib::to_string(e);
  }
}

}  // namespace

std::string RestReply::error_code() const {
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& e = body["error"];
    if (e.contains("code") && e["code"].is_string()) return e["code"].get<std::string>();
  }
  return "HTTP " + std::to_string(http_status);
}

std::string RestReply::error_message() const {
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& e = body["error"];
    if (e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
  }
  std::string text = raw_body.substr(0, 200);
  for (char& c : text) c = c == '\n' || c == '\r' ? ' ' : c;
  return text.empty() ? "(empty body)" : text;
}

std::string RestReply::describe_error() const {
  const std::string code = error_code();
  if (code.rfind("HTTP ", 0) == 0) return code + ": " + error_message();
  return code + " (HTTP " + std::to_string(http_status) + "): " + error_message();
}

Status RestReply::error() const {
  const std::string code = error_code();
  StatusCode mapped = StatusCode::kInternal;
  for (int c = static_cast<int>(StatusCode::kInvalidArgument);
       c <= static_cast<int>(StatusCode::kPermissionDenied); ++c) {
    if (status_code_name(static_cast<StatusCode>(c)) == code) mapped = static_cast<StatusCode>(c);
  }
  return Status(mapped, describe_error());
}

Result<std::unique_ptr<RestClient>> RestClient::create(const RestClientOptions& o) {
  auto url = parse_url(o.url);
  if (!url.is_ok()) return url.status();
  if (!(o.timeout_seconds > 0) || !std::isfinite(o.timeout_seconds)) {
    return Status::invalid_argument("--timeout must be a positive number of seconds");
  }
  if (!o.ca_cert_file.empty()) {
    if (url->scheme != "https") {
      return Status::invalid_argument("--ca-cert is for https:// servers; --url is " + o.url);
    }
    std::ifstream in(o.ca_cert_file);
    if (!in) return Status::invalid_argument("--ca-cert: cannot read " + o.ca_cert_file);
  }
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
  if (url->scheme == "https") {
    return Status::invalid_argument("this build of vecstream has no TLS support for https://");
  }
#endif
  auto http = std::make_unique<httplib::Client>(url->scheme + "://" + url->host + ":" +
                                                std::to_string(url->port));
  if (!http->is_valid()) return Status::invalid_argument("--url \"" + o.url + "\": not usable");
  const auto sec = static_cast<time_t>(o.timeout_seconds);
  const auto usec = static_cast<time_t>((o.timeout_seconds - static_cast<double>(sec)) * 1e6);
  http->set_connection_timeout(sec, usec);
  http->set_read_timeout(sec, usec);
  http->set_write_timeout(sec, usec);
  http->set_keep_alive(true);  // one connection for every batch of an upsert or a query file
  http->set_tcp_nodelay(true);  // headers and body go in two writes: no Nagle wait on the body
  if (!o.api_key.empty()) http->set_bearer_token_auth(o.api_key);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  if (url->scheme == "https") {
    http->enable_server_certificate_verification(true);
    if (!o.ca_cert_file.empty()) http->set_ca_cert_path(o.ca_cert_file);
  }
#endif
  std::string shown = o.url;
  while (shown.size() > 1 && shown.back() == '/') shown.pop_back();
  return std::unique_ptr<RestClient>(
      new RestClient(std::move(http), shown, url->base_path, o.timeout_seconds));
}

RestClient::RestClient(std::unique_ptr<httplib::Client> http, std::string url,
                       std::string base_path, double timeout_seconds)
    : http_(std::move(http)),
      url_(std::move(url)),
      base_path_(std::move(base_path)),
      timeout_seconds_(timeout_seconds) {}

RestClient::~RestClient() = default;

Result<RestReply> RestClient::send(std::string_view method, const std::string& path,
                                   const std::string& body) {
  if (method != "GET" && method != "POST" && method != "PUT" && method != "DELETE") {
    return Status::invalid_argument("unsupported HTTP method " + std::string(method));
  }
  const std::string target = base_path_ + path;
  const char* type = "application/json";
  httplib::Result r = [&]() -> httplib::Result {
    if (method == "GET") return http_->Get(target);
    if (method == "POST") return http_->Post(target, body, type);
    if (method == "PUT") return http_->Put(target, body, type);
    return body.empty() ? http_->Delete(target) : http_->Delete(target, body, type);
  }();
  if (!r) return Status::io_error(describe_transport_error(r.error(), url_, timeout_seconds_));
  RestReply out;
  out.http_status = r->status;
  out.raw_body = std::move(r->body);
  out.body = nlohmann::json::parse(out.raw_body, nullptr, /*allow_exceptions=*/false);
  return out;
}

std::string url_encode_segment(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace vecstream
