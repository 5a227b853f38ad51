// AnnRunner for Vecstream's own HnswIndex: add_batch to build, search() with SearchParams{ef}.
// Compiled like the shipped binary (baseline x86-64; SIMD through runtime dispatch).
#include <algorithm>
#include <numeric>
#include <span>
#include <vector>

#include "index/hnsw_index.h"
#include "peers.h"

namespace vecstream::bench {
namespace {

class VecstreamRunner final : public AnnRunner {
 public:
  explicit VecstreamRunner(const AnnParams& p) : params_(p) {}

  std::string name() const override { return "vecstream"; }

  std::string describe() const override {
    std::string s = index_ ? index_->describe() : "hnsw";
    s += params_.quantized ? ", quantized traversal (8-bit walk, exact rerank)" : ", float walk";
    return s + ", baseline x86-64 + runtime SIMD dispatch";
  }

  Status build(const float* data, size_t n, size_t d, size_t threads) override {
    HnswParams hp;
    hp.M = params_.M;
    hp.ef_construction = params_.ef_construction;
    hp.seed = params_.seed;
    hp.threads = threads;
    hp.quantized_traversal = params_.quantized;
    auto index = HnswIndex::create(d, Metric::kL2, hp);
    if (!index) return index.status();
    index_ = std::move(*index);
    dim_ = d;
    std::vector<Id> ids(n);
    std::iota(ids.begin(), ids.end(), Id{0});
    return index_->add_batch(ids, std::span<const float>(data, n * d));
  }

  void set_knobs(const SearchKnobs& k) override { ef_ = k.ef; }

  Status search(const float* query, size_t k, Id* ids) override {
    if (scratch_.size() < k) scratch_.resize(k);
    SearchParams sp;
    sp.ef = std::max(ef_, k);  // HnswIndex rejects ef < k; the peers clamp the same way
    size_t found = 0;
    VS_RETURN_IF_ERROR(index_->search(std::span<const float>(query, dim_), k, sp,
                                      std::span<Neighbor>(scratch_.data(), k), &found));
    for (size_t i = 0; i < found; ++i) ids[i] = scratch_[i].id;
    for (size_t i = found; i < k; ++i) ids[i] = kNoId;
    return Status::ok();
  }

  size_t memory_bytes() const override { return index_ ? index_->memory_bytes() : 0; }

 private:
  AnnParams params_;
  std::unique_ptr<HnswIndex> index_;
  size_t dim_ = 0;
  size_t ef_ = 64;
  std::vector<Neighbor> scratch_;
};

}  // namespace

std::unique_ptr<AnnRunner> make_vecstream_runner(const AnnParams& params) {
  return std::make_unique<VecstreamRunner>(params);
}

}  // namespace vecstream::bench
