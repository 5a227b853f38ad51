// AnnRunner for hnswlib (Debian libhnswlib-dev 0.6.2), the reference HNSW implementation.
//
// This translation unit alone is compiled with -O3 -march=native (bench/CMakeLists.txt), so
// hnswlib runs its AVX/AVX-512 distance kernels: the peer at its best. hnswlib.h defines
// non-inline functions, so it must be included in this one file only.
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "peers.h"

namespace vecstream::bench {
namespace {

class HnswlibRunner final : public AnnRunner {
 public:
  explicit HnswlibRunner(const AnnParams& p) : params_(p) {}

  std::string name() const override { return "hnswlib"; }

  std::string describe() const override {
    std::string simd = "SSE";
#if defined(__AVX512F__)
    simd = "AVX-512";
#elif defined(__AVX__)
    simd = "AVX";
#endif
    return "hnswlib 0.6.2 HierarchicalNSW<float>/L2Space, -O3 -march=native (" + simd +
           " kernels)";
  }

  Status build(const float* data, size_t n, size_t d, size_t threads) override {
    try {
      space_ = std::make_unique<hnswlib::L2Space>(d);
      index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
          space_.get(), n, params_.M, params_.ef_construction, params_.seed);
    } catch (const std::exception& e) {
      return Status::internal(std::string("hnswlib: ") + e.what());
    }
    if (n == 0) return Status::ok();
    threads = std::max<size_t>(threads, 1);

    // Workers claim rows from an atomic counter (the scheme of hnswlib's own Python bindings).
    std::atomic<size_t> next{0};
    std::mutex error_mu;
    std::string error;
    auto worker = [&] {
      for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
        try {
          index_->addPoint(data + i * d, static_cast<hnswlib::labeltype>(i));
        } catch (const std::exception& e) {
          std::lock_guard lock(error_mu);
          if (error.empty()) error = e.what();
          next.store(n);
          return;
        }
      }
    };
    // The first point goes in alone, so that every parallel insert starts from an entry point.
    try {
      index_->addPoint(data, 0);
    } catch (const std::exception& e) {
      return Status::internal(std::string("hnswlib: ") + e.what());
    }
    next.store(1);
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    if (!error.empty()) return Status::internal("hnswlib: " + error);
    return Status::ok();
  }

  void set_knobs(const SearchKnobs& k) override { index_->setEf(k.ef); }  // uses max(ef, k)

  Status search(const float* query, size_t k, Id* ids) override {
    auto result = index_->searchKnn(query, k);  // a max-heap: farthest on top
    size_t found = result.size();
    for (size_t i = found; i < k; ++i) ids[i] = kNoId;
    while (!result.empty()) {
      ids[--found] = static_cast<Id>(result.top().second);
      result.pop();
    }
    return Status::ok();
  }

  /// Level-0 block (links + vector + label per node), upper-level link lists, the per-node
  /// pointer, level and lock arrays, and an estimate of the label hash map (bucket array plus one
  /// 32-byte node per entry). The fixed 65536 update locks and the per-thread visited lists are
  /// left out: they do not grow with n.
  size_t memory_bytes() const override {
    if (!index_) return 0;
    const auto& h = *index_;
    size_t bytes = h.max_elements_ * h.size_data_per_element_;
    for (size_t i = 0; i < h.cur_element_count; ++i) {
      if (h.element_levels_[i] > 0) {
        bytes += static_cast<size_t>(h.element_levels_[i]) * h.size_links_per_element_;
      }
    }
    bytes += h.max_elements_ * (sizeof(char*) + sizeof(int) + sizeof(std::mutex));
    bytes += h.label_lookup_.bucket_count() * sizeof(void*) + h.label_lookup_.size() * 32;
    return bytes;
  }

 private:
  AnnParams params_;
  std::unique_ptr<hnswlib::L2Space> space_;  // outlives index_, which points into it
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
};

}  // namespace

std::unique_ptr<AnnRunner> make_hnswlib_runner(const AnnParams& params) {
  return std::make_unique<HnswlibRunner>(params);
}

}  // namespace vecstream::bench
