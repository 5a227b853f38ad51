// QueryBatcher: micro-batching of concurrent queries.
//
// Queries to one collection with the same knobs (k, ef, nprobe, rerank factor, exact, filter,
// with_payload/with_vector: together the "group key") that arrive within a short window are
// answered as one batch: identical concurrent queries (the hot queries of a feed, a retrying
// client) are searched once, and the batch's distinct queries are shared out among the threads of
// its members, so batching never serialises queries that would otherwise run in parallel.
//
// How. The first query of a group to find no open batch becomes the leader: it opens a batch and,
// if `max_running` batches of its group are already running (every core is busy anyway), waits
// until one of them ends, the batch holds `max_batch` queries, or `window` has passed; otherwise
// it goes at once, so a query pays no window while a core is free (set wait_when_idle to always
// wait the window). Later arrivals join the open batch and sleep on it. The leader closes the
// batch and lists its distinct query vectors; then the leader and every member take chunks of
// that list (an atomic counter) and answer each chunk with one Collection::search_batch — which
// reads exactly scanned rows once for the chunk, the gain on exact collections and growing tails,
// and gives each query its own status, so one bad query cannot fail its neighbours; once all are
// answered the leader hands each member its answer (shared by identical queries) and wakes them.
//
// Bounds. At most `max_queue` queries per group may be waiting or running; one more is
// RESOURCE_EXHAUSTED. A group's state is freed when its last query leaves, so distinct filters do
// not accumulate memory.
//
// Thread-safety: every method may be called from any thread at once. Groups live in 16 stripes by
// key hash, each a mutex and a map, so unrelated groups do not contend.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "segment/collection.h"

namespace vecstream {

namespace obs {
class Histogram;
}

struct QueryBatcherOptions {
  std::chrono::microseconds window{200};
  size_t max_batch = 32;
  size_t max_queue = 1024;  // per group: queries waiting or running
  size_t max_running = 0;   // batches of a group answered at once before a new one waits
                            // (0 = hardware threads)
  bool wait_when_idle = false;
};

struct QueryBatcherStats {
  uint64_t queries = 0;   // answered through a batch (incl. batches of one)
  uint64_t batches = 0;
  uint64_t max_batch = 0;
  uint64_t deduplicated = 0;  // queries answered by an identical query of their batch
  uint64_t rejected = 0;      // RESOURCE_EXHAUSTED
};

class QueryBatcher {
 public:
  /// `batch_size` (may be null, not owned) observes the size of every batch run.
  explicit QueryBatcher(QueryBatcherOptions options, obs::Histogram* batch_size = nullptr);
  ~QueryBatcher();
  QueryBatcher(const QueryBatcher&) = delete;
  QueryBatcher& operator=(const QueryBatcher&) = delete;

  /// The group key of a query on `c` with knobs `q`: equal keys may share one batch.
  static std::string group_key(const Collection& c, const ShardQuery& q);

  /// Answers `query` into *out, possibly in a batch with concurrent calls of the same `key`
  /// (which must be group_key(collection, q)). Blocks until answered. RESOURCE_EXHAUSTED when the
  /// group's queue is full; otherwise what Collection::search would answer.
  Status search(const std::string& key, const Collection& collection, std::span<const float> query,
                const ShardQuery& q, std::vector<ScoredPoint>* out);

  QueryBatcherStats stats() const;
  const QueryBatcherOptions& options() const { return options_; }

 private:
  struct Member;
  struct Batch;
  struct Group;
  struct Stripe;

  /// Leader, batch closed: the distinct query vectors and each member's slot among them.
  static void prepare(Batch& batch);
  /// Leader and members, batch ready: run queries off the batch's work list until none is left.
  /// `lk` holds the stripe's mutex on entry and on return, not while searching.
  static void work(Batch& batch, const Collection& collection, const ShardQuery& q,
                   std::unique_lock<std::mutex>& lk);
  /// Leader, every query answered: hands out answers, counts the batch.
  void finish(Batch& batch);

  QueryBatcherOptions options_;
  obs::Histogram* batch_size_;
  std::unique_ptr<Stripe[]> stripes_;
  std::atomic<uint64_t> queries_{0}, batches_{0}, max_batch_{0}, deduplicated_{0}, rejected_{0};
};

}  // namespace vecstream
