// IvfFlatIndex: training, list maintenance and the probe-and-scan search (design in the header).
//
// File body (kind kIvfFlat, version 1), after index_file.h's header:
//   u64 dim | u32 metric | u64 nlist | u64 nprobe | u64 kmeans_iterations |
//   u64 max_points_per_centroid | u64 min_points_per_centroid | u64 seed | u8 trained |
//   [trained: CoarseQuantizer (coarse_quantizer.h) | InvertedLists<float> (inverted_lists.h)]
#include "index/ivf_flat_index.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "core/distance.h"
#include "core/thread_pool.h"
#include "index/index_file.h"
#include "index/ivf_search.h"

namespace vecstream {

namespace {
constexpr uint32_t kIvfFlatVersion = 1;
constexpr size_t kScanBlock = 256;         // rows per distance block of a list scan
constexpr size_t kParallelAssignRows = 256;  // smaller batches assign on the calling thread

}  // namespace

IvfFlatIndex::IvfFlatIndex(size_t dim, Metric metric, const IvfParams& params)
    : dim_(dim),
      metric_(metric),
      params_(params),
      pool_(std::make_unique<ThreadPool>(params.threads)),
      lists_(0, dim) {}

IvfFlatIndex::~IvfFlatIndex() = default;

Result<std::unique_ptr<IvfFlatIndex>> IvfFlatIndex::create(size_t dim, Metric metric,
                                                           const IvfParams& params) {
  VS_RETURN_IF_ERROR(internal::check_ivf_params(dim, params));
  return std::unique_ptr<IvfFlatIndex>(new IvfFlatIndex(dim, metric, params));
}

size_t IvfFlatIndex::size() const {
  std::shared_lock lock(mu_);
  return lists_.size();
}

bool IvfFlatIndex::is_trained() const {
  std::shared_lock lock(mu_);
  return quantizer_.has_value();
}

bool IvfFlatIndex::contains(Id id) const {
  std::shared_lock lock(mu_);
  return lists_.contains(id);
}

std::string IvfFlatIndex::describe() const {
  return "ivf_flat(nlist=" + std::to_string(params_.nlist) +
         ",nprobe=" + std::to_string(params_.nprobe) + ")";
}

std::vector<size_t> IvfFlatIndex::list_sizes() const {
  std::shared_lock lock(mu_);
  std::vector<size_t> sizes(lists_.nlist());
  for (size_t l = 0; l < sizes.size(); ++l) sizes[l] = lists_.list_size(l);
  return sizes;
}

// Trains on rows already validated (and normalised for cosine); installs the quantizer unless
// another thread trained meanwhile. Does not hold the lock during k-means.
Status IvfFlatIndex::train_locked(std::span<const float> data, size_t n) {
  auto cq = CoarseQuantizer::train(data, n, dim_, metric_, params_.nlist,
                                   internal::ivf_kmeans_params(params_));
  if (!cq.is_ok()) return cq.status();
  std::unique_lock lock(mu_);
  if (!quantizer_) {
    quantizer_.emplace(std::move(*cq));
    lists_ = InvertedLists<float>(params_.nlist, dim_);
  }
  return Status::ok();
}

Status IvfFlatIndex::train(std::span<const float> data, size_t n) {
  if (data.size() != n * dim_) {
    return Status::invalid_argument("training data of " + std::to_string(data.size()) +
                                    " floats is not " + std::to_string(n) + " rows of dimension " +
                                    std::to_string(dim_));
  }
  if (n < params_.nlist) {
    return Status::invalid_argument("training needs at least nlist = " +
                                    std::to_string(params_.nlist) + " rows, got " + std::to_string(n));
  }
  if (is_trained()) return Status::failed_precondition("index is already trained");
  return train_locked(data, n);
}

Status IvfFlatIndex::add(Id id, std::span<const float> vector) {
  VS_RETURN_IF_ERROR(check_vector(vector));
  internal::IvfScratch& s = internal::ivf_scratch();
  s.query.assign(vector.begin(), vector.end());
  if (metric_normalizes(metric_)) normalize_l2(s.query.data(), dim_);
  std::unique_lock lock(mu_);
  if (!quantizer_) {
    return Status::failed_precondition("ivf_flat: train() (or a large enough add_batch) first");
  }
  if (!lists_.contains(id) && lists_.size() >= UINT32_MAX) return Status::out_of_range("index is full");
  uint32_t list = 0;
  float dist = 0;
  s.centroid_dists.resize(quantizer_->nlist());
  quantizer_->probe(s.query.data(), 1, &list, &dist, s.centroid_dists.data());
  lists_.upsert(id, list, s.query.data());
  return Status::ok();
}

Status IvfFlatIndex::add_batch(std::span<const Id> ids, std::span<const float> vectors) {
  VS_RETURN_IF_ERROR(check_batch(ids, vectors));
  const size_t n = ids.size();
  if (n == 0) return Status::ok();
  std::vector<float> normalized;
  if (metric_normalizes(metric_)) {
    normalized.assign(vectors.begin(), vectors.end());
    for (size_t i = 0; i < n; ++i) normalize_l2(normalized.data() + i * dim_, dim_);
    vectors = normalized;
  }
  if (!is_trained()) {
    const size_t need = params_.nlist * std::max<size_t>(params_.min_points_per_centroid, 1);
    if (n < need) {
      return Status::failed_precondition(
          "ivf_flat is untrained: call train() or add a first batch of at least " +
          std::to_string(need) + " rows (nlist * min_points_per_centroid), got " +
          std::to_string(n));
    }
    VS_RETURN_IF_ERROR(train_locked(vectors, n));
  }
  // The quantizer never changes once set, so it is read without the lock from here on.
  const CoarseQuantizer* cq = nullptr;
  {
    std::shared_lock lock(mu_);
    cq = &*quantizer_;
  }
  std::vector<uint32_t> assign(n);
  VS_RETURN_IF_ERROR(cq->assign(vectors, n, assign, n < kParallelAssignRows ? 1 : params_.threads));

  std::unique_lock lock(mu_);
  if (lists_.size() + n > UINT32_MAX) return Status::out_of_range("index is full");
  lists_.reserve_ids(lists_.size() + n);
  ProgressReporter progress(params_.progress, "add", n, params_.progress_every);
  for (size_t i = 0; i < n; ++i) {
    lists_.upsert(ids[i], assign[i], vectors.data() + i * dim_);
    progress.update(i + 1);
  }
  return Status::ok();
}

Status IvfFlatIndex::remove(Id id) {
  std::unique_lock lock(mu_);
  if (!lists_.remove(id)) return Status::not_found("id " + std::to_string(id) + " not in index");
  return Status::ok();
}

// Caller holds the shared lock and has validated the query; the index is trained (size() >= k).
void IvfFlatIndex::search_one(const float* query, size_t k, size_t nprobe, const IdFilter* filter,
                              Neighbor* out, size_t* found) const {
  internal::IvfScratch& s = internal::ivf_scratch();
  const float* q = query;
  if (metric_normalizes(metric_)) {
    s.query.assign(query, query + dim_);
    normalize_l2(s.query.data(), dim_);
    q = s.query.data();
  }
  s.dists.resize(kScanBlock);
  const DistanceKernels& kern = kernels();
  const size_t d = dim_;
  const Metric metric = metric_;
  internal::ivf_search(*quantizer_, q, nprobe, k, s, out, found, [&](uint32_t l, float, TopK<Id>& heap) {
    const size_t n = lists_.list_size(l);
    const Id* ids = lists_.ids(l);
    const float* v = lists_.codes(l);
    float* dists = s.dists.data();
    for (size_t r0 = 0; r0 < n; r0 += kScanBlock) {
      const size_t rows = std::min(kScanBlock, n - r0);
      metric_distance_many(kern, metric, q, v + r0 * d, rows, d, d, dists);
      for (size_t j = 0; j < rows; ++j) {
        if (dists[j] >= heap.worst()) continue;
        const Id id = ids[r0 + j];
        if (filter != nullptr && !filter->allowed(id)) continue;
        heap.push(dists[j], id);
      }
    }
  });
}

Status IvfFlatIndex::search(std::span<const float> query, size_t k, const SearchParams& params,
                            std::span<Neighbor> out, size_t* found) const {
  VS_RETURN_IF_ERROR(check_query(query, k, out.size()));
  std::shared_lock lock(mu_);
  if (!quantizer_) return Status::failed_precondition("ivf_flat: not trained");
  const size_t nprobe = params.nprobe != 0 ? params.nprobe : params_.nprobe;
  search_one(query.data(), k, nprobe, params.filter, out.data(), found);
  return Status::ok();
}

Status IvfFlatIndex::search_batch(std::span<const float> queries, size_t k,
                                  const SearchParams& params, std::span<Neighbor> out,
                                  std::span<size_t> found) const {
  size_t nq = 0;
  VS_RETURN_IF_ERROR(check_query_batch(queries, k, out.size(), found.size(), &nq));
  std::shared_lock lock(mu_);
  if (!quantizer_) return Status::failed_precondition("ivf_flat: not trained");
  const size_t nprobe = params.nprobe != 0 ? params.nprobe : params_.nprobe;
  pool_->parallel_for(nq, 4, [&](size_t q0, size_t q1, size_t) {
    for (size_t q = q0; q < q1; ++q) {
      search_one(queries.data() + q * dim_, k, nprobe, params.filter, out.data() + q * k, &found[q]);
    }
  });
  return Status::ok();
}

Status IvfFlatIndex::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  auto w = IndexFileWriter::open(path, IndexKind::kIvfFlat, kIvfFlatVersion);
  if (!w.is_ok()) return w.status();
  IndexFileWriter& out = **w;
  out.put<uint64_t>(dim_);
  out.put<uint32_t>(static_cast<uint32_t>(metric_));
  internal::save_ivf_params(out, params_);
  out.put<uint8_t>(quantizer_ ? 1 : 0);
  if (quantizer_) {
    quantizer_->save(out);
    lists_.save(out);
  }
  return out.commit();
}

Result<std::unique_ptr<IvfFlatIndex>> IvfFlatIndex::load(const std::string& path, size_t threads) {
  auto r = IndexFileReader::open(path, IndexKind::kIvfFlat, kIvfFlatVersion);
  if (!r.is_ok()) return r.status();
  IndexFileReader& in = **r;
  uint64_t dim = 0;
  uint32_t metric = 0;
  uint8_t trained = 0;
  IvfParams p;
  p.threads = threads;
  VS_RETURN_IF_ERROR(in.get(&dim));
  VS_RETURN_IF_ERROR(in.get(&metric));
  VS_RETURN_IF_ERROR(internal::load_ivf_params(in, &p));
  VS_RETURN_IF_ERROR(in.get(&trained));
  if (metric > static_cast<uint32_t>(Metric::kL1)) return in.truncated("metric");
  if (!internal::check_ivf_params(dim, p).is_ok() || trained > 1) return in.truncated("parameters");
  const size_t nlist = p.nlist;
  std::unique_ptr<IvfFlatIndex> idx(new IvfFlatIndex(dim, static_cast<Metric>(metric), p));
  if (trained) {
    auto cq = CoarseQuantizer::load(in);
    if (!cq.is_ok()) return cq.status();
    if (cq->dim() != dim || cq->nlist() != nlist || cq->metric() != idx->metric_) {
      return in.truncated("coarse quantizer (does not match the index)");
    }
    idx->quantizer_.emplace(std::move(*cq));
    auto finite = [dim](const float* v) { return all_finite(v, dim); };
    VS_RETURN_IF_ERROR(idx->lists_.load(in, nlist, dim, finite));
  }
  if (in.remaining() != 0) return in.truncated("trailing bytes");
  return idx;
}

size_t IvfFlatIndex::memory_bytes() const {
  std::shared_lock lock(mu_);
  return sizeof(*this) + lists_.memory_bytes() + (quantizer_ ? quantizer_->memory_bytes() : 0);
}

}  // namespace vecstream
