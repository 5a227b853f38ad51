// RemoteEmbedder: a client of EmbeddingService.Encode (proto/embedding.proto) — an external
// embedding service, or `vecstream embed-server`. For models that do not belong in the ingest
// process (large, GPU-bound, shared by many nodes).
//
// Batching. Documents from all concurrent embed() calls go into one open request; it is sent when
// it holds max_batch_documents documents or max_batch_bytes of text, or when batch_linger has
// passed since its first document (the time budget), whichever comes first. A call of 1000
// documents therefore becomes 4 requests of at most 256; many calls of one document share a
// request. batch_linger = 0 sends every call's remainder at once.
//
// Concurrency. Requests go out on gRPC's callback API: no thread per request, at most
// max_in_flight requests in flight (the rest wait, in order); the documents waiting in all are
// bounded by max_queued_documents (beyond: RESOURCE_EXHAUSTED at once). One scheduler thread per
// embedder sends batches whose linger or retry backoff has expired.
//
// Deadlines and retries. Each embed() call has a deadline (`timeout`); each request attempt has
// its own (`attempt_timeout`, never beyond the latest deadline of the calls it serves). A request
// that fails with UNAVAILABLE (server down, connection refused or lost) or DEADLINE_EXCEEDED is
// retried after an exponential backoff (initial_backoff x backoff_multiplier^k, capped at
// max_backoff, +-20% jitter), at most max_attempts times in all and never past the deadline.
// Every other answer is final. Errors are per call: a call fails with the first error of any
// request carrying its documents, e.g.
//   IO_ERROR: embedding server 127.0.0.1:9: UNAVAILABLE: failed to connect ... (gave up after 4 attempts in 0.35 s)
//   IO_ERROR: embedding server 127.0.0.1:9: DEADLINE_EXCEEDED: no complete answer within 500 ms (...)
//   RESOURCE_EXHAUSTED: embedding server ...: RESOURCE_EXHAUSTED: request has 2000 documents; ...
//   FAILED_PRECONDITION: embedding server ... returned vectors of dimension 64; this embedder expects 256
// and a call that gave up never has its output written afterwards.
//
// Dimension. Options::dim is the dimension the caller expects; every answer is checked against
// it (count of vectors, length of each, finite values). dim = 0 asks the server once, in create(),
// by embedding a probe document.
//
// Transport: plain text (no TLS) over one gRPC channel; the service has no authentication.
//
// Thread-safety: embed() from any number of threads at once. The destructor must not run while a
// call is in progress; it cancels what is in flight and waits for it, and for gRPC to have
// finished with every callback it started (so gRPC objects die on the destructor's thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "embed/embedder.h"

namespace vecstream {

class RemoteEmbedder final : public Embedder {
 public:
  struct Options {
    /// gRPC target of the service, e.g. "127.0.0.1:50052" or "dns:///embedder.internal:443".
    std::string target = "127.0.0.1:50052";
    /// Expected dimension; 0 = ask the server in create().
    size_t dim = 0;
    /// What the server's vectors are (hints passed on to collections).
    Metric metric = Metric::kCosine;
    bool normalized = false;

    size_t max_batch_documents = 256;
    size_t max_batch_bytes = size_t{4} << 20;
    std::chrono::microseconds batch_linger{1000};
    size_t max_in_flight = 8;
    size_t max_queued_documents = 65536;

    std::chrono::milliseconds timeout{30000};
    std::chrono::milliseconds attempt_timeout{10000};
    int max_attempts = 4;
    std::chrono::milliseconds initial_backoff{50};
    std::chrono::milliseconds max_backoff{2000};
    double backoff_multiplier = 2.0;

    /// Longest document sent; at most max_batch_bytes.
    size_t max_document_bytes = kDefaultMaxDocumentBytes;
    /// Largest answer accepted from the server.
    size_t max_response_bytes = size_t{64} << 20;
  };

  /// Counters since create(); each a snapshot.
  struct Stats {
    uint64_t requests = 0;  // attempts sent, retries included
    uint64_t retries = 0;
    uint64_t failed_requests = 0;  // requests that ended in an error after their last attempt
    uint64_t documents = 0;  // documents answered
  };

  /// INVALID_ARGUMENT for options out of range. With dim = 0 it asks the server for its
  /// dimension (with the retries above) and fails as embed() would when it cannot.
  static Result<std::unique_ptr<RemoteEmbedder>> create(const Options& options);
  ~RemoteEmbedder() override;

  size_t dimension() const override;
  Metric metric() const override;
  bool normalized() const override;
  std::string name() const override;
  size_t max_document_bytes() const override;
  Stats stats() const;

 protected:
  Status embed_checked(std::span<const std::string_view> texts, std::span<float> out,
                       std::span<Status> doc_status) override;

 private:
  struct Impl;
  explicit RemoteEmbedder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Test-only: from now on, every attempt's gRPC callback sleeps `delay` after it has woken the
/// calls it served, just before it returns to gRPC (0, the default: no sleep). Widens the window
/// in which a callback still runs after those calls have returned. Any thread; all embedders.
void TEST_remote_embedder_callback_delay(std::chrono::microseconds delay);

}  // namespace vecstream
