// Metric: how two vectors are compared.
//
// Every index orders by a *distance* where smaller is closer:
//   kL2           squared Euclidean distance
//   kInnerProduct -<a, b>            (maximum inner product search)
//   kCosine       1 - <a, b> on L2-normalised vectors (indexes normalise on insert and query)
//   kL1           sum |a_i - b_i|
// `score_from_distance` turns it back into what users expect (similarity for IP/cosine).
#pragma once

#include <optional>
#include <string_view>

namespace vecstream {

enum class Metric : int { kL2 = 0, kInnerProduct = 1, kCosine = 2, kL1 = 3 };

std::string_view metric_name(Metric m);
std::optional<Metric> parse_metric(std::string_view name);

/// True for metrics whose vectors are normalised at insert and query time.
constexpr bool metric_normalizes(Metric m) { return m == Metric::kCosine; }

/// User-facing score: L2/L1 distance as is, inner product and cosine as similarity.
inline float score_from_distance(Metric m, float distance) {
  switch (m) {
    case Metric::kInnerProduct: return -distance;
    case Metric::kCosine: return 1.0f - distance;
    default: return distance;
  }
}

}  // namespace vecstream
