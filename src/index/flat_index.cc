#include "index/flat_index.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "core/distance.h"
#include "core/distance_matrix.h"
#include "core/thread_pool.h"
#include "core/top_k.h"
#include "index/index_file.h"

namespace vecstream {

namespace {
constexpr uint32_t kFlatVersion = 1;
constexpr size_t kQueryBlock = 64;     // queries per GEMM
constexpr size_t kBaseBlock = 4096;    // rows per GEMM
}  // namespace

FlatIndex::FlatIndex(size_t dim, Metric metric, size_t threads)
    : dim_(dim), metric_(metric), pool_(std::make_unique<ThreadPool>(threads)) {}

FlatIndex::~FlatIndex() = default;

Result<std::unique_ptr<FlatIndex>> FlatIndex::create(size_t dim, Metric metric, size_t threads) {
  if (dim == 0) return Status::invalid_argument("dimension must be at least 1");
  if (dim > (1u << 16)) return Status::invalid_argument("dimension above 65536");
  return std::unique_ptr<FlatIndex>(new FlatIndex(dim, metric, threads));
}

size_t FlatIndex::size() const {
  std::shared_lock lock(mu_);
  return slot_ids_.size();
}

bool FlatIndex::contains(Id id) const {
  std::shared_lock lock(mu_);
  return slots_.count(id) != 0;
}

void FlatIndex::add_locked(Id id, const float* vector) {
  uint32_t slot;
  if (auto it = slots_.find(id); it != slots_.end()) {
    slot = it->second;  // upsert: overwrite in place
  } else {
    slot = static_cast<uint32_t>(slot_ids_.size());
    slot_ids_.push_back(id);
    data_.resize(data_.size() + dim_);
    norms_sq_.push_back(0.0f);
    slots_.emplace(id, slot);
  }
  float* row = data_.data() + static_cast<size_t>(slot) * dim_;
  std::memcpy(row, vector, dim_ * sizeof(float));
  if (metric_normalizes(metric_)) normalize_l2(row, dim_);
  norms_sq_[slot] = kernels().dot(row, row, dim_);
}

Status FlatIndex::add(Id id, std::span<const float> vector) {
  VS_RETURN_IF_ERROR(check_vector(vector));
  std::unique_lock lock(mu_);
  if (!slots_.count(id) && slot_ids_.size() >= UINT32_MAX) return Status::out_of_range("flat index is full");
  add_locked(id, vector.data());
  return Status::ok();
}

Status FlatIndex::add_batch(std::span<const Id> ids, std::span<const float> vectors) {
  VS_RETURN_IF_ERROR(check_batch(ids, vectors));
  std::unique_lock lock(mu_);
  const size_t n = ids.size();
  if (slot_ids_.size() + n >= UINT32_MAX) return Status::out_of_range("flat index is full");
  data_.reserve(data_.size() + n * dim_);
  slot_ids_.reserve(slot_ids_.size() + n);
  norms_sq_.reserve(norms_sq_.size() + n);
  for (size_t i = 0; i < n; ++i) add_locked(ids[i], vectors.data() + i * dim_);
  return Status::ok();
}

Status FlatIndex::remove(Id id) {
  std::unique_lock lock(mu_);
  auto it = slots_.find(id);
  if (it == slots_.end()) return Status::not_found("id " + std::to_string(id) + " not in index");
  uint32_t slot = it->second;
  uint32_t last = static_cast<uint32_t>(slot_ids_.size() - 1);
  slots_.erase(it);
  if (slot != last) {  // keep rows dense: move the last row into the hole
    std::memcpy(data_.data() + static_cast<size_t>(slot) * dim_,
                data_.data() + static_cast<size_t>(last) * dim_, dim_ * sizeof(float));
    norms_sq_[slot] = norms_sq_[last];
    slot_ids_[slot] = slot_ids_[last];
    slots_[slot_ids_[slot]] = slot;
  }
  slot_ids_.pop_back();
  norms_sq_.pop_back();
  data_.resize(data_.size() - dim_);
  return Status::ok();
}

Status FlatIndex::search(std::span<const float> query, size_t k, const SearchParams& params,
                         std::span<Neighbor> out, size_t* found) const {
  VS_RETURN_IF_ERROR(check_query(query, k, out.size()));  // before the lock: size() takes it
  std::shared_lock lock(mu_);
  // One query: a SIMD scan in blocks, no GEMM (it would not pay for one row of queries).
  thread_local std::vector<float> scratch;
  search_block(query.data(), 1, k, params.filter, out.data(), found, scratch);
  return Status::ok();
}

Status FlatIndex::search_batch(std::span<const float> queries_span, size_t k,
                               const SearchParams& params, std::span<Neighbor> out_span,
                               std::span<size_t> found_span) const {
  size_t nq = 0;
  VS_RETURN_IF_ERROR(
      check_query_batch(queries_span, k, out_span.size(), found_span.size(), &nq));
  std::shared_lock lock(mu_);
  const float* queries = queries_span.data();
  Neighbor* out = out_span.data();
  size_t* found = found_span.data();
  size_t blocks = (nq + kQueryBlock - 1) / kQueryBlock;
  std::vector<std::vector<float>> scratch(pool_->size());
  pool_->parallel_for(blocks, 1, [&](size_t b0, size_t b1, size_t worker) {
    for (size_t b = b0; b < b1; ++b) {
      size_t q0 = b * kQueryBlock, q1 = std::min(nq, q0 + kQueryBlock);
      search_block(queries + q0 * dim_, q1 - q0, k, params.filter, out + q0 * k, found + q0,
                   scratch[worker]);
    }
  });
  return Status::ok();
}

// Scores `nq` queries against every row, block by block, keeping a top-k heap per query.
// Caller holds the shared lock and has validated the queries.
void FlatIndex::search_block(const float* queries, size_t nq, size_t k, const IdFilter* filter,
                             Neighbor* out, size_t* found, std::vector<float>& scratch) const {
  const size_t n = slot_ids_.size();
  const DistanceKernels& kern = kernels();
  // Normalised copies of the queries for cosine.
  std::vector<float> normalized;
  if (metric_normalizes(metric_)) {
    normalized.assign(queries, queries + nq * dim_);
    for (size_t i = 0; i < nq; ++i) normalize_l2(normalized.data() + i * dim_, dim_);
    queries = normalized.data();
  }
  std::vector<TopK<uint32_t>> heaps(nq, TopK<uint32_t>(k));
  const bool use_gemm = nq > 1 && metric_ != Metric::kL1;
  const size_t block = std::min(n, kBaseBlock);
  scratch.resize(nq * block);
  for (size_t r0 = 0; r0 < n; r0 += block) {
    size_t rows = std::min(block, n - r0);
    const float* base = data_.data() + r0 * dim_;
    if (use_gemm) {
      distance_matrix(metric_, queries, nq, base, rows, dim_, norms_sq_.data() + r0, scratch.data());
    } else {
      for (size_t i = 0; i < nq; ++i) {
        metric_distance_many(kern, metric_, queries + i * dim_, base, rows, dim_, dim_,
                             scratch.data() + i * rows);
      }
    }
    for (size_t i = 0; i < nq; ++i) {
      const float* d = scratch.data() + i * rows;
      TopK<uint32_t>& heap = heaps[i];
      for (size_t j = 0; j < rows; ++j) {
        if (d[j] >= heap.worst()) continue;
        uint32_t slot = static_cast<uint32_t>(r0 + j);
        if (filter != nullptr && !filter->allowed(slot_ids_[slot])) continue;
        heap.push(d[j], slot);
      }
    }
  }
  for (size_t i = 0; i < nq; ++i) {
    const auto& sorted = heaps[i].sorted();
    for (size_t j = 0; j < sorted.size(); ++j) {
      out[i * k + j] = Neighbor{slot_ids_[sorted[j].id], sorted[j].distance};
    }
    found[i] = sorted.size();
  }
}

Status FlatIndex::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  auto w = IndexFileWriter::open(path, IndexKind::kFlat, kFlatVersion);
  if (!w.is_ok()) return w.status();
  (*w)->put<uint64_t>(dim_);
  (*w)->put<uint32_t>(static_cast<uint32_t>(metric_));
  (*w)->put_vector(slot_ids_);
  (*w)->put_vector(data_);
  return (*w)->commit();
}

Result<std::unique_ptr<FlatIndex>> FlatIndex::load(const std::string& path, size_t threads) {
  auto r = IndexFileReader::open(path, IndexKind::kFlat, kFlatVersion);
  if (!r.is_ok()) return r.status();
  IndexFileReader& in = **r;
  uint64_t dim = 0;
  uint32_t metric = 0;
  VS_RETURN_IF_ERROR(in.get(&dim));
  VS_RETURN_IF_ERROR(in.get(&metric));
  if (dim == 0 || dim > (1u << 16)) return in.truncated("dimension");
  if (metric > static_cast<uint32_t>(Metric::kL1)) return in.truncated("metric");
  std::unique_ptr<FlatIndex> idx(new FlatIndex(dim, static_cast<Metric>(metric), threads));
  VS_RETURN_IF_ERROR(in.get_vector(&idx->slot_ids_, in.remaining() / sizeof(Id)));
  VS_RETURN_IF_ERROR(in.get_vector(&idx->data_, in.remaining() / sizeof(float)));
  if (idx->data_.size() != idx->slot_ids_.size() * dim) return in.truncated("vector array");
  if (in.remaining() != 0) return in.truncated("trailing bytes");
  const size_t n = idx->slot_ids_.size();
  idx->norms_sq_.resize(n);
  idx->slots_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const float* row = idx->data_.data() + i * dim;
    if (!all_finite(row, dim)) return in.truncated("vector (non-finite value)");
    idx->norms_sq_[i] = kernels().dot(row, row, dim);
    if (!idx->slots_.emplace(idx->slot_ids_[i], static_cast<uint32_t>(i)).second) {
      return in.truncated("id table (duplicate id)");
    }
  }
  return idx;
}

size_t FlatIndex::memory_bytes() const {
  std::shared_lock lock(mu_);
  return data_.capacity() * sizeof(float) + norms_sq_.capacity() * sizeof(float) +
         slot_ids_.capacity() * sizeof(Id) + slots_.size() * (sizeof(Id) + sizeof(uint32_t) + 16);
}

}  // namespace vecstream
