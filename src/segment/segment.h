// Segment: the unit of mutation, search and persistence inside a shard.
//
// A segment owns a run of rows (external id, vector, JSON payload), a tombstone bit per row, and
// optionally an ANN index over its rows (labels = row numbers). Rows are appended by the shard's
// writer only while the segment is *growing*; after that the segment is *sealed* and its rows never
// change. Tombstones are set (never cleared) by the writer when a point is deleted or replaced.
//
// Concurrency (one writer, many lock-free readers):
//   - The row arrays are allocated once at full capacity, so a reader never sees them move. The
//     writer fills row r completely, then publishes rows_ = r+1 with a release store; readers load
//     rows() with acquire and only touch rows below it.
//   - Tombstones are atomic words (relaxed set/test: a reader either sees a delete or not; the id
//     map under the shard's lock is what orders upserts).
//   - The index is built incrementally by the shard's indexer thread while readers search it
//     (HnswIndex supports that). indexed_rows() is the prefix already inserted: a search takes the
//     index for rows below it and scans the rest exactly, so a write is visible the moment it is
//     applied, whether or not the indexer has reached it. Rows the indexer inserts during the
//     walk are kept out of it (they are in the scanned rest).
//   - An upsert appends the point's new row before it tombstones the old one. A search scans the
//     rows appended while it ran (scan_appended), so a tombstone it saw never hides a point whose
//     new row it missed: a point being rewritten is found in its old or its new version.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/huge_pages.h"
#include "core/metric.h"
#include "core/status.h"
#include "index/index.h"
#include "segment/payload_filter.h"
#include "segment/point_id.h"

namespace vecstream {

/// One hit inside a segment: row and ordering distance.
struct SegmentHit {
  float distance;
  uint32_t row;
};

/// Per-query knobs a segment search honours.
struct SegmentQuery {
  size_t k = 10;
  SearchParams params;                   // ef / nprobe / rerank_factor for the index
  const PayloadFilter* filter = nullptr; // null = every live row
  bool exact = false;                    // skip the index: exact scan of every row
};

class Segment {
 public:
  /// Rows of a growing segment are appended up to `capacity`; `index` may be null (exact only).
  /// `build_on_seal`: the index kind needs training (IVF, SQ8, PQ): the segment is scanned
  /// exactly while it grows and its index is built over all its rows once it is sealed.
  Segment(uint64_t id, size_t dim, Metric metric, size_t capacity, std::unique_ptr<Index> index,
          bool build_on_seal = false);
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  uint64_t id() const { return id_; }
  size_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  size_t capacity() const { return capacity_; }
  /// Rows appended so far (any thread).
  size_t rows() const { return rows_.load(std::memory_order_acquire); }
  // Tombstone reads are acquire (free on x86): a reader that sees a tombstone also sees the rows
  // appended before it was set (see scan_appended).
  size_t deleted_count() const { return deleted_.load(std::memory_order_acquire); }
  size_t live_count() const { return rows() - deleted_count(); }
  bool full() const { return rows() >= capacity_; }

  // ---- rows (any thread, for row < rows()) ----
  const float* vector(size_t row) const { return vectors_.get() + row * dim_; }
  const PointId& point_id(size_t row) const { return ids_[row]; }
  const nlohmann::json& payload(size_t row) const { return payloads_[row]; }
  bool is_deleted(size_t row) const {
    return (tomb_[row >> 6].load(std::memory_order_acquire) >> (row & 63)) & 1u;
  }

  // ---- writer only ----
  /// Appends one row (the vector is stored as given: the shard normalises cosine vectors first).
  /// Precondition: !full().
  uint32_t append(const PointId& id, const float* vec, nlohmann::json payload);
  /// Sets the row's tombstone; returns false if it was already set.
  bool mark_deleted(size_t row);
  /// No more appends; the indexer finishes the index and the segment is sealed.
  void seal() { sealed_.store(true, std::memory_order_release); }
  bool sealed() const { return sealed_.load(std::memory_order_acquire); }

  // ---- index ----
  Index* index() const { return index_.load(std::memory_order_acquire); }
  /// Sealed, and its index kind still has to be trained and built over the rows.
  bool needs_build() const { return needs_build_.load(std::memory_order_acquire); }
  size_t indexed_rows() const { return indexed_.load(std::memory_order_acquire); }
  /// Inserts rows [indexed_rows(), upto) into the index (through the index's workers, or in
  /// this thread alone when !parallel) and publishes them. Any thread: callers that overlap
  /// insert the shared rows twice (an upsert of the same row and vector), and the published
  /// prefix only grows, to what a caller has itself inserted beyond the prefix it started from.
  Status index_up_to(size_t upto, bool parallel = true);
  /// Sealed and fully indexed (or exact-only): nothing left for the indexer.
  bool settled() const {
    return sealed() && !needs_build() && (index() == nullptr || indexed_rows() == rows());
  }

  /// Top-k live rows (filtered) for `query` (already normalised for cosine), closest first,
  /// into `out` (cleared). Allocation-free after a thread's first queries.
  Status search(const float* query, const SegmentQuery& q, std::vector<SegmentHit>* out) const;

  /// search() for `nq` queries at once (row-major, nq x dim, already normalised for cosine) into
  /// outs[0..nq): the same answers, but the exactly scanned rows (a growing tail, or a segment
  /// without an index) are read from memory once per tile of rows for the whole batch instead of
  /// once per query. Filtered queries, and index walks, go one by one.
  Status search_batch(const float* queries, size_t nq, const SegmentQuery& q,
                      std::vector<SegmentHit>* outs) const;

  // ---- persistence ----
  /// Writes rows [from, to) to `path` (checked container, CRC).
  Status save_rows(const std::string& path, size_t from, size_t to) const;
  /// Appends the rows stored in `path` (which must start at rows()); writer only.
  Status load_rows(const std::string& path);
  /// Tombstone words covering rows [0, rows) for a checkpoint.
  std::vector<uint64_t> tombstones(size_t rows) const;
  /// Sets the tombstones from a checkpoint's words.
  void restore_tombstones(const std::vector<uint64_t>& words, size_t rows);
  /// Installs an index covering rows [0, indexed) (default: every row; loaded from a
  /// checkpoint, built after sealing, or carried over by a compaction; null = stay exact). The
  /// indexer (or index_up_to) adds the rest. Readers see it atomically; only a segment without
  /// an index may adopt.
  void adopt_index(std::unique_ptr<Index> index, size_t indexed = SIZE_MAX);

  size_t memory_bytes() const;

 private:
  /// search() over the rows [0, n) into the heap *out (unsorted).
  Status search_rows(const float* query, const SegmentQuery& q, size_t n,
                     std::vector<SegmentHit>* out) const;
  /// search_batch() over the rows [0, n) into the heaps outs[0..nq) (unsorted).
  Status search_batch_rows(const float* queries, size_t nq, const SegmentQuery& q, size_t n,
                           std::vector<SegmentHit>* outs) const;
  /// Scans the rows appended since a search took its view [0, n), until the segment stops
  /// growing. An upsert appends a point's new row before it tombstones the old one: a search
  /// that saw the tombstone must also see the new row, or the point would vanish from its answer.
  Status scan_appended(const float* query, const SegmentQuery& q, size_t n,
                       std::vector<SegmentHit>* heap) const;
  Status exact_scan(const float* query, const SegmentQuery& q, size_t from, size_t to,
                    std::vector<SegmentHit>* heap) const;
  Status index_walk(Index& index, const float* query, const SegmentQuery& q, size_t indexed,
                    size_t deleted, size_t rows, double selectivity,
                    std::vector<SegmentHit>* heap) const;
  /// Exact scan of the live rows in [0, rows) that pass q.filter (if any), skipping tombstoned
  /// rows a word at a time: what a search does when few rows are left to return.
  Status scan_live(const float* query, const SegmentQuery& q, size_t rows,
                   std::vector<SegmentHit>* heap) const;

  const uint64_t id_;
  const size_t dim_;
  const Metric metric_;
  const size_t capacity_;
  HugeArray<float> vectors_;  // huge pages: rows are scanned, and re-scored at random
  std::unique_ptr<PointId[]> ids_;
  std::unique_ptr<nlohmann::json[]> payloads_;
  std::unique_ptr<std::atomic<uint64_t>[]> tomb_;
  std::unique_ptr<Index> index_owner_;
  std::atomic<Index*> index_{nullptr};
  std::atomic<bool> needs_build_{false};
  std::atomic<size_t> rows_{0};
  std::atomic<size_t> indexed_{0};
  std::atomic<size_t> deleted_{0};
  std::atomic<bool> sealed_{false};
};

}  // namespace vecstream
