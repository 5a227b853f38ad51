// Dataset loading and generation for the ANN benchmark (see dataset.h).
#include "dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <numbers>
#include <random>

namespace vecstream::bench {
namespace {

/// Uniform double in [0, 1) from the top 53 bits: exact, and the same on every platform.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

/// Standard normal deviates by Box-Muller, two per pair of uniforms.
class NormalSource {
 public:
  explicit NormalSource(std::mt19937_64& rng) : rng_(rng) {}

  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform01(rng_);  // (0, 1]: log(u1) is finite
    const double u2 = uniform01(rng_);
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  std::mt19937_64& rng_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace

Result<Dataset> load_fashion_mnist(const std::string& data_dir) {
  auto base = read_idx3(data_dir + "/train-images-idx3-ubyte.gz");
  if (!base) return base.status();
  auto queries = read_idx3(data_dir + "/t10k-images-idx3-ubyte.gz");
  if (!queries) return queries.status();
  const size_t d = base->rows * base->cols;
  if (queries->rows * queries->cols != d) {
    return Status::corruption("fashion-mnist: train images are " + std::to_string(d) +
                              "-d but t10k images are " +
                              std::to_string(queries->rows * queries->cols) + "-d");
  }
  Dataset ds;
  ds.name = "fashion-mnist-" + std::to_string(d) + "-euclidean";
  ds.metric = Metric::kL2;
  ds.d = d;
  ds.n = base->count;
  ds.nq = queries->count;
  ds.base = std::move(base->pixels);
  ds.queries = std::move(queries->pixels);
  return ds;
}

Dataset synthetic_clustered(size_t n, size_t nq, size_t d, size_t clusters, uint64_t seed,
                            float sigma) {
  clusters = std::max<size_t>(clusters, 1);
  std::mt19937_64 rng(seed);
  NormalSource normal(rng);

  std::vector<float> centers(clusters * d);
  for (float& c : centers) c = static_cast<float>(2.0 * uniform01(rng) - 1.0);

  auto fill = [&](std::vector<float>& rows, size_t count) {
    rows.resize(count * d);
    for (size_t i = 0; i < count; ++i) {
      const size_t c = static_cast<size_t>(rng() % clusters);  // bias ~ clusters / 2^64
      const float* center = centers.data() + c * d;
      float* row = rows.data() + i * d;
      for (size_t j = 0; j < d; ++j) {
        row[j] = center[j] + sigma * static_cast<float>(normal.next());
      }
    }
  };

  Dataset ds;
  fill(ds.base, n);
  fill(ds.queries, nq);
  ds.n = n;
  ds.nq = nq;
  ds.d = d;
  ds.metric = Metric::kL2;
  char sigma_buf[32];
  std::snprintf(sigma_buf, sizeof(sigma_buf), "%g", static_cast<double>(sigma));
  ds.name = "synthetic-c" + std::to_string(clusters) + "-s" + sigma_buf + "-seed" +
            std::to_string(seed);
  return ds;
}

void truncate_dataset(Dataset& ds, size_t max_base, size_t max_queries) {
  bool cut = false;
  if (max_base != 0 && max_base < ds.n) {
    ds.n = max_base;
    ds.base.resize(ds.n * ds.d);
    ds.base.shrink_to_fit();
    cut = true;
  }
  if (max_queries != 0 && max_queries < ds.nq) {
    ds.nq = max_queries;
    ds.queries.resize(ds.nq * ds.d);
    ds.queries.shrink_to_fit();
    cut = true;
  }
  if (cut) ds.name += "-first" + std::to_string(ds.n) + "x" + std::to_string(ds.nq);
}

uint64_t dataset_checksum(const Dataset& ds) {
  auto crc_of = [](const std::vector<float>& v) {
    uLong crc = crc32(0L, Z_NULL, 0);
    const auto* p = reinterpret_cast<const Bytef*>(v.data());
    size_t left = v.size() * sizeof(float);
    while (left > 0) {  // crc32 takes a uInt length
      const uInt chunk = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
      crc = crc32(crc, p, chunk);
      p += chunk;
      left -= chunk;
    }
    return static_cast<uint64_t>(crc);
  };
  const uint64_t shape = (uint64_t{ds.n} * 1000003u + ds.nq) * 1000003u + ds.d;
  return ((crc_of(ds.base) << 32) | crc_of(ds.queries)) ^ (shape * 0x9E3779B97F4A7C15ull);
}

}  // namespace vecstream::bench
