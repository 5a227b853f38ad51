// Seeded training samples: quantizers train on at most a fixed number of rows, chosen by a seeded
// partial shuffle so that the same data and seed always give the same sample.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

namespace vecstream::internal {

/// At most max_rows of the n rows of `data`, in their original order. Returns `data` itself when
/// n <= max_rows (or max_rows == 0); otherwise copies the sample into `buffer`. *rows = count.
inline std::span<const float> training_sample(std::span<const float> data, size_t n, size_t dim,
                                              size_t max_rows, uint64_t seed,
                                              std::vector<float>& buffer, size_t* rows) {
  if (max_rows == 0 || n <= max_rows) {
    *rows = n;
    return data;
  }
  std::mt19937_64 rng(seed);
  std::vector<size_t> perm(n);
  for (size_t i = 0; i < n; ++i) perm[i] = i;
  for (size_t i = 0; i < max_rows; ++i) std::swap(perm[i], perm[i + rng() % (n - i)]);
  perm.resize(max_rows);
  std::sort(perm.begin(), perm.end());
  buffer.resize(max_rows * dim);
  for (size_t i = 0; i < max_rows; ++i) {
    std::memcpy(buffer.data() + i * dim, data.data() + perm[i] * dim, dim * sizeof(float));
  }
  *rows = max_rows;
  return buffer;
}

}  // namespace vecstream::internal
