// RpForestIndex: a forest of random-projection trees (the structure of Spotify's Annoy).
//
// Each tree splits the space recursively by hyperplanes until a leaf holds at most leaf_size
// points. A split takes two points of the node (refined by a short 2-means over a sample of its
// points, as Annoy does) and cuts halfway between them, normal to the line that joins them; the
// normal is unit-length so a margin is a signed Euclidean distance. Points that cannot be
// separated (duplicates) are split at random. Trees are independent, so bulk builds and
// incremental inserts run in parallel over trees.
//
// Search (Annoy's): one priority queue over the nodes of all trees, keyed by the smallest margin
// met on the way down (how far the query is from having to cross a cut), pops until search_k
// candidate points were collected from the leaves, then scores the distinct candidates exactly.
// The filter is applied to candidates before scoring; gathering continues until k allowed
// candidates are found or the trees are exhausted, so a selective filter still returns k points.
// Splits are Euclidean for every metric; candidates are scored with the index's metric (cosine:
// vectors are normalised on insert, so Euclidean cuts are angular cuts).
//
// Memory layout: vectors in dense slots (freed slots are reused); per tree a node array
// (children, bias, offset of the unit normal in the tree's plane array, leaf items as slots); per
// slot and tree the leaf that holds it, so remove() and upsert take a point out of every tree
// without a scan (O(n_trees * leaf_size)).
//
// Incremental adds descend each tree by margin sign and split the leaf when it overflows, so the
// forest keeps its quality without a rebuild.
//
// Thread-safety: one reader-writer lock, as IvfFlatIndex: searches share it; add(), add_batch()
// and remove() take it exclusively (add_batch parallelises over trees inside). Every method may
// be called from any thread.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "index/build_progress.h"
#include "index/index.h"

namespace vecstream {

class ThreadPool;

struct RpForestParams {
  size_t n_trees = 16;
  /// Largest leaf; 0 = automatic: clamp(dim + 2, 16, 128) (Annoy sizes leaves by the dimension
  /// too, which amortises the dim floats every split stores).
  size_t leaf_size = 0;
  /// Candidates gathered per query unless SearchParams::search_k says; 0 = n_trees * k * 8.
  size_t search_k = 0;
  uint64_t seed = 1;
  size_t threads = 0;  // build (over trees) and search_batch workers; 0 = hardware
  ProgressFn progress; // "build" per tree of a bulk build, "add" every progress_every rows
  size_t progress_every = 65536;
};

class RpForestIndex final : public Index {
 public:
  /// Errors (INVALID_ARGUMENT): dim == 0 or above 65536, n_trees == 0 or above 1024,
  /// leaf_size == 1.
  static Result<std::unique_ptr<RpForestIndex>> create(size_t dim, Metric metric,
                                                       const RpForestParams& params = {});
  static Result<std::unique_ptr<RpForestIndex>> load(const std::string& path, size_t threads = 0);
  ~RpForestIndex() override;

  size_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t size() const override;
  std::string describe() const override;
  size_t leaf_size() const { return leaf_size_; }

  Status add(Id id, std::span<const float> vector) override;
  /// On an empty index: a bulk build, one tree per worker. Otherwise incremental inserts,
  /// parallel over trees. A repeated id keeps its last row.
  Status add_batch(std::span<const Id> ids, std::span<const float> vectors) override;
  Status remove(Id id) override;
  bool contains(Id id) const override;

  /// SearchParams::search_k (0 = params default) and ::filter apply.
  Status search(std::span<const float> query, size_t k, const SearchParams& params,
                std::span<Neighbor> out, size_t* found) const override;
  /// Parallel over queries.
  Status search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                      std::span<Neighbor> out, std::span<size_t> found) const override;

  Status save(const std::string& path) const override;
  size_t memory_bytes() const override;

  /// Structural self-check for tests: every live point in exactly one leaf of every tree, leaf
  /// sizes within bounds unless unsplittable. Takes the shared lock.
  Status TEST_check_invariants() const;

 private:
  struct Node {
    int32_t left = -1;   // -1: leaf
    int32_t right = -1;
    float bias = 0.0f;   // margin = <normal, x> + bias; >= 0 goes right
    uint32_t plane = 0;  // offset of the normal in the tree's plane array / dim
    std::vector<uint32_t> items;  // leaf: slots
  };
  struct Tree {
    std::vector<Node> nodes;   // nodes[0] is the root; children always after their parent
    std::vector<float> planes; // unit normals, dim floats each
    uint64_t rng_state = 0;    // splitmix64 state for this tree's splits
  };

  RpForestIndex(size_t dim, Metric metric, const RpForestParams& params);
  const float* vec(uint32_t slot) const { return vectors_.data() + static_cast<size_t>(slot) * dim_; }
  uint32_t& leaf_of(uint32_t slot, size_t tree) {
    return leaf_of_[static_cast<size_t>(slot) * trees_.size() + tree];
  }
  float margin(const Tree& t, const Node& n, const float* x) const;
  uint32_t store(Id id, const float* vector);    // new or reused slot; no tree work
  void unlink(uint32_t slot);                    // from every tree and the slot tables
  void insert_into_tree(size_t tree, uint32_t slot);
  void split_leaf(size_t tree, uint32_t node);
  void build_tree(size_t tree, std::vector<uint32_t> slots);
  void search_one(const float* query, size_t k, size_t search_k, const IdFilter* filter,
                  Neighbor* out, size_t* found) const;

  size_t dim_;
  Metric metric_;
  RpForestParams params_;
  size_t leaf_size_;
  std::unique_ptr<ThreadPool> pool_;
  mutable std::shared_mutex mu_;
  std::vector<float> vectors_;       // slot-major (normalised for cosine)
  std::vector<Id> slot_ids_;         // slot -> id
  std::vector<uint8_t> live_;        // slot -> 1 if it holds a point
  std::vector<uint32_t> free_slots_;
  std::unordered_map<Id, uint32_t> slots_;  // id -> slot
  std::vector<uint32_t> leaf_of_;    // slot * n_trees + tree -> leaf node
  std::vector<Tree> trees_;
};

}  // namespace vecstream
