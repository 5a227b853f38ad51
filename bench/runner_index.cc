// AnnRunner over any of Vecstream's quantized and partitioned Index kinds (IVF-Flat, IVF-SQ8,
// IVF-PQ, IVF-PQ fast scan + rerank, SQ8-flat, RP-forest): one generic runner, a factory per kind
// that creates the index, and a knob setter per kind that turns a sweep point into SearchParams.
//
// build() trains explicitly (timed apart: train_seconds()) and then add_batch()es every row, so
// the training target is measured on its own. Kinds are built on `threads` workers;
// searches go through Index::search on the calling thread, as the HNSW runner's do. Compiled like
// the shipped binary (baseline x86-64; SIMD through runtime dispatch).
#include <algorithm>
#include <chrono>
#include <functional>
#include <numeric>
#include <span>
#include <vector>

#include "index/ivf_flat_index.h"
#include "index/ivf_pq_fast_scan_index.h"
#include "index/ivf_pq_index.h"
#include "index/ivf_sq8_index.h"
#include "index/rp_forest_index.h"
#include "index/sq8_flat_index.h"
#include "peers.h"

namespace vecstream::bench {
namespace {

using Clock = std::chrono::steady_clock;

/// What a kind contributes: how to create (and train) its index, and which knobs it reads.
struct KindOps {
  /// Creates the index for `d` dimensions with `threads` build workers.
  std::function<Result<std::unique_ptr<Index>>(size_t d, size_t threads)> create;
  /// Trains on n rows; null for kinds without training.
  std::function<Status(Index&, const float* data, size_t n)> train;
  /// Sweep point -> SearchParams.
  std::function<void(const SearchKnobs&, SearchParams&)> set_knobs;
  /// Bytes a query scans per vector, for a dimension d.
  std::function<size_t(size_t d)> code_bytes;
};

IvfParams ivf_params(const QuantParams& q, size_t threads) {
  IvfParams p;
  p.nlist = q.nlist;
  p.kmeans_iterations = q.kmeans_iterations;
  p.seed = q.seed;
  p.threads = threads;
  return p;
}

void set_nprobe(const SearchKnobs& k, SearchParams& sp) { sp.nprobe = k.nprobe; }

template <class T>
Result<std::unique_ptr<Index>> upcast(Result<std::unique_ptr<T>> r) {
  if (!r) return r.status();
  return std::unique_ptr<Index>(std::move(*r));
}

template <class T>
std::function<Status(Index&, const float*, size_t)> trainer(size_t d) {
  return [d](Index& index, const float* data, size_t n) {
    return static_cast<T&>(index).train(std::span<const float>(data, n * d), n);
  };
}

KindOps ops_for(IndexKind kind, const QuantParams& q, size_t d) {
  KindOps ops;
  switch (kind) {
    case IndexKind::kIvfFlat:
      ops.create = [q](size_t dim, size_t threads) {
        return upcast(IvfFlatIndex::create(dim, Metric::kL2, ivf_params(q, threads)));
      };
      ops.train = trainer<IvfFlatIndex>(d);
      ops.set_knobs = set_nprobe;
      ops.code_bytes = [](size_t dim) { return dim * sizeof(float); };
      break;
    case IndexKind::kIvfSq8:
      ops.create = [q](size_t dim, size_t threads) {
        IvfSq8Params p;
        p.ivf = ivf_params(q, threads);
        return upcast(IvfSq8Index::create(dim, Metric::kL2, p));
      };
      ops.train = trainer<IvfSq8Index>(d);
      ops.set_knobs = set_nprobe;
      ops.code_bytes = [](size_t dim) { return dim; };
      break;
    case IndexKind::kIvfPq:
      ops.create = [q](size_t dim, size_t threads) {
        IvfPqParams p;
        p.ivf = ivf_params(q, threads);
        p.m = q.pq_m;
        return upcast(IvfPqIndex::create(dim, Metric::kL2, p));
      };
      ops.train = trainer<IvfPqIndex>(d);
      ops.set_knobs = set_nprobe;
      ops.code_bytes = [m = q.pq_m](size_t) { return m; };
      break;
    case IndexKind::kIvfPqFastScan:
      ops.create = [q](size_t dim, size_t threads) {
        IvfPqFastScanParams p;
        p.ivf = ivf_params(q, threads);
        p.m = q.pq_m;
        p.rerank = true;
        return upcast(IvfPqFastScanIndex::create(dim, Metric::kL2, p));
      };
      ops.train = trainer<IvfPqFastScanIndex>(d);
      ops.set_knobs = [](const SearchKnobs& k, SearchParams& sp) {
        sp.nprobe = k.nprobe;
        sp.rerank_factor = k.rerank_factor;
      };
      ops.code_bytes = [m = q.pq_m](size_t) { return (m + 1) / 2; };
      break;
    case IndexKind::kRpForest:
      ops.create = [q](size_t dim, size_t threads) {
        RpForestParams p;
        p.n_trees = q.n_trees;
        p.seed = q.seed;
        p.threads = threads;
        return upcast(RpForestIndex::create(dim, Metric::kL2, p));
      };
      ops.set_knobs = [](const SearchKnobs& k, SearchParams& sp) { sp.search_k = k.search_k; };
      ops.code_bytes = [](size_t dim) { return dim * sizeof(float); };
      break;
    case IndexKind::kSq8Flat:
      ops.create = [q](size_t dim, size_t threads) {
        Sq8FlatParams p;
        p.seed = q.seed;
        p.threads = threads;
        return upcast(Sq8FlatIndex::create(dim, Metric::kL2, p));
      };
      ops.train = trainer<Sq8FlatIndex>(d);
      ops.set_knobs = [](const SearchKnobs&, SearchParams&) {};
      ops.code_bytes = [](size_t dim) { return dim; };
      break;
  }
  return ops;
}

class IndexRunner final : public AnnRunner {
 public:
  IndexRunner(IndexKind kind, const QuantParams& q) : kind_(kind), quant_(q) {}

  std::string name() const override { return "vecstream"; }

  std::string describe() const override {
    return (index_ ? index_->describe() : std::string(index_kind_name(kind_))) +
           ", baseline x86-64 + runtime SIMD dispatch";
  }

  Status build(const float* data, size_t n, size_t d, size_t threads) override {
    ops_ = ops_for(kind_, quant_, d);
    auto index = ops_.create(d, threads);
    if (!index) return index.status();
    index_ = std::move(*index);
    dim_ = d;
    if (ops_.train) {
      const auto t0 = Clock::now();
      VS_RETURN_IF_ERROR(ops_.train(*index_, data, n));
      train_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    std::vector<Id> ids(n);
    std::iota(ids.begin(), ids.end(), Id{0});
    return index_->add_batch(ids, std::span<const float>(data, n * d));
  }

  void set_knobs(const SearchKnobs& k) override {
    params_ = SearchParams{};
    ops_.set_knobs(k, params_);
  }

  Status search(const float* query, size_t k, Id* ids) override {
    if (scratch_.size() < k) scratch_.resize(k);
    size_t found = 0;
    VS_RETURN_IF_ERROR(index_->search(std::span<const float>(query, dim_), k, params_,
                                      std::span<Neighbor>(scratch_.data(), k), &found));
    for (size_t i = 0; i < found; ++i) ids[i] = scratch_[i].id;
    for (size_t i = found; i < k; ++i) ids[i] = kNoId;
    return Status::ok();
  }

  size_t memory_bytes() const override { return index_ ? index_->memory_bytes() : 0; }
  std::optional<double> train_seconds() const override { return train_seconds_; }
  size_t code_bytes() const override { return ops_.code_bytes ? ops_.code_bytes(dim_) : 0; }

 private:
  IndexKind kind_;
  QuantParams quant_;
  KindOps ops_;
  std::unique_ptr<Index> index_;
  size_t dim_ = 0;
  SearchParams params_;
  std::optional<double> train_seconds_;
  std::vector<Neighbor> scratch_;
};

}  // namespace

const char* index_kind_name(IndexKind kind) {
  switch (kind) {
    case IndexKind::kIvfFlat: return "ivf_flat";
    case IndexKind::kIvfSq8: return "ivf_sq8";
    case IndexKind::kIvfPq: return "ivf_pq";
    case IndexKind::kIvfPqFastScan: return "ivf_pq_fs";
    case IndexKind::kRpForest: return "rp_forest";
    case IndexKind::kSq8Flat: return "sq8_flat";
  }
  return "?";
}

std::unique_ptr<AnnRunner> make_vecstream_index_runner(IndexKind kind, const QuantParams& params) {
  return std::make_unique<IndexRunner>(kind, params);
}

}  // namespace vecstream::bench
