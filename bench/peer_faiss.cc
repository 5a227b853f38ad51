// AnnRunner for FAISS (Debian libfaiss-dev 1.7.3): faiss::IndexHNSWFlat.
//
// Debian builds FAISS for generic x86-64 (no AVX2 kernels), so its distance loop is what the
// compiler makes of SSE2; the report says so. Build uses OpenMP on `threads` workers; searches
// then run with OpenMP set to one thread, because IndexHNSW::search opens a parallel region per
// call and each thread of it allocates a visited table of ntotal bytes.
//
// The beam width is set on the index (hnsw.efSearch), not passed as SearchParametersHNSW: in
// 1.7.3, IndexHNSW::search sizes its candidate queue from the member hnsw.efSearch and reads
// params->efSearch only as a step limit, so with the default member (16) a per-query efSearch of
// 64 or 256 returns the same results as 16 (measured: recall stuck at ef=16's value).
#include <faiss/IndexFlatCodes.h>
#include <faiss/IndexHNSW.h>
#include <omp.h>

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "peers.h"

namespace vecstream::bench {
namespace {

class FaissRunner final : public AnnRunner {
 public:
  explicit FaissRunner(const AnnParams& p) : params_(p) {}

  std::string name() const override { return "faiss"; }

  std::string describe() const override {
    return "FAISS " + std::to_string(FAISS_VERSION_MAJOR) + "." +
           std::to_string(FAISS_VERSION_MINOR) + "." + std::to_string(FAISS_VERSION_PATCH) +
           " IndexHNSWFlat, Debian generic build (no AVX2 kernels), "
           "ef via hnsw.efSearch";
  }

  Status build(const float* data, size_t n, size_t d, size_t threads) override {
    try {
      index_ = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(d),
                                                      static_cast<int>(params_.M));
      index_->hnsw.efConstruction = static_cast<int>(params_.ef_construction);
      index_->hnsw.rng = faiss::RandomGenerator(static_cast<int64_t>(params_.seed));
      omp_set_num_threads(static_cast<int>(std::max<size_t>(threads, 1)));
      index_->add(static_cast<faiss::Index::idx_t>(n), data);
      omp_set_num_threads(1);  // searches are single-threaded (see the banner)
    } catch (const std::exception& e) {
      omp_set_num_threads(1);
      return Status::internal(std::string("faiss: ") + e.what());
    }
    return Status::ok();
  }

  void set_knobs(const SearchKnobs& k) override {
    index_->hnsw.efSearch = static_cast<int>(k.ef);
  }

  Status search(const float* query, size_t k, Id* ids) override {
    if (labels_.size() < k) {
      labels_.resize(k);
      distances_.resize(k);
    }
    try {  // IndexHNSW searches with max(efSearch, k)
      index_->search(1, query, static_cast<faiss::Index::idx_t>(k), distances_.data(),
                     labels_.data());
    } catch (const std::exception& e) {
      return Status::internal(std::string("faiss: ") + e.what());
    }
    for (size_t i = 0; i < k; ++i) ids[i] = labels_[i] < 0 ? kNoId : static_cast<Id>(labels_[i]);
    return Status::ok();
  }

  /// Flat vector storage, the neighbour array of all levels, the per-node offsets and levels.
  size_t memory_bytes() const override {
    if (!index_) return 0;
    size_t bytes = 0;
    if (const auto* flat = dynamic_cast<const faiss::IndexFlatCodes*>(index_->storage)) {
      bytes += flat->codes.size();
    }
    const auto& h = index_->hnsw;
    bytes += h.neighbors.size() * sizeof(faiss::HNSW::storage_idx_t);
    bytes += h.offsets.size() * sizeof(size_t);
    bytes += h.levels.size() * sizeof(int);
    return bytes;
  }

 private:
  AnnParams params_;
  std::unique_ptr<faiss::IndexHNSWFlat> index_;
  std::vector<faiss::Index::idx_t> labels_;
  std::vector<float> distances_;
};

}  // namespace

std::unique_ptr<AnnRunner> make_faiss_runner(const AnnParams& params) {
  return std::make_unique<FaissRunner>(params);
}

}  // namespace vecstream::bench
