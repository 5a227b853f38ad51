#include "segment/index_spec.h"

#include <algorithm>
#include <cmath>

#include "index/hnsw_index.h"
#include "index/ivf_flat_index.h"
#include "index/ivf_sq8_index.h"
#include "index/rp_forest_index.h"
#include "index/sq8_flat_index.h"

namespace vecstream {

namespace {

Status read_size(const nlohmann::json& j, const char* key, size_t lo, size_t hi, size_t* out) {
  if (!j.contains(key)) return Status::ok();
  const nlohmann::json& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < static_cast<int64_t>(lo) ||
      v.get<int64_t>() > static_cast<int64_t>(hi)) {
    return Status::invalid_argument(std::string("index.") + key + ": must be an integer in [" +
                                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  *out = v.get<size_t>();
  return Status::ok();
}

}  // namespace

Result<IndexSpec> IndexSpec::from_json(const nlohmann::json& j) {
  IndexSpec s;
  if (j.is_null()) return s;
  if (!j.is_object()) return Status::invalid_argument("index: must be an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    static const char* kKeys[] = {"kind", "m", "ef_construction", "ef_search", "quantized",
                                  "build_threads", "nlist", "nprobe", "n_trees", "search_k"};
    bool known = false;
    for (const char* k : kKeys) known = known || it.key() == k;
    if (!known) return Status::invalid_argument("index: unknown key \"" + it.key() + "\"");
  }
  if (j.contains("kind")) {
    if (!j["kind"].is_string()) return Status::invalid_argument("index.kind: must be a string");
    s.kind = j["kind"].get<std::string>();
    if (s.kind != "hnsw" && s.kind != "flat" && s.kind != "rp_forest" && s.kind != "ivf_flat" &&
        s.kind != "ivf_sq8" && s.kind != "sq8_flat") {
      return Status::invalid_argument("index.kind: unknown kind \"" + s.kind +
                                      "\" (known: hnsw, flat, rp_forest, ivf_flat, ivf_sq8, sq8_flat)");
    }
  }
  VS_RETURN_IF_ERROR(read_size(j, "m", 4, 128, &s.m));
  VS_RETURN_IF_ERROR(read_size(j, "ef_construction", 8, 4096, &s.ef_construction));
  VS_RETURN_IF_ERROR(read_size(j, "ef_search", 1, 65536, &s.ef_search));
  VS_RETURN_IF_ERROR(read_size(j, "build_threads", 1, 256, &s.build_threads));
  VS_RETURN_IF_ERROR(read_size(j, "nlist", 0, 1u << 20, &s.nlist));
  VS_RETURN_IF_ERROR(read_size(j, "nprobe", 1, 1u << 20, &s.nprobe));
  VS_RETURN_IF_ERROR(read_size(j, "n_trees", 1, 1024, &s.n_trees));
  VS_RETURN_IF_ERROR(read_size(j, "search_k", 0, 1u << 30, &s.search_k));
  if (j.contains("quantized")) {
    if (!j["quantized"].is_boolean()) return Status::invalid_argument("index.quantized: must be a boolean");
    s.quantized = j["quantized"].get<bool>();
  }
  return s;
}

nlohmann::json IndexSpec::to_json() const {
  nlohmann::json j = {{"kind", kind}};
  if (kind == "hnsw") {
    j["m"] = m;
    j["ef_construction"] = ef_construction;
    j["ef_search"] = ef_search;
    j["quantized"] = quantized;
  }
  if (kind == "ivf_flat" || kind == "ivf_sq8") {
    j["nlist"] = nlist;
    j["nprobe"] = nprobe;
  }
  if (kind == "rp_forest") {
    j["n_trees"] = n_trees;
    j["search_k"] = search_k;
  }
  j["build_threads"] = build_threads;
  return j;
}

namespace {

template <typename T>
Result<std::unique_ptr<Index>> upcast(Result<std::unique_ptr<T>> r) {
  if (!r.is_ok()) return r.status();
  return std::unique_ptr<Index>(std::move(*r));
}

}  // namespace

Result<std::unique_ptr<Index>> IndexSpec::build(size_t dim, Metric metric, const float* rows,
                                                size_t n) const {
  if (!trained()) return std::unique_ptr<Index>();
  constexpr size_t kMinRowsPerList = 39;  // below this k-means centroids are noise (FAISS warns)
  std::unique_ptr<Index> index;
  if (kind == "sq8_flat") {
    if (n < 256) return std::unique_ptr<Index>();
    Sq8FlatParams p;
    p.min_train_rows = 1;
    p.threads = build_threads;
    auto r = upcast(Sq8FlatIndex::create(dim, metric, p));
    if (!r.is_ok()) return r.status();
    index = std::move(*r);
  } else {
    size_t lists = nlist ? nlist : static_cast<size_t>(4.0 * std::sqrt(static_cast<double>(n)));
    lists = std::min(lists, n / kMinRowsPerList);
    if (lists < 4) return std::unique_ptr<Index>();
    IvfParams ivf;
    ivf.nlist = lists;
    ivf.nprobe = std::min(nprobe, lists);
    ivf.threads = build_threads;
    ivf.min_points_per_centroid = 1;
    Result<std::unique_ptr<Index>> r = Status::internal("unreachable");
    if (kind == "ivf_flat") {
      r = upcast(IvfFlatIndex::create(dim, metric, ivf));
    } else {
      IvfSq8Params p;
      p.ivf = ivf;
      r = upcast(IvfSq8Index::create(dim, metric, p));
    }
    if (!r.is_ok()) return r.status();
    index = std::move(*r);
  }
  std::vector<Id> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = i;
  VS_RETURN_IF_ERROR(index->add_batch(labels, {rows, n * dim}));  // trains on the batch first
  return index;
}

Result<std::unique_ptr<Index>> IndexSpec::create(size_t dim, Metric metric) const {
  if (kind == "flat" || trained()) return std::unique_ptr<Index>();
  if (kind == "rp_forest") {
    RpForestParams p;
    p.n_trees = n_trees;
    p.search_k = search_k;
    p.threads = build_threads;
    return upcast(RpForestIndex::create(dim, metric, p));
  }
  HnswParams p;
  p.M = m;
  p.ef_construction = ef_construction;
  p.ef_search = ef_search;
  p.threads = build_threads;
  p.quantized_traversal = quantized;
  auto idx = HnswIndex::create(dim, metric, p);
  if (!idx.is_ok()) return idx.status();
  return std::unique_ptr<Index>(std::move(*idx));
}

Result<std::unique_ptr<Index>> IndexSpec::load(const std::string& path) const {
  if (kind == "flat") return std::unique_ptr<Index>();
  if (kind == "rp_forest") return upcast(RpForestIndex::load(path, build_threads));
  if (kind == "ivf_flat") return upcast(IvfFlatIndex::load(path, build_threads));
  if (kind == "ivf_sq8") return upcast(IvfSq8Index::load(path, build_threads));
  if (kind == "sq8_flat") return upcast(Sq8FlatIndex::load(path, build_threads));
  auto idx = HnswIndex::load(path, build_threads);
  if (!idx.is_ok()) return idx.status();
  return std::unique_ptr<Index>(std::move(*idx));
}

}  // namespace vecstream
