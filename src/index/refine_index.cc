// RefineIndex: candidate generation through the base, exact re-scoring from the raw vectors, and
// the raw-vector file that can be served from its mapping (design in the header).
//
// File body (kind kRefine, version 1), after index_file.h's 16-byte header:
//   u64 dim | u32 metric | f32 rerank_factor | u64 n | n x u64 id | u64 pad | pad x 0 |
//   n*dim x f32 rows
// `pad` (< 64) puts the rows at a 64-byte file offset, so the mapping (page-aligned) serves them
// aligned. The base lives in its own file, "<path>.base".
#include "index/refine_index.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/distance.h"
#include "core/thread_pool.h"
#include "core/top_k.h"
#include "index/index_file.h"

namespace vecstream {

namespace {

constexpr uint32_t kRefineVersion = 1;
constexpr size_t kFileHeaderBytes = 16;  // index_file.h: magic, version, kind
constexpr size_t kRowAlign = 64;

struct RefineScratch {
  std::vector<Neighbor> candidates;
  std::vector<float> query;
  TopK<Id> heap;
};

// This thread's scratch for one search. A base may itself be a RefineIndex (a nested search on
// the same thread), so scratch is a stack with one level per nesting depth.
class ScratchLevel {
 public:
  ScratchLevel() {
    if (stack_.size() <= depth_) stack_.push_back(std::make_unique<RefineScratch>());
    s_ = stack_[depth_++].get();
  }
  ~ScratchLevel() { --depth_; }
  ScratchLevel(const ScratchLevel&) = delete;
  ScratchLevel& operator=(const ScratchLevel&) = delete;
  RefineScratch& operator*() const { return *s_; }

 private:
  static thread_local std::vector<std::unique_ptr<RefineScratch>> stack_;
  static thread_local size_t depth_;
  RefineScratch* s_;
};
thread_local std::vector<std::unique_ptr<RefineScratch>> ScratchLevel::stack_;
thread_local size_t ScratchLevel::depth_ = 0;

}  // namespace

RefineIndex::RefineIndex(std::unique_ptr<Index> base, const RefineParams& params)
    : dim_(base->dim()),
      metric_(base->metric()),
      params_(params),
      base_(std::move(base)),
      pool_(std::make_unique<ThreadPool>(params.threads)) {}

RefineIndex::~RefineIndex() = default;

Result<std::unique_ptr<RefineIndex>> RefineIndex::create(std::unique_ptr<Index> base,
                                                         const RefineParams& params) {
  if (base == nullptr) return Status::invalid_argument("refine: no base index");
  if (base->size() != 0) return Status::invalid_argument("refine: the base index must be empty");
  if (!(params.rerank_factor >= 1.0f) || !std::isfinite(params.rerank_factor)) {
    return Status::invalid_argument("refine: rerank_factor must be a finite value >= 1");
  }
  return std::unique_ptr<RefineIndex>(new RefineIndex(std::move(base), params));
}

size_t RefineIndex::size() const {
  std::shared_lock lock(mu_);
  return slot_ids_.size();
}

bool RefineIndex::contains(Id id) const {
  std::shared_lock lock(mu_);
  return slots_.count(id) != 0;
}

bool RefineIndex::vectors_mapped() const {
  std::shared_lock lock(mu_);
  return mapped_ != nullptr;
}

std::string RefineIndex::describe() const {
  char factor[32];
  std::snprintf(factor, sizeof(factor), "%g", static_cast<double>(params_.rerank_factor));
  return "refine(" + base_->describe() + ",x" + factor + ")";
}

// ---------------------------------------------------------------------------------------------
// Writes

void RefineIndex::unmap_locked() {
  if (mapped_ == nullptr) return;
  heap_data_.assign(data_, data_ + mapped_rows_ * dim_);
  mapped_.reset();
  mapped_rows_ = 0;
  data_ = heap_data_.data();
}

void RefineIndex::store_locked(Id id, const float* vector) {
  uint32_t slot;
  if (auto it = slots_.find(id); it != slots_.end()) {
    slot = it->second;
  } else {
    slot = static_cast<uint32_t>(slot_ids_.size());
    slot_ids_.push_back(id);
    heap_data_.resize(heap_data_.size() + dim_);
    slots_.emplace(id, slot);
  }
  float* row = heap_data_.data() + static_cast<size_t>(slot) * dim_;
  std::memcpy(row, vector, dim_ * sizeof(float));
  if (metric_normalizes(metric_)) normalize_l2(row, dim_);
  data_ = heap_data_.data();
}

Status RefineIndex::add(Id id, std::span<const float> vector) {
  VS_RETURN_IF_ERROR(check_vector(vector));
  std::unique_lock lock(mu_);
  if (!slots_.count(id) && slot_ids_.size() >= UINT32_MAX) return Status::out_of_range("index is full");
  VS_RETURN_IF_ERROR(base_->add(id, vector));
  unmap_locked();
  store_locked(id, vector.data());
  return Status::ok();
}

Status RefineIndex::add_batch(std::span<const Id> ids, std::span<const float> vectors) {
  VS_RETURN_IF_ERROR(check_batch(ids, vectors));
  std::unique_lock lock(mu_);
  if (slot_ids_.size() + ids.size() >= UINT32_MAX) return Status::out_of_range("index is full");
  VS_RETURN_IF_ERROR(base_->add_batch(ids, vectors));
  unmap_locked();
  heap_data_.reserve(heap_data_.size() + ids.size() * dim_);
  for (size_t i = 0; i < ids.size(); ++i) store_locked(ids[i], vectors.data() + i * dim_);
  return Status::ok();
}

Status RefineIndex::remove(Id id) {
  std::unique_lock lock(mu_);
  auto it = slots_.find(id);
  if (it == slots_.end()) return Status::not_found("id " + std::to_string(id) + " not in index");
  VS_RETURN_IF_ERROR(base_->remove(id));
  unmap_locked();
  const uint32_t slot = it->second;
  const uint32_t last = static_cast<uint32_t>(slot_ids_.size() - 1);
  slots_.erase(it);
  if (slot != last) {
    std::memcpy(heap_data_.data() + static_cast<size_t>(slot) * dim_,
                heap_data_.data() + static_cast<size_t>(last) * dim_, dim_ * sizeof(float));
    slot_ids_[slot] = slot_ids_[last];
    slots_[slot_ids_[slot]] = slot;
  }
  slot_ids_.pop_back();
  heap_data_.resize(heap_data_.size() - dim_);
  data_ = heap_data_.data();
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Search

Status RefineIndex::resolve(const SearchParams& params, size_t k, size_t* candidates,
                            SearchParams* base_params) const {
  const float factor = params.rerank_factor != 0.0f ? params.rerank_factor : params_.rerank_factor;
  if (!(factor >= 1.0f) || !std::isfinite(factor)) {
    return Status::invalid_argument("rerank_factor must be a finite value >= 1");
  }
  const double want = std::ceil(static_cast<double>(k) * factor);
  *candidates = std::clamp<size_t>(want > 1e12 ? SIZE_MAX : static_cast<size_t>(want), k,
                                   std::max(k, slot_ids_.size()));
  *base_params = params;
  base_params->rerank_factor = 0.0f;
  if (base_params->ef != 0) base_params->ef = std::max(base_params->ef, *candidates);
  return Status::ok();
}

// Exact distances of the candidates; caller holds the shared lock. `query` is normalised for
// cosine.
void RefineIndex::rerank(const float* query, const Neighbor* cands, size_t n, size_t k,
                         Neighbor* out, size_t* found) const {
  ScratchLevel level;
  RefineScratch& s = *level;
  const DistanceKernels& kern = kernels();
  s.heap.reset(k);
  for (size_t i = 0; i < n; ++i) {
    auto it = slots_.find(cands[i].id);
    if (it == slots_.end()) continue;  // cannot happen while base and rows are in step
    s.heap.push(metric_distance(kern, metric_, query, vec(it->second), dim_), cands[i].id);
  }
  const auto& sorted = s.heap.sorted();
  for (size_t j = 0; j < sorted.size(); ++j) out[j] = Neighbor{sorted[j].id, sorted[j].distance};
  *found = sorted.size();
}

Status RefineIndex::search(std::span<const float> query, size_t k, const SearchParams& params,
                           std::span<Neighbor> out, size_t* found) const {
  VS_RETURN_IF_ERROR(check_query(query, k, out.size()));
  std::shared_lock lock(mu_);
  size_t nc = 0;
  SearchParams bp;
  VS_RETURN_IF_ERROR(resolve(params, k, &nc, &bp));
  ScratchLevel level;
  RefineScratch& s = *level;
  if (s.candidates.size() < nc) s.candidates.resize(nc);
  size_t got = 0;
  VS_RETURN_IF_ERROR(base_->search(query, nc, bp, std::span<Neighbor>(s.candidates.data(), nc), &got));
  const float* q = query.data();
  if (metric_normalizes(metric_)) {
    s.query.assign(query.begin(), query.end());
    normalize_l2(s.query.data(), dim_);
    q = s.query.data();
  }
  rerank(q, s.candidates.data(), got, k, out.data(), found);
  return Status::ok();
}

Status RefineIndex::search_batch(std::span<const float> queries, size_t k,
                                 const SearchParams& params, std::span<Neighbor> out,
                                 std::span<size_t> found) const {
  size_t nq = 0;
  VS_RETURN_IF_ERROR(check_query_batch(queries, k, out.size(), found.size(), &nq));
  std::shared_lock lock(mu_);
  size_t nc = 0;
  SearchParams bp;
  VS_RETURN_IF_ERROR(resolve(params, k, &nc, &bp));
  // One buffer per batch (not per query) for the base's answers.
  std::vector<Neighbor> cands(nq * nc);
  std::vector<size_t> counts(nq);
  VS_RETURN_IF_ERROR(base_->search_batch(queries, nc, bp, cands, counts));
  pool_->parallel_for(nq, 8, [&](size_t q0, size_t q1, size_t) {
    ScratchLevel level;
    RefineScratch& s = *level;
    for (size_t q = q0; q < q1; ++q) {
      const float* qv = queries.data() + q * dim_;
      if (metric_normalizes(metric_)) {
        s.query.assign(qv, qv + dim_);
        normalize_l2(s.query.data(), dim_);
        qv = s.query.data();
      }
      rerank(qv, cands.data() + q * nc, counts[q], k, out.data() + q * k, &found[q]);
    }
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Persistence

Status RefineIndex::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  VS_RETURN_IF_ERROR(base_->save(path + ".base"));
  auto w = IndexFileWriter::open(path, IndexKind::kRefine, kRefineVersion);
  if (!w.is_ok()) return w.status();
  IndexFileWriter& out = **w;
  const size_t n = slot_ids_.size();
  out.put<uint64_t>(dim_);
  out.put<uint32_t>(static_cast<uint32_t>(metric_));
  out.put<float>(params_.rerank_factor);
  out.put_vector(slot_ids_);
  const size_t offset = kFileHeaderBytes + 8 + 4 + 4 + 8 + n * sizeof(Id) + 8;
  const size_t pad = (kRowAlign - offset % kRowAlign) % kRowAlign;
  const uint8_t zeros[kRowAlign] = {};
  out.put<uint64_t>(pad);
  out.write(zeros, pad);
  out.write(data_, n * dim_ * sizeof(float));
  return out.commit();
}

Result<std::unique_ptr<RefineIndex>> RefineIndex::load(const std::string& path,
                                                       const BaseLoader& load_base,
                                                       const RefineLoadOptions& options) {
  if (!load_base) return Status::invalid_argument("refine: no base loader");
  auto r = IndexFileReader::open(path, IndexKind::kRefine, kRefineVersion);
  if (!r.is_ok()) return r.status();
  IndexFileReader& in = **r;
  uint64_t dim = 0, pad = 0;
  uint32_t metric = 0;
  float factor = 0;
  std::vector<Id> ids;
  VS_RETURN_IF_ERROR(in.get(&dim));
  VS_RETURN_IF_ERROR(in.get(&metric));
  VS_RETURN_IF_ERROR(in.get(&factor));
  if (dim == 0 || dim > (size_t{1} << 16) || metric > static_cast<uint32_t>(Metric::kL1) ||
      !(factor >= 1.0f) || !std::isfinite(factor)) {
    return in.truncated("header");
  }
  const uint64_t max_ids = std::min<uint64_t>(UINT32_MAX - 1, in.remaining() / sizeof(Id));
  VS_RETURN_IF_ERROR(in.get_vector(&ids, max_ids));
  VS_RETURN_IF_ERROR(in.get(&pad));
  if (pad >= kRowAlign) return in.truncated("padding");
  auto skipped = in.view(pad);
  if (!skipped.is_ok()) return skipped.status();
  const size_t n = ids.size();
  if (in.remaining() != n * dim * sizeof(float)) return in.truncated("vector rows");
  auto rows = in.view(n * dim * sizeof(float));
  if (!rows.is_ok()) return rows.status();
  const float* mapped_rows = reinterpret_cast<const float*>(*rows);

  auto base = load_base(path + ".base");
  if (!base.is_ok()) return base.status();
  if (*base == nullptr || (*base)->dim() != dim || (*base)->metric() != static_cast<Metric>(metric) ||
      (*base)->size() != n) {
    return Status::corruption(path + ": the base index does not match the refine file");
  }
  RefineParams p;
  p.rerank_factor = factor;
  p.threads = options.threads;
  std::unique_ptr<RefineIndex> idx(new RefineIndex(std::move(*base), p));
  idx->slot_ids_ = std::move(ids);
  idx->slots_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!idx->slots_.emplace(idx->slot_ids_[i], static_cast<uint32_t>(i)).second) {
      return in.truncated("id table (duplicate id)");
    }
    if (!idx->base_->contains(idx->slot_ids_[i])) {
      return Status::corruption(path + ": id " + std::to_string(idx->slot_ids_[i]) +
                                " is not in the base index");
    }
  }
  if (!all_finite(mapped_rows, n * dim)) return in.truncated("vector rows (non-finite value)");
  if (options.map_vectors) {
    idx->mapped_rows_ = n;
    idx->data_ = mapped_rows;
    idx->mapped_ = std::move(*r);
  } else {
    idx->heap_data_.assign(mapped_rows, mapped_rows + n * dim);
    idx->data_ = idx->heap_data_.data();
  }
  return idx;
}

size_t RefineIndex::memory_bytes() const {
  std::shared_lock lock(mu_);
  return sizeof(*this) + heap_data_.capacity() * sizeof(float) + slot_ids_.capacity() * sizeof(Id) +
         slots_.size() * (sizeof(Id) + sizeof(uint32_t) + 2 * sizeof(void*)) +
         slots_.bucket_count() * sizeof(void*) + base_->memory_bytes();
}

size_t RefineIndex::mapped_bytes() const {
  std::shared_lock lock(mu_);
  return mapped_rows_ * dim_ * sizeof(float);
}

}  // namespace vecstream
