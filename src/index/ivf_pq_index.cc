// IvfPqCodec (the table arithmetic of IVF-PQ) and IvfPqIndex (8-bit codes, float ADC). The design
// is drawn in ivf_pq_index.h; this file adds the on-disk layout:
//
//   u64 dim | u32 metric | IvfParams (ivf_params.h) | u64 M | u64 table budget | f32 eta |
//   u32 opq | u32 trained |
//   [trained:] coarse quantizer | product quantizer | InvertedLists<uint8_t> (M-byte codes)
//
// inside the checksummed index file of index_file.h (kind kIvfPq).
#include "index/ivf_pq_index.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "core/distance.h"
#include "core/distance_matrix.h"
#include "core/thread_pool.h"
#include "core/top_k.h"
#include "index/index_file.h"
#include "index/ivf_search.h"
#include "index/training_sample.h"

namespace vecstream {
namespace {

constexpr uint32_t kIvfPqVersion = 1;
constexpr size_t kKsub = 256;
// Rows per encoding task of add_batch.
constexpr size_t kEncodeGrain = 512;

}  // namespace

namespace internal {

size_t default_pq_m(size_t dim, size_t dims_per_code) {
  for (size_t d = dims_per_code; d > 1; d /= 2) {
    if (dim % d == 0) return dim / d;
  }
  return dim;
}

Status validate_ivf_pq_params(const char* kind, size_t dim, Metric metric, const IvfParams& ivf,
                              size_t m, float eta, bool opq) {
  const std::string k = std::string(kind) + ": ";
  if (Status s = check_ivf_params(dim, ivf); !s.is_ok()) return Status::invalid_argument(k + s.message());
  if (m == 0 || dim % m != 0) {
    return Status::invalid_argument(k + "M = " + std::to_string(m) +
                                    " must be at least 1 and divide the dimension " + std::to_string(dim));
  }
  if (!(eta == 0.0f || (eta >= 1.0f && eta <= 1e4f))) {
    return Status::invalid_argument(k + "anisotropic_eta must be 0 (off) or in [1, 1e4]");
  }
  if (eta != 0.0f && metric != Metric::kInnerProduct && metric != Metric::kCosine) {
    return Status::invalid_argument(k + "anisotropic_eta applies to inner product and cosine only");
  }
  if (opq && metric == Metric::kL1) {
    return Status::invalid_argument(k + "OPQ needs a rotation-invariant metric (not L1)");
  }
  return Status::ok();
}

size_t ivf_pq_auto_train_rows(const IvfParams& ivf, size_t ksub) {
  return std::max(ivf.nlist * std::max<size_t>(ivf.min_points_per_centroid, 1), ksub);
}

PqParams ivf_pq_pq_params(const IvfParams& ivf, size_t m, size_t nbits, float eta, bool opq) {
  PqParams pp;
  pp.m = m;
  pp.nbits = nbits;
  pp.iterations = ivf.kmeans_iterations;
  pp.max_points_per_centroid = ivf.max_points_per_centroid;
  pp.seed = ivf.seed;
  pp.threads = ivf.threads;
  pp.anisotropic_eta = eta;
  pp.opq = opq;
  pp.progress = ivf.progress;
  return pp;
}

const float* normalized_rows(Metric metric, const float* x, size_t n, size_t dim,
                             std::vector<float>& copy) {
  if (!metric_normalizes(metric)) return x;
  copy.assign(x, x + n * dim);
  for (size_t i = 0; i < n; ++i) normalize_l2(copy.data() + i * dim, dim);
  return copy.data();
}

}  // namespace internal

namespace {
Status validate(size_t dim, Metric metric, const IvfPqParams& p) {
  return internal::validate_ivf_pq_params("ivf_pq", dim, metric, p.ivf, p.m, p.anisotropic_eta, p.opq);
}
using internal::normalized_rows;
}  // namespace

// ---------------------------------------------------------------------------------------------
// IvfPqCodec

IvfPqCodec::IvfPqCodec(CoarseQuantizer coarse, ProductQuantizer pq, size_t table_budget)
    : coarse_(std::move(coarse)), pq_(std::move(pq)) {
  const size_t nlist = coarse_.nlist(), d = coarse_.dim();
  const size_t m = pq_.m(), ksub = pq_.ksub(), dsub = pq_.dsub();
  if (pq_.has_rotation()) {
    rotated_centroids_.resize(nlist * d);
    for (size_t l = 0; l < nlist; ++l) pq_.rotate(coarse_.centroid(l), rotated_centroids_.data() + l * d);
  }
  const size_t table_floats = nlist * m * ksub;
  if (metric() == Metric::kL2 && table_floats * sizeof(float) <= table_budget) {
    std::vector<float> norms(m * ksub);
    for (size_t sq = 0; sq < m; ++sq) row_norms_sq(pq_.codebook(sq), ksub, dsub, norms.data() + sq * ksub);
    term_table_.resize(table_floats);
    const DistanceKernels& k = kernels();
    for (size_t l = 0; l < nlist; ++l) {
      const float* c = pq_.has_rotation() ? rotated_centroids_.data() + l * d : coarse_.centroid(l);
      for (size_t sq = 0; sq < m; ++sq) {
        float* row = term_table_.data() + (l * m + sq) * ksub;
        k.dot_many(c + sq * dsub, pq_.codebook(sq), ksub, dsub, dsub, row);
        for (size_t j = 0; j < ksub; ++j) row[j] = 2.0f * row[j] + norms[sq * ksub + j];
      }
    }
  }
}

Result<IvfPqCodec> IvfPqCodec::train(std::span<const float> data, size_t n, size_t dim,
                                     Metric metric, size_t nlist, const KMeansParams& coarse,
                                     const PqParams& pq, size_t table_budget) {
  auto cq = CoarseQuantizer::train(data, n, dim, metric, nlist, coarse);
  if (!cq.is_ok()) return cq.status();
  // PQ trains on the residuals of a seeded sample (its own sample size).
  const size_t ksub = size_t{1} << pq.nbits;
  std::vector<float> buffer;
  size_t ns = 0;
  const std::span<const float> rows =
      internal::training_sample(data, n, dim, pq.max_points_per_centroid == 0 ? 0 : ksub * pq.max_points_per_centroid,
                                pq.seed ^ 0x5eed5eedULL, buffer, &ns);
  std::vector<uint32_t> lists(ns);
  VS_RETURN_IF_ERROR(cq->assign(rows, ns, lists, coarse.threads));
  std::vector<float> residuals(ns * dim);
  for (size_t i = 0; i < ns; ++i) {
    const float* c = cq->centroid(lists[i]);
    for (size_t t = 0; t < dim; ++t) residuals[i * dim + t] = rows[i * dim + t] - c[t];
  }
  PqParams pp = pq;
  pp.max_points_per_centroid = 0;  // the sample is drawn
  auto trained = ProductQuantizer::train(residuals, ns, dim, pp,
                                         pq.anisotropic_eta > 1.0f ? std::span<const float>(rows)
                                                                   : std::span<const float>());
  if (!trained.is_ok()) return trained.status();
  return IvfPqCodec(std::move(*cq), std::move(*trained), table_budget);
}

void IvfPqCodec::encode(const float* x, size_t n, uint32_t* lists, uint8_t* codes) const {
  if (n == 0) return;
  const size_t d = dim();
  // Shapes are the caller's (validated rows), so assign() cannot fail here.
  Status s = coarse_.assign(std::span<const float>(x, n * d), n, std::span<uint32_t>(lists, n), 1);
  (void)s;
  std::vector<float> residuals(n * d);
  for (size_t i = 0; i < n; ++i) {
    const float* c = coarse_.centroid(lists[i]);
    for (size_t t = 0; t < d; ++t) residuals[i * d + t] = x[i * d + t] - c[t];
  }
  pq_.encode(residuals.data(), n, codes, pq_.anisotropic_eta() > 1.0f ? x : nullptr);
}

void IvfPqCodec::prepare(const float* q, QueryState& s) const {
  const size_t d = dim();
  s.rotated.resize(d);
  s.residual.resize(d);
  pq_.rotate(q, s.rotated.data());
  if (shared_table() || has_term_table()) {
    s.shared.resize(pq_.m() * pq_.ksub());
    pq_.compute_lut(Metric::kInnerProduct, s.rotated.data(), s.shared.data());
  }
}

void IvfPqCodec::list_table(const float* q, QueryState& s, uint32_t list, float probe_distance,
                            float* lut, float* bias) const {
  if (shared_table()) {
    *bias = probe_distance;
    return;
  }
  const size_t d = dim(), entries = pq_.m() * pq_.ksub();
  if (has_term_table()) {
    // |q - c|^2 (the probe distance) + T_c - 2 <q, y>; s.shared holds -<q, y>.
    const float* t = term_table_.data() + size_t{list} * entries;
    const float* sh = s.shared.data();
    for (size_t i = 0; i < entries; ++i) lut[i] = t[i] + 2.0f * sh[i];
    *bias = probe_distance;
    return;
  }
  const float* base = q;
  const float* c = coarse_.centroid(list);
  if (pq_.has_rotation()) {
    base = s.rotated.data();
    c = rotated_centroids_.data() + size_t{list} * d;
  }
  float* r = s.residual.data();
  for (size_t t = 0; t < d; ++t) r[t] = base[t] - c[t];
  pq_.compute_lut(metric() == Metric::kL1 ? Metric::kL1 : Metric::kL2, r, lut);
  *bias = 0.0f;
}

LutQuantization IvfPqCodec::fast_scan_list_table(const FastScanKernels& kern, const float* q,
                                                 QueryState& s, uint32_t list, float probe_distance,
                                                 LutQuantization shared, float* lut, uint8_t* lut8,
                                                 float* bias) const {
  if (shared_table()) {
    list_table(q, s, list, probe_distance, nullptr, bias);
    return shared;
  }
  if (has_term_table()) {  // list_table's T_c + 2 * shared, quantized row by row
    *bias = probe_distance;
    return kern.quantize_lut_sum2(term_table(list), s.shared.data(), pq_.m(), lut8);
  }
  list_table(q, s, list, probe_distance, lut, bias);
  return kern.quantize_lut(lut, pq_.m(), lut8);
}

void IvfPqCodec::prefetch_table(uint32_t list) const {
  if (term_table_.empty()) return;
  const size_t bytes = pq_.m() * pq_.ksub() * sizeof(float);
  const char* p = reinterpret_cast<const char*>(term_table_.data() + size_t{list} * pq_.m() * pq_.ksub());
  for (size_t off = 0; off < std::min<size_t>(bytes, 2048); off += 64) __builtin_prefetch(p + off);
}

void IvfPqCodec::save(IndexFileWriter& w) const {
  coarse_.save(w);
  pq_.save(w);
}

Result<IvfPqCodec> IvfPqCodec::load(IndexFileReader& r, size_t table_budget) {
  auto cq = CoarseQuantizer::load(r);
  if (!cq.is_ok()) return cq.status();
  auto pq = ProductQuantizer::load(r);
  if (!pq.is_ok()) return pq.status();
  if (pq->dim() != cq->dim()) return r.truncated("product quantizer (dimension differs from the lists')");
  if (pq->has_rotation() && cq->metric() == Metric::kL1) return r.truncated("product quantizer (OPQ under L1)");
  return IvfPqCodec(std::move(*cq), std::move(*pq), table_budget);
}

size_t IvfPqCodec::memory_bytes() const {
  return coarse_.memory_bytes() + pq_.memory_bytes() +
         (rotated_centroids_.capacity() + term_table_.capacity()) * sizeof(float);
}

// ---------------------------------------------------------------------------------------------
// IvfPqIndex

namespace {
// Per-thread query tables (beside the shared IVF scratch of ivf_search.h).
struct PqQueryScratch {
  IvfPqCodec::QueryState qs;
  std::vector<float> lut;
};
PqQueryScratch& pq_query_scratch() {
  static thread_local PqQueryScratch s;
  return s;
}
}  // namespace

IvfPqIndex::IvfPqIndex(size_t dim, Metric metric, const IvfPqParams& params)
    : dim_(dim), metric_(metric), params_(params), pool_(std::make_unique<ThreadPool>(params.ivf.threads)),
      lists_(0, params.m) {}

IvfPqIndex::~IvfPqIndex() = default;

Result<std::unique_ptr<IvfPqIndex>> IvfPqIndex::create(size_t dim, Metric metric,
                                                       const IvfPqParams& params) {
  IvfPqParams p = params;
  if (p.m == 0 && dim > 0) p.m = internal::default_pq_m(dim, 8);
  VS_RETURN_IF_ERROR(validate(dim, metric, p));
  return std::unique_ptr<IvfPqIndex>(new IvfPqIndex(dim, metric, p));
}

size_t IvfPqIndex::size() const {
  std::shared_lock lock(mu_);
  return lists_.size();
}

bool IvfPqIndex::is_trained() const {
  std::shared_lock lock(mu_);
  return codec_ != nullptr;
}

bool IvfPqIndex::contains(Id id) const {
  std::shared_lock lock(mu_);
  return lists_.contains(id);
}

std::string IvfPqIndex::describe() const {
  std::string s = "ivf_pq(nlist=" + std::to_string(params_.ivf.nlist) + ",nprobe=" +
                  std::to_string(params_.ivf.nprobe) + ",M=" + std::to_string(params_.m) + "x8";
  if (params_.opq) s += ",opq";
  if (params_.anisotropic_eta != 0.0f) s += ",eta=" + std::to_string(params_.anisotropic_eta).substr(0, 4);
  return s + ")";
}

Status IvfPqIndex::train(std::span<const float> data, size_t n) {
  if (data.size() != n * dim_) {
    return Status::invalid_argument("ivf_pq train: " + std::to_string(data.size()) +
                                    " floats is not n * dim = " + std::to_string(n * dim_));
  }
  for (size_t i = 0; i < n; ++i) {
    Status s = check_vector(data.subspan(i * dim_, dim_));
    if (!s.is_ok()) return Status(s.code(), "ivf_pq train: row " + std::to_string(i) + ": " + s.message());
  }
  std::lock_guard<std::mutex> t(train_mu_);
  if (is_trained()) return Status::failed_precondition("ivf_pq: already trained");
  std::vector<float> copy;
  return train_impl(normalized_rows(metric_, data.data(), n, dim_, copy), n);
}

// Caller holds train_mu_ and has validated (and normalised) the rows. Training runs without the
// index lock; only installing the codec takes it.
Status IvfPqIndex::train_impl(const float* data, size_t n) {
  const size_t need = std::max(params_.ivf.nlist, kKsub);
  if (n < need) {
    return Status::invalid_argument("ivf_pq: training needs at least max(nlist, 256) = " +
                                    std::to_string(need) + " rows, got " + std::to_string(n));
  }
  auto codec = IvfPqCodec::train(
      std::span<const float>(data, n * dim_), n, dim_, metric_, params_.ivf.nlist,
      internal::ivf_kmeans_params(params_.ivf),
      internal::ivf_pq_pq_params(params_.ivf, params_.m, 8, params_.anisotropic_eta, params_.opq),
      params_.precomputed_table_max_bytes);
  if (!codec.is_ok()) return codec.status();
  auto shared = std::make_shared<const IvfPqCodec>(std::move(*codec));
  std::unique_lock lock(mu_);
  codec_ = std::move(shared);
  lists_ = InvertedLists<uint8_t>(params_.ivf.nlist, params_.m);
  return Status::ok();
}

Status IvfPqIndex::add(Id id, std::span<const float> vector) {
  VS_RETURN_IF_ERROR(check_vector(vector));
  std::shared_ptr<const IvfPqCodec> codec;
  {
    std::shared_lock lock(mu_);
    codec = codec_;
  }
  if (!codec) {
    return Status::failed_precondition("ivf_pq: not trained; call train() or add_batch() with at least " +
                                       std::to_string(internal::ivf_pq_auto_train_rows(params_.ivf, kKsub)) +
                                       " rows");
  }
  std::vector<float> copy;
  const float* x = normalized_rows(metric_, vector.data(), 1, dim_, copy);
  uint32_t list = 0;
  std::vector<uint8_t> code(params_.m);
  codec->encode(x, 1, &list, code.data());
  std::unique_lock lock(mu_);
  if (!lists_.contains(id) && lists_.size() >= UINT32_MAX) return Status::out_of_range("ivf_pq: index is full");
  lists_.upsert(id, list, code.data());
  return Status::ok();
}

Status IvfPqIndex::add_batch(std::span<const Id> ids, std::span<const float> vectors) {
  VS_RETURN_IF_ERROR(check_batch(ids, vectors));
  const size_t n = ids.size();
  if (n == 0) return Status::ok();
  std::vector<float> copy;
  const float* x = normalized_rows(metric_, vectors.data(), n, dim_, copy);
  if (!is_trained()) {
    std::lock_guard<std::mutex> t(train_mu_);
    if (!is_trained()) {
      const size_t need = internal::ivf_pq_auto_train_rows(params_.ivf, kKsub);
      if (n < need) {
        return Status::failed_precondition("ivf_pq: not trained; a first batch of " + std::to_string(n) +
                                           " rows is below the " + std::to_string(need) +
                                           " needed to train on it (call train() first)");
      }
      VS_RETURN_IF_ERROR(train_impl(x, n));
    }
  }
  std::shared_ptr<const IvfPqCodec> codec;
  {
    std::shared_lock lock(mu_);
    codec = codec_;
  }
  const size_t m = params_.m;
  std::vector<uint32_t> lists(n);
  std::vector<uint8_t> codes(n * m);
  const size_t tasks = (n + kEncodeGrain - 1) / kEncodeGrain;
  std::atomic<size_t> done{0};
  ProgressReporter progress(params_.ivf.progress, "add", n, params_.ivf.progress_every);
  pool_->parallel_for(tasks, 1, [&](size_t t0, size_t t1, size_t worker) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t r0 = t * kEncodeGrain, nr = std::min(kEncodeGrain, n - r0);
      codec->encode(x + r0 * dim_, nr, lists.data() + r0, codes.data() + r0 * m);
      const size_t finished = done.fetch_add(nr) + nr;
      if (worker == 0) progress.update(std::min(finished, n - 1));  // the caller's thread
    }
  });
  std::unique_lock lock(mu_);
  if (lists_.size() + n >= UINT32_MAX) return Status::out_of_range("ivf_pq: index is full");
  lists_.reserve_ids(lists_.size() + n);
  for (size_t i = 0; i < n; ++i) lists_.upsert(ids[i], lists[i], codes.data() + i * m);
  progress.update(n);
  return Status::ok();
}

Status IvfPqIndex::remove(Id id) {
  std::unique_lock lock(mu_);
  if (!lists_.remove(id)) return Status::not_found("id " + std::to_string(id) + " not in index");
  return Status::ok();
}

namespace {
// ADC over one list: four sub-quantizers per step so the table loads overlap.
void scan_codes(const uint8_t* code, const Id* ids, size_t n, size_t m, const float* lut,
                float bias, const IdFilter* filter, TopK<Id>& heap) {
  for (size_t i = 0; i < n; ++i, code += m) {
    float a0 = bias, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    const float* t = lut;
    size_t sq = 0;
    for (; sq + 4 <= m; sq += 4, t += 4 * kKsub) {
      a0 += t[code[sq]];
      a1 += t[kKsub + code[sq + 1]];
      a2 += t[2 * kKsub + code[sq + 2]];
      a3 += t[3 * kKsub + code[sq + 3]];
    }
    for (; sq < m; ++sq, t += kKsub) a0 += t[code[sq]];
    const float d = (a0 + a1) + (a2 + a3);
    if (d >= heap.worst()) continue;
    if (filter != nullptr && !filter->allowed(ids[i])) continue;
    heap.push(d, ids[i]);
  }
}
}  // namespace

// Caller holds the shared lock; the index is trained and holds at least k points.
void IvfPqIndex::search_one(const float* query, size_t k, const SearchParams& params, Neighbor* out,
                            size_t* found) const {
  const IvfPqCodec& codec = *codec_;
  internal::IvfScratch& s = internal::ivf_scratch();
  PqQueryScratch& pq = pq_query_scratch();
  const float* q = normalized_rows(metric_, query, 1, dim_, s.query);
  const size_t nprobe = params.nprobe != 0 ? params.nprobe : params_.ivf.nprobe;
  codec.prepare(q, pq.qs);
  pq.lut.resize(params_.m * kKsub);
  const IdFilter* filter = params.filter != nullptr && !params.filter->empty() ? params.filter : nullptr;
  internal::ivf_search(codec.coarse(), q, nprobe, k, s, out, found,
                       [&](uint32_t list, float list_distance, TopK<Id>& heap) {
                         const size_t n = lists_.list_size(list);
                         if (n == 0) return;
                         float bias = 0.0f;
                         codec.list_table(q, pq.qs, list, list_distance, pq.lut.data(), &bias);
                         const float* lut = codec.shared_table() ? pq.qs.shared.data() : pq.lut.data();
                         scan_codes(lists_.codes(list), lists_.ids(list), n, params_.m, lut, bias,
                                    filter, heap);
                       });
}

Status IvfPqIndex::search(std::span<const float> query, size_t k, const SearchParams& params,
                          std::span<Neighbor> out, size_t* found) const {
  VS_RETURN_IF_ERROR(check_query(query, k, out.size()));  // before the lock: size() takes it
  std::shared_lock lock(mu_);
  if (k > lists_.size()) return Status::invalid_argument("k exceeds the index size");
  search_one(query.data(), k, params, out.data(), found);
  return Status::ok();
}

Status IvfPqIndex::search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                                std::span<Neighbor> out, std::span<size_t> found) const {
  size_t nq = 0;
  VS_RETURN_IF_ERROR(check_query_batch(queries, k, out.size(), found.size(), &nq));
  std::shared_lock lock(mu_);
  if (k > lists_.size()) return Status::invalid_argument("k exceeds the index size");
  pool_->parallel_for(nq, 16, [&](size_t q0, size_t q1, size_t) {
    for (size_t q = q0; q < q1; ++q) {
      search_one(queries.data() + q * dim_, k, params, out.data() + q * k, found.data() + q);
    }
  });
  return Status::ok();
}

IvfPqMemory IvfPqIndex::memory_breakdown() const {
  std::shared_lock lock(mu_);
  IvfPqMemory m;
  for (size_t l = 0; l < lists_.nlist(); ++l) m.codes += lists_.list_size(l) * params_.m;
  m.ids = lists_.memory_bytes() - m.codes;  // ids, map and vector headers
  if (codec_) m.quantizers = codec_->memory_bytes();
  return m;
}

Status IvfPqIndex::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  auto w = IndexFileWriter::open(path, IndexKind::kIvfPq, kIvfPqVersion);
  if (!w.is_ok()) return w.status();
  IndexFileWriter& out = **w;
  out.put<uint64_t>(dim_);
  out.put<uint32_t>(static_cast<uint32_t>(metric_));
  internal::save_ivf_params(out, params_.ivf);
  out.put<uint64_t>(params_.m);
  out.put<uint64_t>(params_.precomputed_table_max_bytes);
  out.put<float>(params_.anisotropic_eta);
  out.put<uint32_t>(params_.opq ? 1 : 0);
  out.put<uint32_t>(codec_ ? 1 : 0);
  if (codec_) {
    codec_->save(out);
    lists_.save(out);
  }
  return out.commit();
}

Result<std::unique_ptr<IvfPqIndex>> IvfPqIndex::load(const std::string& path, size_t threads) {
  auto r = IndexFileReader::open(path, IndexKind::kIvfPq, kIvfPqVersion);
  if (!r.is_ok()) return r.status();
  IndexFileReader& in = **r;
  uint64_t dim = 0, m = 0, budget = 0;
  uint32_t metric = 0, opq = 0, trained = 0;
  IvfPqParams p;
  VS_RETURN_IF_ERROR(in.get(&dim));
  VS_RETURN_IF_ERROR(in.get(&metric));
  VS_RETURN_IF_ERROR(internal::load_ivf_params(in, &p.ivf));
  VS_RETURN_IF_ERROR(in.get(&m));
  VS_RETURN_IF_ERROR(in.get(&budget));
  VS_RETURN_IF_ERROR(in.get(&p.anisotropic_eta));
  VS_RETURN_IF_ERROR(in.get(&opq));
  VS_RETURN_IF_ERROR(in.get(&trained));
  if (metric > static_cast<uint32_t>(Metric::kL1)) return in.truncated("metric");
  if (opq > 1 || trained > 1) return in.truncated("flags");
  p.m = m;
  p.precomputed_table_max_bytes = budget;
  p.opq = opq != 0;
  p.ivf.threads = threads;
  const Metric mt = static_cast<Metric>(metric);
  if (Status s = validate(dim, mt, p); !s.is_ok()) return in.truncated(("parameters: " + s.message()).c_str());
  std::unique_ptr<IvfPqIndex> idx(new IvfPqIndex(dim, mt, p));
  if (trained == 0) {
    if (in.remaining() != 0) return in.truncated("trailing bytes");
    return idx;
  }
  auto codec = IvfPqCodec::load(in, p.precomputed_table_max_bytes);
  if (!codec.is_ok()) return codec.status();
  if (codec->dim() != dim || codec->metric() != mt || codec->nlist() != p.ivf.nlist ||
      codec->pq().m() != p.m || codec->pq().nbits() != 8) {
    return in.truncated("quantizers (shape differs from the parameters)");
  }
  idx->codec_ = std::make_shared<const IvfPqCodec>(std::move(*codec));
  VS_RETURN_IF_ERROR(idx->lists_.load(in, p.ivf.nlist, p.m, [](const uint8_t*) { return true; }));
  if (in.remaining() != 0) return in.truncated("trailing bytes");
  return idx;
}

}  // namespace vecstream
