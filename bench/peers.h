// AnnRunner: the one interface the ANN benchmark drives, implemented for Vecstream's HnswIndex
// and for the peers hnswlib and FAISS (IndexHNSWFlat).
//
// Every runner indexes row i of the base set under id i, uses the same graph parameters (M links
// per node on upper layers, 2*M on layer 0, the same efConstruction), and answers one query at a
// time on the calling thread: the benchmark measures single-thread latency, not batch throughput.
//
// Thread-safety: a runner is driven by one thread. build() may use `threads` workers internally.
// search() is not const because runners keep per-query scratch buffers, so that the timed loop
// measures the engine and not our allocations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "index/index.h"

namespace vecstream::bench {

/// Marks an unused result slot (the engine found fewer than k points).
inline constexpr Id kNoId = ~Id{0};

struct AnnParams {
  size_t M = 16;
  size_t ef_construction = 200;
  uint64_t seed = 42;
  /// Vecstream only: HnswParams::quantized_traversal (8-bit graph walk, exact rerank).
  bool quantized = false;
};

class AnnRunner {
 public:
  virtual ~AnnRunner() = default;

  /// Engine name as printed in the tables ("vecstream", "hnswlib", "faiss").
  virtual std::string name() const = 0;
  /// How the engine was built and configured, for the report header.
  virtual std::string describe() const = 0;
  /// Indexes n row-major d-dimensional vectors (ids 0..n-1) using `threads` workers.
  /// Called once per runner.
  virtual Status build(const float* data, size_t n, size_t d, size_t threads) = 0;
  /// Beam width of later searches. Engines that need ef >= k use max(ef, k).
  virtual void set_ef(size_t ef) = 0;
  /// The ids of up to k nearest points to `query`, closest first, into ids[0..k); slots beyond
  /// what the engine found hold kNoId. Runs on the calling thread only.
  virtual Status search(const float* query, size_t k, Id* ids) = 0;
  /// Bytes held by the built index (vectors, graph, per-node bookkeeping).
  virtual size_t memory_bytes() const = 0;
};

/// Vecstream's HnswIndex (runner_vecstream.cc).
std::unique_ptr<AnnRunner> make_vecstream_runner(const AnnParams& params);
/// hnswlib::HierarchicalNSW<float> with L2Space (peer_hnswlib.cc, compiled -O3 -march=native).
std::unique_ptr<AnnRunner> make_hnswlib_runner(const AnnParams& params);
/// faiss::IndexHNSWFlat, Debian's generic (non-AVX2) build (peer_faiss.cc).
std::unique_ptr<AnnRunner> make_faiss_runner(const AnnParams& params);

}  // namespace vecstream::bench
