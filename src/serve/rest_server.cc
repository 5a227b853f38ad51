#include "serve/rest_server.h"

#include <httplib.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include "serve/rest_codec.h"
#include "serve/status_map.h"

namespace vecstream {

namespace {

using httplib::Request;
using httplib::Response;
using json = nlohmann::json;

constexpr const char* kJsonType = "application/json";
constexpr const char* kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_json(Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), kJsonType);
}

void send_status(Response& res, const Status& s) {
  send_json(res, http_status_of(s), dump(error_body(s)));
}

/// Errors that belong to HTTP itself and have no Status code (405, 413, 503...).
void send_error(Response& res, int http, std::string_view code, const std::string& message) {
  send_json(res, http, dump(json{{"error", {{"code", code}, {"message", message}}}}));
}

std::string_view http_code_name(int http) {
  switch (http) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 405: return "METHOD_NOT_ALLOWED";
    case 408: return "DEADLINE_EXCEEDED";
    case 413: return "RESOURCE_EXHAUSTED";
    case 414: return "INVALID_ARGUMENT";
    case 416: return "OUT_OF_RANGE";
    case 429: return "RESOURCE_EXHAUSTED";
    case 503: return "UNAVAILABLE";
    default: return http >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Percent-decodes one path segment ('+' stays '+': it is a space only in query strings).
bool decode_segment(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

/// Query parameters of a request target, read from the URL only: httplib also parses a
/// form-encoded body into `Request::params`, and a JSON body sent with curl's default
/// Content-Type must still be read as JSON, not as a form.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

bool parse_query(std::string_view target, QueryParams* out) {
  out->clear();
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return true;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string raw_key(pair.substr(0, eq));
    std::string raw_val(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    for (std::string* p : {&raw_key, &raw_val}) {
      for (char& c : *p) c = c == '+' ? ' ' : c;
    }
    std::string key, val;
    if (!decode_segment(raw_key, &key) || !decode_segment(raw_val, &val)) return false;
    out->emplace_back(std::move(key), std::move(val));
  }
  return true;
}

const std::string* find_query(const QueryParams& q, std::string_view key) {
  for (const auto& [k, v] : q) {
    if (k == key) return &v;
  }
  return nullptr;
}

/// Splits "/a/b/c" into {"a","b","c"}; a trailing slash gives a last empty segment.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path[0] != '/') return out;
  size_t start = 1;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      break;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

enum class RouteId {
  kHealthz,
  kReadyz,
  kMetrics,
  kCreateCollection,
  kListCollections,
  kDescribeCollection,
  kDropCollection,
  kUpsertPoints,
  kDeletePoints,
  kGetPoint,
  kSearch,
  kSearchBatch,
  kStats,
};

struct RouteDef {
  RestRoute route;
  RouteId id;
  std::vector<std::string_view> query_params;  // allowed query parameters
  std::vector<std::string_view> segments;      // the path split; "{x}" matches any segment
};

const std::vector<RouteDef>& route_defs() {
  static const std::vector<RouteDef> defs = [] {
    std::vector<RouteDef> d = {
        {{"GET", "/healthz", false}, RouteId::kHealthz, {}, {}},
        {{"GET", "/readyz", false}, RouteId::kReadyz, {}, {}},
        {{"GET", "/metrics", false}, RouteId::kMetrics, {}, {}},
        {{"POST", "/v1/collections"}, RouteId::kCreateCollection, {}, {}},
        {{"GET", "/v1/collections"}, RouteId::kListCollections, {}, {}},
        {{"GET", "/v1/collections/{name}"}, RouteId::kDescribeCollection, {}, {}},
        {{"DELETE", "/v1/collections/{name}"}, RouteId::kDropCollection, {}, {}},
        {{"PUT", "/v1/collections/{name}/points"}, RouteId::kUpsertPoints, {}, {}},
        {{"POST", "/v1/collections/{name}/points/delete"}, RouteId::kDeletePoints, {}, {}},
        {{"GET", "/v1/collections/{name}/points/{id}"}, RouteId::kGetPoint, {"id_type"}, {}},
        {{"POST", "/v1/collections/{name}/search"}, RouteId::kSearch, {}, {}},
        {{"POST", "/v1/collections/{name}/search/batch"}, RouteId::kSearchBatch, {}, {}},
        {{"GET", "/v1/stats"}, RouteId::kStats, {}, {}},
    };
    for (RouteDef& r : d) r.segments = split_path(r.route.path);
    return d;
  }();
  return defs;
}

/// Literal segments must be equal; "{x}" captures the (decoded) segment.
bool match_route(const RouteDef& r, const std::vector<std::string>& segs,
                 std::vector<std::string>* params) {
  if (r.segments.size() != segs.size()) return false;
  params->clear();
  for (size_t i = 0; i < segs.size(); ++i) {
    const std::string_view t = r.segments[i];
    if (t.size() >= 2 && t.front() == '{' && t.back() == '}') {
      if (segs[i].empty()) return false;
      params->push_back(segs[i]);
    } else if (t != segs[i]) {
      return false;
    }
  }
  return true;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct RestServer::Impl {
  Service& service;
  const ApiKeys keys;
  const Options options;
  std::unique_ptr<httplib::Server> server;
  std::thread acceptor;
  std::atomic<bool> acceptor_done{false};
  int port = 0;
  bool tls = false;
  std::mutex stop_mu;
  bool stopped = false;

  Impl(Service& s, const ApiKeys& k, Options o) : service(s), keys(k), options(std::move(o)) {}

  /// Every request comes here: route, authenticate, dispatch.
  void handle(const Request& req, Response& res);
  Result<Principal> authenticate(const Request& req) const;
  void dispatch(RouteId id, const Request& req, const std::vector<std::string>& params,
                const QueryParams& query, const Principal& p, Response& res);

  /// An error found here, before the Service (credentials, malformed body): counted in the
  /// Service's error metric, then answered.
  void reject(Response& res, const Status& s) {
    service.record_error(s);
    send_status(res, s);
  }

  void search(const Request& req, const std::string& name, const Principal& p, Response& res);
  void search_batch(const Request& req, const std::string& name, const Principal& p,
                    Response& res);
  Metric metric_of(const std::string& name) const {
    auto c = service.catalog().get(name);
    return c.is_ok() ? (*c)->config().metric : Metric::kL2;
  }
};

Result<Principal> RestServer::Impl::authenticate(const Request& req) const {
  if (!keys.enabled()) return Principal{};
  std::string key;
  if (req.has_header("Authorization")) {
    const std::string v = req.get_header_value("Authorization");
    if (!iequals_prefix(v, "bearer ")) {
      return Status::unauthenticated("Authorization header: expected \"Bearer <key>\"");
    }
    key = trim(std::string_view(v).substr(7));
  } else if (req.has_header("X-Api-Key")) {
    key = trim(req.get_header_value("X-Api-Key"));
  }
  return keys.authenticate(key);
}

void RestServer::Impl::handle(const Request& req, Response& res) {
  const std::string method = req.method == "HEAD" ? "GET" : req.method;
  std::string_view target = req.target;
  if (const size_t q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  std::vector<std::string> segs;
  for (std::string_view raw : split_path(target)) {
    std::string s;
    if (!decode_segment(raw, &s)) {
      reject(res, Status::invalid_argument("malformed percent-escape in the path"));
      return;
    }
    segs.push_back(std::move(s));
  }
  const RouteDef* chosen = nullptr;
  std::vector<std::string> params, scratch;
  std::string allow;
  for (const RouteDef& r : route_defs()) {
    if (!match_route(r, segs, &scratch)) continue;
    if (r.route.method == method) {
      chosen = &r;
      params = scratch;
      break;
    }
    if (allow.find(r.route.method) == std::string::npos) {
      if (!allow.empty()) allow += ", ";
      allow += r.route.method;
    }
  }
  if (!chosen) {
    if (!allow.empty()) {
      res.set_header("Allow", allow);
      send_error(res, 405, "METHOD_NOT_ALLOWED",
                 "method " + req.method + " not allowed on " + std::string(target) +
                     " (allowed: " + allow + ")");
    } else {
      send_error(res, 404, "NOT_FOUND", "no route " + req.method + " " + std::string(target));
    }
    return;
  }
  QueryParams query;
  if (!parse_query(req.target, &query)) {
    reject(res, Status::invalid_argument("malformed percent-escape in the query string"));
    return;
  }
  for (const auto& [key, value] : query) {
    bool ok = false;
    for (std::string_view a : chosen->query_params) ok = ok || key == a;
    if (!ok) {
      reject(res, Status::invalid_argument("unknown query parameter \"" + key + "\""));
      return;
    }
  }
  Principal principal;
  if (chosen->route.needs_auth) {
    auto p = authenticate(req);
    if (!p.is_ok()) {
      res.set_header("WWW-Authenticate", "Bearer");
      reject(res, p.status());
      return;
    }
    principal = std::move(*p);
  }
  dispatch(chosen->id, req, params, query, principal, res);
}

void RestServer::Impl::dispatch(RouteId id, const Request& req,
                                const std::vector<std::string>& params, const QueryParams& query,
                                const Principal& p, Response& res) {
  switch (id) {
    case RouteId::kHealthz:
      send_json(res, 200, R"({"status":"ok"})");
      return;
    case RouteId::kReadyz:
      if (!options.ready || options.ready()) {
        send_json(res, 200, R"({"status":"ready"})");
      } else {
        send_error(res, 503, "UNAVAILABLE", "not ready");
      }
      return;
    case RouteId::kMetrics:
      if (!options.metrics_text) {
        send_error(res, 404, "NOT_FOUND", "metrics are not enabled on this server");
        return;
      }
      res.status = 200;
      res.set_content(options.metrics_text(), kPrometheusType);
      return;
    case RouteId::kCreateCollection: {
      auto body = parse_json_body(req.body);
      if (!body.is_ok()) return reject(res, body.status());
      auto info = service.create_collection(p, *body);
      if (!info.is_ok()) return send_status(res, info.status());
      res.set_header("Location", "/v1/collections/" + info->config.name);
      send_json(res, 201, dump(info->to_json()));
      return;
    }
    case RouteId::kListCollections: {
      auto list = service.list_collections(p);
      if (!list.is_ok()) return send_status(res, list.status());
      json out = {{"collections", json::array()}};
      for (const CollectionInfo& c : *list) out["collections"].push_back(c.to_json());
      send_json(res, 200, dump(out));
      return;
    }
    case RouteId::kDescribeCollection: {
      auto info = service.describe_collection(p, params[0]);
      if (!info.is_ok()) return send_status(res, info.status());
      send_json(res, 200, dump(info->to_json()));
      return;
    }
    case RouteId::kDropCollection: {
      Status s = service.drop_collection(p, params[0]);
      if (!s.is_ok()) return send_status(res, s);
      send_json(res, 200, dump(json{{"name", params[0]}, {"dropped", true}}));
      return;
    }
    case RouteId::kUpsertPoints: {
      auto body = parse_json_body(req.body);
      if (!body.is_ok()) return reject(res, body.status());
      auto points = parse_upsert_body(*body);
      if (!points.is_ok()) return reject(res, points.status());
      auto ack = service.upsert(p, params[0], std::move(*points));
      if (!ack.is_ok()) return send_status(res, ack.status());
      send_json(res, 200, encode_ack(*ack));
      return;
    }
    case RouteId::kDeletePoints: {
      auto body = parse_json_body(req.body);
      if (!body.is_ok()) return reject(res, body.status());
      auto del = parse_delete_body(*body);
      if (!del.is_ok()) return reject(res, del.status());
      auto ack = del->filter ? service.remove_where(p, params[0], *del->filter)
                             : service.remove(p, params[0], del->ids);
      if (!ack.is_ok()) return send_status(res, ack.status());
      send_json(res, 200, encode_ack(*ack));
      return;
    }
    case RouteId::kGetPoint: {
      const std::string* id_type_param = find_query(query, "id_type");
      const std::string id_type = id_type_param ? *id_type_param : "";
      if (id_type_param && id_type.empty()) {
        return reject(res, Status::invalid_argument(
                               "id_type: expected \"number\" or \"string\", got \"\""));
      }
      auto pid = parse_path_id(params[1], id_type);
      if (!pid.is_ok()) return reject(res, pid.status());
      auto rec = service.get(p, params[0], *pid);
      if (!rec.is_ok()) return send_status(res, rec.status());
      send_json(res, 200, encode_point(*rec));
      return;
    }
    case RouteId::kSearch: return search(req, params[0], p, res);
    case RouteId::kSearchBatch: return search_batch(req, params[0], p, res);
    case RouteId::kStats: {
      auto st = service.stats(p);
      if (!st.is_ok()) return send_status(res, st.status());
      send_json(res, 200, dump(*st));
      return;
    }
  }
  send_error(res, 500, "INTERNAL", "unhandled route");
}

void RestServer::Impl::search(const Request& req, const std::string& name, const Principal& p,
                              Response& res) {
  Result<SearchRequest> sr = Status::internal("unset");
  if (auto fast = parse_search_body_fast(req.body, name)) {
    sr = std::move(*fast);
  } else {
    auto body = parse_json_body(req.body);
    if (!body.is_ok()) return reject(res, body.status());
    sr = parse_search_body(*body, name);
    if (!sr.is_ok()) return reject(res, sr.status());
  }
  auto out = service.search(p, *sr);
  if (!out.is_ok()) return send_status(res, out.status());
  send_json(res, 200,
            encode_search_response(*out, metric_of(name), sr->with_payload, sr->with_vector));
}

void RestServer::Impl::search_batch(const Request& req, const std::string& name,
                                    const Principal& p, Response& res) {
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return reject(res, body.status());
  auto reqs = parse_search_batch_body(*body, name);
  if (!reqs.is_ok()) return reject(res, reqs.status());
  auto out = service.search_batch(p, *reqs);
  if (!out.is_ok()) return send_status(res, out.status());
  const Metric metric = metric_of(name);
  std::string text = "{\"results\":[";
  for (size_t i = 0; i < out->size(); ++i) {
    if (i) text.push_back(',');
    append_search_response((*out)[i], metric, (*reqs)[i].with_payload, (*reqs)[i].with_vector,
                           &text);
  }
  text += "]}";
  send_json(res, 200, std::move(text));
}

RestServer::RestServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RestServer::~RestServer() { stop(); }

int RestServer::port() const { return impl_->port; }
bool RestServer::tls() const { return impl_->tls; }

const std::vector<RestRoute>& RestServer::routes() {
  static const std::vector<RestRoute> routes = [] {
    std::vector<RestRoute> r;
    for (const RouteDef& d : route_defs()) r.push_back(d.route);
    return r;
  }();
  return routes;
}

void RestServer::stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  // Closes the listening socket; the acceptor's loop ends, then the pool drains the connections
  // already handed to it (a request being handled finishes and is answered) and is joined.
  impl_->server->stop();
  if (impl_->acceptor.joinable()) impl_->acceptor.join();
}

Result<std::unique_ptr<RestServer>> RestServer::start(Service& service, const ApiKeys& keys,
                                                      Options options) {
  if (options.threads == 0) return Status::invalid_argument("rest: threads must be at least 1");
  if (options.keep_alive_max_requests == 0) {
    return Status::invalid_argument("rest: keep_alive_max_requests must be at least 1");
  }
  if (options.port < 0 || options.port > 65535) {
    return Status::invalid_argument("rest: port " + std::to_string(options.port) +
                                    " out of range [0, 65535]");
  }
  const bool tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (tls && (options.tls_cert_file.empty() || options.tls_key_file.empty())) {
    return Status::invalid_argument("rest: TLS needs both a certificate file and a key file");
  }
  auto impl = std::make_unique<Impl>(service, keys, std::move(options));
  const Options& o = impl->options;
  if (tls) {
    for (const std::string& f : {o.tls_cert_file, o.tls_key_file}) {
      std::ifstream in(f);
      if (!in) return Status::invalid_argument("rest: cannot read TLS file " + f);
    }
    auto ssl = std::make_unique<httplib::SSLServer>(o.tls_cert_file.c_str(), o.tls_key_file.c_str());
    if (!ssl->is_valid()) {
      return Status::invalid_argument("rest: invalid TLS certificate " + o.tls_cert_file +
                                      " or key " + o.tls_key_file + " (or they do not match)");
    }
    impl->server = std::move(ssl);
  } else {
    impl->server = std::make_unique<httplib::Server>();
  }
  impl->tls = tls;
  httplib::Server& svr = *impl->server;
  const size_t threads = o.threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(o.max_body_bytes);
  svr.set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which would let a second server bind the same
  // port and silently take half its connections; a taken port must be an error.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  svr.set_keep_alive_timeout(o.keep_alive_timeout_s);
  svr.set_keep_alive_max_count(o.keep_alive_max_requests);

  Impl* self = impl.get();
  const auto handler = [self](const Request& req, Response& res) { self->handle(req, res); };
  // One catch-all per method: routing (and so 404 versus 405) is ours, from route_defs().
  svr.Get(".*", handler);
  svr.Post(".*", handler);
  svr.Put(".*", handler);
  svr.Delete(".*", handler);
  svr.Patch(".*", handler);
  svr.Options(".*", handler);
  // Answers httplib produced itself (body too large, malformed request, URI too long) get the
  // JSON error body too.
  const size_t max_body = o.max_body_bytes;
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body, self](const Request& req, Response& res) -> httplib::Server::HandlerResponse {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (res.status) {
      case 413: {
        const std::string len = req.get_header_value("Content-Length");
        message = "request body" + (len.empty() ? std::string() : " of " + len + " bytes") +
                  " exceeds the limit of " + std::to_string(max_body) + " bytes";
        break;
      }
      case 414: message = "request URI too long"; break;
      case 400: message = "malformed HTTP request"; break;
      case 404: message = "no route " + req.method + " " + req.path; break;
      default: message = "HTTP " + std::to_string(res.status); break;
    }
    if (res.status == 413) self->service.record_error(Status::resource_exhausted(message));
    if (res.status == 400 || res.status == 414) {
      self->service.record_error(Status::invalid_argument(message));
    }
    send_error(res, res.status, http_code_name(res.status), message);
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, "INTERNAL", "internal error: " + what);
  });

  if (o.port == 0) {
    impl->port = svr.bind_to_any_port(o.host);
    if (impl->port <= 0) return Status::io_error("rest: cannot bind " + o.host + " to any port");
  } else {
    if (!svr.bind_to_port(o.host, o.port)) {
      return Status::io_error("rest: cannot bind " + o.host + ":" + std::to_string(o.port));
    }
    impl->port = o.port;
  }
  impl->acceptor = std::thread([self] {
    self->server->listen_after_bind();
    self->acceptor_done = true;
  });
  // stop() only works once the acceptor runs: wait for it before handing the server out.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!svr.is_running() && !self->acceptor_done &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!svr.is_running()) {
    svr.stop();
    impl->acceptor.join();
    return Status::io_error("rest: the server on " + o.host + ":" + std::to_string(impl->port) +
                            " did not start");
  }
  return std::unique_ptr<RestServer>(new RestServer(std::move(impl)));
}

}  // namespace vecstream
