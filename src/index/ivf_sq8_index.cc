// IvfSq8Index: training (coarse quantizer, then SQ8 ranges on residuals), encoding, and the
// per-list query preparation of residual scans (design in the header).
//
// File body (kind kIvfSq8, version 1), after index_file.h's header:
//   u64 dim | u32 metric | IvfParams (ivf_params.h) | u8 by_residual | u8 trained |
//   [trained: CoarseQuantizer | ScalarQuantizer | InvertedLists<uint8_t>]
#include "index/ivf_sq8_index.h"

#include <algorithm>
#include <mutex>

#include "core/distance.h"
#include "core/thread_pool.h"
#include "index/index_file.h"
#include "index/ivf_search.h"
#include "index/training_sample.h"

namespace vecstream {

namespace {
constexpr uint32_t kIvfSq8Version = 1;
constexpr size_t kScanBlock = 512;
constexpr size_t kParallelRows = 256;  // smaller batches assign and encode on the calling thread

struct Sq8Scratch {
  ScalarQuantizer::QueryScratch base, list;
  std::vector<float> residual;
  std::vector<uint8_t> code;
};

Sq8Scratch& sq8_scratch() {
  thread_local Sq8Scratch s;
  return s;
}

Status check_params(size_t dim, const IvfSq8Params& p) {
  VS_RETURN_IF_ERROR(internal::check_ivf_params(dim, p.ivf));
  if (!(p.sq.clip_quantile >= 0.0 && p.sq.clip_quantile < 0.5)) {
    return Status::invalid_argument("sq8: clip_quantile must be in [0, 0.5)");
  }
  if (!(p.sq.margin >= 0.0f)) return Status::invalid_argument("sq8: margin must be >= 0");
  return Status::ok();
}

}  // namespace

IvfSq8Index::IvfSq8Index(size_t dim, Metric metric, const IvfSq8Params& params)
    : dim_(dim),
      metric_(metric),
      params_(params),
      pool_(std::make_unique<ThreadPool>(params.ivf.threads)),
      lists_(0, dim) {}

IvfSq8Index::~IvfSq8Index() = default;

Result<std::unique_ptr<IvfSq8Index>> IvfSq8Index::create(size_t dim, Metric metric,
                                                         const IvfSq8Params& params) {
  VS_RETURN_IF_ERROR(check_params(dim, params));
  return std::unique_ptr<IvfSq8Index>(new IvfSq8Index(dim, metric, params));
}

size_t IvfSq8Index::size() const {
  std::shared_lock lock(mu_);
  return lists_.size();
}

bool IvfSq8Index::is_trained() const {
  std::shared_lock lock(mu_);
  return quantizer_.has_value();
}

bool IvfSq8Index::contains(Id id) const {
  std::shared_lock lock(mu_);
  return lists_.contains(id);
}

std::string IvfSq8Index::describe() const {
  return "ivf_sq8(nlist=" + std::to_string(params_.ivf.nlist) +
         ",nprobe=" + std::to_string(params_.ivf.nprobe) +
         (params_.by_residual ? ",residual" : "") + (params_.sq.uniform ? ",uniform" : "") + ")";
}

// Rows are validated and normalised for cosine. Runs without the lock; installs both quantizers
// unless another thread trained meanwhile.
Status IvfSq8Index::train_unlocked(std::span<const float> data, size_t n) {
  const IvfParams& ip = params_.ivf;
  auto cq = CoarseQuantizer::train(data, n, dim_, metric_, ip.nlist, internal::ivf_kmeans_params(ip));
  if (!cq.is_ok()) return cq.status();
  // The ranges are trained on the same number of rows k-means used.
  std::vector<float> buffer;
  size_t rows = 0;
  const size_t max_rows = ip.max_points_per_centroid == 0 ? 0 : ip.nlist * ip.max_points_per_centroid;
  auto sample = internal::training_sample(data, n, dim_, max_rows, ip.seed + 1, buffer, &rows);
  std::vector<float> residuals;
  if (params_.by_residual) {
    std::vector<uint32_t> assign(rows);
    VS_RETURN_IF_ERROR(cq->assign(sample, rows, assign, ip.threads));
    residuals.assign(sample.begin(), sample.end());
    for (size_t i = 0; i < rows; ++i) {
      const float* c = cq->centroid(assign[i]);
      for (size_t j = 0; j < dim_; ++j) residuals[i * dim_ + j] -= c[j];
    }
    sample = residuals;
  }
  auto sq = ScalarQuantizer::train(sample, rows, dim_, params_.sq);
  if (!sq.is_ok()) return sq.status();
  std::unique_lock lock(mu_);
  if (!quantizer_) {
    quantizer_.emplace(std::move(*cq));
    sq_.emplace(std::move(*sq));
    lists_ = InvertedLists<uint8_t>(ip.nlist, dim_);
  }
  return Status::ok();
}

Status IvfSq8Index::train(std::span<const float> data, size_t n) {
  if (data.size() != n * dim_) {
    return Status::invalid_argument("training data of " + std::to_string(data.size()) +
                                    " floats is not " + std::to_string(n) + " rows of dimension " +
                                    std::to_string(dim_));
  }
  if (n < params_.ivf.nlist) {
    return Status::invalid_argument("training needs at least nlist = " +
                                    std::to_string(params_.ivf.nlist) + " rows, got " +
                                    std::to_string(n));
  }
  for (size_t i = 0; i < n; ++i) {
    Status s = check_vector(data.subspan(i * dim_, dim_));
    if (!s.is_ok()) return Status(s.code(), "row " + std::to_string(i) + ": " + s.message());
  }
  if (is_trained()) return Status::failed_precondition("index is already trained");
  if (!metric_normalizes(metric_)) return train_unlocked(data, n);
  std::vector<float> normalized(data.begin(), data.end());
  for (size_t i = 0; i < n; ++i) normalize_l2(normalized.data() + i * dim_, dim_);
  return train_unlocked(normalized, n);
}

// `residual` holds dim floats of scratch.
void IvfSq8Index::encode_row(const float* x, uint32_t list, float* residual, uint8_t* code) const {
  if (!params_.by_residual) {
    sq_->encode(x, code);
    return;
  }
  const float* c = quantizer_->centroid(list);
  for (size_t j = 0; j < dim_; ++j) residual[j] = x[j] - c[j];
  sq_->encode(residual, code);
}

Status IvfSq8Index::add(Id id, std::span<const float> vector) {
  VS_RETURN_IF_ERROR(check_vector(vector));
  internal::IvfScratch& s = internal::ivf_scratch();
  Sq8Scratch& t = sq8_scratch();
  s.query.assign(vector.begin(), vector.end());
  if (metric_normalizes(metric_)) normalize_l2(s.query.data(), dim_);
  t.residual.resize(dim_);
  t.code.resize(dim_);
  std::unique_lock lock(mu_);
  if (!quantizer_) {
    return Status::failed_precondition("ivf_sq8: train() (or a large enough add_batch) first");
  }
  if (!lists_.contains(id) && lists_.size() >= UINT32_MAX) return Status::out_of_range("index is full");
  uint32_t list = 0;
  float dist = 0;
  s.centroid_dists.resize(quantizer_->nlist());
  quantizer_->probe(s.query.data(), 1, &list, &dist, s.centroid_dists.data());
  encode_row(s.query.data(), list, t.residual.data(), t.code.data());
  lists_.upsert(id, list, t.code.data());
  return Status::ok();
}

Status IvfSq8Index::add_batch(std::span<const Id> ids, std::span<const float> vectors) {
  VS_RETURN_IF_ERROR(check_batch(ids, vectors));
  const size_t n = ids.size();
  if (n == 0) return Status::ok();
  std::vector<float> normalized;
  if (metric_normalizes(metric_)) {
    normalized.assign(vectors.begin(), vectors.end());
    for (size_t i = 0; i < n; ++i) normalize_l2(normalized.data() + i * dim_, dim_);
    vectors = normalized;
  }
  const IvfParams& ip = params_.ivf;
  if (!is_trained()) {
    const size_t need = ip.nlist * std::max<size_t>(ip.min_points_per_centroid, 1);
    if (n < need) {
      return Status::failed_precondition(
          "ivf_sq8 is untrained: call train() or add a first batch of at least " +
          std::to_string(need) + " rows (nlist * min_points_per_centroid), got " + std::to_string(n));
    }
    VS_RETURN_IF_ERROR(train_unlocked(vectors, n));
  }
  // Both quantizers are immutable once set, and is_trained() / train_unlocked() took the lock
  // after they were, so they are read without it from here on.
  std::vector<uint32_t> assign(n);
  VS_RETURN_IF_ERROR(quantizer_->assign(vectors, n, assign, n < kParallelRows ? 1 : ip.threads));
  std::vector<uint8_t> codes(n * dim_);
  pool_->parallel_for(n, 512, [&](size_t i0, size_t i1, size_t) {
    std::vector<float> residual(dim_);
    for (size_t i = i0; i < i1; ++i) {
      encode_row(vectors.data() + i * dim_, assign[i], residual.data(), codes.data() + i * dim_);
    }
  });
  std::unique_lock lock(mu_);
  if (lists_.size() + n > UINT32_MAX) return Status::out_of_range("index is full");
  lists_.reserve_ids(lists_.size() + n);
  ProgressReporter progress(ip.progress, "add", n, ip.progress_every);
  for (size_t i = 0; i < n; ++i) {
    lists_.upsert(ids[i], assign[i], codes.data() + i * dim_);
    progress.update(i + 1);
  }
  return Status::ok();
}

Status IvfSq8Index::remove(Id id) {
  std::unique_lock lock(mu_);
  if (!lists_.remove(id)) return Status::not_found("id " + std::to_string(id) + " not in index");
  return Status::ok();
}

// Caller holds the shared lock; the query is valid and the index trained.
void IvfSq8Index::search_one(const float* query, size_t k, size_t nprobe, const IdFilter* filter,
                             Neighbor* out, size_t* found) const {
  internal::IvfScratch& s = internal::ivf_scratch();
  Sq8Scratch& t = sq8_scratch();
  const float* q = query;
  if (metric_normalizes(metric_)) {
    s.query.assign(query, query + dim_);
    normalize_l2(s.query.data(), dim_);
    q = s.query.data();
  }
  s.dists.resize(kScanBlock);
  const bool residual = params_.by_residual;
  const bool inner = metric_ == Metric::kInnerProduct || metric_ == Metric::kCosine;
  // Inner product and cosine: one preparation; a residual list adds -<q, centroid>, which the
  // probe already computed (IP: dist = -<q,c>; cosine: dist = 1 - <q,c>).
  const ScalarQuantizer::Query base =
      (!residual || inner) ? sq_->prepare(q, metric_, t.base) : ScalarQuantizer::Query{};
  internal::ivf_search(*quantizer_, q, nprobe, k, s, out, found,
                       [&](uint32_t l, float list_dist, TopK<Id>& heap) {
    ScalarQuantizer::Query pq = base;
    if (residual) {
      if (inner) {
        const float qc = metric_ == Metric::kCosine ? 1.0f - list_dist : -list_dist;
        pq.offset = base.offset - qc;
      } else {
        pq = sq_->prepare(q, metric_, t.list, quantizer_->centroid(l));
      }
    }
    const size_t n = lists_.list_size(l);
    const Id* ids = lists_.ids(l);
    const uint8_t* codes = lists_.codes(l);
    float* dists = s.dists.data();
    for (size_t r0 = 0; r0 < n; r0 += kScanBlock) {
      const size_t rows = std::min(kScanBlock, n - r0);
      sq_->distances(pq, codes + r0 * dim_, rows, dists);
      for (size_t j = 0; j < rows; ++j) {
        if (dists[j] >= heap.worst()) continue;
        const Id id = ids[r0 + j];
        if (filter != nullptr && !filter->allowed(id)) continue;
        heap.push(dists[j], id);
      }
    }
  });
}

Status IvfSq8Index::search(std::span<const float> query, size_t k, const SearchParams& params,
                           std::span<Neighbor> out, size_t* found) const {
  VS_RETURN_IF_ERROR(check_query(query, k, out.size()));
  std::shared_lock lock(mu_);
  if (!quantizer_) return Status::failed_precondition("ivf_sq8: not trained");
  const size_t nprobe = params.nprobe != 0 ? params.nprobe : params_.ivf.nprobe;
  search_one(query.data(), k, nprobe, params.filter, out.data(), found);
  return Status::ok();
}

Status IvfSq8Index::search_batch(std::span<const float> queries, size_t k,
                                 const SearchParams& params, std::span<Neighbor> out,
                                 std::span<size_t> found) const {
  size_t nq = 0;
  VS_RETURN_IF_ERROR(check_query_batch(queries, k, out.size(), found.size(), &nq));
  std::shared_lock lock(mu_);
  if (!quantizer_) return Status::failed_precondition("ivf_sq8: not trained");
  const size_t nprobe = params.nprobe != 0 ? params.nprobe : params_.ivf.nprobe;
  pool_->parallel_for(nq, 4, [&](size_t q0, size_t q1, size_t) {
    for (size_t q = q0; q < q1; ++q) {
      search_one(queries.data() + q * dim_, k, nprobe, params.filter, out.data() + q * k, &found[q]);
    }
  });
  return Status::ok();
}

Status IvfSq8Index::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  auto w = IndexFileWriter::open(path, IndexKind::kIvfSq8, kIvfSq8Version);
  if (!w.is_ok()) return w.status();
  IndexFileWriter& out = **w;
  out.put<uint64_t>(dim_);
  out.put<uint32_t>(static_cast<uint32_t>(metric_));
  internal::save_ivf_params(out, params_.ivf);
  out.put<uint8_t>(params_.by_residual ? 1 : 0);
  out.put<uint8_t>(quantizer_ ? 1 : 0);
  if (quantizer_) {
    quantizer_->save(out);
    sq_->save(out);
    lists_.save(out);
  }
  return out.commit();
}

Result<std::unique_ptr<IvfSq8Index>> IvfSq8Index::load(const std::string& path, size_t threads) {
  auto r = IndexFileReader::open(path, IndexKind::kIvfSq8, kIvfSq8Version);
  if (!r.is_ok()) return r.status();
  IndexFileReader& in = **r;
  uint64_t dim = 0;
  uint32_t metric = 0;
  uint8_t by_residual = 0, trained = 0;
  IvfSq8Params p;
  p.ivf.threads = threads;
  VS_RETURN_IF_ERROR(in.get(&dim));
  VS_RETURN_IF_ERROR(in.get(&metric));
  VS_RETURN_IF_ERROR(internal::load_ivf_params(in, &p.ivf));
  VS_RETURN_IF_ERROR(in.get(&by_residual));
  VS_RETURN_IF_ERROR(in.get(&trained));
  if (metric > static_cast<uint32_t>(Metric::kL1) || by_residual > 1 || trained > 1) {
    return in.truncated("header");
  }
  p.by_residual = by_residual != 0;
  if (!check_params(dim, p).is_ok()) return in.truncated("parameters");
  std::unique_ptr<IvfSq8Index> idx(new IvfSq8Index(dim, static_cast<Metric>(metric), p));
  if (trained) {
    auto cq = CoarseQuantizer::load(in);
    if (!cq.is_ok()) return cq.status();
    if (cq->dim() != dim || cq->nlist() != p.ivf.nlist || cq->metric() != idx->metric_) {
      return in.truncated("coarse quantizer (does not match the index)");
    }
    auto sq = ScalarQuantizer::load(in);
    if (!sq.is_ok()) return sq.status();
    if (sq->dim() != dim) return in.truncated("scalar quantizer (dimension)");
    idx->params_.sq = sq->params();
    idx->quantizer_.emplace(std::move(*cq));
    idx->sq_.emplace(std::move(*sq));
    VS_RETURN_IF_ERROR(idx->lists_.load(in, p.ivf.nlist, dim, [](const uint8_t*) { return true; }));
  }
  if (in.remaining() != 0) return in.truncated("trailing bytes");
  return idx;
}

size_t IvfSq8Index::memory_bytes() const {
  std::shared_lock lock(mu_);
  return sizeof(*this) + lists_.memory_bytes() + (quantizer_ ? quantizer_->memory_bytes() : 0) +
         (sq_ ? sq_->memory_bytes() : 0);
}

}  // namespace vecstream
