// IndexSpec: which index kind a collection's sealed segments use, with its parameters, as given
// in the collection's configuration (JSON) — e.g. {"kind": "hnsw", "m": 16, "ef_construction":
// 200, "ef_search": 64}. It creates empty indexes for new segments and loads saved ones.
//
// Kinds: "flat" (no index: segments are scanned exactly with the SIMD kernels) and "hnsw"
// (built incrementally while the segment grows, so sealing needs no rebuild).
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
  size_t build_threads = 1;   // threads one segment's index build may use

  /// Parses and validates; unknown kinds, unknown keys and out-of-range values are
  /// INVALID_ARGUMENT naming the key.
  static Result<IndexSpec> from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;

  /// Null for "flat" (exact scan).
  Result<std::unique_ptr<Index>> create(size_t dim, Metric metric) const;
  Result<std::unique_ptr<Index>> load(const std::string& path) const;
  /// Whether points can be added to an index of this kind one batch at a time as they arrive.
  bool incremental() const { return kind == "hnsw"; }
  bool exact_only() const { return kind == "flat"; }
};

}  // namespace vecstream
