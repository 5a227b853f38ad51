// CoarseQuantizer: training through kmeans(), assignment through the GEMM path of
// assign_nearest(), and a per-query probe that is one SIMD scan of the centroid table plus a
// bounded heap kept in the caller's output arrays (so it allocates nothing).
#include "index/coarse_quantizer.h"

#include <cmath>
#include <string>
#include <utility>

#include "core/distance.h"
#include "core/distance_matrix.h"
#include "index/index_file.h"

namespace vecstream {
namespace {

constexpr size_t kMaxDim = size_t{1} << 16;

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

}  // namespace

CoarseQuantizer::CoarseQuantizer(std::vector<float> centroids, size_t nlist, size_t dim,
                                 Metric metric)
    : nlist_(nlist), dim_(dim), metric_(metric), centroids_(std::move(centroids)), norms_(nlist) {
  if (metric_normalizes(metric_)) {
    for (size_t l = 0; l < nlist_; ++l) normalize_l2(centroids_.data() + l * dim_, dim_);
  }
  row_norms_sq(centroids_.data(), nlist_, dim_, norms_.data());
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
  metric_distance_many(kernels(), metric_, query, centroids_.data(), nlist_, dim_, dim_, scratch);
  const size_t want = std::min(nprobe, nlist_);
  if (want == 0) return 0;
  // Max-heap of the best `want` so far, in lists/dists; then heap-sort ascending in place.
  size_t m = 0;
  for (size_t j = 0; j < nlist_; ++j) {
    const float d = scratch[j];
    const uint32_t l = static_cast<uint32_t>(j);
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
