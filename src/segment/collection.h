// Collection: a named set of points of one dimension and metric, split into shards.
//
// A point lives in shard hash(id) % shards (PointId::stable_hash, fixed for the life of the
// collection). Writes are split by shard and applied shard by shard: each shard's part is atomic
// and durable on its own; a batch spanning shards is not atomic across them (an error in one
// shard's part is reported, the parts already applied stay — idempotent retry is the remedy).
// Searches go to every shard and merge the per-shard top-k.
//
// On disk: <dir>/collection.json (the configuration, written once at creation) and
// <dir>/shard-<i>/ per shard (see shard.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "segment/shard.h"

namespace vecstream {

struct CollectionConfig {
  std::string name;
  size_t dim = 0;
  Metric metric = Metric::kL2;
  size_t shards = 1;
  IndexSpec index;
  ShardOptions shard;  // tuning shared by every shard (dir, dim, metric, index are filled in)

  /// Keys: name, dim, metric ("l2" | "ip" | "cosine" | "l1"), shards, index {...}, seal_rows,
  /// seal_age_ms, fsync ("always" | "interval" | "none"), fsync_interval_ms,
  /// checkpoint_wal_bytes, checkpoint_interval_ms, compact_deleted_ratio, seal_deleted_ratio,
  /// max_segments, background_priority ("idle" | "low" | "normal": indexing and compaction threads against
  /// query threads, see ShardOptions).
  /// Unknown keys and bad values are INVALID_ARGUMENT naming the key.
  static Result<CollectionConfig> from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

struct CollectionStats {
  std::vector<ShardStats> shards;
  size_t live = 0, deleted = 0, segments = 0, unindexed_rows = 0, memory_bytes = 0;
  uint64_t wal_bytes = 0;
};

class Collection {
 public:
  /// Creates a new collection in `dir` (which must not hold one).
  static Result<std::unique_ptr<Collection>> create(const std::string& dir,
                                                    const CollectionConfig& config);
  /// Opens an existing collection, recovering every shard.
  static Result<std::unique_ptr<Collection>> open(const std::string& dir, bool background = true);

  const CollectionConfig& config() const { return config_; }
  size_t shard_count() const { return shards_.size(); }
  Shard& shard(size_t i) { return *shards_[i]; }
  size_t shard_of(const PointId& id) const { return id.stable_hash() % shards_.size(); }

  /// Upserts; the ack's seq is the largest shard sequence number written.
  Result<WriteAck> upsert(std::vector<PointWrite> points);
  Result<WriteAck> remove(const std::vector<PointId>& ids);
  /// Deletes every point whose payload matches `filter`, shard by shard.
  Result<WriteAck> remove_where(const PayloadFilter& filter);

  Status search(std::span<const float> query, const ShardQuery& q,
                std::vector<ScoredPoint>* out) const;
  std::optional<PointRecord> get(const PointId& id) const;
  CollectionStats stats() const;
  /// Changes whenever a write is applied (sum of the shards' sequence numbers); with instance()
  /// it keys cached search results so that they are never staler than the data.
  uint64_t write_epoch() const;
  /// Random per open collection: a dropped and re-created collection never shares cache keys.
  uint64_t instance() const { return instance_; }
  /// Answers several queries (same knobs) in one call; out[i] for queries[i]; the first bad
  /// query's error fails the call.
  Status search_batch(const std::vector<std::span<const float>>& queries, const ShardQuery& q,
                      std::vector<std::vector<ScoredPoint>>* out) const;
  /// The same with one status per query (a bad query fails alone): what search() would answer
  /// for each, with exactly scanned rows read once for the batch (Shard::search_batch).
  void search_batch(std::span<const std::span<const float>> queries, const ShardQuery& q,
                    std::span<std::vector<ScoredPoint>> outs, std::span<Status> statuses) const;

  Status checkpoint();
  /// A consistent backup of every shard (each at its own checkpoint) in `out_dir`, which must
  /// not exist yet. Writes and searches go on meanwhile.
  Status snapshot(const std::string& out_dir);
  /// Restores a snapshot into `dir` (which must not hold a collection) after verifying that
  /// every manifest and the files it names are there. Open the collection afterwards.
  static Status restore(const std::string& snapshot_dir, const std::string& dir);
  void wait_indexed() const;
  Status close();
  /// Stops every shard's background work without a checkpoint (before a drop).
  void stop();

 private:
  Collection(std::string dir, CollectionConfig config) : dir_(std::move(dir)), config_(std::move(config)) {}
  static Result<std::unique_ptr<Collection>> open_shards(std::string dir, CollectionConfig config);
  std::string dir_;
  CollectionConfig config_;
  std::vector<std::unique_ptr<Shard>> shards_;
  uint64_t instance_ = 0;
};

/// Collection names: 1-64 characters of [A-Za-z0-9_-].
Status check_collection_name(const std::string& name);

}  // namespace vecstream
