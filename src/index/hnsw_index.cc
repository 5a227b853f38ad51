#include "index/hnsw_index.h"

#include <string>

#include "index/hnsw_graph.h"
#include "index/index_file.h"

namespace vecstream {

namespace {
constexpr uint32_t kHnswFileVersion = 1;
}

HnswIndex::HnswIndex(std::unique_ptr<HnswGraph> graph) : graph_(std::move(graph)) {}
HnswIndex::~HnswIndex() = default;

Result<std::unique_ptr<HnswIndex>> HnswIndex::create(size_t dim, Metric metric,
                                                     const HnswParams& params) {
  if (dim == 0 || dim > (1u << 16)) {
    return Status::invalid_argument("dimension must be in [1, 65536], got " + std::to_string(dim));
  }
  if (params.M < 2 || params.M > 256) {
    return Status::invalid_argument("M must be in [2, 256], got " + std::to_string(params.M));
  }
  if (params.ef_construction == 0) return Status::invalid_argument("ef_construction must be >= 1");
  if (params.ef_search == 0) return Status::invalid_argument("ef_search must be >= 1");
  if (!(params.consolidate_ratio > 0.0 && params.consolidate_ratio <= 1.0)) {
    return Status::invalid_argument("consolidate_ratio must be in (0, 1]");
  }
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::make_unique<HnswGraph>(dim, metric, params)));
}

size_t HnswIndex::dim() const { return graph_->dim(); }
Metric HnswIndex::metric() const { return graph_->metric(); }
size_t HnswIndex::size() const { return graph_->live(); }
const HnswParams& HnswIndex::params() const { return graph_->params(); }
size_t HnswIndex::deleted_pending() const { return graph_->deleted_pending(); }
bool HnswIndex::quantized_active() const { return graph_->quantized_active(); }
size_t HnswIndex::memory_bytes() const { return graph_->memory_bytes(); }
bool HnswIndex::contains(Id id) const { return graph_->contains(id); }
Status HnswIndex::consolidate() { return graph_->consolidate(); }

std::string HnswIndex::describe() const {
  const HnswParams& p = graph_->params();
  return "hnsw(M=" + std::to_string(p.M) + ",efc=" + std::to_string(p.ef_construction) +
         (p.quantized_traversal ? ",sq8-walk" : "") + ")";
}

Status HnswIndex::add(Id id, std::span<const float> vector) {
  VS_RETURN_IF_ERROR(check_vector(vector));
  return graph_->add(id, vector.data());
}

Status HnswIndex::add_batch(std::span<const Id> ids, std::span<const float> vectors) {
  VS_RETURN_IF_ERROR(check_batch(ids, vectors));
  return graph_->add_batch(ids.data(), vectors.data(), ids.size());
}

Status HnswIndex::remove(Id id) { return graph_->remove(id); }

Status HnswIndex::resolve_ef(const SearchParams& params, size_t k, size_t* ef) const {
  if (params.ef != 0 && params.ef < k) {
    return Status::invalid_argument("ef = " + std::to_string(params.ef) + " is below k = " +
                                    std::to_string(k));
  }
  *ef = params.ef != 0 ? params.ef : std::max(graph_->params().ef_search, k);
  return Status::ok();
}

Status HnswIndex::search(std::span<const float> query, size_t k, const SearchParams& params,
                         std::span<Neighbor> out, size_t* found) const {
  VS_RETURN_IF_ERROR(check_query(query, k, out.size()));
  size_t ef = 0;
  VS_RETURN_IF_ERROR(resolve_ef(params, k, &ef));
  graph_->search(query.data(), k, ef, params.filter, out.data(), found);
  return Status::ok();
}

Status HnswIndex::search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                               std::span<Neighbor> out, std::span<size_t> found) const {
  size_t nq = 0;
  VS_RETURN_IF_ERROR(check_query_batch(queries, k, out.size(), found.size(), &nq));
  size_t ef = 0;
  VS_RETURN_IF_ERROR(resolve_ef(params, k, &ef));
  graph_->search_batch(queries.data(), nq, k, ef, params.filter, out.data(), found.data());
  return Status::ok();
}

Result<std::unique_ptr<Index>> HnswIndex::compacted(const std::function<Id(Id)>& relabel) const {
  auto g = graph_->compacted(relabel);
  if (!g.is_ok()) return g.status();
  return std::unique_ptr<Index>(new HnswIndex(std::move(*g)));
}

Status HnswIndex::save(const std::string& path) const {
  auto w = IndexFileWriter::open(path, IndexKind::kHnsw, kHnswFileVersion);
  if (!w.is_ok()) return w.status();
  graph_->save(**w);
  return (*w)->commit();
}

Result<std::unique_ptr<HnswIndex>> HnswIndex::load(const std::string& path, size_t threads) {
  auto r = IndexFileReader::open(path, IndexKind::kHnsw, kHnswFileVersion);
  if (!r.is_ok()) return r.status();
  auto g = HnswGraph::load(**r, threads);
  if (!g.is_ok()) return g.status();
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(*g)));
}

}  // namespace vecstream
