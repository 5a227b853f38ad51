// StreamEngine for hnswlib (Debian libhnswlib-dev 0.6.2), the streaming benchmark's peer.
//
// Compiled with -O3 -march=native (VECSTREAM_PEER_MARCH) into vs_bench_hnswlib, like
// peer_hnswlib.cc, so hnswlib runs its AVX/AVX-512 kernels. The runbook maps onto hnswlib 0.6.2 as follows (0.6.2 has no
// allow_replace_deleted; that came in 0.7):
//   insert / replace  addPoint(vector, id): a new label is a new node; a known label (live or
//                     marked deleted) is updated in place (updatePoint) and unmarked.
//   delete            markDelete(id): the node stays in the graph, skipped by searches.
//   search            searchKnn(query, k) after setEf(ef).
// Locking: addPoint is safe against other addPoints, but markDelete reads the label map that
// addPoint inserts into without a lock, so writers hold mu_ shared around each addPoint and
// exclusively around each markDelete (per point, so a delete waits for one insertion, never a
// batch). Searches take no lock: hnswlib 0.6.2 reads the graph while addPoint links new nodes,
// as its Python bindings allow; a search that trips over a half-written upper-level list
// ("cand error") is retried. One window is not survivable: addPoint counts the first point
// before it sets the entry point, and searchKnn then walks from entry -1 (a segfault seen at
// the start of this benchmark's hnswlib run). So searches answer "nothing" until some addPoint
// has returned (which implies the entry point is set: every insertion into an index without
// one holds hnswlib's `global` mutex until it has set it).
//
// hnswlib.h defines non-inline functions (cpuid, xgetbv, AVXCapable, AVX512Capable at global
// scope) and variables (the hnswlib::*SIMD*Ext kernel pointers), and peer_hnswlib.cc, in the same
// static library, includes it too. So this file compiles its own copy under other names: the
// namespace hnswlib becomes vs_stream_hnswlib (the macro stays defined, so `hnswlib::` below
// names that copy) and the four global functions are renamed.
#define hnswlib vs_stream_hnswlib
#define cpuid vs_stream_hnswlib_cpuid
#define xgetbv vs_stream_hnswlib_xgetbv
#define AVXCapable vs_stream_hnswlib_AVXCapable
#define AVX512Capable vs_stream_hnswlib_AVX512Capable
#include <hnswlib/hnswlib.h>
#undef cpuid
#undef xgetbv
#undef AVXCapable
#undef AVX512Capable

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "stream_peers.h"

#ifndef VS_PEER_MARCH
#define VS_PEER_MARCH "native"
#endif

namespace vecstream::bench {
namespace {

constexpr int kSearchRetries = 3;

class HnswlibStreamEngine final : public StreamEngine {
 public:
  explicit HnswlibStreamEngine(const StreamParams& p) : params_(p) {}

  Status init() {
    try {
      space_ = std::make_unique<hnswlib::L2Space>(params_.dim);
      index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
          space_.get(), std::max<size_t>(params_.capacity, 1), params_.M,
          params_.ef_construction, params_.seed);
      index_->setEf(params_.ef_search);
    } catch (const std::exception& e) {
      return Status::internal(std::string("hnswlib: ") + e.what());
    }
    return Status::ok();
  }

  std::string name() const override { return "hnswlib"; }

  std::string describe() const override {
    std::string simd = "SSE";
#if defined(__AVX512F__)
    simd = "AVX-512";
#elif defined(__AVX__)
    simd = "AVX";
#endif
    return "hnswlib 0.6.2 HierarchicalNSW<float>/L2Space, -O3 -march=" VS_PEER_MARCH " (" + simd +
           " kernels); M=" + std::to_string(params_.M) +
           " efC=" + std::to_string(params_.ef_construction) +
           " ef=" + std::to_string(params_.ef_search) + "; upsert = addPoint (updatePoint for a "
           "known label), delete = markDelete; synchronous, " +
           std::to_string(std::max<size_t>(params_.build_threads, 1)) + " insert thread(s)";
  }

  Status upsert(std::span<const uint64_t> ids, const float* vectors) override {
    const size_t threads = std::min(std::max<size_t>(params_.build_threads, 1), ids.size());
    if (threads <= 1) {
      for (size_t i = 0; i < ids.size(); ++i) {
        VS_RETURN_IF_ERROR(add_one(ids[i], vectors + i * params_.dim));
      }
      return Status::ok();
    }
    std::atomic<size_t> next{0};
    std::mutex err_mu;
    Status err;
    auto worker = [&] {
      for (size_t i = next.fetch_add(1); i < ids.size(); i = next.fetch_add(1)) {
        Status s = add_one(ids[i], vectors + i * params_.dim);
        if (!s.is_ok()) {
          std::lock_guard lk(err_mu);
          if (err.is_ok()) err = s;
          next.store(ids.size());
          return;
        }
      }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    return err;
  }

  Status remove(std::span<const uint64_t> ids) override {
    for (uint64_t id : ids) {
      std::unique_lock lk(mu_);
      try {
        index_->markDelete(static_cast<hnswlib::labeltype>(id));
      } catch (const std::exception& e) {
        return Status::internal("hnswlib markDelete(" + std::to_string(id) + "): " + e.what());
      }
    }
    return Status::ok();
  }

  Status search(const float* query, size_t k, uint64_t* out) override {
    if (!has_entry_.load(std::memory_order_acquire)) {  // no insertion finished yet: empty
      for (size_t i = 0; i < k; ++i) out[i] = kNoPoint;
      return Status::ok();
    }
    for (int attempt = 0;; ++attempt) {
      try {
        auto result = index_->searchKnn(query, k);  // a max-heap: farthest on top
        size_t found = result.size();
        for (size_t i = found; i < k; ++i) out[i] = kNoPoint;
        while (!result.empty()) {
          out[--found] = static_cast<uint64_t>(result.top().second);
          result.pop();
        }
        return Status::ok();
      } catch (const std::exception& e) {
        if (attempt + 1 >= kSearchRetries) {
          return Status::internal(std::string("hnswlib searchKnn: ") + e.what());
        }
      }
    }
  }

  /// Level-0 block, upper-level links, per-node pointer/level/lock and the label map (estimated,
  /// as in peer_hnswlib.cc), for the nodes allocated so far (hnswlib reserves the level-0 block
  /// for its whole capacity up front; RSS shows what is touched).
  StreamEngineStats stats() const override {
    StreamEngineStats st;
    std::shared_lock lk(mu_);
    const auto& h = *index_;
    const size_t n = h.cur_element_count;
    size_t bytes = n * h.size_data_per_element_;
    for (size_t i = 0; i < n; ++i) {
      if (h.element_levels_[i] > 0) {
        bytes += static_cast<size_t>(h.element_levels_[i]) * h.size_links_per_element_;
      }
    }
    bytes += n * (sizeof(char*) + sizeof(int) + sizeof(std::mutex));
    bytes += h.label_lookup_.bucket_count() * sizeof(void*) + h.label_lookup_.size() * 32;
    st.memory_bytes = bytes;
    st.deleted = h.num_deleted_;
    st.live = n - std::min(n, h.num_deleted_);
    return st;
  }

 private:
  Status add_one(uint64_t id, const float* v) {
    std::shared_lock lk(mu_);
    try {
      index_->addPoint(v, static_cast<hnswlib::labeltype>(id));
    } catch (const std::exception& e) {
      return Status::internal("hnswlib addPoint(" + std::to_string(id) + "): " + e.what());
    }
    has_entry_.store(true, std::memory_order_release);
    return Status::ok();
  }

  StreamParams params_;
  mutable std::shared_mutex mu_;  // addPoint shared, markDelete exclusive (see the banner)
  std::atomic<bool> has_entry_{false};  // an addPoint has returned: the entry point is set
  std::unique_ptr<hnswlib::L2Space> space_;  // outlives index_, which points into it
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
};

}  // namespace

Result<std::unique_ptr<StreamEngine>> make_hnswlib_stream_engine(const StreamParams& params) {
  auto e = std::make_unique<HnswlibStreamEngine>(params);
  VS_RETURN_IF_ERROR(e->init());
  return std::unique_ptr<StreamEngine>(std::move(e));
}

}  // namespace vecstream::bench
