// AnnRunners for FAISS's quantized and partitioned indexes (Debian libfaiss-dev 1.7.3), the peers
// of runner_index.cc's kinds:
//
//   ivf_flat   IndexIVFFlat                       ivf_sq8    IndexIVFScalarQuantizer(QT_8bit)
//   ivf_pq     IndexIVFPQ (M x 8 bits)            sq8_flat   IndexScalarQuantizer(QT_8bit)
//   ivf_pq_fs  IndexRefineFlat over IndexIVFPQFastScan (M x 4 bits, bbs 32), k_factor = rerank
//
// All with an IndexFlatL2 coarse quantizer of the same nlist, cp.niter = the k-means iterations
// Vecstream uses and residual encoding (FAISS's default, and Vecstream's). FAISS has no
// random-projection forest and Annoy is not packaged by Debian, so rp_forest has no peer.
//
// Debian builds FAISS for generic x86-64: no AVX2 kernels, and the fast-scan kernels run on its
// emulated 256-bit SIMD. Training and adding use OpenMP and OpenBLAS on `threads` workers (the
// benchmark otherwise holds OpenBLAS to one thread, see core/distance_matrix.cc); searches then run
// with both set to one thread. nprobe and k_factor are set on the index members, as peer_faiss.cc
// does for efSearch.
#include <cblas.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexIVFPQFastScan.h>
#include <faiss/IndexRefine.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/invlists/BlockInvertedLists.h>
#include <faiss/invlists/InvertedLists.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include "peers.h"

namespace vecstream::bench {
namespace {

using Clock = std::chrono::steady_clock;
using faiss_idx = faiss::Index::idx_t;

/// Sets OpenMP and OpenBLAS to `threads` for its lifetime, then back to one thread.
class ParallelSection {
 public:
  explicit ParallelSection(size_t threads) {
    const int t = static_cast<int>(std::max<size_t>(threads, 1));
    omp_set_num_threads(t);
    openblas_set_num_threads(t);
  }
  ~ParallelSection() {
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
  }
  ParallelSection(const ParallelSection&) = delete;
  ParallelSection& operator=(const ParallelSection&) = delete;
};

/// Bytes of the codes and ids in an IVF index's lists (array or block layout).
size_t inverted_list_bytes(const faiss::InvertedLists* il) {
  size_t bytes = 0;
  if (const auto* a = dynamic_cast<const faiss::ArrayInvertedLists*>(il)) {
    for (const auto& c : a->codes) bytes += c.size();
    for (const auto& i : a->ids) bytes += i.size() * sizeof(faiss_idx);
  } else if (const auto* b = dynamic_cast<const faiss::BlockInvertedLists*>(il)) {
    for (const auto& c : b->codes) bytes += c.nbytes();
    for (const auto& i : b->ids) bytes += i.size() * sizeof(faiss_idx);
  }
  return bytes;
}

std::string faiss_version() {
  return "FAISS " + std::to_string(FAISS_VERSION_MAJOR) + "." +
         std::to_string(FAISS_VERSION_MINOR) + "." + std::to_string(FAISS_VERSION_PATCH);
}

class FaissIndexRunner final : public AnnRunner {
 public:
  FaissIndexRunner(IndexKind kind, const QuantParams& q) : kind_(kind), quant_(q) {}

  std::string name() const override { return "faiss"; }

  std::string describe() const override {
    std::string s = faiss_version() + " ";
    const std::string m = std::to_string(quant_.pq_m);
    const std::string nl = "nlist=" + std::to_string(quant_.nlist);
    switch (kind_) {
      case IndexKind::kIvfFlat: s += "IndexIVFFlat(" + nl + ")"; break;
      case IndexKind::kIvfSq8: s += "IndexIVFScalarQuantizer(" + nl + ",QT_8bit,residual)"; break;
      case IndexKind::kIvfPq: s += "IndexIVFPQ(" + nl + ",M=" + m + "x8)"; break;
      case IndexKind::kIvfPqFastScan:
        s += "IndexRefineFlat(IndexIVFPQFastScan(" + nl + ",M=" + m + "x4,bbs=32))";
        break;
      case IndexKind::kSq8Flat: s += "IndexScalarQuantizer(QT_8bit)"; break;
      case IndexKind::kRpForest: s += "(none)"; break;
    }
    return s + ", Debian generic build (no AVX2 kernels)";
  }

  Status build(const float* data, size_t n, size_t d, size_t threads) override {
    dim_ = d;
    try {
      ParallelSection parallel(threads);
      const int di = static_cast<int>(d);
      if (kind_ == IndexKind::kSq8Flat) {
        index_ = std::make_unique<faiss::IndexScalarQuantizer>(
            di, faiss::ScalarQuantizer::QT_8bit, faiss::METRIC_L2);
      } else {
        quantizer_ = std::make_unique<faiss::IndexFlatL2>(di);
        std::unique_ptr<faiss::IndexIVF> ivf;
        switch (kind_) {
          case IndexKind::kIvfFlat:
            ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer_.get(), d, quant_.nlist);
            break;
          case IndexKind::kIvfSq8:
            ivf = std::make_unique<faiss::IndexIVFScalarQuantizer>(
                quantizer_.get(), d, quant_.nlist, faiss::ScalarQuantizer::QT_8bit,
                faiss::METRIC_L2, /*encode_residual=*/true);
            break;
          case IndexKind::kIvfPq:
            ivf = std::make_unique<faiss::IndexIVFPQ>(quantizer_.get(), d, quant_.nlist,
                                                      quant_.pq_m, 8);
            break;
          case IndexKind::kIvfPqFastScan:
            ivf = std::make_unique<faiss::IndexIVFPQFastScan>(
                quantizer_.get(), d, quant_.nlist, quant_.pq_m, 4, faiss::METRIC_L2, 32);
            break;
          default:
            return Status::invalid_argument("faiss: no peer for this kind");
        }
        ivf->cp.niter = static_cast<int>(quant_.kmeans_iterations);
        ivf->cp.seed = static_cast<int>(quant_.seed);
        ivf_ = ivf.get();
        if (kind_ == IndexKind::kIvfPqFastScan) {
          base_ = std::move(ivf);
          auto refine = std::make_unique<faiss::IndexRefineFlat>(base_.get());
          refine_ = refine.get();
          index_ = std::move(refine);
        } else {
          index_ = std::move(ivf);
        }
      }
      const auto t0 = Clock::now();
      index_->train(static_cast<faiss_idx>(n), data);
      train_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
      index_->add(static_cast<faiss_idx>(n), data);
    } catch (const std::exception& e) {
      return Status::internal(std::string("faiss: ") + e.what());
    }
    return Status::ok();
  }

  void set_knobs(const SearchKnobs& k) override {
    if (ivf_ != nullptr && k.nprobe > 0) ivf_->nprobe = std::min(k.nprobe, quant_.nlist);
    if (refine_ != nullptr && k.rerank_factor >= 1.0f) refine_->k_factor = k.rerank_factor;
  }

  Status search(const float* query, size_t k, Id* ids) override {
    if (labels_.size() < k) {
      labels_.resize(k);
      distances_.resize(k);
    }
    try {
      index_->search(1, query, static_cast<faiss_idx>(k), distances_.data(), labels_.data());
    } catch (const std::exception& e) {
      return Status::internal(std::string("faiss: ") + e.what());
    }
    for (size_t i = 0; i < k; ++i) ids[i] = labels_[i] < 0 ? kNoId : static_cast<Id>(labels_[i]);
    return Status::ok();
  }

  /// Lists (codes + ids), coarse centroids, PQ codebooks and precomputed tables, refine vectors;
  /// SQ8-flat: its codes.
  size_t memory_bytes() const override {
    if (!index_) return 0;
    if (kind_ == IndexKind::kSq8Flat) {
      return static_cast<const faiss::IndexScalarQuantizer*>(index_.get())->codes.size();
    }
    size_t bytes = quantizer_->codes.size();
    if (ivf_ != nullptr) bytes += inverted_list_bytes(ivf_->invlists);
    if (const auto* pq = dynamic_cast<const faiss::IndexIVFPQ*>(ivf_)) {
      bytes += pq->pq.centroids.size() * sizeof(float);
      bytes += pq->precomputed_table.size() * sizeof(float);
    }
    if (const auto* fs = dynamic_cast<const faiss::IndexIVFPQFastScan*>(ivf_)) {
      bytes += fs->pq.centroids.size() * sizeof(float);
      bytes += fs->precomputed_table.size() * sizeof(float);
    }
    if (refine_ != nullptr) {
      if (const auto* flat = dynamic_cast<const faiss::IndexFlatCodes*>(refine_->refine_index)) {
        bytes += flat->codes.size();
      }
    }
    return bytes;
  }

  std::optional<double> train_seconds() const override { return train_seconds_; }

  size_t code_bytes() const override {
    switch (kind_) {
      case IndexKind::kIvfFlat: return dim_ * sizeof(float);
      case IndexKind::kIvfSq8:
      case IndexKind::kSq8Flat: return dim_;
      case IndexKind::kIvfPq: return quant_.pq_m;
      case IndexKind::kIvfPqFastScan: return (quant_.pq_m + 1) / 2;
      case IndexKind::kRpForest: return 0;
    }
    return 0;
  }

 private:
  IndexKind kind_;
  QuantParams quant_;
  size_t dim_ = 0;
  // Destroyed bottom-up: the refine wrapper before its base, the IVF index before its quantizer.
  std::unique_ptr<faiss::IndexFlatL2> quantizer_;
  std::unique_ptr<faiss::Index> base_;   // fast scan: the IVF index under the refine wrapper
  std::unique_ptr<faiss::Index> index_;  // what is searched
  faiss::IndexIVF* ivf_ = nullptr;       // the IVF index (in base_ or index_), for nprobe
  faiss::IndexRefine* refine_ = nullptr; // fast scan: the wrapper (index_), for k_factor
  std::optional<double> train_seconds_;
  std::vector<faiss_idx> labels_;
  std::vector<float> distances_;
};

}  // namespace

std::unique_ptr<AnnRunner> make_faiss_index_runner(IndexKind kind, const QuantParams& params) {
  if (kind == IndexKind::kRpForest) return nullptr;
  return std::make_unique<FaissIndexRunner>(kind, params);
}

}  // namespace vecstream::bench
