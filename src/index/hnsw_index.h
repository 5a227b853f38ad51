// HnswIndex: a mutable, concurrent Hierarchical Navigable Small World graph.
//
// Public contract (the internals are drawn in hnsw_index.cc):
//  - add() inserts or replaces (upsert) and may run on many threads at once;
//  - search() never takes a lock and may run concurrently with add(), remove() and consolidate();
//  - remove() takes the point out of results at once; its node stays in the graph as a waypoint
//    until consolidate() rewires its neighbours around it, after which its slot is recycled by
//    later inserts (once no search that could still see it is running). consolidate() runs
//    automatically when deleted nodes pass `consolidate_ratio` of the graph, so recall does not
//    decay under churn;
//  - a filter is applied inside the graph walk: filtered-out nodes are still traversed but not
//    returned, and the beam widens until k allowed points are found or the graph is exhausted.
#pragma once

#include <memory>
#include <string>

#include "index/index.h"

namespace vecstream {

struct HnswParams {
  size_t M = 16;                 // links per node on upper layers; 2*M on layer 0
  size_t ef_construction = 200;  // beam width while inserting
  size_t ef_search = 64;         // default beam width of a query (SearchParams::ef overrides)
  uint64_t seed = 42;            // level generator
  size_t threads = 0;            // add_batch / search_batch workers; 0 = hardware concurrency
  double consolidate_ratio = 0.1;  // deleted share of the graph that triggers consolidate()
  /// Walk the graph on 8-bit scalar-quantized codes and rerank the final beam with exact float
  /// distances: 4x less memory traffic per hop. Trained on the first points (see header of .cc).
  bool quantized_traversal = false;
};

class HnswGraph;  // internal (hnsw_graph.h)

class HnswIndex final : public Index {
 public:
  static Result<std::unique_ptr<HnswIndex>> create(size_t dim, Metric metric,
                                                   const HnswParams& params = {});
  static Result<std::unique_ptr<HnswIndex>> load(const std::string& path, size_t threads = 0);
  ~HnswIndex() override;

  size_t dim() const override;
  Metric metric() const override;
  size_t size() const override;
  std::string describe() const override;
  const HnswParams& params() const;

  Status add(Id id, std::span<const float> vector) override;
  /// Parallel over params().threads workers; validated as a whole first.
  Status add_batch(std::span<const Id> ids, std::span<const float> vectors) override;
  Status remove(Id id) override;
  bool contains(Id id) const override;

  /// Errors: wrong dimension / NaN (INVALID_ARGUMENT), k == 0 or k > size(), ef < k.
  Status search(std::span<const float> query, size_t k, const SearchParams& params,
                std::span<Neighbor> out, size_t* found) const override;
  Status search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                      std::span<Neighbor> out, std::span<size_t> found) const override;

  /// Rewires live nodes around deleted ones and recycles their slots. Called automatically;
  /// public for tests and for callers who want to pay the cost at a chosen moment.
  /// Blocks other writers (not readers) while it runs.
  Status consolidate();
  /// Deleted nodes still linked in the graph (waiting for consolidate()).
  size_t deleted_pending() const;
  /// True once searches walk on 8-bit codes (quantized_traversal, after training on 1024 points).
  bool quantized_active() const;

  /// The kept nodes, relabelled, with their links; links that pointed at dropped nodes are
  /// replaced from those nodes' kept neighbours (the same rule as consolidate()), and nodes left
  /// poorly connected are re-linked by a search. Costs a fraction of a rebuild.
  Result<std::unique_ptr<Index>> compacted(const std::function<Id(Id)>& relabel) const override;

  Status save(const std::string& path) const override;
  size_t memory_bytes() const override;

 private:
  explicit HnswIndex(std::unique_ptr<HnswGraph> graph);
  Status resolve_ef(const SearchParams& params, size_t k, size_t* ef) const;
  std::unique_ptr<HnswGraph> graph_;
};

}  // namespace vecstream
