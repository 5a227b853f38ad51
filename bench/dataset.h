// Datasets for the ANN benchmark: Fashion-MNIST from its idx3 .gz files, and seeded synthetic
// clustered Gaussian data.
//
// A Dataset is a base set (indexed) and a query set (searched), both row-major float32. Row i of
// the base set gets id i in every engine, so ground-truth ids and engine ids compare directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "app/corpus.h"
#include "core/metric.h"
#include "core/status.h"

namespace vecstream::bench {

struct Dataset {
  size_t n = 0;   // base rows
  size_t nq = 0;  // query rows
  size_t d = 0;   // dimension
  std::vector<float> base;     // n * d
  std::vector<float> queries;  // nq * d
  std::string name;            // stable name, part of the ground-truth cache key
  Metric metric = Metric::kL2;
};

// Fashion-MNIST's files are read by app/corpus.h (shared with the demo).
using vecstream::Idx3Images;
using vecstream::read_idx3;

/// The ann-benchmarks "fashion-mnist-784-euclidean" set: train (60000) as base, t10k (10000) as
/// queries, 784-d pixel values as floats, L2. `data_dir` holds train-images-idx3-ubyte.gz and
/// t10k-images-idx3-ubyte.gz.
Result<Dataset> load_fashion_mnist(const std::string& data_dir);

/// Seeded clustered Gaussian data: `clusters` centers uniform in [-1, 1]^d, every point (base and
/// query alike) = a uniformly chosen center + N(0, sigma^2) per coordinate. The same arguments give
/// the same bytes on every run: the generator is std::mt19937_64 and the uniform and normal
/// transforms are our own (53-bit uniforms, Box-Muller), not the implementation-defined std
/// distributions, so only libm's log/cos/sin could make another platform differ. Metric L2.
Dataset synthetic_clustered(size_t n, size_t nq, size_t d, size_t clusters, uint64_t seed,
                            float sigma = 0.25f);

/// Keeps the first `max_base` base rows and the first `max_queries` query rows (0 = keep all);
/// the name records the cut, so ground-truth caches of different cuts never mix.
void truncate_dataset(Dataset& ds, size_t max_base, size_t max_queries);

/// Checksum of the shape and the bytes of base and queries (CRC-32 of each, combined), the
/// content part of the ground-truth cache key.
uint64_t dataset_checksum(const Dataset& ds);

}  // namespace vecstream::bench
