// CoarseQuantizer: training through kmeans(), assignment through the GEMM path of
// assign_nearest(), and a per-query probe that is one SIMD scan of the centroid table plus a
// bounded heap kept in the caller's output arrays (so it allocates nothing).
#include "index/coarse_quantizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "core/distance.h"
#include "core/distance_matrix.h"
#include "core/top_k.h"
#include "index/index_file.h"
#include "index/sq8_kernels.h"

namespace vecstream {
namespace {

constexpr size_t kMaxDim = size_t{1} << 16;
constexpr size_t kAbandonChunk = 128;  // dimensions summed between early-drop checks

// Heap order on (distance, list): the "larger" pair is the worse one, ties to the higher list.
inline bool worse(float da, uint32_t la, float db, uint32_t lb) {
  return da > db || (da == db && la > lb);
}

void sift_down(uint32_t* lists, float* dists, size_t i, size_t n) {
  for (;;) {
    size_t l = 2 * i + 1, top = i;
    if (l < n && worse(dists[l], lists[l], dists[top], lists[top])) top = l;
    if (l + 1 < n && worse(dists[l + 1], lists[l + 1], dists[top], lists[top])) top = l + 1;
    if (top == i) return;
    std::swap(lists[i], lists[top]);
    std::swap(dists[i], dists[top]);
    i = top;
  }
}

// The `want` smallest of n (distance, list) pairs, ascending (ties to the lower list), through a
// bounded max-heap kept in the output arrays. Returns min(want, n).
template <class Dist, class List>
size_t select_best(size_t n, size_t want, Dist dist, List list, uint32_t* lists, float* dists) {
  size_t m = 0;
  for (size_t j = 0; j < n; ++j) {
    const float d = dist(j);
    const uint32_t l = list(j);
    if (m < want) {
      size_t i = m++;
      lists[i] = l;
      dists[i] = d;
      while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!worse(dists[i], lists[i], dists[parent], lists[parent])) break;
        std::swap(lists[i], lists[parent]);
        std::swap(dists[i], dists[parent]);
        i = parent;
      }
    } else if (worse(dists[0], lists[0], d, l)) {
      lists[0] = l;
      dists[0] = d;
      sift_down(lists, dists, 0, m);
    }
  }
  for (size_t end = m; end > 1; --end) {
    std::swap(lists[0], lists[end - 1]);
    std::swap(dists[0], dists[end - 1]);
    sift_down(lists, dists, 0, end - 1);
  }
  return m;
}

struct ProbeScratch {
  std::vector<float> w;            // query * step, per dimension
  std::vector<int16_t> wq;         // w rounded to int16 (see probe_coded)
  std::vector<int32_t> idot;       // integer dot products with every code
  std::vector<uint32_t> pool_lists;
  std::vector<float> pool_dists;   // estimates, ascending
  std::vector<float> exact;        // exact distances of the pool (+inf: dropped early)
  TopK<uint32_t> best;             // the want best exact distances so far (the drop bar)
};

}  // namespace

CoarseQuantizer::CoarseQuantizer(std::vector<float> centroids, size_t nlist, size_t dim,
                                 Metric metric)
    : nlist_(nlist), dim_(dim), metric_(metric), centroids_(std::move(centroids)), norms_(nlist) {
  if (metric_normalizes(metric_)) {
    for (size_t l = 0; l < nlist_; ++l) normalize_l2(centroids_.data() + l * dim_, dim_);
  }
  row_norms_sq(centroids_.data(), nlist_, dim_, norms_.data());
  build_codes();
}

void CoarseQuantizer::build_codes() {
  // Worth it only where a probe keeps a small fraction of many lists; L1 has no dot form.
  if (metric_ == Metric::kL1 || nlist_ < kMinCodedLists) return;
  // Integer weights w with |w| * 255 * dim < 2^31: no int32 overflow in dot_i16_many.
  code_weight_limit_ = static_cast<double>(std::min<uint64_t>(32767, ((uint64_t{1} << 31) - 1) / (255 * dim_)));
  if (code_weight_limit_ < 64) return;  // too coarse to pay off (dim above ~130k)
  auto sq = ScalarQuantizer::train(centroids_, nlist_, dim_);
  if (!sq.is_ok()) return;  // the exact scan still answers
  code_sq_ = std::make_shared<const ScalarQuantizer>(std::move(*sq));
  codes_.resize(nlist_ * dim_);
  code_norms_.resize(nlist_);
  std::vector<float> decoded(dim_);
  for (size_t l = 0; l < nlist_; ++l) {
    uint8_t* c = codes_.data() + l * dim_;
    code_sq_->encode(centroid(l), c);
    code_sq_->decode(c, decoded.data());
    double n2 = 0.0;
    for (float v : decoded) n2 += static_cast<double>(v) * v;
    code_norms_[l] = static_cast<float>(n2);
    max_code_norm_ = std::max(max_code_norm_, n2);
    uint64_t sum = 0;
    for (size_t j = 0; j < dim_; ++j) sum += c[j];
    max_code_sum_ = std::max(max_code_sum_, static_cast<double>(sum));
  }
  code_error_ = code_sq_->max_l2_error();
}

Result<CoarseQuantizer> CoarseQuantizer::train(std::span<const float> data, size_t n, size_t dim,
                                               Metric metric, size_t nlist,
                                               const KMeansParams& base) {
  if (dim == 0 || dim > kMaxDim) return Status::invalid_argument("coarse quantizer: bad dimension");
  if (nlist == 0) return Status::invalid_argument("coarse quantizer: nlist must be at least 1");
  if (nlist > n) {
    return Status::invalid_argument("coarse quantizer: nlist = " + std::to_string(nlist) +
                                    " exceeds the " + std::to_string(n) + " training rows");
  }
  KMeansParams p = base;
  p.k = nlist;
  std::vector<float> normalized;
  if (metric_normalizes(metric)) {
    if (data.size() != n * dim) return Status::invalid_argument("coarse quantizer: shape mismatch");
    normalized.assign(data.begin(), data.end());
    for (size_t i = 0; i < n; ++i) {
      if (!all_finite(normalized.data() + i * dim, dim)) {
        return Status::invalid_argument("coarse quantizer: training data contains NaN or Inf");
      }
      if (!normalize_l2(normalized.data() + i * dim, dim)) {
        return Status::invalid_argument("coarse quantizer: cosine metric needs non-zero rows");
      }
    }
    data = normalized;
    p.spherical = true;
  }
  auto km = kmeans(data, n, dim, p);
  if (!km.is_ok()) return km.status();
  return CoarseQuantizer(std::move(km->centroids), nlist, dim, metric);
}

Result<CoarseQuantizer> CoarseQuantizer::from_centroids(std::vector<float> centroids, size_t nlist,
                                                        size_t dim, Metric metric) {
  if (dim == 0 || dim > kMaxDim || nlist == 0 || centroids.size() != nlist * dim) {
    return Status::invalid_argument("coarse quantizer: centroid table is not nlist * dim floats");
  }
  if (!all_finite(centroids.data(), centroids.size())) {
    return Status::invalid_argument("coarse quantizer: centroids contain NaN or Inf");
  }
  return CoarseQuantizer(std::move(centroids), nlist, dim, metric);
}

Status CoarseQuantizer::assign(std::span<const float> data, size_t n, std::span<uint32_t> lists,
                               size_t threads) const {
  return assign_nearest(metric_, data, n, dim_, centroids_, nlist_, lists, {}, threads);
}

size_t CoarseQuantizer::probe(const float* query, size_t nprobe, uint32_t* lists, float* dists,
                              float* scratch) const {
  const size_t want = std::min(nprobe, nlist_);
  if (want == 0) return 0;
  const size_t pool = want + std::max<size_t>(want, kMinExtraCandidates);
  if (!codes_.empty() && pool < nlist_ / 2 && probe_coded(query, want, pool, lists, dists, scratch)) {
    return want;
  }
  metric_distance_many(kernels(), metric_, query, centroids_.data(), nlist_, dim_, dim_, scratch);
  return select_best(nlist_, want, [&](size_t j) { return scratch[j]; },
                     [](size_t j) { return static_cast<uint32_t>(j); }, lists, dists);
}

bool CoarseQuantizer::probe_coded(const float* query, size_t want, size_t pool, uint32_t* lists,
                                  float* dists, float* scratch) const {
  // 1. Estimates to every decoded centroid: one integer pass over nlist * dim bytes of codes.
  // <q, decoded c> = sum_j q_j vmin_j + sum_j (q_j step_j) c_j; the weights q_j step_j are
  // rounded to int16 at a scale that keeps every sum inside int32, which adds at most
  // scale/2 * sum_j c_j (<= round_error) to each dot product.
  thread_local ProbeScratch s;
  s.w.resize(dim_);
  s.wq.resize(dim_);
  s.idot.resize(nlist_);
  s.pool_lists.resize(pool);
  s.pool_dists.resize(pool);
  double base = 0.0, qn = 0.0;
  float wmax = 0.0f;
  for (size_t j = 0; j < dim_; ++j) {
    s.w[j] = query[j] * code_sq_->step(j);
    wmax = std::max(wmax, std::abs(s.w[j]));
    base += static_cast<double>(query[j]) * code_sq_->vmin(j);
    qn += static_cast<double>(query[j]) * query[j];
  }
  const double wscale = wmax > 0.0f ? static_cast<double>(wmax) / code_weight_limit_ : 1.0;
  for (size_t j = 0; j < dim_; ++j) {
    s.wq[j] = static_cast<int16_t>(std::lrint(static_cast<double>(s.w[j]) / wscale));
  }
  sq8_kernels().dot_i16_many(s.wq.data(), codes_.data(), nlist_, dim_, dim_, s.idot.data());
  // estimate = a + norm_l + b * idot_l (norm_l: |decoded c|^2 under L2, else 0).
  const bool l2 = metric_ == Metric::kL2;
  const float a = static_cast<float>(l2 ? qn - 2.0 * base : metric_ == Metric::kCosine ? 1.0 - base : -base);
  const float b = static_cast<float>((l2 ? -2.0 : -1.0) * wscale);
  if (l2) {
    for (size_t l = 0; l < nlist_; ++l) scratch[l] = a + code_norms_[l] + b * static_cast<float>(s.idot[l]);
  } else {
    for (size_t l = 0; l < nlist_; ++l) scratch[l] = a + b * static_cast<float>(s.idot[l]);
  }
  const double round_error = 0.5 * wscale * max_code_sum_;
  // 2. The `pool` best estimates, ascending.
  const size_t got = select_best(nlist_, pool, [&](size_t j) { return scratch[j]; },
                                 [](size_t j) { return static_cast<uint32_t>(j); },
                                 s.pool_lists.data(), s.pool_dists.data());
  // 3. Exact distances for the pool, best estimates first; the `want` best of them. Under L2 a
  // candidate is dropped (+inf) once a partial sum passes the want-th best so far.
  const DistanceKernels& k = kernels();
  s.exact.resize(got);
  s.best.reset(want);
  for (size_t i = 0; i < got; ++i) {
    const float* c = centroid(s.pool_lists[i]);
    float d = 0.0f;
    if (metric_ == Metric::kL2) {
      const float bar = s.best.worst();  // +inf until want are kept
      for (size_t off = 0; off < dim_ && d <= bar; off += kAbandonChunk) {
        d += k.l2sq(query + off, c + off, std::min(kAbandonChunk, dim_ - off));
      }
      if (d > bar) d = std::numeric_limits<float>::infinity();
    } else {
      d = metric_distance(k, metric_, query, c, dim_);
    }
    s.exact[i] = d;
    if (d != std::numeric_limits<float>::infinity()) s.best.push(d, s.pool_lists[i]);
  }
  select_best(got, want, [&](size_t i) { return s.exact[i]; },
              [&](size_t i) { return s.pool_lists[i]; }, lists, dists);
  // 4. Exact unless a list outside the pool could beat the want-th: every outsider's estimate is
  // at least the pool's largest, and its true distance at most code_error_ (L2 distance, or
  // |<q, c - decoded c>| <= |q| * code_error_ for the dot products) away from its estimate.
  const double worst_estimate = s.pool_dists[got - 1];
  const double err = 1.001 * code_error_;
  double bound;
  if (metric_ == Metric::kL2) {  // |q - decoded c|^2 >= estimate - 2 round_error
    const double r = std::sqrt(std::max(0.0, worst_estimate - 2.0 * round_error)) - err;
    bound = r > 0.0 ? r * r : 0.0;
  } else {
    bound = worst_estimate - round_error - err * std::sqrt(qn);
  }
  // Float rounding of both sides: the estimates sum terms up to |q|^2 + |c|^2 + 2|<q, c>| in
  // float (relative error ~1e-7 each); 1e-5 of that magnitude covers them.
  bound -= 1e-5 * (std::abs(bound) + 2.0 * (qn + max_code_norm_) + std::abs(base)) + 1e-30;
  return dists[want - 1] < bound;
}

void CoarseQuantizer::save(IndexFileWriter& w) const {
  w.put<uint64_t>(dim_);
  w.put<uint64_t>(nlist_);
  w.put<uint32_t>(static_cast<uint32_t>(metric_));
  w.put_vector(centroids_);
}

Result<CoarseQuantizer> CoarseQuantizer::load(IndexFileReader& r) {
  uint64_t dim = 0, nlist = 0;
  uint32_t metric = 0;
  VS_RETURN_IF_ERROR(r.get(&dim));
  VS_RETURN_IF_ERROR(r.get(&nlist));
  VS_RETURN_IF_ERROR(r.get(&metric));
  if (dim == 0 || dim > kMaxDim) return r.truncated("coarse quantizer dimension");
  if (metric > static_cast<uint32_t>(Metric::kL1)) return r.truncated("coarse quantizer metric");
  if (nlist == 0 || nlist > r.remaining() / sizeof(float) / dim) {
    return r.truncated("coarse quantizer list count");
  }
  std::vector<float> centroids;
  VS_RETURN_IF_ERROR(r.get_vector(&centroids, nlist * dim));
  if (centroids.size() != nlist * dim) return r.truncated("coarse quantizer centroids");
  if (!all_finite(centroids.data(), centroids.size())) {
    return r.truncated("coarse quantizer centroids (non-finite value)");
  }
  return CoarseQuantizer(std::move(centroids), nlist, dim, static_cast<Metric>(metric));
}

}  // namespace vecstream
