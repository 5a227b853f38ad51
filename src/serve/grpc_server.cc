// GrpcServer: the callback-API service, its worker pool, and the proto <-> Service translation.
#include "serve/grpc_server.h"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include "core/metric.h"
#include "embed/grpc_runtime.h"
#include "serve/status_map.h"
#include "vecstream/v1/vecstream.grpc.pb.h"

namespace vecstream {

namespace pb = ::vecstream::v1;

namespace {

// ---- worker pool --------------------------------------------------------------------------

// A fixed set of threads draining a bounded FIFO of closures. submit() refuses (returns false)
// when the queue is full or the pool is stopping; stop() runs what is queued, then joins.
class WorkerPool {
 public:
  WorkerPool(size_t threads, size_t max_pending) : max_pending_(max_pending) {
    workers_.reserve(threads);
    for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { loop(); });
  }
  ~WorkerPool() { stop(); }

  bool submit(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ || queue_.size() >= max_pending_) return false;
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
    return true;
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ && workers_.empty()) return;
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping and drained
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  const size_t max_pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// ---- translation ----------------------------------------------------------------------------

grpc::Status to_grpc(const Status& s) {
  if (s.is_ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(grpc_code_of(s)), s.message());
}

Status with_context(const Status& s, const std::string& where) {
  return Status(s.code(), where + ": " + s.message());
}

Result<PointId> from_proto(const pb::PointId& id) {
  switch (id.kind_case()) {
    case pb::PointId::kNum: return PointId::number(id.num());
    case pb::PointId::kStr: return PointId::string(id.str());
    default: return Status::invalid_argument("point id is not set (give num or str)");
  }
}

void to_proto(const PointId& id, pb::PointId* out) {
  if (id.is_string()) {
    out->set_str(id.str());
  } else {
    out->set_num(id.num());
  }
}

// Parses a JSON document given as a string field; never throws.
Result<nlohmann::json> parse_json(const std::string& text, const char* field) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::invalid_argument(std::string(field) + " is not valid JSON");
  return j;
}

// Payloads: empty = none; otherwise a JSON object.
Result<nlohmann::json> parse_payload(const std::string& text) {
  if (text.empty()) return nlohmann::json();
  auto j = parse_json(text, "payload_json");
  if (!j.is_ok()) return j.status();
  if (!j->is_object() && !j->is_null()) {
    return Status::invalid_argument("payload_json must be a JSON object");
  }
  return j;
}

std::string dump_json(const nlohmann::json& j) {
  if (j.is_null()) return std::string();
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::vector<PointWrite>> from_proto(const google::protobuf::RepeatedPtrField<pb::Point>& ps) {
  std::vector<PointWrite> out;
  out.reserve(static_cast<size_t>(ps.size()));
  for (int i = 0; i < ps.size(); ++i) {
    const pb::Point& p = ps[i];
    const std::string where = "points[" + std::to_string(i) + "]";
    PointWrite w;
    auto id = from_proto(p.id());
    if (!id.is_ok()) return with_context(id.status(), where);
    w.id = std::move(*id);
    w.vector.assign(p.vector().begin(), p.vector().end());
    auto payload = parse_payload(p.payload_json());
    if (!payload.is_ok()) return with_context(payload.status(), where);
    w.payload = std::move(*payload);
    out.push_back(std::move(w));
  }
  return out;
}

Result<SearchRequest> from_proto(const pb::SearchRequest& r) {
  SearchRequest q;
  q.collection = r.collection();
  q.vector.assign(r.vector().begin(), r.vector().end());
  q.text = r.text();
  q.k = r.k() == 0 ? 10 : r.k();
  if (!r.filter_json().empty()) {
    auto f = PayloadFilter::parse(r.filter_json());
    if (!f.is_ok()) return with_context(f.status(), "filter_json");
    q.filter = std::move(*f);
  }
  q.ef = r.ef();
  q.nprobe = r.nprobe();
  q.rerank_factor = r.rerank_factor();
  q.exact = r.exact();
  q.with_payload = r.with_payload();
  q.with_vector = r.with_vector();
  q.use_cache = r.has_use_cache() ? r.use_cache() : true;
  q.streaming = r.streaming();
  return q;
}

void to_proto(const SearchResponse& r, Metric metric, pb::SearchResponse* out) {
  out->mutable_points()->Reserve(static_cast<int>(r.points.size()));
  for (const ScoredPoint& p : r.points) {
    pb::ScoredPoint* o = out->add_points();
    to_proto(p.id, o->mutable_id());
    o->set_distance(p.distance);
    o->set_score(score_from_distance(metric, p.distance));
    o->set_payload_json(dump_json(p.payload));
    o->mutable_vector()->Add(p.vector.begin(), p.vector.end());
  }
  out->set_server_seconds(r.server_seconds);
  out->set_cached(r.cached);
}

void to_proto(const CollectionInfo& info, pb::CollectionInfo* out) {
  out->set_name(info.config.name);
  out->set_dim(static_cast<uint32_t>(info.config.dim));
  out->set_metric(std::string(metric_name(info.config.metric)));
  out->set_live(info.stats.live);
  out->set_info_json(dump_json(info.to_json()));
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Result<std::string> read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error(std::string("cannot read ") + what + " " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return Status::io_error(std::string("cannot read ") + what + " " + path);
  return ss.str();
}

}  // namespace

// ---- the service ------------------------------------------------------------------------------

struct GrpcServer::Impl final : public pb::Vecstream::CallbackService {
  // (Inside this class `Service` names the generated base: ours is spelled ::vecstream::Service.)
  Impl(::vecstream::Service& s, ApiKeys k, const Options& o)
      : service(s), keys(std::move(k)), pool(o.threads, o.max_pending_calls),
        inline_search_max_ef(o.inline_search_max_ef) {}

  ::vecstream::Service& service;
  const ApiKeys keys;
  WorkerPool pool;
  const size_t inline_search_max_ef;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::mutex stop_mu;
  bool stopped = false;

  /// The caller, from "authorization: Bearer <key>" or "x-api-key: <key>".
  Result<Principal> authenticate(const grpc::CallbackServerContext* ctx) const {
    const auto& md = ctx->client_metadata();
    std::string presented;
    if (auto it = md.find("authorization"); it != md.end()) {
      const std::string_view v(it->second.data(), it->second.size());
      constexpr std::string_view kBearer = "bearer ";
      if (v.size() <= kBearer.size() || lower(v.substr(0, kBearer.size())) != kBearer) {
        return Status::unauthenticated("authorization metadata must be \"Bearer <key>\"");
      }
      presented.assign(v.substr(kBearer.size()));
    } else if (auto it2 = md.find("x-api-key"); it2 != md.end()) {
      presented.assign(it2->second.data(), it2->second.size());
    }
    return keys.authenticate(presented);
  }

  /// Whether a search (Search, or a query on a SearchStream) runs on the gRPC thread that read
  /// it rather than on a worker: a plain ANN search (a vector, no filter, no exact scan) whose
  /// beam max(ef, k) is within inline_search_max_ef (ef 0, the index default, counts as within)
  /// and that waits on nothing (no batch window, no Redis, no embedder: see
  /// Service::search_never_waits) does bounded, sub-millisecond work, and skipping the hand-off
  /// to a worker saves two thread wake-ups per query. Anything else goes to the pool.
  bool runs_inline(const pb::SearchRequest& r) const {
    if (inline_search_max_ef == 0 || r.exact() || !r.filter_json().empty() ||
        std::max<size_t>(r.ef(), r.k()) > inline_search_max_ef) {
      return false;
    }
    return service.search_never_waits(r.streaming(), r.has_use_cache() ? r.use_cache() : true,
                                      !r.text().empty());
  }

  /// The metric of `collection`, for scores (L2 when it is gone: score = distance).
  Metric metric_of(const std::string& collection) {
    auto c = service.catalog().get(collection);
    return c.is_ok() ? (*c)->config().metric : Metric::kL2;
  }

  /// Authenticates, then runs `fn(principal) -> Status` on a worker (or right here, on gRPC's
  /// thread, when `here`) and finishes the call with its Status. `fn` may use the request and
  /// response: they live until Finish.
  template <typename Fn>
  grpc::ServerUnaryReactor* run(grpc::CallbackServerContext* ctx, Fn fn, bool here = false) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    auto principal = authenticate(ctx);
    if (!principal.is_ok()) {
      reactor->Finish(to_grpc(principal.status()));
      return reactor;
    }
    auto task = [reactor, fn = std::move(fn), p = std::move(*principal)]() {
      Status s;
      try {
        s = fn(p);
      } catch (const std::exception& e) {
        s = Status::internal(std::string("unexpected error: ") + e.what());
      }
      reactor->Finish(to_grpc(s));
    };
    if (here) {
      task();
      return reactor;
    }
    const bool queued = pool.submit(std::move(task));
    if (!queued) {
      reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "server busy: too many calls waiting; retry later"));
    }
    return reactor;
  }

  // ---- collections ----

  grpc::ServerUnaryReactor* CreateCollection(grpc::CallbackServerContext* ctx,
                                             const pb::CreateCollectionRequest* req,
                                             pb::CollectionInfo* resp) override {
    return run(ctx, [this, req, resp](const Principal& p) -> Status {
      auto config = parse_json(req->config_json(), "config_json");
      if (!config.is_ok()) return config.status();
      auto info = service.create_collection(p, *config);
      if (!info.is_ok()) return info.status();
      to_proto(*info, resp);
      return Status::ok();
    });
  }

  grpc::ServerUnaryReactor* ListCollections(grpc::CallbackServerContext* ctx,
                                            const pb::ListCollectionsRequest*,
                                            pb::ListCollectionsResponse* resp) override {
    return run(ctx, [this, resp](const Principal& p) -> Status {
      auto infos = service.list_collections(p);
      if (!infos.is_ok()) return infos.status();
      for (const CollectionInfo& info : *infos) to_proto(info, resp->add_collections());
      return Status::ok();
    });
  }

  grpc::ServerUnaryReactor* DescribeCollection(grpc::CallbackServerContext* ctx,
                                               const pb::DescribeCollectionRequest* req,
                                               pb::CollectionInfo* resp) override {
    return run(ctx, [this, req, resp](const Principal& p) -> Status {
      auto info = service.describe_collection(p, req->name());
      if (!info.is_ok()) return info.status();
      to_proto(*info, resp);
      return Status::ok();
    });
  }

  grpc::ServerUnaryReactor* DropCollection(grpc::CallbackServerContext* ctx,
                                           const pb::DropCollectionRequest* req,
                                           pb::DropCollectionResponse*) override {
    return run(ctx, [this, req](const Principal& p) -> Status {
      return service.drop_collection(p, req->name());
    });
  }

  // ---- points ----

  grpc::ServerUnaryReactor* Upsert(grpc::CallbackServerContext* ctx, const pb::UpsertRequest* req,
                                   pb::UpsertResponse* resp) override {
    return run(ctx, [this, req, resp](const Principal& p) -> Status {
      auto points = from_proto(req->points());
      if (!points.is_ok()) return points.status();
      auto ack = service.upsert(p, req->collection(), std::move(*points));
      if (!ack.is_ok()) return ack.status();
      resp->set_seq(ack->seq);
      resp->set_applied(ack->applied);
      resp->set_batches(1);
      return Status::ok();
    });
  }

  // Reads one batch, applies it on a worker, then reads the next: at most one batch of a stream
  // is in memory or in flight at a time. Finishes with the summary when the client half-closes,
  // or with the first error.
  class UpsertStreamReactor final : public grpc::ServerReadReactor<pb::UpsertRequest> {
   public:
    UpsertStreamReactor(Impl* impl, Result<Principal> principal, pb::UpsertResponse* resp)
        : impl_(impl), resp_(resp) {
      if (!principal.is_ok()) {
        Finish(to_grpc(principal.status()));
        return;
      }
      principal_ = std::move(*principal);
      StartRead(&req_);
    }

    void OnReadDone(bool ok) override {
      if (!ok) {  // the client half-closed (or the call is being cancelled)
        Finish(grpc::Status::OK);
        return;
      }
      if (!impl_->pool.submit([this] { apply(); })) {
        Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "server busy: too many calls waiting; retry later"));
      }
    }

    void OnDone() override { delete this; }

   private:
    void apply() {
      Status s;
      try {
        s = apply_batch();
      } catch (const std::exception& e) {
        s = Status::internal(std::string("unexpected error: ") + e.what());
      }
      if (!s.is_ok()) {
        // The batches before this one stay applied: say how many, so the client knows where to
        // resume (or simply retries everything: upserts are idempotent by id).
        Finish(to_grpc(Status(s.code(), "batch " + std::to_string(resp_->batches()) + ": " +
                                            s.message() + " (the " +
                                            std::to_string(resp_->batches()) +
                                            " batches before it are applied: " +
                                            std::to_string(resp_->applied()) + " points)")));
        return;
      }
      req_.Clear();
      StartRead(&req_);
    }

    Status apply_batch() {
      auto points = from_proto(req_.points());
      if (!points.is_ok()) return points.status();
      auto ack = impl_->service.upsert(principal_, req_.collection(), std::move(*points));
      if (!ack.is_ok()) return ack.status();
      resp_->set_seq(std::max<uint64_t>(resp_->seq(), ack->seq));
      resp_->set_applied(resp_->applied() + ack->applied);
      resp_->set_batches(resp_->batches() + 1);
      return Status::ok();
    }

    Impl* const impl_;
    pb::UpsertResponse* const resp_;
    Principal principal_;
    pb::UpsertRequest req_;
  };

  grpc::ServerReadReactor<pb::UpsertRequest>* UpsertStream(grpc::CallbackServerContext* ctx,
                                                           pb::UpsertResponse* resp) override {
    return new UpsertStreamReactor(this, authenticate(ctx), resp);
  }

  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const pb::DeleteRequest* req,
                                   pb::DeleteResponse* resp) override {
    return run(ctx, [this, req, resp](const Principal& p) -> Status {
      const bool by_ids = req->ids_size() > 0;
      const bool by_filter = !req->filter_json().empty();
      if (by_ids == by_filter) {
        return Status::invalid_argument("give exactly one of ids and filter_json");
      }
      Result<WriteAck> ack = Status::internal("unset");
      if (by_ids) {
        std::vector<PointId> ids;
        ids.reserve(static_cast<size_t>(req->ids_size()));
        for (int i = 0; i < req->ids_size(); ++i) {
          auto id = from_proto(req->ids(i));
          if (!id.is_ok()) return with_context(id.status(), "ids[" + std::to_string(i) + "]");
          ids.push_back(std::move(*id));
        }
        ack = service.remove(p, req->collection(), ids);
      } else {
        auto filter = PayloadFilter::parse(req->filter_json());
        if (!filter.is_ok()) return with_context(filter.status(), "filter_json");
        ack = service.remove_where(p, req->collection(), *filter);
      }
      if (!ack.is_ok()) return ack.status();
      resp->set_seq(ack->seq);
      resp->set_deleted(ack->applied);
      return Status::ok();
    });
  }

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const pb::GetRequest* req,
                                pb::Point* resp) override {
    return run(ctx, [this, req, resp](const Principal& p) -> Status {
      auto id = from_proto(req->id());
      if (!id.is_ok()) return with_context(id.status(), "id");
      auto rec = service.get(p, req->collection(), *id);
      if (!rec.is_ok()) return rec.status();
      to_proto(rec->id, resp->mutable_id());
      resp->mutable_vector()->Add(rec->vector.begin(), rec->vector.end());
      resp->set_payload_json(dump_json(rec->payload));
      return Status::ok();
    });
  }

  // ---- search ----

  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* ctx, const pb::SearchRequest* req,
                                   pb::SearchResponse* resp) override {
    auto fn = [this, req, resp](const Principal& p) -> Status {
      auto q = from_proto(*req);
      if (!q.is_ok()) return q.status();
      auto r = service.search(p, *q);
      if (!r.is_ok()) return r.status();
      to_proto(*r, metric_of(q->collection), resp);
      return Status::ok();
    };
    return run(ctx, std::move(fn), runs_inline(*req));
  }

  grpc::ServerUnaryReactor* SearchBatch(grpc::CallbackServerContext* ctx,
                                        const pb::SearchBatchRequest* req,
                                        pb::SearchBatchResponse* resp) override {
    return run(ctx, [this, req, resp](const Principal& p) -> Status {
      std::vector<SearchRequest> qs;
      qs.reserve(static_cast<size_t>(req->queries_size()));
      for (int i = 0; i < req->queries_size(); ++i) {
        auto q = from_proto(req->queries(i));
        if (!q.is_ok()) return with_context(q.status(), "queries[" + std::to_string(i) + "]");
        qs.push_back(std::move(*q));
      }
      auto rs = service.search_batch(p, qs);
      if (!rs.is_ok()) return rs.status();
      const Metric metric = metric_of(qs.front().collection);
      for (const SearchResponse& r : *rs) to_proto(r, metric, resp->add_results());
      return Status::ok();
    });
  }

  // One query at a time per stream: read, search (on this gRPC thread when runs_inline, else on
  // a worker), write the answer, then read the next. The read that ends the stream (half-close
  // or cancel) can only come while nothing is in flight, so Finish is never called with a write
  // outstanding and OnDone frees the reactor once no worker task refers to it.
  class SearchStreamReactor final
      : public grpc::ServerBidiReactor<pb::SearchRequest, pb::SearchStreamResponse> {
   public:
    SearchStreamReactor(Impl* impl, Result<Principal> principal) : impl_(impl) {
      if (!principal.is_ok()) {
        Finish(to_grpc(principal.status()));
        return;
      }
      principal_ = std::move(*principal);
      StartRead(&req_);
    }

    void OnReadDone(bool ok) override {
      if (!ok) {  // the client half-closed (or the call is being cancelled)
        Finish(grpc::Status::OK);
        return;
      }
      if (impl_->runs_inline(req_)) {
        answer();
        return;
      }
      if (!impl_->pool.submit([this] { answer(); })) {
        resp_.Clear();
        set_error(Status::resource_exhausted("server busy: too many calls waiting; retry later"));
        StartWrite(&resp_);
      }
    }

    void OnWriteDone(bool ok) override {
      if (!ok) {  // the stream is broken (cancelled, or the client went away)
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream ended before the answer was sent"));
        return;
      }
      req_.Clear();
      StartRead(&req_);
    }

    void OnDone() override { delete this; }

   private:
    void answer() {
      resp_.Clear();
      Status s;
      try {
        s = search();
      } catch (const std::exception& e) {
        s = Status::internal(std::string("unexpected error: ") + e.what());
      }
      if (!s.is_ok()) {
        resp_.Clear();
        set_error(s);
      }
      StartWrite(&resp_);
    }

    Status search() {
      auto q = from_proto(req_);
      if (!q.is_ok()) return q.status();
      auto r = impl_->service.search(principal_, *q);
      if (!r.is_ok()) return r.status();
      to_proto(*r, impl_->metric_of(q->collection), resp_.mutable_result());
      return Status::ok();
    }

    void set_error(const Status& s) {
      resp_.mutable_error()->set_code(grpc_code_of(s));
      resp_.mutable_error()->set_message(s.message());
    }

    Impl* const impl_;
    Principal principal_;
    pb::SearchRequest req_;
    pb::SearchStreamResponse resp_;
  };

  grpc::ServerBidiReactor<pb::SearchRequest, pb::SearchStreamResponse>* SearchStream(
      grpc::CallbackServerContext* ctx) override {
    return new SearchStreamReactor(this, authenticate(ctx));
  }

  // ---- operations ----

  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* ctx, const pb::StatsRequest*,
                                  pb::StatsResponse* resp) override {
    return run(ctx, [this, resp](const Principal& p) -> Status {
      auto j = service.stats(p);
      if (!j.is_ok()) return j.status();
      resp->set_stats_json(dump_json(*j));
      return Status::ok();
    });
  }
};

// ---- lifecycle --------------------------------------------------------------------------------

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { stop(std::chrono::milliseconds(0)); }

int GrpcServer::port() const { return impl_->port; }

Result<std::unique_ptr<GrpcServer>> GrpcServer::start(Service& service, const ApiKeys& keys,
                                                      Options options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return Status::invalid_argument("TLS needs both tls_cert_file and tls_key_file");
  }
  if (!options.client_ca_file.empty() && options.tls_cert_file.empty()) {
    return Status::invalid_argument("client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file");
  }
  if (options.max_message_bytes == 0 ||
      options.max_message_bytes > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Status::invalid_argument("max_message_bytes must be in [1, 2^31)");
  }
  if (options.max_pending_calls == 0) {
    return Status::invalid_argument("max_pending_calls must be at least 1");
  }
  if (options.threads == 0) options.threads = std::max(2u, std::thread::hardware_concurrency());

  std::shared_ptr<grpc::ServerCredentials> creds;
  if (options.tls_cert_file.empty()) {
    creds = grpc::InsecureServerCredentials();
  } else {
    auto cert = read_file(options.tls_cert_file, "tls_cert_file");
    if (!cert.is_ok()) return cert.status();
    auto key = read_file(options.tls_key_file, "tls_key_file");
    if (!key.is_ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({std::move(*key), std::move(*cert)});
    if (options.client_ca_file.empty()) {
      ssl.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    } else {
      auto ca = read_file(options.client_ca_file, "client_ca_file");
      if (!ca.is_ok()) return ca.status();
      ssl.pem_root_certs = std::move(*ca);
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    creds = grpc::SslServerCredentials(ssl);
  }

  prepare_grpc_runtime();
  auto impl = std::make_unique<Impl>(service, keys, options);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, creds, &impl->port);
  builder.RegisterService(impl.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  // A port in use must be an error, not silently shared with another process.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    impl->pool.stop();
    return Status::io_error("gRPC server cannot listen on " + options.address);
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

void GrpcServer::stop(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  // Shutdown refuses new calls, waits up to the deadline for those in flight (their worker tasks
  // still run and finish them), then cancels the rest and waits for every reactor to be done.
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->pool.stop();
  impl_->server->Wait();
}

}  // namespace vecstream
