// GrpcServer: Vecstream's gRPC API (proto/vecstream/v1/vecstream.proto) over the transport-neutral
// Service. It only translates: proto messages -> Service calls -> proto messages, every Status
// through grpc_code_of (status_map.h) with its message, so REST and gRPC answer alike.
//
// Authentication happens here, authorisation in the Service: the key comes from the metadata
// "authorization: Bearer <key>" or "x-api-key: <key>" and ApiKeys turns it into the Principal
// (no keys configured = anonymous admin). With TLS the server presents tls_cert_file/tls_key_file;
// with client_ca_file as well it requires a client certificate signed by that CA (mutual TLS) and
// refuses the handshake otherwise.
//
// Threading: gRPC's callback API — no thread per request. gRPC's own event threads parse and
// dispatch; every Service call that may wait (a WAL fsync, a batch window, Redis, the embedder)
// or run long (filters, exact scans, large ef) runs on a fixed pool of `threads` workers fed by
// a bounded queue; a plain search that waits on nothing (inline_search_max_ef) runs on the event
// thread itself. A call that finds the queue full is answered
// RESOURCE_EXHAUSTED at once rather than queued without bound. UpsertStream applies one batch at
// a time per stream (a batch is read only after the previous one is acknowledged), so a fast
// client cannot pile unacknowledged batches in memory. SearchStream likewise answers one query
// at a time per stream, in order.
//
// Limits: requests and responses above max_message_bytes are refused by gRPC itself
// (RESOURCE_EXHAUSTED); the Service enforces k, batch and upsert sizes.
//
// Thread-safety: port() from any thread; stop() from one thread, once (the destructor calls it
// when nobody did).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "core/status.h"
#include "serve/api_keys.h"
#include "serve/service.h"

namespace vecstream {

class GrpcServer {
 public:
  struct Options {
    /// host:port to listen on; port 0 picks a free one (port() tells which).
    std::string address = "127.0.0.1:50051";
    /// Workers that run Service calls; 0 = the machine's hardware concurrency.
    size_t threads = 0;
    /// Calls waiting for a worker beyond this many are refused with RESOURCE_EXHAUSTED.
    size_t max_pending_calls = 4096;
    /// Search and SearchStream: a plain ANN query (a vector, no filter, not exact) with
    /// max(ef, k) up to this runs on the gRPC thread that read it, skipping the hand-off to a
    /// worker (two thread wake-ups a query); others go to the workers. 0 = every query goes to
    /// the workers. gRPC runs callbacks on a few threads of its own (about half the cores), so
    /// on a large machine under heavy search load, 0 lets the workers use every core.
    size_t inline_search_max_ef = 256;
    /// Largest request or response message; larger ones fail with RESOURCE_EXHAUSTED.
    size_t max_message_bytes = size_t{64} << 20;
    /// PEM files. Both set = TLS; neither = plain text (only sensible on a trusted network).
    std::string tls_cert_file, tls_key_file;
    /// PEM bundle of the CAs trusted for client certificates. Set = mutual TLS: a client
    /// certificate is REQUIRED and verified against these CAs. Needs tls_cert_file.
    std::string client_ca_file;
  };

  /// Listens and starts serving. `service` must outlive the server; the keys are copied.
  /// INVALID_ARGUMENT for inconsistent options, IO_ERROR for unreadable TLS files or an address
  /// that cannot be bound (e.g. a port in use: SO_REUSEPORT is off).
  static Result<std::unique_ptr<GrpcServer>> start(Service& service, const ApiKeys& keys,
                                                   Options options);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  /// The port the server listens on.
  int port() const;

  /// Graceful stop: refuses new calls at once, lets calls in flight finish for up to `grace`,
  /// then cancels those still running; returns when every call has ended and the workers have
  /// stopped. Later calls do nothing.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  struct Impl;
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecstream
