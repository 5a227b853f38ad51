// Sq8FlatIndex: training, code maintenance and the blocked scan (design in the header).
//
// File body (kind kSq8Flat, version 1), after index_file.h's header:
//   u64 dim | u32 metric | u64 min_train_rows | u64 max_train_rows | u64 seed | u8 trained |
//   [trained: ScalarQuantizer (scalar_quantizer.h) | InvertedLists<uint8_t> with one list]
#include "index/sq8_flat_index.h"

#include <algorithm>
#include <mutex>

#include "core/distance.h"
#include "core/thread_pool.h"
#include "core/top_k.h"
#include "index/index_file.h"
#include "index/training_sample.h"

namespace vecstream {

namespace {
constexpr uint32_t kSq8FlatVersion = 1;
constexpr size_t kMaxDim = size_t{1} << 16;
constexpr size_t kScanBlock = 1024;

struct Sq8SearchScratch {
  std::vector<float> query, dists;
  std::vector<uint8_t> code;
  ScalarQuantizer::QueryScratch prepared;
  TopK<Id> heap;
};

Sq8SearchScratch& search_scratch() {
  thread_local Sq8SearchScratch s;
  return s;
}

Status check_params(size_t dim, const Sq8FlatParams& p) {
  if (dim == 0 || dim > kMaxDim) return Status::invalid_argument("dimension must be in [1, 65536]");
  if (p.min_train_rows == 0) return Status::invalid_argument("min_train_rows must be at least 1");
  if (!(p.sq.clip_quantile >= 0.0 && p.sq.clip_quantile < 0.5)) {
    return Status::invalid_argument("sq8: clip_quantile must be in [0, 0.5)");
  }
  if (!(p.sq.margin >= 0.0f)) return Status::invalid_argument("sq8: margin must be >= 0");
  return Status::ok();
}

}  // namespace

Sq8FlatIndex::Sq8FlatIndex(size_t dim, Metric metric, const Sq8FlatParams& params)
    : dim_(dim),
      metric_(metric),
      params_(params),
      pool_(std::make_unique<ThreadPool>(params.threads)),
      codes_(1, dim) {}

Sq8FlatIndex::~Sq8FlatIndex() = default;

Result<std::unique_ptr<Sq8FlatIndex>> Sq8FlatIndex::create(size_t dim, Metric metric,
                                                           const Sq8FlatParams& params) {
  VS_RETURN_IF_ERROR(check_params(dim, params));
  return std::unique_ptr<Sq8FlatIndex>(new Sq8FlatIndex(dim, metric, params));
}

size_t Sq8FlatIndex::size() const {
  std::shared_lock lock(mu_);
  return codes_.size();
}

bool Sq8FlatIndex::is_trained() const {
  std::shared_lock lock(mu_);
  return sq_.has_value();
}

const ScalarQuantizer* Sq8FlatIndex::quantizer() const {
  std::shared_lock lock(mu_);
  return sq_ ? &*sq_ : nullptr;
}

bool Sq8FlatIndex::contains(Id id) const {
  std::shared_lock lock(mu_);
  return codes_.contains(id);
}

std::string Sq8FlatIndex::describe() const {
  return std::string("sq8_flat(") + (params_.sq.uniform ? "uniform" : "per_dim") + ")";
}

// Rows are validated (and normalised for cosine). k-means-free, but still outside the lock.
Status Sq8FlatIndex::train_unlocked(std::span<const float> data, size_t n) {
  std::vector<float> buffer;
  size_t rows = 0;
  auto sample = internal::training_sample(data, n, dim_, params_.max_train_rows, params_.seed,
                                          buffer, &rows);
  auto sq = ScalarQuantizer::train(sample, rows, dim_, params_.sq);
  if (!sq.is_ok()) return sq.status();
  std::unique_lock lock(mu_);
  if (!sq_) sq_.emplace(std::move(*sq));
  return Status::ok();
}

Status Sq8FlatIndex::train(std::span<const float> data, size_t n) {
  if (n == 0 || data.size() != n * dim_) {
    return Status::invalid_argument("training data is not n >= 1 rows of dimension " +
                                    std::to_string(dim_));
  }
  for (size_t i = 0; i < n; ++i) {
    Status s = check_vector(data.subspan(i * dim_, dim_));
    if (!s.is_ok()) return Status(s.code(), "row " + std::to_string(i) + ": " + s.message());
  }
  if (is_trained()) return Status::failed_precondition("index is already trained");
  if (!metric_normalizes(metric_)) return train_unlocked(data, n);
  std::vector<float> normalized(data.begin(), data.end());
  for (size_t i = 0; i < n; ++i) normalize_l2(normalized.data() + i * dim_, dim_);
  return train_unlocked(normalized, n);
}

Status Sq8FlatIndex::add(Id id, std::span<const float> vector) {
  VS_RETURN_IF_ERROR(check_vector(vector));
  Sq8SearchScratch& s = search_scratch();
  s.query.assign(vector.begin(), vector.end());
  if (metric_normalizes(metric_)) normalize_l2(s.query.data(), dim_);
  s.code.resize(dim_);
  std::unique_lock lock(mu_);
  if (!sq_) return Status::failed_precondition("sq8_flat: train() (or a large enough add_batch) first");
  if (!codes_.contains(id) && codes_.size() >= UINT32_MAX) return Status::out_of_range("index is full");
  sq_->encode(s.query.data(), s.code.data());
  codes_.upsert(id, 0, s.code.data());
  return Status::ok();
}

Status Sq8FlatIndex::add_batch(std::span<const Id> ids, std::span<const float> vectors) {
  VS_RETURN_IF_ERROR(check_batch(ids, vectors));
  const size_t n = ids.size();
  if (n == 0) return Status::ok();
  std::vector<float> normalized;
  if (metric_normalizes(metric_)) {
    normalized.assign(vectors.begin(), vectors.end());
    for (size_t i = 0; i < n; ++i) normalize_l2(normalized.data() + i * dim_, dim_);
    vectors = normalized;
  }
  if (!is_trained()) {
    if (n < params_.min_train_rows) {
      return Status::failed_precondition(
          "sq8_flat is untrained: call train() or add a first batch of at least " +
          std::to_string(params_.min_train_rows) + " rows (min_train_rows), got " + std::to_string(n));
    }
    VS_RETURN_IF_ERROR(train_unlocked(vectors, n));
  }
  const ScalarQuantizer* sq = quantizer();  // immutable once set
  std::vector<uint8_t> codes(n * dim_);
  pool_->parallel_for(n, 1024, [&](size_t i0, size_t i1, size_t) {
    for (size_t i = i0; i < i1; ++i) sq->encode(vectors.data() + i * dim_, codes.data() + i * dim_);
  });
  std::unique_lock lock(mu_);
  if (codes_.size() + n > UINT32_MAX) return Status::out_of_range("index is full");
  codes_.reserve_ids(codes_.size() + n);
  ProgressReporter progress(params_.progress, "add", n, params_.progress_every);
  for (size_t i = 0; i < n; ++i) {
    codes_.upsert(ids[i], 0, codes.data() + i * dim_);
    progress.update(i + 1);
  }
  return Status::ok();
}

Status Sq8FlatIndex::remove(Id id) {
  std::unique_lock lock(mu_);
  if (!codes_.remove(id)) return Status::not_found("id " + std::to_string(id) + " not in index");
  return Status::ok();
}

// Caller holds the shared lock; the query is valid and the index trained.
void Sq8FlatIndex::search_one(const float* query, size_t k, const IdFilter* filter, Neighbor* out,
                              size_t* found) const {
  Sq8SearchScratch& s = search_scratch();
  const float* q = query;
  if (metric_normalizes(metric_)) {
    s.query.assign(query, query + dim_);
    normalize_l2(s.query.data(), dim_);
    q = s.query.data();
  }
  const ScalarQuantizer::Query prepared = sq_->prepare(q, metric_, s.prepared);
  s.dists.resize(kScanBlock);
  s.heap.reset(k);
  const size_t n = codes_.list_size(0);
  const Id* ids = codes_.ids(0);
  const uint8_t* codes = codes_.codes(0);
  for (size_t r0 = 0; r0 < n; r0 += kScanBlock) {
    const size_t rows = std::min(kScanBlock, n - r0);
    sq_->distances(prepared, codes + r0 * dim_, rows, s.dists.data());
    for (size_t j = 0; j < rows; ++j) {
      if (s.dists[j] >= s.heap.worst()) continue;
      if (filter != nullptr && !filter->allowed(ids[r0 + j])) continue;
      s.heap.push(s.dists[j], ids[r0 + j]);
    }
  }
  const auto& sorted = s.heap.sorted();
  for (size_t j = 0; j < sorted.size(); ++j) out[j] = Neighbor{sorted[j].id, sorted[j].distance};
  *found = sorted.size();
}

Status Sq8FlatIndex::search(std::span<const float> query, size_t k, const SearchParams& params,
                            std::span<Neighbor> out, size_t* found) const {
  VS_RETURN_IF_ERROR(check_query(query, k, out.size()));
  std::shared_lock lock(mu_);
  if (!sq_) return Status::failed_precondition("sq8_flat: not trained");
  search_one(query.data(), k, params.filter, out.data(), found);
  return Status::ok();
}

Status Sq8FlatIndex::search_batch(std::span<const float> queries, size_t k,
                                  const SearchParams& params, std::span<Neighbor> out,
                                  std::span<size_t> found) const {
  size_t nq = 0;
  VS_RETURN_IF_ERROR(check_query_batch(queries, k, out.size(), found.size(), &nq));
  std::shared_lock lock(mu_);
  if (!sq_) return Status::failed_precondition("sq8_flat: not trained");
  pool_->parallel_for(nq, 1, [&](size_t q0, size_t q1, size_t) {
    for (size_t q = q0; q < q1; ++q) {
      search_one(queries.data() + q * dim_, k, params.filter, out.data() + q * k, &found[q]);
    }
  });
  return Status::ok();
}

Status Sq8FlatIndex::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  auto w = IndexFileWriter::open(path, IndexKind::kSq8Flat, kSq8FlatVersion);
  if (!w.is_ok()) return w.status();
  IndexFileWriter& out = **w;
  out.put<uint64_t>(dim_);
  out.put<uint32_t>(static_cast<uint32_t>(metric_));
  out.put<uint64_t>(params_.min_train_rows);
  out.put<uint64_t>(params_.max_train_rows);
  out.put<uint64_t>(params_.seed);
  out.put<uint8_t>(sq_ ? 1 : 0);
  if (sq_) {
    sq_->save(out);
    codes_.save(out);
  }
  return out.commit();
}

Result<std::unique_ptr<Sq8FlatIndex>> Sq8FlatIndex::load(const std::string& path, size_t threads) {
  auto r = IndexFileReader::open(path, IndexKind::kSq8Flat, kSq8FlatVersion);
  if (!r.is_ok()) return r.status();
  IndexFileReader& in = **r;
  uint64_t dim = 0, min_rows = 0, max_rows = 0, seed = 0;
  uint32_t metric = 0;
  uint8_t trained = 0;
  VS_RETURN_IF_ERROR(in.get(&dim));
  VS_RETURN_IF_ERROR(in.get(&metric));
  VS_RETURN_IF_ERROR(in.get(&min_rows));
  VS_RETURN_IF_ERROR(in.get(&max_rows));
  VS_RETURN_IF_ERROR(in.get(&seed));
  VS_RETURN_IF_ERROR(in.get(&trained));
  if (metric > static_cast<uint32_t>(Metric::kL1) || trained > 1) return in.truncated("header");
  Sq8FlatParams p;
  p.min_train_rows = min_rows;
  p.max_train_rows = max_rows;
  p.seed = seed;
  p.threads = threads;
  if (!check_params(dim, p).is_ok()) return in.truncated("parameters");
  std::unique_ptr<Sq8FlatIndex> idx(new Sq8FlatIndex(dim, static_cast<Metric>(metric), p));
  if (trained) {
    auto sq = ScalarQuantizer::load(in);
    if (!sq.is_ok()) return sq.status();
    if (sq->dim() != dim) return in.truncated("scalar quantizer (dimension)");
    idx->params_.sq = sq->params();
    idx->sq_.emplace(std::move(*sq));
    VS_RETURN_IF_ERROR(idx->codes_.load(in, 1, dim, [](const uint8_t*) { return true; }));
  }
  if (in.remaining() != 0) return in.truncated("trailing bytes");
  return idx;
}

size_t Sq8FlatIndex::memory_bytes() const {
  std::shared_lock lock(mu_);
  return sizeof(*this) + codes_.memory_bytes() + (sq_ ? sq_->memory_bytes() : 0);
}

}  // namespace vecstream
