// Seeded data and recall helpers shared by the index tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "index/flat_index.h"
#include "index/index.h"

namespace vecstream::testing {

/// n points of dimension d around `clusters` centres (uniform in [-1,1]^d). Within a cluster the
/// points spread along a random 8-dimensional subspace plus small isotropic noise: real embeddings
/// have low intrinsic dimension, and full-rank Gaussian noise would make every ANN index look bad.
inline std::vector<float> clustered(size_t n, size_t d, size_t clusters, uint64_t seed,
                                    float spread = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  const size_t latent = std::min<size_t>(d, 8);
  std::vector<float> centres(clusters * d), basis(latent * d);
  for (auto& c : centres) c = uni(rng);
  for (auto& b : basis) b = gauss(rng) * spread / std::sqrt(static_cast<float>(latent));
  std::vector<float> x(n * d), z(latent);
  for (size_t i = 0; i < n; ++i) {
    size_t c = rng() % clusters;
    for (auto& v : z) v = gauss(rng);
    for (size_t j = 0; j < d; ++j) {
      float s = centres[c * d + j] + 0.02f * gauss(rng);
      for (size_t l = 0; l < latent; ++l) s += basis[l * d + j] * z[l];
      x[i * d + j] = s;
    }
  }
  return x;
}

inline std::vector<Id> iota_ids(size_t n, Id first = 0) {
  std::vector<Id> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = first + i;
  return ids;
}

/// Mean recall@k of `index` against `exact` over the queries (both must hold the same points).
inline double recall_at_k(const Index& index, const Index& exact, const std::vector<float>& queries,
                          size_t k, const SearchParams& params, const SearchParams& exact_params = {}) {
  const size_t d = index.dim(), nq = queries.size() / d;
  std::vector<Neighbor> got(k), want(k);
  double hits = 0, total = 0;
  for (size_t q = 0; q < nq; ++q) {
    std::span<const float> query(queries.data() + q * d, d);
    size_t ng = 0, nw = 0;
    if (!index.search(query, k, params, got, &ng).is_ok()) return -1;
    if (!exact.search(query, k, exact_params, want, &nw).is_ok()) return -1;
    std::set<Id> truth;
    for (size_t i = 0; i < nw; ++i) truth.insert(want[i].id);
    for (size_t i = 0; i < ng; ++i) hits += truth.count(got[i].id);
    total += static_cast<double>(nw);
  }
  return total == 0 ? 1.0 : hits / total;
}

}  // namespace vecstream::testing
