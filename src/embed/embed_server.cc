// EmbedServer: the callback-API EmbeddingService, its limits and its worker pool.
#include "embed/embed_server.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "embed/grpc_runtime.h"
#include "embed/grpc_status.h"
#include "embed/worker_pool.h"
#include "embedding.grpc.pb.h"

namespace vecstream {

namespace {

// Per-worker scratch: the views of one request's documents and its vectors, reused across the
// requests a worker serves (bounded by the per-request limits).
struct EncodeScratch {
  std::vector<std::string_view> texts;
  std::vector<float> vectors;
};

}  // namespace

struct EmbedServer::Impl final : public embedding::EmbeddingService::CallbackService {
  Impl(std::shared_ptr<Embedder> e, const Options& o)
      : embedder(std::move(e)), options(o), pool(o.threads, o.max_pending_requests) {}

  const std::shared_ptr<Embedder> embedder;
  const Options options;
  WorkerPool pool;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::mutex stop_mu;
  bool stopped = false;

  std::atomic<uint64_t> requests{0}, documents{0}, refused_limits{0}, refused_busy{0}, failed{0};

  grpc::ServerUnaryReactor* Encode(grpc::CallbackServerContext* ctx,
                                   const embedding::EncodeRequest* req,
                                   embedding::EncodeResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    requests.fetch_add(1, std::memory_order_relaxed);
    const size_t n = static_cast<size_t>(req->raw_documents_size());
    if (n > options.max_documents_per_request) {
      refused_limits.fetch_add(1, std::memory_order_relaxed);
      reactor->Finish(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          "request has " + std::to_string(n) + " documents; this server takes at most " +
              std::to_string(options.max_documents_per_request) + " per request (split the batch)"));
      return reactor;
    }
    size_t bytes = 0;
    for (const std::string& d : req->raw_documents()) bytes += d.size();
    if (bytes > options.max_request_bytes) {
      refused_limits.fetch_add(1, std::memory_order_relaxed);
      reactor->Finish(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          "request has " + std::to_string(bytes) + " bytes of documents; this server takes at most " +
              std::to_string(options.max_request_bytes) + " per request (split the batch)"));
      return reactor;
    }
    if (n == 0) {
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    const bool queued = pool.submit([this, ctx, req, resp, reactor] {
      if (ctx->IsCancelled()) {  // the client gave up while the request waited
        reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled before it was served"));
        return;
      }
      Status s;
      try {
        s = encode(*req, resp);
      } catch (const std::exception& e) {
        s = Status::internal(std::string("unexpected error: ") + e.what());
      }
      if (s.is_ok()) {
        documents.fetch_add(static_cast<uint64_t>(req->raw_documents_size()), std::memory_order_relaxed);
      } else {
        failed.fetch_add(1, std::memory_order_relaxed);
        resp->Clear();
      }
      reactor->Finish(to_grpc(s));
    });
    if (!queued) {
      refused_busy.fetch_add(1, std::memory_order_relaxed);
      reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "server busy: too many requests waiting; retry later"));
    }
    return reactor;
  }

  // Runs on a worker.
  Status encode(const embedding::EncodeRequest& req, embedding::EncodeResponse* resp) {
    thread_local EncodeScratch scratch;
    const size_t n = static_cast<size_t>(req.raw_documents_size());
    const size_t dim = embedder->dimension();
    scratch.texts.clear();
    for (const std::string& d : req.raw_documents()) scratch.texts.emplace_back(d);
    scratch.vectors.resize(n * dim);
    VS_RETURN_IF_ERROR(embedder->embed(scratch.texts, scratch.vectors));
    resp->mutable_vectors()->Reserve(static_cast<int>(n));
    for (size_t i = 0; i < n; ++i) {
      embedding::Embedding* e = resp->add_vectors();
      e->set_id(std::to_string(i));
      const float* row = scratch.vectors.data() + i * dim;
      e->mutable_values()->Add(row, row + dim);
    }
    return Status::ok();
  }
};

EmbedServer::EmbedServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EmbedServer::~EmbedServer() { stop(std::chrono::milliseconds(0)); }

int EmbedServer::port() const { return impl_->port; }

const Embedder& EmbedServer::embedder() const { return *impl_->embedder; }

EmbedServer::Stats EmbedServer::stats() const {
  Stats s;
  s.requests = impl_->requests.load(std::memory_order_relaxed);
  s.documents = impl_->documents.load(std::memory_order_relaxed);
  s.refused_limits = impl_->refused_limits.load(std::memory_order_relaxed);
  s.refused_busy = impl_->refused_busy.load(std::memory_order_relaxed);
  s.failed = impl_->failed.load(std::memory_order_relaxed);
  return s;
}

Result<std::unique_ptr<EmbedServer>> EmbedServer::start(std::shared_ptr<Embedder> embedder,
                                                        Options options) {
  if (!embedder) return Status::invalid_argument("embed server: no embedder");
  if (options.address.empty()) return Status::invalid_argument("embed server: empty address");
  if (options.max_pending_requests == 0) {
    return Status::invalid_argument("embed server: max_pending_requests must be at least 1");
  }
  if (options.max_documents_per_request == 0 || options.max_request_bytes == 0) {
    return Status::invalid_argument(
        "embed server: max_documents_per_request and max_request_bytes must be at least 1");
  }
  if (options.max_message_bytes == 0 ||
      options.max_message_bytes > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Status::invalid_argument("embed server: max_message_bytes must be in [1, 2^31)");
  }
  // An answer carries max_documents_per_request vectors: 4 bytes a value plus a few bytes of
  // framing and id per vector. It must fit in one message.
  const size_t answer_bytes = options.max_documents_per_request * (embedder->dimension() * 4 + 32);
  if (answer_bytes > options.max_message_bytes) {
    return Status::invalid_argument(
        "embed server: max_message_bytes (" + std::to_string(options.max_message_bytes) +
        ") cannot hold the answer to a full request (" +
        std::to_string(options.max_documents_per_request) + " vectors of dimension " +
        std::to_string(embedder->dimension()) + ", about " + std::to_string(answer_bytes) + " bytes)");
  }
  if (options.threads == 0) options.threads = std::max(2u, std::thread::hardware_concurrency());

  prepare_grpc_runtime();
  auto impl = std::make_unique<Impl>(std::move(embedder), options);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(), &impl->port);
  builder.RegisterService(impl.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  // A port in use must be an error, not silently shared with another process.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    impl->pool.stop();
    return Status::io_error("embed server cannot listen on " + options.address);
  }
  return std::unique_ptr<EmbedServer>(new EmbedServer(std::move(impl)));
}

void EmbedServer::stop(std::chrono::milliseconds grace) {
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
