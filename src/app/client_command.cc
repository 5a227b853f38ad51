#include "app/client_command.h"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/rest_client.h"
#include "segment/payload_filter.h"
#include "serve/rest_codec.h"
#include "serve/server_config.h"

namespace vecstream {

namespace {

using json = nlohmann::json;

constexpr int kExitServer = 1;     // the server answered with an error
constexpr int kExitInput = 2;      // bad input, found before it was sent
constexpr int kExitTransport = 3;  // no answer from the server

// Every dump of text that came from outside: invalid UTF-8 is replaced, never thrown about.
std::string dump(const json& j, int indent = -1) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

/// The REST address `vecstream serve` listens on when not told otherwise.
std::string default_url() {
  const ServerConfig defaults;
  std::string host = defaults.http.host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(defaults.http.port);
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// ---- command-line storage -------------------------------------------------------------------

struct ConnectionFlags {
  std::string url = default_url();
  std::string api_key;
  std::string ca_cert;
  double timeout_seconds = 30.0;
};

struct QueryFlags {
  std::string collection;
  std::string vector;  // JSON array or comma list
  std::string file;    // JSON lines, "-" = stdin
  size_t k = 10;
  std::string filter;
  size_t ef = 0;
  size_t nprobe = 0;
  double rerank_factor = 0.0;
  bool exact = false;
  bool with_payload = false;
  bool with_vector = false;
  bool no_cache = false;
  bool json_output = false;
  size_t batch_size = 256;
};

struct UpsertFlags {
  std::string collection;
  std::string file;  // JSON lines, "-" or empty = stdin
  size_t batch_size = 500;
  size_t max_batch_bytes = size_t{8} << 20;
  bool json_output = false;
};

struct CollectionFlags {
  std::string name;
  size_t dim = 0;
  std::string metric;
  size_t shards = 0;
  std::string index;
  std::string fsync;
  std::string config;  // a whole or partial config as JSON; the named flags win
  bool json_output = false;
};

// ---- talking to the server ------------------------------------------------------------------

/// One command's conversation with the server. Remembers whether the last failure came from the
/// server or from the transport, which decides the exit status.
class Session {
 public:
  explicit Session(std::unique_ptr<RestClient> client) : client_(std::move(client)) {}

  /// A 2xx answer's body; otherwise the server's error (code and message) or the transport's.
  Result<json> call(std::string_view method, const std::string& path,
                    const std::string& body = "") {
    auto r = client_->send(method, path, body);
    if (!r.is_ok()) {
      failure_exit_ = kExitTransport;
      return r.status();
    }
    if (!r->ok()) {
      failure_exit_ = kExitServer;
      Status e = r->error();
      std::string msg = "server error " + e.message();
      if (r->http_status == 401) msg += " (give a key with --api-key or VECSTREAM_API_KEY)";
      return Status(e.code(), std::move(msg));
    }
    failure_exit_ = kExitInput;
    if (r->body.is_discarded()) {
      failure_exit_ = kExitServer;
      return Status::internal("the server's answer is not JSON: " + r->error_message());
    }
    return std::move(r->body);
  }

  /// Whether the last failed call() was refused by the server with RESOURCE_EXHAUSTED (a
  /// request above one of its limits, or an overloaded queue): the request changed nothing and
  /// a smaller one may pass.
  bool last_failure_was_server_limit(const Status& s) const {
    return failure_exit_ == kExitServer && s.code() == StatusCode::kResourceExhausted;
  }
  /// The exit status for a command that failed with the last call()'s Status, or with a Status
  /// of its own when the last call succeeded.
  int failure_exit() const { return failure_exit_; }

 private:
  std::unique_ptr<RestClient> client_;
  int failure_exit_ = kExitInput;
};

Result<Session> open_session(const ConnectionFlags& f) {
  RestClientOptions o;
  o.url = f.url;
  o.api_key = f.api_key;
  o.ca_cert_file = f.ca_cert;
  o.timeout_seconds = f.timeout_seconds;
  auto c = RestClient::create(o);
  if (!c.is_ok()) return c.status();
  return Session(std::move(*c));
}

std::string collection_path(const std::string& name) {
  return "/v1/collections/" + url_encode_segment(name);
}

/// The collection's dimension, from its description (also: NOT_FOUND before anything is read).
Result<size_t> collection_dim(Session& s, const std::string& name) {
  auto info = s.call("GET", collection_path(name));
  if (!info.is_ok()) return info.status();
  const json* dim = nullptr;
  if (info->is_object() && info->contains("config") && (*info)["config"].is_object()) {
    auto it = (*info)["config"].find("dim");
    if (it != (*info)["config"].end() && it->is_number_unsigned()) dim = &*it;
  }
  if (!dim) return Status::internal("the description of \"" + name + "\" has no config.dim");
  return dim->get<size_t>();
}

// ---- reading input --------------------------------------------------------------------------

/// A vector written on the command line: a JSON array ("[0.1, 2, 3e-2]") or numbers separated
/// by commas and/or spaces ("0.1,2,3e-2"). Every value finite and within float range.
Result<json> parse_vector_text(std::string_view text) {
  text = trim(text);
  if (text.empty()) return Status::invalid_argument("VECTOR is empty");
  json arr = json::array();
  if (text.front() == '[') {
    auto j = parse_json_body(text);
    if (!j.is_ok()) return Status::invalid_argument("VECTOR: " + j.status().message());
    if (!j->is_array()) return Status::invalid_argument("VECTOR: expected a JSON array of numbers");
    arr = std::move(*j);
  } else {
    size_t index = 0;
    while (!text.empty()) {
      const size_t end = text.find_first_of(", \t\n");
      std::string_view tok = text.substr(0, end);
      text = end == std::string_view::npos ? std::string_view() : trim(text.substr(end + 1));
      if (!text.empty() && text.front() == ',') text = trim(text.substr(1));
      if (tok.empty()) continue;
      // from_chars does not take a leading '+'; a user may well write one.
      std::string_view digits = tok.front() == '+' ? tok.substr(1) : tok;
      double d = 0;
      auto r = std::from_chars(digits.data(), digits.data() + digits.size(), d);
      if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) {
        return Status::invalid_argument("VECTOR: element " + std::to_string(index) + " (\"" +
                                        std::string(tok) + "\") is not a number");
      }
      if (!std::isfinite(d)) {
        return Status::invalid_argument("VECTOR: element " + std::to_string(index) + " (" +
                                        std::string(tok) +
                                        ") is not a finite number (NaN or infinity)");
      }
      arr.push_back(d);
      ++index;
    }
  }
  // The server's own checks (numbers, finite, float range), applied here so that a bad vector
  // is an input error found before anything is sent.
  auto check = parse_search_body(json{{"vector", arr}}, "");
  if (!check.is_ok()) return Status::invalid_argument("VECTOR: " + check.status().message());
  if (arr.empty()) return Status::invalid_argument("VECTOR has no values");
  return arr;
}

/// Where JSON lines come from: a file, or standard input for "-" (or nothing, when stdin is not
/// a terminal: a user who forgot the input should not see the command hang).
class LineInput {
 public:
  static Result<LineInput> open(const std::string& file, const char* what) {
    LineInput in;
    if (file.empty() || file == "-") {
      if (file.empty() && ::isatty(0)) {
        return Status::invalid_argument(
            std::string("no ") + what +
            ": give --file FILE, or pipe JSON lines into standard input");
      }
      in.name_ = "stdin";
      return in;
    }
    in.file_ = std::make_unique<std::ifstream>(file);
    if (!*in.file_) return Status::invalid_argument("cannot read " + file);
    in.name_ = file;
    return in;
  }

  /// The next line that is not blank; false at the end. line_number() is 1-based.
  bool next(std::string* line) {
    std::istream& s = file_ ? *file_ : std::cin;
    while (std::getline(s, *line)) {
      ++line_;
      if (!trim(*line).empty()) return true;
    }
    return false;
  }
  size_t line_number() const { return line_; }
  /// Whether reading stopped because of an I/O error rather than the end of the input.
  bool failed() const {
    const std::istream& s = file_ ? *file_ : std::cin;
    return s.bad();
  }
  const std::string& name() const { return name_; }

 private:
  std::unique_ptr<std::ifstream> file_;
  std::string name_;
  size_t line_ = 0;
};

// ---- printing -------------------------------------------------------------------------------

std::string format_float(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string format_vector(const json& v) {
  if (!v.is_array()) return dump(v);
  constexpr size_t kShown = 8;
  std::string out = "[";
  for (size_t i = 0; i < v.size() && i < kShown; ++i) {
    if (i) out += ", ";
    out += v[i].is_number() ? format_float(v[i].get<double>()) : dump(v[i]);
  }
  if (v.size() > kShown) out += ", ... (" + std::to_string(v.size()) + " values)";
  return out + "]";
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string number_field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? format_float(it->get<double>()) : "-";
}

/// One search answer as a table: rank, id, score, distance, and payload / vector when asked for.
void print_result_table(const json& r, bool with_payload, bool with_vector,
                        const std::string& indent) {
  if (!r.is_object()) return;
  const json empty = json::array();
  auto pts = r.find("points");
  const json& points = pts != r.end() && pts->is_array() ? *pts : empty;
  std::vector<std::string> ids;
  size_t id_width = 2;
  for (const json& p : points) {
    ids.push_back(p.is_object() && p.contains("id") ? dump(p["id"]) : "?");
    id_width = std::max(id_width, ids.back().size());
  }
  const size_t rank_width = std::to_string(std::max<size_t>(1, points.size())).size();
  if (!points.empty()) {
    std::string header = indent + pad("#", rank_width) + "  " + pad("id", id_width) + "  " +
                         pad("score", 12) + "  " + pad("distance", 12);
    if (with_payload) header += "  payload";
    if (with_vector) header += "  vector";
    std::printf("%s\n", std::string(trim_right(header)).c_str());
  }
  for (size_t i = 0; i < points.size(); ++i) {
    static const json kNoFields = json::object();
    const json& p = points[i].is_object() ? points[i] : kNoFields;
    std::string line = indent + pad(std::to_string(i + 1), rank_width) + "  " +
                       pad(ids[i], id_width) + "  " + pad(number_field(p, "score"), 12) + "  " +
                       pad(number_field(p, "distance"), 12);
    if (with_payload)
      line += "  " + (p.contains("payload") ? dump(p["payload"]) : std::string("null"));
    if (with_vector)
      line += "  " + (p.contains("vector") ? format_vector(p["vector"]) : std::string("-"));
    std::printf("%s\n", std::string(trim_right(line)).c_str());
  }
  auto secs = r.find("server_seconds");
  const double seconds = secs != r.end() && secs->is_number() ? secs->get<double>() : 0.0;
  auto cached = r.find("cached");
  const bool from_cache = cached != r.end() && cached->is_boolean() && cached->get<bool>();
  std::printf("%s%zu point%s, %.3f ms in the server%s\n", indent.c_str(), points.size(),
              points.size() == 1 ? "" : "s", seconds * 1e3,
              from_cache ? ", from the result cache" : "");
}

// ---- query ----------------------------------------------------------------------------------

/// The search fields the flags give (everything but the vector).
Result<json> query_defaults(const QueryFlags& f) {
  json q = json::object();
  q["k"] = f.k;
  if (!f.filter.empty()) {
    auto fj = parse_json_body(f.filter);
    if (!fj.is_ok()) return Status::invalid_argument("--filter: " + fj.status().message());
    auto parsed = PayloadFilter::parse(*fj);
    if (!parsed.is_ok()) return Status::invalid_argument("--filter: " + parsed.status().message());
    q["filter"] = std::move(*fj);
  }
  if (f.ef) q["ef"] = f.ef;
  if (f.nprobe) q["nprobe"] = f.nprobe;
  if (f.rerank_factor != 0.0) q["rerank_factor"] = f.rerank_factor;
  if (f.exact) q["exact"] = true;
  if (f.with_payload) q["with_payload"] = true;
  if (f.with_vector) q["with_vector"] = true;
  if (f.no_cache) q["use_cache"] = false;
  return q;
}

/// Sends `queries` (request objects) to the batch route in order, appending each answer to
/// *results. A batch the server finds too large (RESOURCE_EXHAUSTED) changed nothing: it is
/// split in halves, and *batch_size shrinks for the batches after it.
Status send_queries(Session& s, const std::string& path, std::span<const json> queries,
                    size_t* batch_size, json* results) {
  json body = {{"queries", json::array()}};
  for (const json& q : queries) body["queries"].push_back(q);
  auto r = s.call("POST", path, dump(body));
  if (!r.is_ok()) {
    if (queries.size() > 1 && s.last_failure_was_server_limit(r.status())) {
      const size_t half = queries.size() / 2;
      *batch_size = std::min(*batch_size, half);
      VS_RETURN_IF_ERROR(send_queries(s, path, queries.first(half), batch_size, results));
      return send_queries(s, path, queries.subspan(half), batch_size, results);
    }
    return r.status();
  }
  if (!r->contains("results") || !(*r)["results"].is_array() ||
      (*r)["results"].size() != queries.size()) {
    return Status::internal("the server's batch answer does not have one result per query");
  }
  for (json& one : (*r)["results"]) results->push_back(std::move(one));
  return Status::ok();
}

/// Queries from JSON lines: each line a vector (JSON array) or a search request object (the
/// REST API's, e.g. {"vector": [...], "k": 5, "filter": {...}}) whose fields win over the flags.
Status run_query_lines(Session& s, const QueryFlags& f, const json& defaults) {
  auto input = LineInput::open(f.file, "queries");
  if (!input.is_ok()) return input.status();
  auto dim = collection_dim(s, f.collection);
  if (!dim.is_ok()) return dim.status();
  std::vector<json> queries;
  std::vector<size_t> lines;
  std::string line;
  while (input->next(&line)) {
    const std::string where = input->name() + " line " + std::to_string(input->line_number());
    auto j = parse_json_body(line);
    if (!j.is_ok()) return Status::invalid_argument(where + ": " + j.status().message());
    json q = defaults;
    if (j->is_array()) {
      q["vector"] = std::move(*j);
    } else if (j->is_object()) {
      for (auto it = j->begin(); it != j->end(); ++it) q[it.key()] = it.value();
    } else {
      return Status::invalid_argument(
          where + ": expected a vector (JSON array) or a query object, got " + j->type_name());
    }
    auto check = parse_search_body(q, f.collection);
    if (!check.is_ok()) return Status::invalid_argument(where + ": " + check.status().message());
    if (check->vector.size() != *dim) {
      return Status::invalid_argument(
          where + ": the vector has " + std::to_string(check->vector.size()) +
          " values; collection \"" + f.collection + "\" has dim " + std::to_string(*dim));
    }
    queries.push_back(std::move(q));
    lines.push_back(input->line_number());
  }
  if (input->failed()) return Status::io_error("cannot read " + input->name());
  if (queries.empty()) return Status::invalid_argument("no queries in " + input->name());

  const std::string path = collection_path(f.collection) + "/search/batch";
  json results = json::array();
  size_t batch = std::max<size_t>(1, f.batch_size);
  for (size_t lo = 0; lo < queries.size();) {
    const size_t n = std::min(batch, queries.size() - lo);
    VS_RETURN_IF_ERROR(
        send_queries(s, path, std::span<const json>(queries).subspan(lo, n), &batch, &results));
    lo += n;
  }
  if (f.json_output) {
    std::printf("%s\n", dump(json{{"results", std::move(results)}}).c_str());
    return Status::ok();
  }
  for (size_t i = 0; i < results.size(); ++i) {
    const bool payload = queries[i].value("with_payload", false);
    const bool vector = queries[i].value("with_vector", false);
    std::printf("%squery %zu (%s line %zu)\n", i ? "\n" : "", i + 1, input->name().c_str(),
                lines[i]);
    print_result_table(results[i], payload, vector, "  ");
  }
  return Status::ok();
}

Status run_query(Session& s, const QueryFlags& f) {
  if (!f.vector.empty() && !f.file.empty()) {
    return Status::invalid_argument("give a VECTOR or --file, not both");
  }
  auto defaults = query_defaults(f);
  if (!defaults.is_ok()) return defaults.status();
  if (f.vector.empty() || f.vector == "-") {
    QueryFlags from_lines = f;
    if (f.vector == "-") from_lines.file = "-";
    return run_query_lines(s, from_lines, *defaults);
  }
  auto vec = parse_vector_text(f.vector);
  if (!vec.is_ok()) return vec.status();
  json q = std::move(*defaults);
  q["vector"] = std::move(*vec);
  auto r = s.call("POST", collection_path(f.collection) + "/search", dump(q));
  if (!r.is_ok()) return r.status();
  if (f.json_output) {
    std::printf("%s\n", dump(*r).c_str());
  } else {
    print_result_table(*r, f.with_payload, f.with_vector, "");
  }
  return Status::ok();
}

// ---- upsert ---------------------------------------------------------------------------------

struct UpsertTotals {
  uint64_t applied = 0;
  uint64_t seq = 0;
  size_t requests = 0;
  size_t last_line_acked = 0;
};

/// One batch of points (each already validated and serialized) and the lines they came from.
struct PointBatch {
  std::vector<std::string> points;
  std::vector<size_t> lines;
  size_t bytes = 0;

  void clear() {
    points.clear();
    lines.clear();
    bytes = 0;
  }
};

/// PUTs points[lo, hi) of `batch`; splits on RESOURCE_EXHAUSTED like send_queries().
Status send_points(Session& s, const std::string& path, const PointBatch& batch, size_t lo,
                   size_t hi, size_t* batch_size, UpsertTotals* totals) {
  std::string body = "{\"points\":[";
  for (size_t i = lo; i < hi; ++i) {
    if (i > lo) body.push_back(',');
    body += batch.points[i];
  }
  body += "]}";
  auto r = s.call("PUT", path, body);
  if (!r.is_ok()) {
    if (hi - lo > 1 && s.last_failure_was_server_limit(r.status())) {
      const size_t mid = lo + (hi - lo) / 2;
      *batch_size = std::min(*batch_size, mid - lo);
      VS_RETURN_IF_ERROR(send_points(s, path, batch, lo, mid, batch_size, totals));
      return send_points(s, path, batch, mid, hi, batch_size, totals);
    }
    return r.status();
  }
  totals->applied += r->value("applied", uint64_t{0});
  totals->seq = std::max(totals->seq, r->value("seq", uint64_t{0}));
  totals->requests++;
  totals->last_line_acked = batch.lines[hi - 1];
  return Status::ok();
}

Status run_upsert(Session& s, const UpsertFlags& f) {
  if (f.batch_size == 0) return Status::invalid_argument("--batch-size must be at least 1");
  auto input = LineInput::open(f.file, "points");
  if (!input.is_ok()) return input.status();
  auto dim = collection_dim(s, f.collection);
  if (!dim.is_ok()) return dim.status();

  const std::string path = collection_path(f.collection) + "/points";
  UpsertTotals totals;
  PointBatch batch;
  size_t batch_size = f.batch_size;
  // A bad line: what the user needs to know to resume. The line's batch (the points read since
  // the last request, and the line itself) is not sent; what was acknowledged before stays.
  const auto explain = [&](const Status& st, size_t line) {
    std::string msg = st.message();
    const size_t first = batch.lines.empty() ? line : batch.lines.front();
    msg += first == line ? "; its batch (line " + std::to_string(line) + ") was not sent"
                         : "; its batch (lines " + std::to_string(first) + "-" +
                               std::to_string(line) + ") was not sent";
    msg += totals.applied ? "; " + std::to_string(totals.applied) +
                                " points were acknowledged before it (lines 1-" +
                                std::to_string(totals.last_line_acked) + ")"
                          : "; no point was written";
    return Status(st.code(), msg);
  };
  const auto flush = [&]() -> Status {
    if (batch.points.empty()) return Status::ok();
    for (size_t lo = 0; lo < batch.points.size();) {
      const size_t hi = std::min(batch.points.size(), lo + batch_size);
      Status st = send_points(s, path, batch, lo, hi, &batch_size, &totals);
      if (!st.is_ok()) {
        std::string msg = st.message();
        msg += totals.applied ? "; " + std::to_string(totals.applied) +
                                    " points were acknowledged before it (lines 1-" +
                                    std::to_string(totals.last_line_acked) +
                                    "); upserts are idempotent, so sending the input again is safe"
                              : "; no point was written";
        return Status(st.code(), msg);
      }
      lo = hi;
    }
    batch.clear();
    return Status::ok();
  };

  std::string line;
  size_t points = 0;
  while (input->next(&line)) {
    const size_t line_no = input->line_number();
    const std::string where = input->name() + " line " + std::to_string(line_no);
    auto j = parse_json_body(line);
    if (!j.is_ok())
      return explain(Status::invalid_argument(where + ": " + j.status().message()), line_no);
    // The server's own validation of one point (id, vector values, payload, unknown fields), so
    // that a bad line is reported with its line number before its batch is sent.
    json one = {{"points", json::array({std::move(*j)})}};
    auto parsed = parse_upsert_body(one);
    if (!parsed.is_ok()) {
      std::string msg = parsed.status().message();
      if (msg.rfind("points[0].", 0) == 0) msg = msg.substr(10);
      if (msg.rfind("points[0]: ", 0) == 0) msg = msg.substr(11);
      return explain(Status::invalid_argument(where + ": " + msg), line_no);
    }
    if ((*parsed)[0].vector.size() != *dim) {
      return explain(Status::invalid_argument(where + ": the vector has " +
                                              std::to_string((*parsed)[0].vector.size()) +
                                              " values; collection \"" + f.collection +
                                              "\" has dim " + std::to_string(*dim)),
                     line_no);
    }
    batch.points.push_back(dump(one["points"][0]));
    batch.lines.push_back(line_no);
    batch.bytes += batch.points.back().size() + 1;
    ++points;
    if (batch.points.size() >= batch_size || batch.bytes >= f.max_batch_bytes)
      VS_RETURN_IF_ERROR(flush());
  }
  if (input->failed())
    return explain(Status::io_error("cannot read " + input->name()), input->line_number() + 1);
  VS_RETURN_IF_ERROR(flush());
  if (points == 0) return Status::invalid_argument("no points in " + input->name());
  if (f.json_output) {
    std::printf("%s\n", dump(json{{"applied", totals.applied},
                                  {"points", points},
                                  {"requests", totals.requests},
                                  {"seq", totals.seq}})
                            .c_str());
  } else {
    std::printf("upserted %llu point%s into \"%s\" in %zu request%s (last WAL seq %llu)\n",
                static_cast<unsigned long long>(totals.applied), totals.applied == 1 ? "" : "s",
                f.collection.c_str(), totals.requests, totals.requests == 1 ? "" : "s",
                static_cast<unsigned long long>(totals.seq));
  }
  return Status::ok();
}

// ---- collections ----------------------------------------------------------------------------

std::string config_field(const json& info, const char* key) {
  if (!info.is_object() || !info.contains("config") || !info["config"].is_object()) return "?";
  auto it = info["config"].find(key);
  if (it == info["config"].end()) return "?";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("kind") && (*it)["kind"].is_string())
    return (*it)["kind"].get<std::string>();
  return dump(*it);
}

std::string live_points(const json& info) {
  if (info.is_object() && info.contains("stats") && info["stats"].is_object() &&
      info["stats"].contains("live")) {
    return dump(info["stats"]["live"]);
  }
  return "?";
}

Status run_list(Session& s, bool json_output) {
  auto r = s.call("GET", "/v1/collections");
  if (!r.is_ok()) return r.status();
  if (json_output) {
    std::printf("%s\n", dump(*r).c_str());
    return Status::ok();
  }
  const json empty = json::array();
  const json& list =
      r->contains("collections") && (*r)["collections"].is_array() ? (*r)["collections"] : empty;
  if (list.empty()) {
    std::printf("no collections\n");
    return Status::ok();
  }
  std::vector<std::vector<std::string>> rows = {
      {"name", "dim", "metric", "shards", "index", "live"}};
  for (const json& c : list) {
    rows.push_back({config_field(c, "name"), config_field(c, "dim"), config_field(c, "metric"),
                    config_field(c, "shards"), config_field(c, "index"), live_points(c)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i)
      line += (i ? "  " : "") + pad(row[i], i + 1 < row.size() ? width[i] : 0);
    std::printf("%s\n", line.c_str());
  }
  return Status::ok();
}

Status run_create(Session& s, const CollectionFlags& f) {
  json config = json::object();
  if (!f.config.empty()) {
    auto j = parse_json_body(f.config);
    if (!j.is_ok()) return Status::invalid_argument("--config: " + j.status().message());
    if (!j->is_object()) return Status::invalid_argument("--config: expected a JSON object");
    config = std::move(*j);
  }
  config["name"] = f.name;
  if (f.dim) config["dim"] = f.dim;
  if (!f.metric.empty()) config["metric"] = f.metric;
  if (f.shards) config["shards"] = f.shards;
  if (!f.fsync.empty()) config["fsync"] = f.fsync;
  if (!f.index.empty()) {
    if (!config.contains("index") || !config["index"].is_object()) config["index"] = json::object();
    config["index"]["kind"] = f.index;
  }
  auto r = s.call("POST", "/v1/collections", dump(config));
  if (!r.is_ok()) return r.status();
  if (f.json_output) {
    std::printf("%s\n", dump(*r).c_str());
  } else {
    const std::string shards = config_field(*r, "shards");
    std::printf("created collection \"%s\": dim %s, metric %s, %s shard%s, index %s\n",
                config_field(*r, "name").c_str(), config_field(*r, "dim").c_str(),
                config_field(*r, "metric").c_str(), shards.c_str(), shards == "1" ? "" : "s",
                config_field(*r, "index").c_str());
  }
  return Status::ok();
}

Status run_describe(Session& s, const CollectionFlags& f) {
  auto r = s.call("GET", collection_path(f.name));
  if (!r.is_ok()) return r.status();
  std::printf("%s\n", dump(*r, f.json_output ? -1 : 2).c_str());
  return Status::ok();
}

Status run_drop(Session& s, const CollectionFlags& f) {
  auto r = s.call("DELETE", collection_path(f.name));
  if (!r.is_ok()) return r.status();
  if (f.json_output) {
    std::printf("%s\n", dump(*r).c_str());
  } else {
    std::printf("dropped collection \"%s\"\n", f.name.c_str());
  }
  return Status::ok();
}

void add_connection_flags(CLI::App* cmd, ConnectionFlags* f) {
  cmd->add_option("--url", f->url, "REST address of `vecstream serve`")
      ->envname("VECSTREAM_URL")
      ->capture_default_str();
  cmd->add_option("--api-key", f->api_key, "API key, sent as a Bearer token")
      ->envname("VECSTREAM_API_KEY");
  cmd->add_option("--ca-cert", f->ca_cert,
                  "PEM CA bundle that signed an https:// server's certificate");
  cmd->add_option("--timeout", f->timeout_seconds,
                  "Seconds to connect, and to wait for each answer")
      ->capture_default_str();
}

constexpr const char* kExitFooter =
    "Exit status: 0 done; 1 the server refused the request; 2 bad input (nothing of it sent); "
    "3 no answer from the server.";

}  // namespace

struct ClientCommands::Impl {
  ConnectionFlags conn;
  QueryFlags query;
  UpsertFlags upsert;
  CollectionFlags coll;
  CLI::App* query_cmd = nullptr;
  CLI::App* upsert_cmd = nullptr;
  CLI::App* list_cmd = nullptr;
  CLI::App* create_cmd = nullptr;
  CLI::App* describe_cmd = nullptr;
  CLI::App* drop_cmd = nullptr;

  const char* chosen_name() const {
    if (query_cmd->parsed()) return "query";
    if (upsert_cmd->parsed()) return "upsert";
    if (list_cmd->parsed()) return "collections list";
    if (create_cmd->parsed()) return "collections create";
    if (describe_cmd->parsed()) return "collections describe";
    return "collections drop";
  }

  Status run_chosen(Session& s) {
    if (query_cmd->parsed()) return run_query(s, query);
    if (upsert_cmd->parsed()) return run_upsert(s, upsert);
    if (list_cmd->parsed()) return run_list(s, coll.json_output);
    if (create_cmd->parsed()) return run_create(s, coll);
    if (describe_cmd->parsed()) return run_describe(s, coll);
    return run_drop(s, coll);
  }
};

ClientCommands::ClientCommands(CLI::App& app) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;

  auto* q = app.add_subcommand("query", "Search a collection of a running server (REST)");
  m.query_cmd = q;
  q->add_option("collection", m.query.collection, "Collection name")->required();
  q->add_option("vector,--vector", m.query.vector,
                "Query vector: JSON array \"[0.1,0.2]\" or comma list \"0.1,0.2\"; \"-\" = JSON "
                "lines from stdin, as --file -");
  q->add_option("-f,--file", m.query.file,
                "JSON lines of queries (\"-\" = stdin): each a vector [..] or a search object "
                "{\"vector\":[..],\"k\":..,\"filter\":{..}}; sent to the batch route");
  q->add_option("-k", m.query.k, "Neighbours per query")->capture_default_str();
  q->add_option("--filter", m.query.filter,
                "Payload filter as JSON, e.g. '{\"field\":\"lang\",\"eq\":\"en\"}'");
  q->add_option("--ef", m.query.ef, "HNSW search width (0 = the index's default)");
  q->add_option("--nprobe", m.query.nprobe, "IVF lists probed (0 = the index's default)");
  q->add_option(
      "--rerank", m.query.rerank_factor,
      "Quantized indexes: re-score k x FACTOR candidates exactly (0 = the index's default)");
  q->add_flag("--exact", m.query.exact, "Exact scan of every segment (ground truth)");
  q->add_flag("--with-payload", m.query.with_payload, "Return each point's payload");
  q->add_flag("--with-vector", m.query.with_vector, "Return each point's vector");
  q->add_flag("--no-cache", m.query.no_cache, "Do not answer from the server's result cache");
  q->add_flag("--json", m.query.json_output, "Print the server's JSON answer instead of a table");
  q->add_option("--batch-size", m.query.batch_size, "Queries per batch request (from --file)")
      ->capture_default_str();
  add_connection_flags(q, &m.conn);
  q->footer(kExitFooter);

  auto* u = app.add_subcommand(
      "upsert", "Insert or replace points in a collection of a running server (REST)");
  m.upsert_cmd = u;
  u->add_option("collection", m.upsert.collection, "Collection name")->required();
  u->add_option("file,-f,--file", m.upsert.file,
                "JSON lines {\"id\":..,\"vector\":[..],\"payload\":{..}} (\"-\" or none = stdin)");
  u->add_option("--batch-size", m.upsert.batch_size,
                "Points per request (smaller when the server says so)")
      ->capture_default_str();
  u->add_option("--max-batch-bytes", m.upsert.max_batch_bytes,
                "Request body size that ends a batch early")
      ->capture_default_str();
  u->add_flag("--json", m.upsert.json_output, "Print the totals as JSON");
  add_connection_flags(u, &m.conn);
  u->footer(kExitFooter);

  auto* c = app.add_subcommand(
      "collections", "List, create, describe or drop collections of a running server (REST)");
  c->require_subcommand(1);
  m.list_cmd = c->add_subcommand("list", "The collections, with their dimension, metric and size");
  m.list_cmd->add_flag("--json", m.coll.json_output, "Print the server's JSON answer");
  add_connection_flags(m.list_cmd, &m.conn);

  m.create_cmd = c->add_subcommand("create", "Create a collection");
  m.create_cmd->add_option("name", m.coll.name, "Collection name ([A-Za-z0-9_-], 1-64)")
      ->required();
  m.create_cmd->add_option("--dim", m.coll.dim, "Vector dimension");
  m.create_cmd->add_option("--metric", m.coll.metric, "l2 | ip | cosine | l1 (default l2)");
  m.create_cmd->add_option("--shards", m.coll.shards, "Shards (default 1)");
  m.create_cmd->add_option("--index", m.coll.index, "Index kind (hnsw, flat, ...)");
  m.create_cmd->add_option("--fsync", m.coll.fsync, "always | interval | none");
  m.create_cmd->add_option("--config", m.coll.config,
                           "Any other keys of the collection config as JSON, e.g. "
                           "'{\"index\":{\"kind\":\"hnsw\",\"m\":32}}'; the flags above win");
  m.create_cmd->add_flag("--json", m.coll.json_output, "Print the server's JSON answer");
  add_connection_flags(m.create_cmd, &m.conn);

  m.describe_cmd =
      c->add_subcommand("describe", "Configuration and statistics of a collection (JSON)");
  m.describe_cmd->add_option("name", m.coll.name, "Collection name")->required();
  m.describe_cmd->add_flag("--json", m.coll.json_output, "Compact JSON on one line");
  add_connection_flags(m.describe_cmd, &m.conn);

  m.drop_cmd = c->add_subcommand("drop", "Drop a collection and its data");
  m.drop_cmd->add_option("name", m.coll.name, "Collection name")->required();
  m.drop_cmd->add_flag("--json", m.coll.json_output, "Print the server's JSON answer");
  add_connection_flags(m.drop_cmd, &m.conn);
  for (CLI::App* sub : {m.list_cmd, m.create_cmd, m.describe_cmd, m.drop_cmd})
    sub->footer(kExitFooter);
}

ClientCommands::~ClientCommands() = default;

bool ClientCommands::parsed() const {
  const Impl& m = *impl_;
  return m.query_cmd->parsed() || m.upsert_cmd->parsed() || m.list_cmd->parsed() ||
         m.create_cmd->parsed() || m.describe_cmd->parsed() || m.drop_cmd->parsed();
}

int ClientCommands::run() {
  const std::string name = std::string("vecstream ") + impl_->chosen_name();
  // The backstop of "no exception leaves": the code above checks before it reads JSON, but a
  // bad_alloc or a library's surprise must still end in a message and an exit status.
  try {
    auto session = open_session(impl_->conn);
    if (!session.is_ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), session.status().message().c_str());
      return kExitInput;
    }
    Status st = impl_->run_chosen(*session);
    if (st.is_ok()) return 0;
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s\n", name.c_str(), st.message().c_str());
    return session->failure_exit();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", name.c_str(), e.what());
    return kExitServer;
  }
}

}  // namespace vecstream
