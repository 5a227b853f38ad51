// IndexSpec: which index kind a collection's sealed segments use, with its parameters, as given
// in the collection's configuration (JSON) — e.g. {"kind": "hnsw", "m": 16, "ef_construction":
// 200, "ef_search": 64}. It creates empty indexes for new segments and loads saved ones.
//
// Kinds:
//   "flat"       no index: segments are scanned exactly with the SIMD kernels;
//   "hnsw"       built incrementally while the segment grows, so sealing needs no rebuild;
//   "rp_forest"  random-projection trees, also incremental;
//   "ivf_flat", "ivf_sq8", "sq8_flat"  need training: a growing segment is scanned exactly and
//                its index is trained and built in the background once it is sealed (a segment
//                too small to train stays exact).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/metric.h"
#include "core/status.h"
#include "index/index.h"

namespace vecstream {

struct IndexSpec {
  std::string kind = "hnsw";
  size_t m = 16;
  size_t ef_construction = 200;
  size_t ef_search = 64;
  bool quantized = false;     // HNSW: SQ8 walk with exact rerank
  size_t build_threads = 2;   // threads one segment's index build may use
  size_t nlist = 0;           // IVF: lists per segment; 0 = about 4 * sqrt(rows), >= 39 rows each
  size_t nprobe = 16;         // IVF: default lists visited per query
  size_t n_trees = 16;        // RP-forest
  size_t search_k = 0;        // RP-forest default candidates; 0 = the kind's default

  /// Parses and validates; unknown kinds, unknown keys and out-of-range values are
  /// INVALID_ARGUMENT naming the key.
  static Result<IndexSpec> from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;

  /// An empty index for a new segment: null for "flat" and for the kinds that need training.
  Result<std::unique_ptr<Index>> create(size_t dim, Metric metric) const;
  /// Trains and fills an index over n rows (labels 0..n-1) of a sealed segment; null when the
  /// kind needs no index or the rows are too few to train on (the segment stays exact).
  Result<std::unique_ptr<Index>> build(size_t dim, Metric metric, const float* rows, size_t n) const;
  Result<std::unique_ptr<Index>> load(const std::string& path) const;
  /// Whether points can be added to an index of this kind one batch at a time as they arrive.
  bool incremental() const { return kind == "hnsw" || kind == "rp_forest"; }
  /// Whether the kind is trained on a sealed segment's rows.
  bool trained() const { return kind == "ivf_flat" || kind == "ivf_sq8" || kind == "sq8_flat"; }
  bool exact_only() const { return kind == "flat"; }
};

}  // namespace vecstream
