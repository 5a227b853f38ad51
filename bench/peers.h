// AnnRunner: the one interface the ANN benchmark drives, implemented for Vecstream's HnswIndex
// and for the peers hnswlib and FAISS (IndexHNSWFlat), and for the quantized and partitioned
// kinds (IVF-Flat, IVF-SQ8, IVF-PQ, IVF-PQ fast scan + rerank, SQ8-flat, RP-forest) beside their
// FAISS equivalents.
//
// Every runner indexes row i of the base set under id i, uses the same parameters as its peers
// (HNSW: M links per node on upper layers, 2*M on layer 0, the same efConstruction; IVF: nlist,
// k-means iterations, PQ sub-quantizers), and answers one query at a time on the calling thread:
// the benchmark measures single-thread latency, not batch throughput.
//
// Thread-safety: a runner is driven by one thread. build() may use `threads` workers internally.
// search() is not const because runners keep per-query scratch buffers, so that the timed loop
// measures the engine and not our allocations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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

/// The search knobs of one sweep point; a runner reads those its kind has (HNSW: ef; IVF: nprobe;
/// fast scan: nprobe and rerank_factor; RP-forest: search_k) and ignores the rest.
struct SearchKnobs {
  size_t ef = 0;
  size_t nprobe = 0;
  size_t search_k = 0;
  float rerank_factor = 0.0f;
};

/// The quantized and partitioned kinds, each with a Vecstream runner (runner_index.cc) and, but
/// for the RP-forest, a FAISS one (peer_faiss_ivf.cc).
enum class IndexKind { kIvfFlat, kIvfSq8, kIvfPq, kIvfPqFastScan, kRpForest, kSq8Flat };

/// Shared parameters of the quantized / partitioned kinds; both engines get the same values.
struct QuantParams {
  size_t nlist = 1024;             // IVF lists
  size_t kmeans_iterations = 20;   // coarse k-means iterations (FAISS: cp.niter)
  size_t pq_m = 196;               // PQ sub-quantizers (8-bit: M bytes; 4-bit: M/2 bytes a code)
  size_t n_trees = 32;             // RP-forest trees
  uint64_t seed = 42;
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
  /// Knobs of later searches. HNSW engines read ef and use max(ef, k).
  virtual void set_knobs(const SearchKnobs& knobs) = 0;
  /// The ids of up to k nearest points to `query`, closest first, into ids[0..k); slots beyond
  /// what the engine found hold kNoId. Runs on the calling thread only.
  virtual Status search(const float* query, size_t k, Id* ids) = 0;
  /// Bytes held by the built index (vectors, graph, per-node bookkeeping).
  virtual size_t memory_bytes() const = 0;
  /// Seconds of build() spent training quantizers (k-means, PQ codebooks); nullopt for kinds
  /// that do not train.
  virtual std::optional<double> train_seconds() const { return std::nullopt; }
  /// Bytes per vector of what a query scans (codes or floats); 0 when not meaningful (graphs).
  virtual size_t code_bytes() const { return 0; }
};

/// Vecstream's HnswIndex (runner_vecstream.cc).
std::unique_ptr<AnnRunner> make_vecstream_runner(const AnnParams& params);
/// hnswlib::HierarchicalNSW<float> with L2Space (peer_hnswlib.cc, compiled -O3 -march=native).
std::unique_ptr<AnnRunner> make_hnswlib_runner(const AnnParams& params);
/// faiss::IndexHNSWFlat, Debian's generic (non-AVX2) build (peer_faiss.cc).
std::unique_ptr<AnnRunner> make_faiss_runner(const AnnParams& params);

/// Short name of a kind as given to --kinds ("ivf_flat", "ivf_pq_fs", ...).
const char* index_kind_name(IndexKind kind);
/// A Vecstream index of `kind` (runner_index.cc). Threads: build() only; searches run single.
std::unique_ptr<AnnRunner> make_vecstream_index_runner(IndexKind kind, const QuantParams& params);
/// FAISS's equivalent of `kind` (peer_faiss_ivf.cc): IndexIVFFlat, IndexIVFScalarQuantizer
/// (QT_8bit), IndexIVFPQ, IndexRefineFlat over IndexIVFPQFastScan, IndexScalarQuantizer
/// (QT_8bit); null for kRpForest (Annoy's structure: FAISS has none, and Annoy is not packaged).
std::unique_ptr<AnnRunner> make_faiss_index_runner(IndexKind kind, const QuantParams& params);

}  // namespace vecstream::bench
