#include "index/index.h"

#include <string>

#include "core/bitset.h"
#include "core/distance.h"

namespace vecstream {

bool IdFilter::allowed(Id id) const {
  if (allow != nullptr && !allow->test(static_cast<size_t>(id))) return false;
  if (predicate && !predicate(id)) return false;
  return true;
}

Status Index::add_batch(std::span<const Id> ids, std::span<const float> vectors) {
  VS_RETURN_IF_ERROR(check_batch(ids, vectors));
  for (size_t i = 0; i < ids.size(); ++i) {
    VS_RETURN_IF_ERROR(add(ids[i], vectors.subspan(i * dim(), dim())));
  }
  return Status::ok();
}

Result<std::unique_ptr<Index>> Index::compacted(const std::function<Id(Id)>& /*relabel*/) const {
  return std::unique_ptr<Index>{};
}

Status Index::search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                           std::span<Neighbor> out, std::span<size_t> found) const {
  size_t nq = 0;
  VS_RETURN_IF_ERROR(check_query_batch(queries, k, out.size(), found.size(), &nq));
  for (size_t i = 0; i < nq; ++i) {
    Status s = search(queries.subspan(i * dim(), dim()), k, params, out.subspan(i * k, k), &found[i]);
    if (!s.is_ok()) return Status(s.code(), "query " + std::to_string(i) + ": " + s.message());
  }
  return Status::ok();
}

Status Index::check_vector(std::span<const float> v) const {
  if (v.size() != dim()) {
    return Status::invalid_argument("vector has dimension " + std::to_string(v.size()) +
                                    ", the index expects " + std::to_string(dim()));
  }
  if (!all_finite(v.data(), v.size())) return Status::invalid_argument("vector contains NaN or Inf");
  if (metric() == Metric::kCosine) {
    float n2 = kernels().dot(v.data(), v.data(), v.size());
    if (!(n2 > 0.0f)) return Status::invalid_argument("cosine metric needs a non-zero vector");
  }
  return Status::ok();
}

Status Index::check_query(std::span<const float> q, size_t k, size_t out_size) const {
  if (k == 0) return Status::invalid_argument("k must be at least 1");
  size_t n = size();
  if (k > n) {
    return Status::invalid_argument("k = " + std::to_string(k) + " exceeds the index size " +
                                    std::to_string(n));
  }
  if (out_size < k) return Status::invalid_argument("result buffer smaller than k");
  return check_vector(q);
}

Status Index::check_batch(std::span<const Id> ids, std::span<const float> vectors) const {
  if (vectors.size() != ids.size() * dim()) {
    return Status::invalid_argument("batch of " + std::to_string(ids.size()) + " ids carries " +
                                    std::to_string(vectors.size()) + " floats, expected " +
                                    std::to_string(ids.size() * dim()));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    Status s = check_vector(vectors.subspan(i * dim(), dim()));
    if (!s.is_ok()) return Status(s.code(), "row " + std::to_string(i) + ": " + s.message());
  }
  return Status::ok();
}

Status Index::check_query_batch(std::span<const float> queries, size_t k, size_t out_size,
                                size_t found_size, size_t* nq) const {
  if (queries.size() % dim() != 0) {
    return Status::invalid_argument("query batch of " + std::to_string(queries.size()) +
                                    " floats is not a multiple of the dimension " +
                                    std::to_string(dim()));
  }
  *nq = queries.size() / dim();
  if (k == 0) return Status::invalid_argument("k must be at least 1");
  if (k > size()) {
    return Status::invalid_argument("k = " + std::to_string(k) + " exceeds the index size " +
                                    std::to_string(size()));
  }
  if (out_size < *nq * k || found_size < *nq) {
    return Status::invalid_argument("result buffers too small for the batch");
  }
  for (size_t i = 0; i < *nq; ++i) {
    Status s = check_vector(queries.subspan(i * dim(), dim()));
    if (!s.is_ok()) return Status(s.code(), "query " + std::to_string(i) + ": " + s.message());
  }
  return Status::ok();
}

}  // namespace vecstream
