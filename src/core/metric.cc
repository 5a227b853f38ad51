#include "core/metric.h"

namespace vecstream {

std::string_view metric_name(Metric m) {
  switch (m) {
    case Metric::kL2: return "l2";
    case Metric::kInnerProduct: return "ip";
    case Metric::kCosine: return "cosine";
    case Metric::kL1: return "l1";
  }
  return "unknown";
}

std::optional<Metric> parse_metric(std::string_view name) {
  if (name == "l2" || name == "L2" || name == "euclidean") return Metric::kL2;
  if (name == "ip" || name == "IP" || name == "inner_product" || name == "dot") return Metric::kInnerProduct;
  if (name == "cosine" || name == "angular") return Metric::kCosine;
  if (name == "l1" || name == "L1" || name == "manhattan") return Metric::kL1;
  return std::nullopt;
}

}  // namespace vecstream
