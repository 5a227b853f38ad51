// Many-against-many distances through blocked matrix multiplication (OpenBLAS sgemm).
//
// For L2 the identity |q - x|^2 = |q|^2 + |x|^2 - 2<q, x> turns a block of distances into one
// GEMM plus two norm vectors; IP and cosine are the GEMM itself. This is what makes the exact Flat
// index fast on batches, and what k-means assignment uses later. L1 has no GEMM form and falls back
// to the SIMD one-against-many kernel.
#pragma once

#include <cstddef>

#include "core/metric.h"

namespace vecstream {

/// Squared L2 norms of n rows of dimension d (contiguous), into out[n].
void row_norms_sq(const float* x, size_t n, size_t d, float* out);

/// out[i*nb + j] = ordering distance (metric.h) between queries[i] and base[j].
/// `base_norms_sq` may be null (computed on the fly) and is used only for L2.
/// Rows are contiguous (stride d). Single-threaded: callers split queries over threads (OpenBLAS is
/// set to one thread per call, process-wide). Batches under 8 queries, and L1, use the SIMD kernels:
/// a GEMM does not pay for so few rows.
void distance_matrix(Metric m, const float* queries, size_t nq, const float* base, size_t nb,
                     size_t d, const float* base_norms_sq, float* out);

/// out[i*nb + j] = metric_distance(m, queries[i], base[j]) computed with the SIMD kernels of the
/// one-query scans (bit-identical results), base rows taken scan_tile_rows(d) at a time so each
/// tile, read from memory once, stays in cache while every query is compared with it.
void distance_matrix_tiled(Metric m, const float* queries, size_t nq, const float* base, size_t nb,
                           size_t d, float* out);

/// Rows of dimension d in one tile of distance_matrix_tiled (about 128 KiB).
size_t scan_tile_rows(size_t d);

}  // namespace vecstream
