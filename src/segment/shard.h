// Shard: one independently durable slice of a collection — a WAL, a growing segment, sealed
// segments, an id map — that takes a stream of upserts and deletes while it serves queries.
//
// Write path (any thread; writes are serialised by one mutex, which fixes the WAL order):
//   validate (changes nothing on error) -> encode -> WAL append -> apply to the growing segment,
//   tombstone the replaced/deleted row, update the id map -> release the mutex -> wait until the
//   record is durable under the fsync policy -> acknowledge. A write is visible to searches as soon
//   as it is applied (before it is durable: an unacknowledged write may be seen and then lost by
//   a crash; an acknowledged one never is).
//
// Read path (any thread, never blocks on writers, indexers, compaction or checkpoints): load the
// current SegmentSet (an immutable list of shared segment pointers, swapped atomically), search
// every segment — index for the indexed prefix, exact SIMD scan for the rest; a segment with few
// live rows left is scanned exactly instead — skipping tombstoned rows, merge, dedupe by id. A
// segment is freed when the last set holding it goes. The growing segment is sealed when full,
// or early once half of it is dead (seal_deleted_ratio), so rewritten ids leave no long-lived
// graph of dead copies.
//
// Background (one indexer thread, one maintenance thread per shard):
//   - indexer: inserts newly appended rows into the growing segment's index in small batches (so
//     the exactly scanned tail stays short), finishes segments that were sealed, seals by age.
//   - maintenance: compaction (rewrites a segment whose tombstone share passes a threshold,
//     merges the smallest segments when there are too many; the new segment is built off to the
//     side, then swapped in under the write mutex with deletes that raced the build carried over),
//     and checkpoints when enough WAL has accumulated or enough time has passed.
//   Both run below query threads (background_priority). Starved of cores by queries, the
//   indexer is helped by writers (writer_help_rows) and the maintenance thread's round is done
//   by a third, normal-priority thread (maintenance_rescue_ms), so dead rows, the WAL and
//   retired segment sets cannot pile up while queries keep every core busy.
//
// Durability: see storage/wal.h (records, fsync policies) and storage/manifest.h (checkpoints).
// On disk, under `dir`: wal/ (WAL files), data/ (MANIFEST, segment row runs, sealed indexes,
// tombstones). Recovery loads the manifest's checkpoint, then replays the WAL after it.
#pragma once

#include <time.h>  // clockid_t

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/epoch.h"
#include "core/metric.h"
#include "core/status.h"
#include "core/thread_priority.h"
#include "segment/index_spec.h"
#include "segment/payload_filter.h"
#include "segment/point_id.h"
#include "segment/segment.h"
#include "segment/write_batch.h"
#include "storage/wal.h"

namespace vecstream {

struct ShardOptions {
  std::string dir;
  size_t dim = 0;
  Metric metric = Metric::kL2;
  IndexSpec index;

  size_t seal_rows = 32768;          // growing segment capacity: sealed when full (collections
                                     // default to default_seal_rows(dim))
  uint32_t seal_age_ms = 0;          // also sealed when its first row is this old (0 = never)
  size_t index_batch = 512;          // rows the indexer inserts per step
  double compact_deleted_ratio = 0.2;  // rewrite a segment with this share of tombstones
  // Seal the growing segment early once this share of its rows are tombstoned (with at least
  // kSealDeletedMinLiveRows live): hot ids upserted again and again leave a growing segment of
  // dead copies that every query would otherwise walk, its beam widened by the dead share.
  // Sealed, it is compacted like any other segment. Checked after each upsert and each delete
  // batch. 1 = only when full.
  double seal_deleted_ratio = 0.5;
  size_t max_segments = 6;           // settled segments above this: merge the smallest
  size_t merge_max_rows = 1u << 20;  // never merge into a segment larger than this

  FsyncPolicy fsync = FsyncPolicy::kAlways;
  uint32_t fsync_interval_ms = 10;
  uint64_t checkpoint_wal_bytes = 256u << 20;  // checkpoint when the WAL grows past this
  uint32_t checkpoint_interval_ms = 60000;     // ... or this long after the last (0 = never)

  bool background = true;  // run the indexer / maintenance threads (tests may drive by hand)
  // Priority of those threads and of the pool workers they hand batches to, against query
  // threads (core/thread_priority.h): below them, a query never waits a time slice behind a
  // build; the price is that under a load that keeps every core busy with queries, indexing
  // only gets what is left, and writers meet the back-pressure below sooner.
  ThreadPriority background_priority = ThreadPriority::kIdle;
  // Maintenance (compaction, checkpoints, freeing retired segment sets) runs at that priority
  // too, and nothing else does it: under queries that keep every core busy it would never run,
  // dead rows would pile up in the segments every query walks, and the WAL and retired sets
  // would grow. So when the maintenance thread has not come round for this long, a thread at
  // normal priority does a round in its place (a task the starved thread is in the middle of
  // stays with it). 0 = never.
  uint32_t maintenance_rescue_ms = 2000;
  uint32_t maintenance_interval_ms = 50;  // how often the maintenance thread looks for work

  // Back-pressure: when the indexer is this many rows behind, writers wait for it (up to
  // write_stall_ms, then RESOURCE_EXHAUSTED) instead of growing the exactly scanned tail — and
  // the query cost — without bound.
  size_t max_unindexed_rows = 50000;
  uint32_t write_stall_ms = 10000;
  // Before that: when this many rows wait for the indexer and the indexer has not come round
  // for indexer_stall_ms (it runs at background priority, so queries that keep every core busy
  // starve it), a writer indexes a batch in its own thread, at its own priority, before it
  // writes: writes slow to the rate they can index, and the exactly scanned tail stays bounded.
  // An indexer that is merely behind (a fast bulk load) is left to catch up. 0 = never help.
  size_t writer_help_rows = 16384;
  // ... or as soon as the tail holds this many floats (rows x dim), whichever is less (never
  // below 256 rows): every query scans the tail exactly, so its size in bytes, not in rows, is
  // what it costs. 1M floats (4 MiB) is about 1,300 rows at d=784, a scan of the order of the
  // graph search itself; a tail of 16k such rows made each query ~20x slower.
  size_t writer_help_floats = size_t{1} << 20;
  uint32_t indexer_stall_ms = 1000;

  // Limits: a request above them is INVALID_ARGUMENT / RESOURCE_EXHAUSTED, never partly applied.
  size_t max_batch_points = 10000;
  size_t max_payload_bytes = 64u << 10;
};

/// Fewest live rows for which seal_deleted_ratio seals a growing segment early. With fewer,
/// searches scan the live rows exactly (see Segment::search), at a cost that follows them and not
/// the dead ones, and sealing would only add segments (and compactions) as a small hot set of ids
/// is rewritten; with more, the alternative is an index walk widened by the dead share.
constexpr size_t kSealDeletedMinLiveRows = 2048;

/// The growing-segment capacity a collection gets when its configuration names none: about
/// 256 MiB of float vectors, within [32768, 262144] rows. Every query searches every segment, so
/// fewer, larger segments are faster to search (two 30k-row HNSW graphs cost about 1.7x one of
/// 60k); the bound keeps what a shard allocates up front for ids and payloads (64 bytes a row)
/// modest.
constexpr size_t default_seal_rows(size_t dim) {
  const size_t rows = (size_t{256} << 20) / (sizeof(float) * (dim == 0 ? 1 : dim));
  return rows < 32768 ? 32768 : rows > 262144 ? 262144 : rows;
}

/// A query against a shard (and a collection).
struct ShardQuery {
  size_t k = 10;
  size_t ef = 0;                  // 0 = the index spec's ef_search
  size_t nprobe = 0;
  float rerank_factor = 0.0f;
  const PayloadFilter* filter = nullptr;
  bool exact = false;             // exact scan of every segment (ground truth)
  bool with_payload = false;
  bool with_vector = false;
};

struct ScoredPoint {
  PointId id;
  float distance = 0.0f;
  nlohmann::json payload;     // when asked for
  std::vector<float> vector;  // when asked for
};

struct PointRecord {
  PointId id;
  std::vector<float> vector;  // cosine collections store (and return) unit-normalised vectors
  nlohmann::json payload;
};

struct WriteAck {
  uint64_t seq = 0;     // WAL sequence number of the write
  size_t applied = 0;   // upserts: points written; deletes: points that existed
};

struct ShardStats {
  size_t segments = 0, sealed_segments = 0;
  size_t rows = 0, live = 0, deleted = 0;
  size_t unindexed_rows = 0;
  uint64_t last_seq = 0, checkpoint_seq = 0;
  uint64_t wal_bytes = 0;
  size_t memory_bytes = 0;
  uint64_t compactions = 0, checkpoints = 0;
  uint64_t compacted_rows = 0;  // live rows carried into rewritten segments, all compactions
  uint64_t compaction_reused_rows = 0;  // ... of which kept their index entry (not re-indexed)
  uint64_t writer_indexed_rows = 0;  // rows writers indexed themselves (writer_help_rows)
  uint64_t maintenance_rescues = 0;  // compactions and checkpoints done for a starved maintainer
  double compaction_seconds = 0;  // wall time spent in compactions (copy, index, swap)
};

/// The immutable list of segments a query works on; the growing segment is last.
struct SegmentSet {
  std::vector<std::shared_ptr<Segment>> segments;
};

class Shard {
 public:
  /// Opens (recovering checkpoint + WAL) or creates the shard in options.dir.
  static Result<std::unique_ptr<Shard>> open(const ShardOptions& options);
  /// Stops the background threads. Does not checkpoint (close() does): the WAL has everything.
  ~Shard();

  // ---- writes (any thread) ----
  Result<WriteAck> upsert(std::vector<PointWrite> points, SourcePosition source = {});
  Result<WriteAck> remove(const std::vector<PointId>& ids, SourcePosition source = {});
  /// Deletes every live point whose payload matches `filter` (ids gathered from a consistent
  /// view, then deleted as one batch; points written meanwhile are not affected).
  Result<WriteAck> remove_where(const PayloadFilter& filter, SourcePosition source = {});
  /// The checks write() makes before it logs anything (dimension, NaN/Inf, payload shape and
  /// size, limits); normalises cosine vectors in place. A collection runs it on every shard's
  /// part first, so a multi-shard batch with one bad point changes nothing anywhere.
  Status validate(WriteBatch* batch) const;
  /// Any batch (what ingestion and replication call).
  Result<WriteAck> write(WriteBatch batch);

  // ---- reads (any thread; never wait for writers) ----
  Status search(std::span<const float> query, const ShardQuery& q,
                std::vector<ScoredPoint>* out) const;
  /// search() for each of `queries` (same knobs) into outs[i], statuses[i] (a bad query fails
  /// alone). One view of the shard serves the whole batch, and exactly scanned rows are read
  /// once per batch (Segment::search_batch): what micro-batching gains on an exact collection.
  void search_batch(std::span<const std::span<const float>> queries, const ShardQuery& q,
                    std::span<std::vector<ScoredPoint>> outs, std::span<Status> statuses) const;
  std::optional<PointRecord> get(const PointId& id) const;
  ShardStats stats() const;
  /// Last applied offset per source (checkpoint + WAL), for exactly-once resumption.
  std::map<std::string, int64_t> source_offsets() const;
  uint64_t last_seq() const { return applied_seq_.load(); }

  // ---- maintenance (any thread; also run by the background threads) ----
  /// Writes a checkpoint and truncates the WAL before it.
  Status checkpoint();
  /// Checkpoints, then hard-links (or copies) the checkpoint's files and manifest into
  /// `out_dir`/data: a consistent, self-contained copy of the shard for backup. Writes go on.
  Status snapshot_to(const std::string& out_dir);
  /// Seals the growing segment now (if it has rows).
  Status seal_now();
  /// Runs one round of compaction now; *did says whether anything was rewritten.
  Status compact_now(bool* did = nullptr);
  /// Indexes every pending row now, in the caller's thread.
  Status index_pending();
  /// Blocks until the indexer has no pending rows (tests, benchmarks).
  void wait_indexed() const;
  /// Stops background work, checkpoints, syncs the WAL.
  Status close();
  /// Stops background work only (the shard is being dropped). Reads and writes still work.
  void stop() { stop_background(); }

  const ShardOptions& options() const { return opts_; }

 private:
  struct Loc {
    Segment* seg;
    uint32_t row;
  };
  struct Cand {  // one segment's hit, on its way into the shard's top-k
    float distance;
    const Segment* seg;
    uint32_t row;
  };
  Status check_query(std::span<const float> query, const ShardQuery& q) const;
  SegmentQuery segment_query(const ShardQuery& q) const;
  /// Sorts `cands` and appends the k best distinct ids to *out; returns how many hits it skipped
  /// as a second row of an id already taken.
  size_t merge_hits(std::vector<Cand>& cands, const ShardQuery& q, std::vector<ScoredPoint>* out) const;
  /// One prepared query (normalised under cosine) over every segment of `set`, merged into *out.
  /// An upsert publishes a point's new row before it tombstones the old one, so a search may see
  /// both and lose a slot of its k to the duplicate: a short answer is searched again, wider.
  Status search_set(const SegmentSet& set, const float* query, const ShardQuery& q,
                    std::vector<ScoredPoint>* out) const;
  /// The segment set published now, read after a search over an older one: a tombstone that
  /// search saw implies the set published before it (the caller's epoch guard keeps both alive).
  const SegmentSet* fresh_view() const;
  struct PersistedSegment {
    uint64_t rows_saved = 0;
    std::vector<std::string> row_files;
    std::string index_file;
  };

  explicit Shard(const ShardOptions& options);
  Status recover();
  Status checkpoint_locked();  // ckpt_mu_ held
  void apply_locked(const WriteBatch& batch, uint64_t seq, size_t* applied);
  void rotate_growing_locked();
  /// The growing segment passed seal_deleted_ratio (see ShardOptions).
  bool growing_mostly_dead_locked() const;
  void publish_locked(std::vector<std::shared_ptr<Segment>> segments);
  std::shared_ptr<Segment> new_segment_locked(size_t capacity);
  /// The current set; the caller holds an EpochDomain::Guard on epochs_ (or write_mu_).
  const SegmentSet* snapshot() const { return set_.load(); }

  bool index_step();  // one indexer step; true if it did work
  bool help_index();  // a writer's step (see writer_help_rows); true if it indexed rows
  size_t index_backlog() const;  // rows searched exactly until indexed
  Status compact(const std::vector<std::shared_ptr<Segment>>& sources);
  void lower_background_priority() const;  // background threads, at their start
  void indexer_loop();
  void maintenance_loop();
  void rescue_loop();  // see maintenance_rescue_ms
  /// One maintenance round: free retired sets, compact and checkpoint when due. `rescue`: a task
  /// whose lock another thread holds is skipped, not waited for. Returns the compactions and
  /// checkpoints it did.
  int maintenance_step(bool rescue);
  Status compact_locked(bool* did);  // compact_mu_ held
  void stop_background();

  ShardOptions opts_;
  const size_t help_rows_;  // the backlog past which writers help: see writer_help_floats
  std::unique_ptr<Wal> wal_;

  mutable std::mutex write_mu_;  // writes, growing rotation, set publication
  mutable EpochDomain epochs_;   // readers of set_ (declared first: outlives set_)
  EpochPtr<SegmentSet> set_{epochs_};
  std::shared_ptr<Segment> growing_;
  std::chrono::steady_clock::time_point growing_first_row_{};
  uint64_t next_segment_id_ = 1;
  std::map<std::string, int64_t> offsets_;
  std::atomic<uint64_t> applied_seq_{0};

  mutable std::shared_mutex ids_mu_;  // the id map (writers exclusive, get() shared)
  std::unordered_map<PointId, Loc, PointIdHash> ids_;

  std::mutex compact_mu_;  // one compaction at a time
  std::mutex ckpt_mu_;     // one checkpoint at a time
  std::map<uint64_t, PersistedSegment> persisted_;
  std::atomic<uint64_t> checkpoint_seq_{0};
  std::atomic<uint64_t> checkpoint_wal_bytes_{0};
  std::chrono::steady_clock::time_point last_checkpoint_{};
  std::atomic<uint64_t> compactions_{0}, checkpoints_{0};
  std::atomic<uint64_t> compacted_rows_{0}, reused_rows_{0}, compaction_us_{0};

  std::atomic<bool> helping_{false};  // one writer helps at a time
  std::atomic<int64_t> indexer_seen_ns_{0};  // steady clock: the indexer's last round
  std::atomic<int64_t> maintainer_seen_ns_{0};  // ... the maintenance thread's
  std::atomic<clockid_t> maintainer_cpu_clock_{};  // its CPU-time clock, once it runs
  std::atomic<bool> maintainer_has_clock_{false};
  std::atomic<uint64_t> rescues_{0};
  std::atomic<uint64_t> helped_rows_{0};

  mutable std::mutex bg_mu_;
  mutable std::condition_variable bg_cv_;     // the indexer: rows to index (every write)
  mutable std::condition_variable maint_cv_;  // maintenance and its rescuer: stop only (they poll)
  bool stop_ = false;
  std::thread indexer_, maintainer_, rescuer_;
};

}  // namespace vecstream
