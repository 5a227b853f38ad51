// EmbedServer: serves EmbeddingService.Encode (proto/embedding.proto) with any Embedder, so that
// one process holding a model (fastText, or a future GPU-backed one) can embed for many ingest
// nodes, and so that RemoteEmbedder can be tested against the real wire protocol. The answer to a
// request of n documents is n Embedding messages in request order, each with id = its position
// ("0", "1", ...) and the vector's values.
//
// Limits, checked before any work is queued:
//   - more than max_documents_per_request documents, or more than max_request_bytes of document
//     text in one request: RESOURCE_EXHAUSTED (the client should split its batch);
//   - a message above max_message_bytes: refused by gRPC itself (RESOURCE_EXHAUSTED);
//   - an empty, blank, non-UTF-8 or oversized document: INVALID_ARGUMENT naming it
//     ("document 3: not valid UTF-8 (byte 17)"); the whole request fails, nothing is embedded.
// A request with no documents gets an empty answer.
//
// Threading and bounded concurrency: gRPC's callback API (no thread per request); gRPC's event
// threads check the limits and queue the work on a fixed pool of `threads` workers with at most
// `max_pending_requests` requests waiting; a request that finds the queue full is answered
// RESOURCE_EXHAUSTED ("server busy") at once instead of piling up. A request whose client gave up
// (deadline, cancel) while it waited is dropped without being embedded.
//
// Thread-safety: port() and stats() from any thread; stop() from one thread, once (the destructor
// calls it when nobody did).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "embed/embedder.h"

namespace vecstream {

class EmbedServer {
 public:
  struct Options {
    /// host:port; port 0 picks a free one (port() tells which). Loopback by default: the
    /// service has no authentication of its own.
    std::string address = "127.0.0.1:50052";
    /// Workers running the embedder; 0 = the machine's hardware concurrency (at least 2).
    size_t threads = 0;
    /// Requests waiting for a worker beyond this many are refused with RESOURCE_EXHAUSTED.
    size_t max_pending_requests = 64;
    size_t max_documents_per_request = 1024;
    /// Sum of the documents' sizes in one request.
    size_t max_request_bytes = size_t{16} << 20;
    /// Largest gRPC message either way; must hold max_documents_per_request vectors.
    size_t max_message_bytes = size_t{64} << 20;
  };

  /// Counters since start; each a snapshot, not a consistent set.
  struct Stats {
    uint64_t requests = 0;        // Encode calls received
    uint64_t documents = 0;       // documents embedded and answered
    uint64_t refused_limits = 0;  // RESOURCE_EXHAUSTED for documents or bytes per request
    uint64_t refused_busy = 0;    // RESOURCE_EXHAUSTED because the queue was full
    uint64_t failed = 0;          // the embedder returned an error (bad document, model failure)
  };

  /// Listens and serves. The server shares ownership of `embedder`. INVALID_ARGUMENT for options
  /// out of range (or max_message_bytes too small for the answers), IO_ERROR when the address
  /// cannot be bound (a port in use is an error: SO_REUSEPORT is off).
  static Result<std::unique_ptr<EmbedServer>> start(std::shared_ptr<Embedder> embedder,
                                                    Options options);
  ~EmbedServer();
  EmbedServer(const EmbedServer&) = delete;
  EmbedServer& operator=(const EmbedServer&) = delete;

  int port() const;
  Stats stats() const;
  const Embedder& embedder() const;

  /// Graceful stop: refuses new calls at once, lets those in flight finish for up to `grace`,
  /// then cancels the rest; returns when every call has ended and the workers have stopped.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  struct Impl;
  explicit EmbedServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecstream
