// StreamEngine: the one interface the streaming benchmark (`vecstream-bench stream`) drives,
// implemented for a Vecstream Collection (stream_bench.cc) and for hnswlib
// (peer_hnswlib_stream.cc, compiled -O3 -march=native like the `ann` peer).
//
// Points are numbered: id i is row i of the data set (or a probe id above every row). The same
// driver feeds every engine the same batches, queries and probes, so their figures compare.
//
// Thread-safety (what the driver does, and so what every engine must allow): one ingest thread
// calls upsert()/remove() with batches while a prober thread upserts and removes single probe
// points; search() runs on the query thread, the probe poller and the main thread at once, all
// concurrently with the writes. stats() and pending() may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/status.h"

namespace vecstream::bench {

/// Marks an unused result slot (the engine found fewer than k points).
inline constexpr uint64_t kNoPoint = ~uint64_t{0};

/// What the report shows of an engine's state (fields an engine has no notion of stay 0).
struct StreamEngineStats {
  size_t memory_bytes = 0;     // the engine's own count of what it holds
  size_t live = 0;             // points searchable now
  size_t deleted = 0;          // rows kept as tombstones / marked-deleted graph nodes
  size_t segments = 0;         // Vecstream: segments over all shards
  size_t compactions = 0;      // Vecstream: segment rewrites so far
  size_t compacted_rows = 0;   // Vecstream: rows those rewrites carried over
  size_t compaction_reused_rows = 0;  // Vecstream: ... that kept their graph node (not re-indexed)
  double compaction_seconds = 0;  // Vecstream: wall time in compactions
  size_t checkpoints = 0;      // Vecstream
  size_t unindexed_rows = 0;   // Vecstream: rows searched by exact scan until the indexer gets there
};

struct StreamParams {
  size_t dim = 0;
  size_t M = 16;
  size_t ef_construction = 200;
  size_t ef_search = 64;
  size_t build_threads = 1;  // workers one upsert batch may use for index insertion
  size_t capacity = 0;       // hnswlib: most distinct ids the run will ever insert
  uint64_t seed = 42;
};

class StreamEngine {
 public:
  virtual ~StreamEngine() = default;

  /// Engine name as printed in the tables ("vecstream", "hnswlib").
  virtual std::string name() const = 0;
  /// How the engine is configured, for the report header.
  virtual std::string describe() const = 0;
  /// Inserts or replaces ids[i] with the row vectors[i*dim .. (i+1)*dim). Returns when the write
  /// is acknowledged (what "acknowledged" means is the engine's: durable per its fsync policy for
  /// Vecstream, in the graph for hnswlib).
  virtual Status upsert(std::span<const uint64_t> ids, const float* vectors) = 0;
  /// Deletes ids (every one of them live: the driver only deletes what it knows is live).
  virtual Status remove(std::span<const uint64_t> ids) = 0;
  /// The ids of up to k nearest live points to `query`, closest first, into out[0..k); slots
  /// beyond what was found hold kNoPoint. Uses the engine's configured ef.
  virtual Status search(const float* query, size_t k, uint64_t* out) = 0;
  virtual StreamEngineStats stats() const = 0;
  /// Rows written but not yet in an index (0 for engines that index synchronously).
  virtual size_t pending() const { return 0; }
  /// Blocks until background indexing has caught up.
  virtual void drain() {}
  /// Flushes and releases what the engine holds on disk (Vecstream: Collection::close).
  virtual Status close() { return Status::ok(); }
};

/// hnswlib::HierarchicalNSW<float> with L2Space: addPoint (upsert: a known label is updated in
/// place, unmarking it if deleted), markDelete, searchKnn with setEf(ef_search). Writers hold a
/// shared lock around addPoint and an exclusive one around markDelete, whose label lookup hnswlib
/// 0.6.2 does not guard. Capacity is fixed at params.capacity distinct ids.
Result<std::unique_ptr<StreamEngine>> make_hnswlib_stream_engine(const StreamParams& params);

}  // namespace vecstream::bench
