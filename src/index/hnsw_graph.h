// HnswGraph: the internals of HnswIndex (see hnsw_index.h for the public contract).
//
// Memory layout. Nodes live in fixed-size chunks of kChunkNodes blocks; a directory of chunk
// pointers grows by publishing a bigger copy (old directories are kept until the graph dies), so
// a reader never sees memory move. One 64-byte-aligned block per node holds everything a layer-0
// hop touches, hnswlib-style:
//
//   +-------------------------------+--------------------------+-----------------+-------------------+
//   | NodeHead (32 B)               | layer-0 links: M0 x u32   | codes: dim x u8 | vector: dim x f32 |
//   | count0 state level label upper|  (atomic)                 | (if quantized)  |  (32-B aligned)   |
//   +-------------------------------+--------------------------+-----------------+-------------------+
//
// Upper layers (rare: 1/M of nodes) are a separate array per node: per layer [count, M links].
//
// Quantized traversal (HnswParams::quantized_traversal). Once 1024 points are in, a uniform 8-bit
// scalar quantizer (one min and one step for all dimensions, as FAISS's QT_8bit_uniform) is trained
// on them and every node gets codes; the query is encoded once and the whole walk runs on 8-bit
// codes (a quarter of the bytes per hop, integer SIMD), then the final beam is re-scored with exact
// float distances. Inserts walk on codes too (the construction beam of ef_construction), and the
// beam is re-scored with floats before the neighbour heuristic, which only sees exact distances.
// Inner product and cosine decode exactly through a per-node code sum:
//   <x, y> = d*m^2 + m*s*(sum(a) + sum(b)) + s^2 * <a, b>    (x = m + s*a, y = m + s*b).
// Values outside the trained range are clamped: it costs walk precision, never result accuracy.
//
// Threading. Many writers, many lock-free readers:
//  - link lists are atomics: writers store entries and counts with release under the node's
//    striped mutex; readers load with acquire and take no lock. A reader may see a list mid-rewrite
//    (old and new entries mixed): every entry it sees is a node that is, or was, live and whose
//    memory is still valid, which is all the walk needs;
//  - a node is published (reachable) only after its vector and label are written;
//  - remove() flips the node's state to kDeleted: results skip it at once; the walk still uses it;
//  - consolidate() (exclusive among writers) rewires live nodes around deleted ones, then retires
//    them with the current epoch. A retired slot is recycled only when every search context is idle
//    or started after the retirement (epoch-based reclamation), so no reader ever sees a slot
//    change under it.
//  - each reading thread has its own SearchContext (visited set, heaps, scratch), found through a
//    thread-local table: a query allocates nothing once its thread has searched this graph once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "core/distance.h"
#include "core/top_k.h"
#include "core/visited_set.h"
#include "index/hnsw_index.h"

namespace vecstream {

class IndexFileReader;
class IndexFileWriter;
class ThreadPool;

enum class NodeState : uint8_t {
  kFree = 0,     // slot not in use (never published, or retired and recycled)
  kPending = 1,  // being inserted: traversable, not yet returned by searches
  kLive = 2,
  kDeleted = 3,  // removed: traversable until consolidate(), never returned
  kRetired = 4,  // unlinked by consolidate(); waiting for readers to drain
};

struct NodeHead {
  std::atomic<uint32_t> count0;
  std::atomic<uint8_t> state;
  uint8_t level;
  uint16_t reserved;
  Id label;
  std::atomic<uint32_t>* upper;  // levels 1..level: (1 + M) atomics each; null if level == 0
  uint32_t code_sum;             // sum of the node's 8-bit codes (quantized traversal)
  uint32_t reserved2;
};
static_assert(sizeof(NodeHead) == 32, "NodeHead must stay 32 bytes (block layout)");

struct SearchContext {
  std::atomic<uint64_t> active_epoch{0};  // 0 = idle; else the epoch the search started in
  std::atomic<bool> graph_alive{true};
  VisitedSet visited;
  std::vector<DistId<uint32_t>> candidates;  // min-heap (via greater)
  std::vector<DistId<uint32_t>> top;         // max-heap, at most ef
  std::vector<float> query;                  // normalised query copy (cosine)
  std::vector<uint8_t> query_code;           // encoded query (quantized traversal)
};

class HnswGraph {
 public:
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunkNodes = 1u << kChunkBits;
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr uint32_t kMaxLevel = 31;
  static constexpr size_t kQuantizerTrainingPoints = 1024;

  HnswGraph(size_t dim, Metric metric, const HnswParams& params);
  ~HnswGraph();
  HnswGraph(const HnswGraph&) = delete;
  HnswGraph& operator=(const HnswGraph&) = delete;

  size_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  const HnswParams& params() const { return params_; }
  size_t live() const { return live_.load(std::memory_order_acquire); }
  size_t deleted_pending() const { return deleted_.load(std::memory_order_acquire); }
  bool quantized_active() const { return quantized_ && trained_.load(std::memory_order_acquire); }

  /// Writers (any thread). `v` is validated by the caller (dimension, finite).
  Status add(Id id, const float* v);
  Status add_batch(const Id* ids, const float* v, size_t n);
  Status remove(Id id);
  bool contains(Id id) const;
  Status consolidate();

  /// Readers (any thread, lock-free). ef >= k validated by the caller.
  void search(const float* q, size_t k, size_t ef, const IdFilter* filter, Neighbor* out,
              size_t* found) const;
  void search_batch(const float* q, size_t nq, size_t k, size_t ef, const IdFilter* filter,
                    Neighbor* out, size_t* found) const;

  /// See HnswIndex::compacted.
  Result<std::unique_ptr<HnswGraph>> compacted(const std::function<Id(Id)>& relabel) const;

  void save(IndexFileWriter& w) const;
  static Result<std::unique_ptr<HnswGraph>> load(IndexFileReader& r, size_t threads);
  size_t memory_bytes() const;

 private:
  // ---- storage ----
  uint8_t* block(uint32_t slot) const {
    uint8_t* const* dir = dir_.load(std::memory_order_acquire);
    return dir[slot >> kChunkBits] + static_cast<size_t>(slot & (kChunkNodes - 1)) * block_bytes_;
  }
  NodeHead& head(uint32_t slot) const { return *reinterpret_cast<NodeHead*>(block(slot)); }
  std::atomic<uint32_t>* links0(uint32_t slot) const {
    return reinterpret_cast<std::atomic<uint32_t>*>(block(slot) + sizeof(NodeHead));
  }
  const float* vec(uint32_t slot) const {
    return reinterpret_cast<const float*>(block(slot) + vector_offset_);
  }
  const uint8_t* code(uint32_t slot) const { return block(slot) + code_offset_; }
  /// Link count and list of `slot` at `level` (0 = the block's own list).
  std::atomic<uint32_t>* list(uint32_t slot, uint32_t level, std::atomic<uint32_t>** count) const;
  size_t max_links(uint32_t level) const { return level == 0 ? M0_ : M_; }

  uint32_t allocate_slot();
  void ensure_capacity(uint32_t slots);
  void reclaim_retired_locked();
  uint32_t random_level();

  // ---- distances ----
  float dist(const float* a, const float* b) const {
    return scale_ * raw_(a, b, dim_) + offset_;
  }
  /// Distance between two code vectors with their code sums (quantized traversal).
  float code_dist(const uint8_t* a, uint32_t sum_a, const uint8_t* b, uint32_t sum_b) const;
  void encode(const float* v, uint8_t* out, uint32_t* sum) const;
  void train_quantizer();
  void maybe_train();

  // ---- algorithms ----
  /// The query a walk compares against: floats, or codes with their sum.
  struct Probe {
    const float* v;
    const uint8_t* code;
    uint32_t code_sum;
  };
  template <bool kCodes>
  float probe_dist(const Probe& p, uint32_t slot) const {
    if constexpr (kCodes) return code_dist(p.code, p.code_sum, code(slot), head(slot).code_sum);
    return dist(p.v, vec(slot));
  }
  uint32_t greedy_descend(const float* q, uint32_t ep, float* ep_dist, uint32_t from_level,
                          uint32_t to_level, uint32_t limit) const {
    return greedy_descend_t<false>(Probe{q, nullptr, 0}, ep, ep_dist, from_level, to_level, limit);
  }
  template <bool kCodes>
  uint32_t greedy_descend_t(const Probe& q, uint32_t ep, float* ep_dist, uint32_t from_level,
                            uint32_t to_level, uint32_t limit) const;
  template <bool kFiltered, bool kCheckState, bool kCodes = false>
  void search_level(const Probe& q, uint32_t ep, float ep_dist, size_t ef, uint32_t level,
                    const IdFilter* filter, bool construction, SearchContext& ctx,
                    uint32_t limit) const;
  /// The HNSW heuristic over `cand` (distances to the base node); sorts `cand` ascending.
  void select_neighbors(std::vector<DistId<uint32_t>>& cand, size_t m,
                        std::vector<uint32_t>& out) const;
  using Cand = DistId<uint32_t>;
  Cand link_at_level(uint32_t slot, const float* v, uint32_t level, uint32_t ep, float ep_dist,
                     SearchContext& ctx, uint32_t limit);
  void link_new_node(uint32_t slot, const float* v, uint32_t level);
  /// Repair admission: sorts `cand` (distances to the node being repaired) and appends to
  /// `keep`, closest first, each candidate no kept link dominates (kRepairAlpha), until `keep`
  /// holds `target` links.
  void admit_diverse(std::vector<Cand>& cand, size_t target, std::vector<uint32_t>& keep) const;
  /// Repair after removals: at every level from `top` down, a live node other than the entry
  /// point `ep` that has no in-link (no walk reaches it) or, on layer 0, fewer than M/4 out-links
  /// is re-linked as if inserted anew, keeping the links it has.
  void relink_weak_nodes(uint32_t ep, uint32_t top, uint32_t limit);
  void add_back_link(uint32_t node, uint32_t level, uint32_t new_node, float d);
  void merge_into_list(uint32_t slot, uint32_t level, const float* v, std::vector<uint32_t>& chosen);
  void write_list(uint32_t slot, uint32_t level, const std::vector<uint32_t>& ids);
  Status add_one(Id id, const float* v);
  void maybe_consolidate();

  SearchContext& context() const;
  void enter(SearchContext& ctx) const;
  void leave(SearchContext& ctx) const;
  std::mutex& node_mutex(uint32_t slot) const { return node_mu_[slot & (kNodeStripes - 1)]; }
  std::mutex& id_mutex(Id id) const { return id_mu_[(id * 0x9E3779B97F4A7C15ull) >> 54]; }

  // ---- configuration ----
  size_t dim_;
  Metric metric_;
  HnswParams params_;
  size_t M_, M0_;
  double level_mult_;
  size_t code_offset_, vector_offset_, block_bytes_;
  uint32_t (*code_raw_)(const uint8_t*, const uint8_t*, size_t) = nullptr;
  bool quantized_;                          // params_.quantized_traversal
  std::atomic<bool> trained_{false};        // codes valid for every published node
  float qmin_ = 0.0f, qstep_ = 1.0f;        // value = qmin_ + code * qstep_
  float (*raw_)(const float*, const float*, size_t);
  float scale_, offset_;
  uint64_t uid_;  // distinguishes graphs in thread-local context tables

  // ---- nodes ----
  std::atomic<uint8_t**> dir_{nullptr};
  size_t dir_capacity_ = 0;       // chunks the current directory can hold (alloc_mu_)
  size_t chunks_ = 0;             // chunks allocated (alloc_mu_)
  std::vector<std::unique_ptr<uint8_t**[]>> old_dirs_;  // kept alive for readers
  std::vector<uint8_t*> chunk_memory_;
  std::atomic<uint32_t> high_water_{0};  // slots [0, high_water_) have been handed out
  std::atomic<uint32_t> capacity_{0};    // slots backed by chunks
  std::mutex alloc_mu_;
  std::vector<uint32_t> free_;
  std::vector<std::pair<uint32_t, uint64_t>> retired_;  // (slot, epoch retired)

  std::atomic<uint64_t> entry_{UINT64_MAX};  // (level << 32) | slot; UINT64_MAX = empty
  std::mutex entry_mu_;                      // held by an insert that raises the top level
  std::atomic<uint64_t> level_counter_{0};

  // ---- writers ----
  static constexpr size_t kNodeStripes = 4096;
  static constexpr size_t kIdStripes = 1024;
  std::unique_ptr<std::mutex[]> node_mu_;
  std::unique_ptr<std::mutex[]> id_mu_;
  mutable std::shared_mutex writers_mu_;  // shared: add/remove; exclusive: consolidate, save
  mutable std::shared_mutex map_mu_;
  std::unordered_map<Id, uint32_t> id_map_;  // live id -> slot
  std::atomic<size_t> live_{0}, deleted_{0};
  std::atomic<bool> consolidating_{false};
  std::atomic<size_t> upper_bytes_{0};

  // ---- readers ----
  std::atomic<uint64_t> epoch_{1};
  mutable std::mutex ctx_mu_;
  mutable std::vector<std::shared_ptr<SearchContext>> contexts_;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace vecstream
