#include "segment/index_spec.h"

#include "index/hnsw_index.h"

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
                                  "build_threads"};
    bool known = false;
    for (const char* k : kKeys) known = known || it.key() == k;
    if (!known) return Status::invalid_argument("index: unknown key \"" + it.key() + "\"");
  }
  if (j.contains("kind")) {
    if (!j["kind"].is_string()) return Status::invalid_argument("index.kind: must be a string");
    s.kind = j["kind"].get<std::string>();
    if (s.kind != "hnsw" && s.kind != "flat") {
      return Status::invalid_argument("index.kind: unknown kind \"" + s.kind +
                                      "\" (known: hnsw, flat)");
    }
  }
  VS_RETURN_IF_ERROR(read_size(j, "m", 4, 128, &s.m));
  VS_RETURN_IF_ERROR(read_size(j, "ef_construction", 8, 4096, &s.ef_construction));
  VS_RETURN_IF_ERROR(read_size(j, "ef_search", 1, 65536, &s.ef_search));
  VS_RETURN_IF_ERROR(read_size(j, "build_threads", 1, 256, &s.build_threads));
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
  j["build_threads"] = build_threads;
  return j;
}

Result<std::unique_ptr<Index>> IndexSpec::create(size_t dim, Metric metric) const {
  if (kind == "flat") return std::unique_ptr<Index>();
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
  auto idx = HnswIndex::load(path, build_threads);
  if (!idx.is_ok()) return idx.status();
  return std::unique_ptr<Index>(std::move(*idx));
}

}  // namespace vecstream
