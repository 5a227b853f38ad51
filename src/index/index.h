// Index: the one small interface every index kind implements (flat, HNSW, and the quantized and
// partitioned kinds that follow).
//
// Points carry an external id (uint64). Adding an id that is present replaces its vector
// (upsert). Distances follow metric.h: smaller is closer. Search writes up to k results into a
// caller-owned buffer, closest first, so a query allocates nothing on the index side.
//
// Thread-safety, for every kind unless its header says more: search() and search_batch() may be
// called from any number of threads at once, concurrently with add() and remove(); add() and
// remove() may be called from several threads at once. save() may run concurrently with searches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "core/metric.h"
#include "core/status.h"

namespace vecstream {

class Bitset;

using Id = uint64_t;

/// What a relabel function returns for a point a compacted copy leaves out.
inline constexpr Id kDropId = ~Id{0};

struct Neighbor {
  Id id = 0;
  float distance = 0.0f;
};

/// Which points a search may return. Either an allow-list bitset indexed by external id (ids at or
/// beyond its size are rejected), or a predicate on the id, or both (both must allow). The filter
/// is applied inside the search, so a selective filter still yields k results when k exist.
struct IdFilter {
  const Bitset* allow = nullptr;
  std::function<bool(Id)> predicate;

  bool empty() const { return allow == nullptr && !predicate; }
  bool allowed(Id id) const;
};

/// Per-query knobs. Zero means "the index's default"; a kind ignores the knobs it has no use for.
struct SearchParams {
  size_t ef = 0;                    // HNSW beam width
  size_t nprobe = 0;                // IVF: inverted lists visited
  size_t search_k = 0;              // RP-forest: candidates gathered over all trees
  float rerank_factor = 0.0f;       // refine: k * rerank_factor candidates re-scored exactly
  const IdFilter* filter = nullptr; // null = every live point
};

class Index {
 public:
  virtual ~Index() = default;

  virtual size_t dim() const = 0;
  virtual Metric metric() const = 0;
  /// Number of live (searchable) points.
  virtual size_t size() const = 0;
  /// Short name of the kind and its parameters, e.g. "hnsw(M=16,efc=200)".
  virtual std::string describe() const = 0;

  /// Inserts or replaces `id`. The vector must have dim() finite elements (cosine: non-zero).
  virtual Status add(Id id, std::span<const float> vector) = 0;
  /// Adds ids.size() points (row-major, ids.size()*dim() floats); kinds may parallelise. Every
  /// row is validated before any is added: a bad row fails the whole batch and changes nothing.
  virtual Status add_batch(std::span<const Id> ids, std::span<const float> vectors);
  /// Removes `id`: it leaves search results at once. NOT_FOUND if absent.
  virtual Status remove(Id id) = 0;
  virtual bool contains(Id id) const = 0;

  /// Up to k nearest live points to `query`, closest first, written to out[0..*found).
  /// `out` must hold at least k entries.
  virtual Status search(std::span<const float> query, size_t k, const SearchParams& params,
                        std::span<Neighbor> out, size_t* found) const = 0;
  /// nq = queries.size() / dim() queries; results of query i at out[i*k ..], counts in found[i].
  /// `out` holds nq*k entries and `found` nq. Kinds may parallelise.
  virtual Status search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                              std::span<Neighbor> out, std::span<size_t> found) const;

  /// A new index holding the live points `relabel` keeps, under the ids it gives them (kDropId =
  /// leave the point out), built from this one's structure instead of from scratch: what a
  /// segment compaction uses to drop deleted rows without re-indexing the survivors. Runs beside
  /// searches; writers wait. Null when the kind has no such path (the caller rebuilds).
  virtual Result<std::unique_ptr<Index>> compacted(const std::function<Id(Id)>& relabel) const;

  /// Writes the whole index to `path` (temp file, fsync, rename).
  virtual Status save(const std::string& path) const = 0;
  /// Bytes held by the index (vectors, graph, maps), for memory-per-vector reports.
  virtual size_t memory_bytes() const = 0;

 protected:
  /// Shared argument checks: dimension, finite values (cosine: non-zero).
  Status check_vector(std::span<const float> v) const;
  /// check_vector, plus k within [1, size()] and room for k results.
  Status check_query(std::span<const float> q, size_t k, size_t out_size) const;
  /// Shapes of a batch: ids vs rows, and every row valid.
  Status check_batch(std::span<const Id> ids, std::span<const float> vectors) const;
  /// Shapes of a query batch; sets *nq.
  Status check_query_batch(std::span<const float> queries, size_t k, size_t out_size,
                           size_t found_size, size_t* nq) const;
};

}  // namespace vecstream
