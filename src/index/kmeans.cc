// k-means: batched k-means++ init and Lloyd iterations on GEMM assignment (design in kmeans.h).
//
// Every parallel step is cut into blocks whose size depends only on the shapes (never on the
// thread count) and every reduction adds the blocks' partial results in block order, which is what
// makes a run reproducible for a given seed on any number of threads.
#include "index/kmeans.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>

#include "core/distance.h"
#include "core/distance_matrix.h"
#include "core/nearest_centroids.h"
#include "core/thread_pool.h"

namespace vecstream {
namespace {

// Distances per GEMM block stay near 1 Mi floats (4 MiB of scratch per worker) whatever k is.
constexpr size_t kBlockFloats = size_t{1} << 20;
// Dimensions per task of the centroid update.
constexpr size_t kDimChunk = 32;
// Relative nudge that separates the two halves of a split cluster.
constexpr double kSplitEps = 1.0 / 1024.0;
// k-means++ runs on at most this many rows per centroid (a seeded subsample).
constexpr size_t kInitRowsPerCentroid = 16;
// Rows per task of the fused nearest-centroid kernel (a multiple of its 48-row block).
constexpr size_t kFusedRowsPerBlock = 192;
// Rows per task of the bound check in Lloyd iterations.
constexpr size_t kCheckBlock = 1024;
// Relative slack on Hamerly's test: GEMM distances carry rounding error, so a row within this
// margin of its bound is re-assigned rather than trusted.
constexpr float kBoundMargin = 1e-4f;

size_t rows_per_block(size_t k) {
  return std::clamp<size_t>(kBlockFloats / std::max<size_t>(k, 1), 8, 512);
}

// Uniform double in [0, 1) from 53 random bits (std distributions differ between libraries).
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Nearest centroid of n rows in fixed-size blocks. Rows are x[0..n) or, when `rows_of` is
// non-null, x[rows_of[0..n)] (gathered per block). Outputs are indexed like the rows of the call
// (0..n). `second` (optional) receives the distance to the second-nearest centroid. L2, IP and
// cosine go through the fused kernel (core/nearest_centroids.h); L1 through the distance matrix.
void assign_blocks(Metric m, const float* x, size_t n, size_t d, const float* c, size_t k,
                   uint32_t* assign, float* dist, float* second, const uint32_t* rows_of,
                   ThreadPool& pool) {
  if (n == 0) return;
  std::optional<PackedCentroids> packed;
  if (m != Metric::kL1) packed = std::move(*pack_centroids(m, c, k, d));  // shapes checked by callers
  const size_t rows = packed ? kFusedRowsPerBlock : rows_per_block(k);
  const size_t blocks = (n + rows - 1) / rows;
  std::vector<std::vector<float>> scratch(pool.size()), gathered(pool.size());
  pool.parallel_for(blocks, 1, [&](size_t b0, size_t b1, size_t worker) {
    std::vector<float>& s = scratch[worker];
    for (size_t b = b0; b < b1; ++b) {
      const size_t r0 = b * rows, nr = std::min(rows, n - r0);
      const float* block = x + r0 * d;
      if (rows_of != nullptr) {
        std::vector<float>& g = gathered[worker];
        g.resize(rows * d);
        for (size_t i = 0; i < nr; ++i) {
          std::memcpy(g.data() + i * d, x + static_cast<size_t>(rows_of[r0 + i]) * d, d * sizeof(float));
        }
        block = g.data();
      }
      if (packed) {
        nearest_two(*packed, block, nr, assign + r0, dist ? dist + r0 : nullptr,
                    second ? second + r0 : nullptr);
        continue;
      }
      s.resize(rows * k);
      distance_matrix(m, block, nr, c, k, d, nullptr, s.data());
      for (size_t i = 0; i < nr; ++i) {
        const float* row = s.data() + i * k;
        uint32_t best = 0;
        float best_d = row[0], next_d = std::numeric_limits<float>::infinity();
        for (size_t j = 1; j < k; ++j) {
          const float v = row[j];
          if (v < best_d) {
            next_d = best_d;
            best_d = v;
            best = static_cast<uint32_t>(j);
          } else if (v < next_d) {
            next_d = v;
          }
        }
        assign[r0 + i] = best;
        if (dist != nullptr) dist[r0 + i] = best_d;
        if (second != nullptr) second[r0 + i] = next_d;
      }
    }
  });
}

// Batched k-means++ (see kmeans.h): fills `centroids` (k * d) from rows of x.
void init_plus_plus(const float* x, size_t n, size_t d, size_t k, std::mt19937_64& rng,
                    ThreadPool& pool, std::vector<float>& centroids) {
  centroids.assign(k * d, 0.0f);
  std::vector<float> min_dist(n, std::numeric_limits<float>::infinity());
  std::vector<float> round_dist(n);
  std::vector<uint32_t> round_assign(n);
  std::vector<double> prefix(n);
  std::vector<uint8_t> picked(n, 0);
  std::vector<size_t> round;
  const size_t max_round = std::max<size_t>(1, k / 8);
  size_t chosen = 0;

  auto take = [&](size_t row) {
    std::memcpy(centroids.data() + chosen * d, x + row * d, d * sizeof(float));
    picked[row] = 1;
    round.push_back(chosen);
    ++chosen;
  };

  take(rng() % n);
  while (chosen < k) {
    // Refresh D^2 with the centres of the last round: one GEMM of all rows against them.
    const size_t first = round.front(), count = round.size();
    assign_blocks(Metric::kL2, x, n, d, centroids.data() + first * d, count,
                  round_assign.data(), round_dist.data(), nullptr, nullptr, pool);
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      min_dist[i] = std::min(min_dist[i], round_dist[i]);
      total += picked[i] ? 0.0 : static_cast<double>(min_dist[i]);
      prefix[i] = total;
    }
    round.clear();
    const size_t want = std::min(k - chosen, std::min(chosen, max_round));
    if (!(total > 0)) {
      // Every remaining row coincides with a centre (duplicated data): take unpicked rows, then
      // repeats when none are left (Lloyd's split step separates the copies).
      const size_t start = rng() % n;
      for (size_t t = 0; t < n && round.size() < want; ++t) {
        if (!picked[(start + t) % n]) take((start + t) % n);
      }
      while (round.size() < want) take(rng() % n);
      continue;
    }
    for (size_t tries = 0; round.size() < want && tries < 4 * want; ++tries) {
      const double r = uniform01(rng) * total;
      size_t row = static_cast<size_t>(std::upper_bound(prefix.begin(), prefix.end(), r) -
                                       prefix.begin());
      if (row >= n) row = n - 1;
      if (picked[row]) continue;  // drawn twice in this round
      take(row);
    }
    if (round.empty()) {  // every draw hit a picked row: take the first row of positive weight
      take(static_cast<size_t>(std::upper_bound(prefix.begin(), prefix.end(), 0.0) - prefix.begin()) % n);
    }
  }
}

// New centroids as the mean of their rows (double accumulation, dimension chunks in parallel).
void update_centroids(const float* x, size_t n, size_t d, size_t k, const uint32_t* assign,
                      const std::vector<size_t>& counts, ThreadPool& pool,
                      std::vector<float>& centroids) {
  const size_t chunks = (d + kDimChunk - 1) / kDimChunk;
  pool.parallel_for(chunks, 1, [&](size_t c0, size_t c1, size_t) {
    std::vector<double> acc;
    for (size_t c = c0; c < c1; ++c) {
      const size_t j0 = c * kDimChunk, w = std::min(kDimChunk, d - j0);
      acc.assign(k * w, 0.0);
      for (size_t i = 0; i < n; ++i) {
        double* a = acc.data() + static_cast<size_t>(assign[i]) * w;
        const float* row = x + i * d + j0;
        for (size_t j = 0; j < w; ++j) a[j] += row[j];
      }
      for (size_t l = 0; l < k; ++l) {
        if (counts[l] == 0) continue;  // re-seeded by the caller
        const double inv = 1.0 / static_cast<double>(counts[l]);
        float* out = centroids.data() + l * d + j0;
        for (size_t j = 0; j < w; ++j) out[j] = static_cast<float>(acc[l * w + j] * inv);
      }
    }
  });
}

// FAISS-style repair: every empty cluster takes half of the currently largest one.
void split_empty_clusters(size_t d, size_t k, std::vector<size_t>& counts,
                          std::vector<float>& centroids) {
  for (size_t empty = 0; empty < k; ++empty) {
    if (counts[empty] != 0) continue;
    size_t big = 0;
    for (size_t l = 1; l < k; ++l) {
      if (counts[l] > counts[big]) big = l;
    }
    if (counts[big] < 2) return;  // nothing left to split
    float* dst = centroids.data() + empty * d;
    float* src = centroids.data() + big * d;
    double rms = 0;
    for (size_t j = 0; j < d; ++j) rms += static_cast<double>(src[j]) * src[j];
    rms = std::sqrt(rms / static_cast<double>(d));
    if (!(rms > 0)) rms = 1.0;
    for (size_t j = 0; j < d; ++j) {
      const double delta = kSplitEps * (std::fabs(static_cast<double>(src[j])) + rms);
      const double sign = (j % 2 == 0) ? 1.0 : -1.0;
      const double v = src[j];
      dst[j] = static_cast<float>(v + sign * delta);
      src[j] = static_cast<float>(v - sign * delta);
    }
    counts[empty] = counts[big] / 2;
    counts[big] -= counts[empty];
  }
}

Status check_shapes(std::span<const float> data, size_t n, size_t dim) {
  if (dim == 0) return Status::invalid_argument("k-means: dimension must be at least 1");
  if (n == 0) return Status::invalid_argument("k-means: no rows");
  if (data.size() / dim != n || data.size() % dim != 0) {
    return Status::invalid_argument("k-means: " + std::to_string(data.size()) +
                                    " floats are not " + std::to_string(n) + " rows of dimension " +
                                    std::to_string(dim));
  }
  return Status::ok();
}

// Lloyd iterations with Hamerly's bounds, so that late iterations, where few points move, skip
// most of the GEMM. Per row: u = distance to its centroid, l = a lower bound on the distance to
// every other centroid. After an update that moved centroid j by delta_j, l shrinks by the
// largest delta of the other centroids; the row's own distance is recomputed exactly (dim flops);
// if it is still below l (with a small relative margin for GEMM rounding), the assignment cannot
// have changed. Only the remaining rows go through the GEMM against all centroids.
void lloyd(const float* x, size_t n, size_t d, const KMeansParams& p, ThreadPool& pool,
           KMeansResult& result) {
  const size_t k = p.k;
  const DistanceKernels& kern = kernels();
  std::vector<float>& centroids = result.centroids;
  std::vector<uint32_t> assign(n), active_assign(n);
  std::vector<uint32_t> active(n);
  std::vector<float> dist(n), lower(n), active_dist(n), active_second(n);
  std::vector<float> old_centroids, delta(k);
  std::vector<size_t> counts(k);
  std::vector<uint8_t> stale(n, 1);
  const size_t check_blocks = (n + kCheckBlock - 1) / kCheckBlock;
  for (size_t it = 0; it < p.iterations; ++it) {
    if (it > 0) {
      // Bounds after the last update; rows whose bound no longer holds are marked stale.
      float max1 = 0, max2 = 0;
      uint32_t arg1 = 0;
      for (size_t j = 0; j < k; ++j) {
        if (delta[j] > max1) {
          max2 = max1;
          max1 = delta[j];
          arg1 = static_cast<uint32_t>(j);
        } else if (delta[j] > max2) {
          max2 = delta[j];
        }
      }
      pool.parallel_for(check_blocks, 1, [&](size_t b0, size_t b1, size_t) {
        for (size_t i = b0 * kCheckBlock; i < std::min(n, b1 * kCheckBlock); ++i) {
          const uint32_t a = assign[i];
          lower[i] -= (a == arg1 ? max2 : max1);
          dist[i] = kern.l2sq(x + i * d, centroids.data() + static_cast<size_t>(a) * d, d);
          stale[i] = std::sqrt(dist[i]) * (1.0f + kBoundMargin) > lower[i];
        }
      });
    }
    size_t na = 0;
    for (size_t i = 0; i < n; ++i) {
      if (stale[i]) active[na++] = static_cast<uint32_t>(i);
    }
    assign_blocks(Metric::kL2, x, na, d, centroids.data(), k, active_assign.data(),
                  active_dist.data(), active_second.data(), active.data(), pool);
    size_t changed = 0;
    for (size_t r = 0; r < na; ++r) {
      const uint32_t i = active[r];
      changed += (it == 0 || assign[i] != active_assign[r]);
      assign[i] = active_assign[r];
      dist[i] = active_dist[r];
      lower[i] = std::sqrt(active_second[r]);
    }
    double objective = 0;
    for (size_t i = 0; i < n; ++i) objective += dist[i];
    result.objective = objective;
    result.iterations_run = it + 1;
    if (p.progress) p.progress(it, objective);
    if (changed == 0) break;  // converged: the update would reproduce the same centroids

    std::fill(counts.begin(), counts.end(), 0);
    for (size_t i = 0; i < n; ++i) ++counts[assign[i]];
    old_centroids = centroids;
    update_centroids(x, n, d, k, assign.data(), counts, pool, centroids);
    split_empty_clusters(d, k, counts, centroids);
    if (p.spherical) {
      for (size_t l = 0; l < k; ++l) normalize_l2(centroids.data() + l * d, d);
    }
    for (size_t j = 0; j < k; ++j) {
      delta[j] = std::sqrt(kern.l2sq(centroids.data() + j * d, old_centroids.data() + j * d, d));
    }
  }
}

}  // namespace

Status assign_nearest(Metric metric, std::span<const float> data, size_t n, size_t dim,
                      std::span<const float> centroids, size_t k, std::span<uint32_t> assign,
                      std::span<float> dist, size_t threads) {
  if (n == 0) return Status::ok();
  VS_RETURN_IF_ERROR(check_shapes(data, n, dim));
  if (k == 0) return Status::invalid_argument("assign_nearest: no centroids");
  if (centroids.size() / dim != k || centroids.size() % dim != 0) {
    return Status::invalid_argument("assign_nearest: centroid array is not k * dim floats");
  }
  if (assign.size() < n) {
    return Status::invalid_argument("assign_nearest: assign holds fewer than n entries");
  }
  if (!dist.empty() && dist.size() < n) {
    return Status::invalid_argument("assign_nearest: dist holds fewer than n entries");
  }
  ThreadPool pool(threads);
  assign_blocks(metric, data.data(), n, dim, centroids.data(), k, assign.data(),
                dist.empty() ? nullptr : dist.data(), nullptr, nullptr, pool);
  return Status::ok();
}

Status assign_nearest(std::span<const float> data, size_t n, size_t dim,
                      std::span<const float> centroids, size_t k, std::span<uint32_t> assign,
                      std::span<float> dist, size_t threads) {
  return assign_nearest(Metric::kL2, data, n, dim, centroids, k, assign, dist, threads);
}

Result<KMeansResult> kmeans(std::span<const float> data, size_t n, size_t dim,
                            const KMeansParams& p) {
  VS_RETURN_IF_ERROR(check_shapes(data, n, dim));
  if (p.k == 0) return Status::invalid_argument("k-means: k must be at least 1");
  if (p.k > n) {
    return Status::invalid_argument("k-means: k = " + std::to_string(p.k) + " exceeds the " +
                                    std::to_string(n) + " training rows");
  }
  if (p.k > UINT32_MAX) return Status::invalid_argument("k-means: k above 2^32");
  if (!all_finite(data.data(), data.size())) {
    return Status::invalid_argument("k-means: training data contains NaN or Inf");
  }
  const size_t k = p.k, d = dim;
  std::mt19937_64 rng(p.seed);

  // Seeded sample of k * max_points_per_centroid rows, kept in their original order.
  const float* x = data.data();
  std::vector<float> sample;
  const size_t mppc = p.max_points_per_centroid;
  if (mppc > 0 && k <= SIZE_MAX / mppc && n > k * mppc) {
    const size_t m = k * mppc;
    std::vector<size_t> perm(n);
    for (size_t i = 0; i < n; ++i) perm[i] = i;
    for (size_t i = 0; i < m; ++i) std::swap(perm[i], perm[i + rng() % (n - i)]);
    perm.resize(m);
    std::sort(perm.begin(), perm.end());
    sample.resize(m * d);
    for (size_t i = 0; i < m; ++i) std::memcpy(sample.data() + i * d, x + perm[i] * d, d * sizeof(float));
    x = sample.data();
    n = m;
  }

  ThreadPool pool(p.threads);
  KMeansResult result;
  {
    // k-means++ on a seeded subsample: D^2 sampling needs far fewer rows than Lloyd does.
    const size_t init_rows = std::min(n, std::max(k, kInitRowsPerCentroid * k));
    std::vector<float> init_sample;
    const float* xi = x;
    if (init_rows < n) {
      init_sample.resize(init_rows * d);
      for (size_t i = 0; i < init_rows; ++i) {
        std::memcpy(init_sample.data() + i * d, x + (rng() % n) * d, d * sizeof(float));
      }
      xi = init_sample.data();
    }
    init_plus_plus(xi, init_rows, d, k, rng, pool, result.centroids);
  }
  if (p.spherical) {
    for (size_t l = 0; l < k; ++l) normalize_l2(result.centroids.data() + l * d, d);
  }
  lloyd(x, n, d, p, pool, result);
  return result;
}

}  // namespace vecstream
