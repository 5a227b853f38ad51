// IVF-PQ fast scan: IVF over 4-bit PQ codes scanned 32 at a time with SIMD shuffles
// (core/fast_scan.h), followed by an exact rerank of the best candidates against the raw vectors.
//
// Query path, per query:
//   1. probe: the nprobe nearest coarse centroids (one SIMD pass over the centroid table);
//   2. per probed list, its float table (M x 16) from IvfPqCodec (ivf_pq_index.h), quantized to
//      bytes (one scale and bias per table; kIP and kCosine quantize the query's one table once);
//   3. the fast-scan kernel streams the list's packed blocks and reports only the blocks holding a
//      code whose uint16 estimate beats the candidate reservoir's admission bar (converted into
//      that list's uint16 units), so once the bar is set most blocks cost a compare and no
//      branch; the filter is applied to reported candidates before they are admitted. The next
//      list's table and first blocks are prefetched while one is scanned;
//   4. rerank: the k * rerank_factor best estimates are re-scored with exact float distances on
//      the raw vectors (the heads of the next rows prefetched; under L2 and L1 a candidate is
//      dropped as soon as a partial sum passes the k-th best, so most of its row is never read)
//      and the best k are returned with exact distances. With reranking off, the k best
//      estimates are returned as they are.
//
// Storage: per list, packed code blocks (padded to 32 vectors) and a position -> slot array; raw
// vectors (kept when `rerank` is on) live in one dense slot-major array, with slot -> id and
// slot -> (list, position) maps and id -> slot. remove() moves the list's last code into the hole
// inside the packed layout and the last raw row into the freed slot: O(M + dim), no tombstones.
//
// Training, thread-safety and the auto-train rule are IvfPqIndex's (ivf_pq_index.h).
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "core/huge_pages.h"
#include "index/index.h"
#include "index/ivf_params.h"
#include "index/ivf_pq_index.h"

namespace vecstream {

class ThreadPool;

struct IvfPqFastScanParams {
  /// nlist, nprobe, k-means, threads, progress and the auto-training rule shared with the other
  /// IVF kinds (ivf_params.h). An untrained add_batch() trains on its rows when it has at least
  /// max(nlist * min_points_per_centroid, 16) of them.
  IvfParams ivf;
  /// 4-bit sub-quantizers; must divide the dimension. 0 = dim / 4 (or /2, /1: the first that
  /// divides), one bit per dimension. Codes take (M + 1) / 2 bytes per point.
  size_t m = 0;
  float anisotropic_eta = 0.0f;  // kInnerProduct / kCosine only; 0 = off
  bool opq = false;              // not with kL1
  /// Keep raw vectors and rerank. Off: codes only, results carry estimated distances.
  bool rerank = true;
  /// Default candidates per result re-scored exactly (SearchParams::rerank_factor overrides:
  /// 0 = this default, < 0 = no rerank for that query, else k * factor candidates, at least k).
  float rerank_factor = 10.0f;
  size_t precomputed_table_max_bytes = size_t{256} << 20;  // as IvfPqParams
};

class IvfPqFastScanIndex final : public Index {
 public:
  /// Errors (INVALID_ARGUMENT): as IvfPqIndex::create, plus rerank_factor below 1.
  static Result<std::unique_ptr<IvfPqFastScanIndex>> create(size_t dim, Metric metric,
                                                            const IvfPqFastScanParams& params = {});
  /// Reads save(); CORRUPTION for a damaged or inconsistent file.
  static Result<std::unique_ptr<IvfPqFastScanIndex>> load(const std::string& path, size_t threads = 0);
  ~IvfPqFastScanIndex() override;

  size_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t size() const override;
  /// "ivf_pq_fs(nlist=256,nprobe=8,M=98x4,rerank=10)".
  std::string describe() const override;
  const IvfPqFastScanParams& params() const { return params_; }
  bool is_trained() const;

  /// As IvfPqIndex::train (needs max(nlist, 16) rows; 16 centroids per sub-quantizer).
  Status train(std::span<const float> data, size_t n);

  /// Upsert; FAILED_PRECONDITION before training.
  Status add(Id id, std::span<const float> vector) override;
  /// Upsert, encoded in parallel; trains an untrained index on a big enough batch (see
  /// IvfPqFastScanParams::ivf).
  Status add_batch(std::span<const Id> ids, std::span<const float> vectors) override;
  /// O(M + dim), see the banner.
  Status remove(Id id) override;
  bool contains(Id id) const override;

  /// Probes as IvfPqIndex::search (widening past nprobe when fewer than k allowed points were
  /// seen), then reranks (see the banner). Distances are exact when reranked.
  Status search(std::span<const float> query, size_t k, const SearchParams& params,
                std::span<Neighbor> out, size_t* found) const override;
  Status search_batch(std::span<const float> queries, size_t k, const SearchParams& params,
                      std::span<Neighbor> out, std::span<size_t> found) const override;

  Status save(const std::string& path) const override;
  size_t memory_bytes() const override { return memory_breakdown().total(); }
  /// Codes vs raw vectors vs ids vs quantizers.
  IvfPqMemory memory_breakdown() const;

 private:
  struct List {
    std::vector<uint8_t> blocks;   // fast_scan_blocks(size) packed blocks
    std::vector<uint32_t> slots;   // position -> slot
  };
  struct Scratch;

  IvfPqFastScanIndex(size_t dim, Metric metric, const IvfPqFastScanParams& params);
  Status train_impl(const float* data, size_t n);
  void upsert_locked(Id id, uint32_t list, const uint8_t* code, const float* row);
  void remove_slot_locked(uint32_t slot);
  void search_one(const float* query, size_t k, const SearchParams& params, Scratch& s,
                  Neighbor* out, size_t* found) const;

  const size_t dim_;
  const Metric metric_;
  IvfPqFastScanParams params_;
  std::unique_ptr<ThreadPool> pool_;
  std::mutex train_mu_;
  mutable std::shared_mutex mu_;
  std::shared_ptr<const IvfPqCodec> codec_;  // null until trained
  std::vector<List> lists_;
  std::vector<float, HugePageAllocator<float>> raw_;  // slot-major raw rows, if rerank
  std::vector<Id> slot_ids_;        // slot -> id
  std::vector<uint32_t> slot_list_; // slot -> list
  std::vector<uint32_t> slot_pos_;  // slot -> position in its list
  std::unordered_map<Id, uint32_t> slot_of_;  // id -> slot
};

}  // namespace vecstream
