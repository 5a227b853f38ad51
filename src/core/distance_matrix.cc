// Many-against-many distances: one OpenBLAS sgemm per block of base rows, then a cheap
// elementwise pass that turns inner products into the metric's ordering distance.
//
// The GEMM writes straight into the caller's `out` (ldc = nb), so the only scratch is the query
// norms and one block of base norms, allocated once per call; base rows are taken kBaseBlock at a
// time so that this block stays small and the elementwise pass over out[:, block] follows the GEMM
// that produced it. Small batches (and L1, which has no GEMM form) skip sgemm and compare each
// L2-sized tile of base rows with every query through the SIMD kernels instead.
// OpenBLAS is told once to stay single-threaded: callers parallelise over queries with their own
// pool, and OpenBLAS threads would fight it.
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "core/distance.h"
#include "core/distance_matrix.h"

namespace vecstream {
namespace {

// Base rows per sgemm call.
constexpr size_t kBaseBlock = 4096;

// Below this many queries the tiled SIMD kernels beat sgemm, which packs every base block again for
// each call (measured crossover: 4..8 queries for d = 16..784).
constexpr size_t kGemmMinQueries = 8;

// Base rows per tile of the kernel path: about 128 KiB, so a tile read from memory once stays in
// L2 while every query of the batch is compared with it.
constexpr size_t kTileBytes = 128 * 1024;

void ensure_blas_single_threaded() {
  static const bool done = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

// Without GEMM: no GEMM form (L1), nothing to multiply (d == 0), too few queries for sgemm to pay
// (it packs the base block for every call), or a shape beyond BLAS's int arguments.
void distance_matrix_by_kernels(Metric m, const float* queries, size_t nq, const float* base,
                                size_t nb, size_t d, float* out) {
  const DistanceKernels& k = kernels();
  const size_t tile = scan_tile_rows(d);
  for (size_t j0 = 0; j0 < nb; j0 += tile) {
    const size_t rows = std::min(tile, nb - j0);
    for (size_t i = 0; i < nq; ++i) {
      metric_distance_many(k, m, queries + i * d, base + j0 * d, rows, d, d, out + i * nb + j0);
    }
  }
}

}  // namespace

size_t scan_tile_rows(size_t d) {
  return std::max<size_t>(1, kTileBytes / (sizeof(float) * std::max<size_t>(d, 1)));
}

void distance_matrix_tiled(Metric m, const float* queries, size_t nq, const float* base, size_t nb,
                           size_t d, float* out) {
  distance_matrix_by_kernels(m, queries, nq, base, nb, d, out);
}

void row_norms_sq(const float* x, size_t n, size_t d, float* out) {
  const DistanceKernels& k = kernels();
  for (size_t i = 0; i < n; ++i) out[i] = k.dot(x + i * d, x + i * d, d);
}

void distance_matrix(Metric m, const float* queries, size_t nq, const float* base, size_t nb,
                     size_t d, const float* base_norms_sq, float* out) {
  if (nq == 0 || nb == 0) return;
  constexpr size_t kIntMax = static_cast<size_t>(INT_MAX);
  if (m == Metric::kL1 || d == 0 || nq < kGemmMinQueries || nq > kIntMax || nb > kIntMax ||
      d > kIntMax) {
    distance_matrix_by_kernels(m, queries, nq, base, nb, d, out);
    return;
  }
  ensure_blas_single_threaded();

  const bool l2 = m == Metric::kL2;
  std::vector<float> query_norms;
  std::vector<float> block_norms;
  if (l2) {
    query_norms.resize(nq);
    row_norms_sq(queries, nq, d, query_norms.data());
    if (base_norms_sq == nullptr) block_norms.resize(std::min(nb, kBaseBlock));
  }
  // L2 needs -2<q,x>; IP and cosine start from -<q,x>.
  const float alpha = l2 ? -2.0f : -1.0f;

  for (size_t j0 = 0; j0 < nb; j0 += kBaseBlock) {
    const size_t nbj = std::min(kBaseBlock, nb - j0);
    const float* xb = base + j0 * d;
    float* c = out + j0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nq),
                static_cast<int>(nbj), static_cast<int>(d), alpha, queries, static_cast<int>(d),
                xb, static_cast<int>(d), 0.0f, c, static_cast<int>(nb));

    switch (m) {
      case Metric::kL2: {
        const float* bn = base_norms_sq != nullptr ? base_norms_sq + j0 : block_norms.data();
        if (base_norms_sq == nullptr) row_norms_sq(xb, nbj, d, block_norms.data());
        for (size_t i = 0; i < nq; ++i) {
          float* row = c + i * nb;
          const float qn = query_norms[i];
          // Rounding can push near-duplicates slightly below zero; a distance never is.
          for (size_t j = 0; j < nbj; ++j) row[j] = std::max(row[j] + qn + bn[j], 0.0f);
        }
        break;
      }
      case Metric::kCosine:
        for (size_t i = 0; i < nq; ++i) {
          float* row = c + i * nb;
          for (size_t j = 0; j < nbj; ++j) row[j] += 1.0f;
        }
        break;
      case Metric::kInnerProduct:
      case Metric::kL1:
        break;
    }
  }
}

}  // namespace vecstream
