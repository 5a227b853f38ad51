// ScalarQuantizer: range training, encode/decode, and the query preparation that turns each metric
// into one of the SQ8 kernels (design and error bound in the header).
#include "index/scalar_quantizer.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "core/distance.h"
#include "index/index_file.h"
#include "index/sq8_kernels.h"

namespace vecstream {
namespace {

constexpr size_t kMaxDim = size_t{1} << 16;

// A range of width 0 (a constant dimension) still gets a positive step: every value then encodes
// to 0 and decodes exactly to vmin.
float step_of(float lo, float hi) {
  const float s = (hi - lo) / 255.0f;
  return s > 0 && std::isfinite(s) ? s : 1.0f;
}

}  // namespace

ScalarQuantizer::ScalarQuantizer(size_t dim, const ScalarQuantizerParams& params,
                                 std::vector<float> vmin, std::vector<float> step)
    : dim_(dim), params_(params), vmin_(std::move(vmin)), step_(std::move(step)), inv_step_(dim) {
  for (size_t j = 0; j < dim_; ++j) inv_step_[j] = 1.0f / step_[j];
}

Result<ScalarQuantizer> ScalarQuantizer::train(std::span<const float> data, size_t n, size_t dim,
                                               const ScalarQuantizerParams& params) {
  if (dim == 0 || dim > kMaxDim) return Status::invalid_argument("sq8: dimension must be in [1, 65536]");
  if (n == 0) return Status::invalid_argument("sq8: no training rows");
  if (data.size() / dim != n || data.size() % dim != 0) {
    return Status::invalid_argument("sq8: training data is not n * dim floats");
  }
  if (!(params.clip_quantile >= 0.0 && params.clip_quantile < 0.5)) {
    return Status::invalid_argument("sq8: clip_quantile must be in [0, 0.5)");
  }
  if (!(params.margin >= 0.0f) || !std::isfinite(params.margin)) {
    return Status::invalid_argument("sq8: margin must be finite and >= 0");
  }
  if (!all_finite(data.data(), data.size())) {
    return Status::invalid_argument("sq8: training data contains NaN or Inf");
  }
  std::vector<float> lo(dim), hi(dim);
  if (params.clip_quantile == 0.0) {
    std::copy(data.begin(), data.begin() + dim, lo.begin());
    std::copy(data.begin(), data.begin() + dim, hi.begin());
    for (size_t i = 1; i < n; ++i) {
      const float* row = data.data() + i * dim;
      for (size_t j = 0; j < dim; ++j) {
        lo[j] = std::min(lo[j], row[j]);
        hi[j] = std::max(hi[j], row[j]);
      }
    }
  } else {
    std::vector<float> column(n);
    const size_t lo_rank =
        static_cast<size_t>(std::floor(params.clip_quantile * static_cast<double>(n - 1)));
    const size_t hi_rank = n - 1 - lo_rank;
    for (size_t j = 0; j < dim; ++j) {
      for (size_t i = 0; i < n; ++i) column[i] = data[i * dim + j];
      std::nth_element(column.begin(), column.begin() + lo_rank, column.end());
      lo[j] = column[lo_rank];
      std::nth_element(column.begin(), column.begin() + hi_rank, column.end());
      hi[j] = column[hi_rank];
    }
  }
  if (params.uniform) {
    const float l = *std::min_element(lo.begin(), lo.end());
    const float h = *std::max_element(hi.begin(), hi.end());
    std::fill(lo.begin(), lo.end(), l);
    std::fill(hi.begin(), hi.end(), h);
  }
  std::vector<float> step(dim);
  for (size_t j = 0; j < dim; ++j) {
    const float widen = params.margin * (hi[j] - lo[j]);
    lo[j] -= widen;
    hi[j] += widen;
    step[j] = step_of(lo[j], hi[j]);
  }
  return ScalarQuantizer(dim, params, std::move(lo), std::move(step));
}

float ScalarQuantizer::max_l2_error() const {
  double s = 0;
  for (float v : step_) s += static_cast<double>(v) * v;
  return static_cast<float>(0.5 * std::sqrt(s));
}

void ScalarQuantizer::encode(const float* x, uint8_t* code) const {
  for (size_t j = 0; j < dim_; ++j) {
    float t = (x[j] - vmin_[j]) * inv_step_[j];
    t = t < 0.0f ? 0.0f : (t > 255.0f ? 255.0f : t);
    code[j] = static_cast<uint8_t>(t + 0.5f);
  }
}

void ScalarQuantizer::decode(const uint8_t* code, float* x) const {
  for (size_t j = 0; j < dim_; ++j) x[j] = vmin_[j] + static_cast<float>(code[j]) * step_[j];
}

ScalarQuantizer::Query ScalarQuantizer::prepare(const float* query, Metric metric,
                                                QueryScratch& s, const float* shift) const {
  Query q;
  q.metric = metric;
  const size_t d = dim_;
  if (metric == Metric::kInnerProduct || metric == Metric::kCosine) {
    // <query, vmin + c * step> = sum query*vmin + sum (query*step) * c
    s.w.resize(d);
    double base = 0;
    for (size_t j = 0; j < d; ++j) {
      s.w[j] = query[j] * step_[j];
      base += static_cast<double>(query[j]) * vmin_[j];
    }
    q.w = s.w.data();
    q.scale = -1.0f;
    q.offset = (metric == Metric::kCosine ? 1.0f : 0.0f) - static_cast<float>(base);
    return q;
  }
  s.q.resize(d);
  for (size_t j = 0; j < d; ++j) s.q[j] = shift != nullptr ? query[j] - shift[j] : query[j];
  if (params_.uniform) {
    // Symmetric: encode the (shifted) query and use the exact integer kernels.
    s.code.resize(d);
    encode(s.q.data(), s.code.data());
    q.integer = true;
    q.code = s.code.data();
    q.scale = metric == Metric::kL2 ? step_[0] * step_[0] : step_[0];
    return q;
  }
  // Asymmetric: the query in code units, weights step^2 (L2) or step (L1).
  s.w.resize(d);
  for (size_t j = 0; j < d; ++j) {
    s.q[j] = (s.q[j] - vmin_[j]) * inv_step_[j];
    s.w[j] = metric == Metric::kL2 ? step_[j] * step_[j] : step_[j];
  }
  q.q = s.q.data();
  q.w = s.w.data();
  return q;
}

void ScalarQuantizer::distances(const Query& q, const uint8_t* codes, size_t n, float* out) const {
  const size_t d = dim_;
  if (q.integer) {
    const DistanceKernels& k = kernels();
    auto raw = q.metric == Metric::kL2 ? k.l2sq_u8 : k.l1_u8;
    for (size_t i = 0; i < n; ++i) out[i] = q.scale * static_cast<float>(raw(q.code, codes + i * d, d));
    return;
  }
  const Sq8Kernels& k = sq8_kernels();
  switch (q.metric) {
    case Metric::kL2: k.l2_many(q.q, q.w, codes, n, d, d, out); break;
    case Metric::kL1: k.l1_many(q.q, q.w, codes, n, d, d, out); break;
    case Metric::kInnerProduct:
    case Metric::kCosine: k.dot_many(q.w, codes, n, d, d, out); break;
  }
  if (q.scale != 1.0f || q.offset != 0.0f) {
    for (size_t i = 0; i < n; ++i) out[i] = q.scale * out[i] + q.offset;
  }
}

float ScalarQuantizer::distance(const Query& q, const uint8_t* code) const {
  float out = 0;
  distances(q, code, 1, &out);
  return out;
}

void ScalarQuantizer::save(IndexFileWriter& w) const {
  w.put<uint64_t>(dim_);
  w.put<uint8_t>(params_.uniform ? 1 : 0);
  w.put<double>(params_.clip_quantile);
  w.put<float>(params_.margin);
  w.put_vector(vmin_);
  w.put_vector(step_);
}

Result<ScalarQuantizer> ScalarQuantizer::load(IndexFileReader& r) {
  uint64_t dim = 0;
  uint8_t uniform = 0;
  ScalarQuantizerParams p;
  VS_RETURN_IF_ERROR(r.get(&dim));
  VS_RETURN_IF_ERROR(r.get(&uniform));
  VS_RETURN_IF_ERROR(r.get(&p.clip_quantile));
  VS_RETURN_IF_ERROR(r.get(&p.margin));
  if (dim == 0 || dim > kMaxDim || uniform > 1 || !(p.clip_quantile >= 0 && p.clip_quantile < 0.5) ||
      !(p.margin >= 0) || !std::isfinite(p.margin)) {
    return r.truncated("scalar quantizer header");
  }
  p.uniform = uniform != 0;
  std::vector<float> vmin, step;
  VS_RETURN_IF_ERROR(r.get_vector(&vmin, dim));
  VS_RETURN_IF_ERROR(r.get_vector(&step, dim));
  if (vmin.size() != dim || step.size() != dim || !all_finite(vmin.data(), dim) ||
      !all_finite(step.data(), dim)) {
    return r.truncated("scalar quantizer ranges");
  }
  for (float s : step) {
    if (!(s > 0.0f) || !std::isfinite(1.0f / s)) return r.truncated("scalar quantizer step");
  }
  return ScalarQuantizer(dim, p, std::move(vmin), std::move(step));
}

}  // namespace vecstream
