// IvfPqFastScanIndex: 4-bit PQ codes in fast-scan blocks, threshold scan into a candidate heap,
// exact rerank (design in ivf_pq_fast_scan_index.h). On-disk layout, inside the checksummed
// index file of index_file.h (kind kIvfPqFastScan):
//
//   u64 dim | u32 metric | IvfParams (ivf_params.h) | u64 M | u64 table budget | f32 eta |
//   f32 rerank_factor | u32 opq | u32 rerank | u32 trained |
//   [trained:] coarse quantizer | product quantizer |
//              u64 n, slot ids | u64 n*dim or 0, raw vectors (slot-major) |
//              nlist x ( u64 count, slots | u64 bytes, packed blocks )
#include "index/ivf_pq_fast_scan_index.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <cmath>
#include <cstring>
#include <string>

#include "core/distance.h"
#include "core/fast_scan.h"
#include "core/thread_pool.h"
#include "core/top_k.h"
#include "index/index_file.h"

namespace vecstream {
namespace {

constexpr uint32_t kFastScanVersion = 1;
constexpr size_t kKsub = kFastScanKsub;
constexpr size_t kEncodeGrain = 512;
// Rerank: rows requested ahead of the one being scored, bytes requested of each, and the
// dimensions between two early-abandon checks.
constexpr size_t kPrefetchRows = 4;
constexpr size_t kPrefetchBytes = 1024;
constexpr size_t kAbandonChunk = 128;

using internal::normalized_rows;

Status validate(size_t dim, Metric metric, const IvfPqFastScanParams& p) {
  VS_RETURN_IF_ERROR(internal::validate_ivf_pq_params("ivf_pq_fs", dim, metric, p.ivf, p.m,
                                                      p.anisotropic_eta, p.opq));
  if (!(p.rerank_factor >= 1.0f && p.rerank_factor <= 1e4f)) {
    return Status::invalid_argument("ivf_pq_fs: rerank_factor must be in [1, 1e4]");
  }
  return Status::ok();
}

// The best `capacity` candidates of a query by estimated distance. Admitted candidates are
// appended to a buffer of twice the capacity; when it fills, nth_element keeps the best half and
// their worst becomes the admission bar (FAISS's reservoir). An append per candidate instead of a
// heap update: the first lists of a query admit hundreds of candidates.
class Reservoir {
 public:
  void reset(size_t capacity) {
    capacity_ = capacity;
    items_.clear();
    items_.reserve(2 * capacity);
    bar_ = std::numeric_limits<float>::infinity();
  }
  /// Candidates at or above the bar cannot enter.
  float bar() const { return bar_; }
  /// Distinct candidates kept so far (at most the capacity once sorted()).
  size_t size() const { return std::min(items_.size(), capacity_); }
  void push(float distance, uint32_t slot) {
    items_.push_back({distance, slot});
    if (items_.size() == 2 * capacity_) shrink();
  }
  /// The kept candidates, ascending; the reservoir is unusable until reset().
  const std::vector<DistId<uint32_t>>& sorted() {
    if (items_.size() > capacity_) shrink();
    std::sort(items_.begin(), items_.end());
    return items_;
  }

 private:
  void shrink() {
    std::nth_element(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(capacity_ - 1), items_.end());
    bar_ = items_[capacity_ - 1].distance;
    items_.resize(capacity_);
  }
  size_t capacity_ = 0;
  float bar_ = 0.0f;
  std::vector<DistId<uint32_t>> items_;
};

// Feeds reported blocks into the reservoir (payload: slot). One instance per query; the
// list-specific parts are set before each list is scanned.
class CandidateSink final : public FastScanSink {
 public:
  CandidateSink(Reservoir& reservoir, const Id* slot_ids, const IdFilter* filter)
      : reservoir_(reservoir), slot_ids_(slot_ids), filter_(filter) {}

  void start_list(const uint32_t* slots, float bias, float scale) {
    slots_ = slots;
    bias_ = bias;
    scale_ = scale;
    inv_scale_ = 1.0f / scale;
  }

  // The admission bar in this list's uint16 units, rounded up with a margin of one unit for
  // float rounding: reporting a few extra codes is harmless, missing one is not.
  uint16_t threshold() const {
    const float bar = reservoir_.bar();
    if (bar == std::numeric_limits<float>::infinity()) return 65535;
    const float x = (bar - bias_) * scale_;
    if (!(x > 0.0f)) return 0;
    if (x >= 65533.0f) return 65535;
    return static_cast<uint16_t>(static_cast<uint32_t>(x) + 2);
  }

  uint16_t on_block(size_t block, uint32_t mask, const uint16_t* dist) override {
    const uint32_t* slots = slots_ + block * kFastScanBlockSize;
    while (mask != 0) {
      const int i = __builtin_ctz(mask);
      mask &= mask - 1;
      const float d = bias_ + static_cast<float>(dist[i]) * inv_scale_;
      if (d >= reservoir_.bar()) continue;
      const uint32_t slot = slots[i];
      if (filter_ != nullptr && !filter_->allowed(slot_ids_[slot])) continue;
      reservoir_.push(d, slot);
    }
    return threshold();
  }

 private:
  Reservoir& reservoir_;
  const Id* slot_ids_;
  const IdFilter* filter_;
  const uint32_t* slots_ = nullptr;
  float bias_ = 0.0f, scale_ = 1.0f, inv_scale_ = 1.0f;
};

// First cache lines of a rerank row; the hardware prefetcher follows the stream from there.
inline void prefetch_head(const float* row, size_t dim) {
  const char* p = reinterpret_cast<const char*>(row);
  const size_t bytes = std::min(dim * sizeof(float), kPrefetchBytes);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
}

template <class S>
S& thread_scratch() {
  static thread_local S s;
  return s;
}

}  // namespace

struct IvfPqFastScanIndex::Scratch {
  std::vector<float> query;  // normalised copy (cosine)
  std::vector<uint32_t> lists;
  std::vector<float> dists, probe;
  IvfPqCodec::QueryState qs;
  std::vector<float> lut;
  std::vector<uint8_t> lut8;
  Reservoir candidates;       // estimated distance, slot
  TopK<uint32_t> best;        // exact distance, slot
};

IvfPqFastScanIndex::IvfPqFastScanIndex(size_t dim, Metric metric, const IvfPqFastScanParams& params)
    : dim_(dim), metric_(metric), params_(params), pool_(std::make_unique<ThreadPool>(params.ivf.threads)) {}

IvfPqFastScanIndex::~IvfPqFastScanIndex() = default;

Result<std::unique_ptr<IvfPqFastScanIndex>> IvfPqFastScanIndex::create(
    size_t dim, Metric metric, const IvfPqFastScanParams& params) {
  IvfPqFastScanParams p = params;
  if (p.m == 0 && dim > 0) p.m = internal::default_pq_m(dim, 4);
  VS_RETURN_IF_ERROR(validate(dim, metric, p));
  return std::unique_ptr<IvfPqFastScanIndex>(new IvfPqFastScanIndex(dim, metric, p));
}

size_t IvfPqFastScanIndex::size() const {
  std::shared_lock lock(mu_);
  return slot_ids_.size();
}

bool IvfPqFastScanIndex::is_trained() const {
  std::shared_lock lock(mu_);
  return codec_ != nullptr;
}

bool IvfPqFastScanIndex::contains(Id id) const {
  std::shared_lock lock(mu_);
  return slot_of_.count(id) != 0;
}

std::string IvfPqFastScanIndex::describe() const {
  std::string s = "ivf_pq_fs(nlist=" + std::to_string(params_.ivf.nlist) + ",nprobe=" +
                  std::to_string(params_.ivf.nprobe) + ",M=" + std::to_string(params_.m) + "x4";
  if (params_.opq) s += ",opq";
  if (params_.anisotropic_eta != 0.0f) s += ",eta=" + std::to_string(params_.anisotropic_eta).substr(0, 4);
  s += params_.rerank ? ",rerank=" + std::to_string(params_.rerank_factor).substr(0, 4) : std::string(",rerank=off");
  return s + ")";
}

Status IvfPqFastScanIndex::train(std::span<const float> data, size_t n) {
  if (data.size() != n * dim_) {
    return Status::invalid_argument("ivf_pq_fs train: " + std::to_string(data.size()) +
                                    " floats is not n * dim = " + std::to_string(n * dim_));
  }
  for (size_t i = 0; i < n; ++i) {
    Status s = check_vector(data.subspan(i * dim_, dim_));
    if (!s.is_ok()) return Status(s.code(), "ivf_pq_fs train: row " + std::to_string(i) + ": " + s.message());
  }
  std::lock_guard<std::mutex> t(train_mu_);
  if (is_trained()) return Status::failed_precondition("ivf_pq_fs: already trained");
  std::vector<float> copy;
  return train_impl(normalized_rows(metric_, data.data(), n, dim_, copy), n);
}

// Caller holds train_mu_ and has validated (and normalised) the rows. Training runs without the
// index lock; only installing the codec takes it.
Status IvfPqFastScanIndex::train_impl(const float* data, size_t n) {
  const size_t need = std::max(params_.ivf.nlist, kKsub);
  if (n < need) {
    return Status::invalid_argument("ivf_pq_fs: training needs at least max(nlist, 16) = " +
                                    std::to_string(need) + " rows, got " + std::to_string(n));
  }
  auto codec = IvfPqCodec::train(
      std::span<const float>(data, n * dim_), n, dim_, metric_, params_.ivf.nlist,
      internal::ivf_kmeans_params(params_.ivf),
      internal::ivf_pq_pq_params(params_.ivf, params_.m, 4, params_.anisotropic_eta, params_.opq),
      params_.precomputed_table_max_bytes);
  if (!codec.is_ok()) return codec.status();
  auto shared = std::make_shared<const IvfPqCodec>(std::move(*codec));
  std::unique_lock lock(mu_);
  codec_ = std::move(shared);
  lists_.assign(params_.ivf.nlist, List{});
  return Status::ok();
}

void IvfPqFastScanIndex::remove_slot_locked(uint32_t slot) {
  const size_t m = params_.m, bb = fast_scan_block_bytes(m);
  // 1. Out of its list: the list's last code moves into the hole.
  List& l = lists_[slot_list_[slot]];
  const uint32_t pos = slot_pos_[slot];
  const size_t last = l.slots.size() - 1;
  if (pos != last) {
    fast_scan_move(l.blocks.data(), m, last, pos);
    l.slots[pos] = l.slots[last];
    slot_pos_[l.slots[pos]] = pos;
  }
  l.slots.pop_back();
  l.blocks.resize(fast_scan_blocks(l.slots.size()) * bb);
  // 2. Out of the slot arrays: the last slot moves into the freed one.
  const uint32_t tail = static_cast<uint32_t>(slot_ids_.size() - 1);
  slot_of_.erase(slot_ids_[slot]);
  if (slot != tail) {
    if (!raw_.empty()) {
      std::memcpy(raw_.data() + size_t{slot} * dim_, raw_.data() + size_t{tail} * dim_, dim_ * sizeof(float));
    }
    slot_ids_[slot] = slot_ids_[tail];
    slot_list_[slot] = slot_list_[tail];
    slot_pos_[slot] = slot_pos_[tail];
    lists_[slot_list_[slot]].slots[slot_pos_[slot]] = slot;
    slot_of_[slot_ids_[slot]] = slot;
  }
  slot_ids_.pop_back();
  slot_list_.pop_back();
  slot_pos_.pop_back();
  if (!raw_.empty()) raw_.resize(size_t{tail} * dim_);
}

void IvfPqFastScanIndex::upsert_locked(Id id, uint32_t list, const uint8_t* code, const float* row) {
  if (auto it = slot_of_.find(id); it != slot_of_.end()) remove_slot_locked(it->second);
  const size_t m = params_.m, bb = fast_scan_block_bytes(m);
  const uint32_t slot = static_cast<uint32_t>(slot_ids_.size());
  List& l = lists_[list];
  const size_t pos = l.slots.size();
  if (pos % kFastScanBlockSize == 0) l.blocks.resize(l.blocks.size() + bb, 0);
  fast_scan_store(l.blocks.data(), m, pos, code);
  l.slots.push_back(slot);
  slot_ids_.push_back(id);
  slot_list_.push_back(list);
  slot_pos_.push_back(static_cast<uint32_t>(pos));
  if (params_.rerank) raw_.insert(raw_.end(), row, row + dim_);
  slot_of_[id] = slot;
}

Status IvfPqFastScanIndex::add(Id id, std::span<const float> vector) {
  VS_RETURN_IF_ERROR(check_vector(vector));
  std::shared_ptr<const IvfPqCodec> codec;
  {
    std::shared_lock lock(mu_);
    codec = codec_;
  }
  if (!codec) {
    return Status::failed_precondition("ivf_pq_fs: not trained; call train() or add_batch() with at least " +
                                       std::to_string(internal::ivf_pq_auto_train_rows(params_.ivf, kKsub)) +
                                       " rows");
  }
  std::vector<float> copy;
  const float* x = normalized_rows(metric_, vector.data(), 1, dim_, copy);
  uint32_t list = 0;
  std::vector<uint8_t> code(params_.m);
  codec->encode(x, 1, &list, code.data());
  std::unique_lock lock(mu_);
  if (!slot_of_.count(id) && slot_ids_.size() >= UINT32_MAX - 1) {
    return Status::out_of_range("ivf_pq_fs: index is full");
  }
  upsert_locked(id, list, code.data(), x);
  return Status::ok();
}

Status IvfPqFastScanIndex::add_batch(std::span<const Id> ids, std::span<const float> vectors) {
  VS_RETURN_IF_ERROR(check_batch(ids, vectors));
  const size_t n = ids.size();
  if (n == 0) return Status::ok();
  std::vector<float> copy;
  const float* x = normalized_rows(metric_, vectors.data(), n, dim_, copy);
  if (!is_trained()) {
    std::lock_guard<std::mutex> t(train_mu_);
    if (!is_trained()) {
      const size_t need = internal::ivf_pq_auto_train_rows(params_.ivf, kKsub);
      if (n < need) {
        return Status::failed_precondition("ivf_pq_fs: not trained; a first batch of " + std::to_string(n) +
                                           " rows is below the " + std::to_string(need) +
                                           " needed to train on it (call train() first)");
      }
      VS_RETURN_IF_ERROR(train_impl(x, n));
    }
  }
  std::shared_ptr<const IvfPqCodec> codec;
  {
    std::shared_lock lock(mu_);
    codec = codec_;
  }
  const size_t m = params_.m;
  std::vector<uint32_t> lists(n);
  std::vector<uint8_t> codes(n * m);
  const size_t tasks = (n + kEncodeGrain - 1) / kEncodeGrain;
  std::atomic<size_t> done{0};
  ProgressReporter progress(params_.ivf.progress, "add", n, params_.ivf.progress_every);
  pool_->parallel_for(tasks, 1, [&](size_t t0, size_t t1, size_t worker) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t r0 = t * kEncodeGrain, nr = std::min(kEncodeGrain, n - r0);
      codec->encode(x + r0 * dim_, nr, lists.data() + r0, codes.data() + r0 * m);
      const size_t finished = done.fetch_add(nr) + nr;
      if (worker == 0) progress.update(std::min(finished, n - 1));  // the caller's thread
    }
  });
  std::unique_lock lock(mu_);
  if (slot_ids_.size() + n >= UINT32_MAX - 1) return Status::out_of_range("ivf_pq_fs: index is full");
  if (params_.rerank) raw_.reserve(raw_.size() + n * dim_);
  for (size_t i = 0; i < n; ++i) upsert_locked(ids[i], lists[i], codes.data() + i * m, x + i * dim_);
  progress.update(n);
  return Status::ok();
}

Status IvfPqFastScanIndex::remove(Id id) {
  std::unique_lock lock(mu_);
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return Status::not_found("id " + std::to_string(id) + " not in index");
  remove_slot_locked(it->second);
  return Status::ok();
}

// Caller holds the shared lock; the index is trained and holds at least k points.
void IvfPqFastScanIndex::search_one(const float* query, size_t k, const SearchParams& params,
                                    Scratch& s, Neighbor* out, size_t* found) const {
  const IvfPqCodec& codec = *codec_;
  const size_t m = params_.m;
  const float* q = normalized_rows(metric_, query, 1, dim_, s.query);
  const size_t nlist = codec.nlist();
  const size_t nprobe = std::min(nlist, params.nprobe != 0 ? params.nprobe : params_.ivf.nprobe);
  s.lists.resize(nlist);
  s.dists.resize(nlist);
  s.probe.resize(nlist);
  size_t np = codec.coarse().probe(q, nprobe, s.lists.data(), s.dists.data(), s.probe.data());
  codec.prepare(q, s.qs);

  const float factor = params.rerank_factor != 0.0f ? params.rerank_factor : params_.rerank_factor;
  const bool rerank = params_.rerank && factor > 0.0f;
  // Candidates: k * factor, at least k, at most every point (a huge factor is a full rerank).
  const double wanted = std::ceil(static_cast<double>(k) * static_cast<double>(factor));
  const size_t ncand = !rerank ? k
                       : wanted >= static_cast<double>(slot_ids_.size()) ? slot_ids_.size()
                                                                           : std::max(k, static_cast<size_t>(wanted));
  s.candidates.reset(ncand);
  const IdFilter* filter = params.filter != nullptr && !params.filter->empty() ? params.filter : nullptr;
  CandidateSink sink(s.candidates, slot_ids_.data(), filter);
  const FastScanKernels& kern = fast_scan_kernels();

  s.lut.resize(m * kKsub);
  s.lut8.resize(fast_scan_lut_bytes(m));
  LutQuantization shared_q;
  if (codec.shared_table()) shared_q = fast_scan_quantize_lut(s.qs.shared.data(), m, s.lut8.data());
  auto visit = [&](size_t from, size_t to) {
    for (size_t p = from; p < to; ++p) {
      const uint32_t list = s.lists[p];
      const List& l = lists_[list];
      if (p + 1 < to) {  // the next list's table and first blocks load while this one is scanned
        const List& next = lists_[s.lists[p + 1]];
        codec.prefetch_table(s.lists[p + 1]);
        const char* b = reinterpret_cast<const char*>(next.blocks.data());
        for (size_t off = 0; off < std::min<size_t>(next.blocks.size(), 2048); off += 64) __builtin_prefetch(b + off);
      }
      if (l.slots.empty()) continue;
      float bias = 0.0f;
      const LutQuantization lq = codec.fast_scan_list_table(kern, q, s.qs, list, s.dists[p], shared_q,
                                                            s.lut.data(), s.lut8.data(), &bias);
      sink.start_list(l.slots.data(), bias + lq.bias, lq.scale);
      const uint16_t threshold = sink.threshold();
      if (threshold == 0) continue;
      kern.scan(l.blocks.data(), l.slots.size(), m, s.lut8.data(), threshold, sink);
    }
  };
  visit(0, np);
  if (s.candidates.size() < k && np < nlist) {  // too few allowed points nearby: widen
    const size_t all = codec.coarse().probe(q, nlist, s.lists.data(), s.dists.data(), s.probe.data());
    visit(np, all);
  }

  const auto& cand = s.candidates.sorted();
  if (!rerank) {
    for (size_t i = 0; i < cand.size(); ++i) out[i] = Neighbor{slot_ids_[cand[i].id], cand[i].distance};
    *found = cand.size();
    return;
  }
  const DistanceKernels& dk = kernels();
  s.best.reset(k);
  const float* raw = raw_.data();
  const size_t nc = cand.size();
  auto row_of = [&](size_t i) { return raw + size_t{cand[i].id} * dim_; };
  for (size_t i = 0; i < std::min(nc, kPrefetchRows); ++i) prefetch_head(row_of(i), dim_);
  // L2 and L1 grow monotonically over the dimensions: once a partial sum reaches the k-th best
  // exact distance the candidate is out, and the rest of its row is never read.
  const bool abandon = metric_ == Metric::kL2 || metric_ == Metric::kL1;
  const auto partial = metric_ == Metric::kL2 ? dk.l2sq : dk.l1;
  for (size_t i = 0; i < nc; ++i) {
    if (i + kPrefetchRows < nc) prefetch_head(row_of(i + kPrefetchRows), dim_);
    const float* row = row_of(i);
    float d = 0.0f;
    if (abandon) {  // the same chunked sum for every candidate, abandoned or not
      const float worst = s.best.worst();  // +inf until k are kept
      for (size_t off = 0; off < dim_ && d < worst; off += kAbandonChunk) {
        d += partial(q + off, row + off, std::min(kAbandonChunk, dim_ - off));
      }
      if (d >= worst) continue;
    } else {
      d = metric_distance(dk, metric_, q, row, dim_);
    }
    s.best.push(d, cand[i].id);
  }
  const auto& best = s.best.sorted();
  for (size_t i = 0; i < best.size(); ++i) out[i] = Neighbor{slot_ids_[best[i].id], best[i].distance};
  *found = best.size();
}

Status IvfPqFastScanIndex::search(std::span<const float> query, size_t k, const SearchParams& params,
                                  std::span<Neighbor> out, size_t* found) const {
  VS_RETURN_IF_ERROR(check_query(query, k, out.size()));  // before the lock: size() takes it
  std::shared_lock lock(mu_);
  if (k > slot_ids_.size()) return Status::invalid_argument("k exceeds the index size");
  search_one(query.data(), k, params, thread_scratch<Scratch>(), out.data(), found);
  return Status::ok();
}

Status IvfPqFastScanIndex::search_batch(std::span<const float> queries, size_t k,
                                        const SearchParams& params, std::span<Neighbor> out,
                                        std::span<size_t> found) const {
  size_t nq = 0;
  VS_RETURN_IF_ERROR(check_query_batch(queries, k, out.size(), found.size(), &nq));
  std::shared_lock lock(mu_);
  if (k > slot_ids_.size()) return Status::invalid_argument("k exceeds the index size");
  pool_->parallel_for(nq, 16, [&](size_t q0, size_t q1, size_t) {
    Scratch& s = thread_scratch<Scratch>();
    for (size_t q = q0; q < q1; ++q) {
      search_one(queries.data() + q * dim_, k, params, s, out.data() + q * k, found.data() + q);
    }
  });
  return Status::ok();
}

IvfPqMemory IvfPqFastScanIndex::memory_breakdown() const {
  std::shared_lock lock(mu_);
  IvfPqMemory mem;
  for (const List& l : lists_) {
    mem.codes += l.blocks.capacity();
    mem.ids += l.slots.capacity() * sizeof(uint32_t);
  }
  mem.raw_vectors = raw_.capacity() * sizeof(float);
  mem.ids += slot_ids_.capacity() * sizeof(Id) +
             (slot_list_.capacity() + slot_pos_.capacity()) * sizeof(uint32_t) +
             slot_of_.size() * (sizeof(Id) + sizeof(uint32_t) + 2 * sizeof(void*));
  if (codec_) mem.quantizers = codec_->memory_bytes();
  return mem;
}

Status IvfPqFastScanIndex::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  auto w = IndexFileWriter::open(path, IndexKind::kIvfPqFastScan, kFastScanVersion);
  if (!w.is_ok()) return w.status();
  IndexFileWriter& out = **w;
  out.put<uint64_t>(dim_);
  out.put<uint32_t>(static_cast<uint32_t>(metric_));
  internal::save_ivf_params(out, params_.ivf);
  out.put<uint64_t>(params_.m);
  out.put<uint64_t>(params_.precomputed_table_max_bytes);
  out.put<float>(params_.anisotropic_eta);
  out.put<float>(params_.rerank_factor);
  out.put<uint32_t>(params_.opq ? 1 : 0);
  out.put<uint32_t>(params_.rerank ? 1 : 0);
  out.put<uint32_t>(codec_ ? 1 : 0);
  if (codec_) {
    codec_->save(out);
    out.put_vector(slot_ids_);
    out.put<uint64_t>(raw_.size());
    out.write(raw_.data(), raw_.size() * sizeof(float));
    for (const List& l : lists_) {
      out.put_vector(l.slots);
      out.put_vector(l.blocks);
    }
  }
  return out.commit();
}

Result<std::unique_ptr<IvfPqFastScanIndex>> IvfPqFastScanIndex::load(const std::string& path,
                                                                     size_t threads) {
  auto r = IndexFileReader::open(path, IndexKind::kIvfPqFastScan, kFastScanVersion);
  if (!r.is_ok()) return r.status();
  IndexFileReader& in = **r;
  uint64_t dim = 0, m = 0, budget = 0;
  uint32_t metric = 0, opq = 0, rerank = 0, trained = 0;
  IvfPqFastScanParams p;
  VS_RETURN_IF_ERROR(in.get(&dim));
  VS_RETURN_IF_ERROR(in.get(&metric));
  VS_RETURN_IF_ERROR(internal::load_ivf_params(in, &p.ivf));
  VS_RETURN_IF_ERROR(in.get(&m));
  VS_RETURN_IF_ERROR(in.get(&budget));
  VS_RETURN_IF_ERROR(in.get(&p.anisotropic_eta));
  VS_RETURN_IF_ERROR(in.get(&p.rerank_factor));
  VS_RETURN_IF_ERROR(in.get(&opq));
  VS_RETURN_IF_ERROR(in.get(&rerank));
  VS_RETURN_IF_ERROR(in.get(&trained));
  if (metric > static_cast<uint32_t>(Metric::kL1)) return in.truncated("metric");
  if (opq > 1 || rerank > 1 || trained > 1) return in.truncated("flags");
  p.m = m;
  p.precomputed_table_max_bytes = budget;
  p.opq = opq != 0;
  p.rerank = rerank != 0;
  p.ivf.threads = threads;
  const Metric mt = static_cast<Metric>(metric);
  if (Status s = validate(dim, mt, p); !s.is_ok()) return in.truncated(("parameters: " + s.message()).c_str());
  std::unique_ptr<IvfPqFastScanIndex> idx(new IvfPqFastScanIndex(dim, mt, p));
  if (trained == 0) {
    if (in.remaining() != 0) return in.truncated("trailing bytes");
    return idx;
  }
  auto codec = IvfPqCodec::load(in, p.precomputed_table_max_bytes);
  if (!codec.is_ok()) return codec.status();
  if (codec->dim() != dim || codec->metric() != mt || codec->nlist() != p.ivf.nlist ||
      codec->pq().m() != p.m || codec->pq().nbits() != 4) {
    return in.truncated("quantizers (shape differs from the parameters)");
  }
  idx->codec_ = std::make_shared<const IvfPqCodec>(std::move(*codec));
  VS_RETURN_IF_ERROR(in.get_vector(&idx->slot_ids_, in.remaining() / sizeof(Id)));
  const size_t n = idx->slot_ids_.size();
  if (n >= UINT32_MAX - 1) return in.truncated("slot table (too many points)");
  uint64_t raw_count = 0;
  VS_RETURN_IF_ERROR(in.get(&raw_count));
  if (raw_count != (p.rerank ? n * dim : 0) || raw_count > in.remaining() / sizeof(float)) {
    return in.truncated("raw vectors (count)");
  }
  idx->raw_.resize(raw_count);
  VS_RETURN_IF_ERROR(in.read(idx->raw_.data(), raw_count * sizeof(float)));
  if (!all_finite(idx->raw_.data(), idx->raw_.size())) return in.truncated("raw vectors (non-finite value)");
  idx->slot_list_.assign(n, UINT32_MAX);
  idx->slot_pos_.assign(n, 0);
  idx->lists_.resize(p.ivf.nlist);
  const size_t bb = fast_scan_block_bytes(p.m);
  for (uint32_t li = 0; li < p.ivf.nlist; ++li) {
    List& l = idx->lists_[li];
    VS_RETURN_IF_ERROR(in.get_vector(&l.slots, in.remaining() / sizeof(uint32_t)));
    VS_RETURN_IF_ERROR(in.get_vector(&l.blocks, in.remaining()));
    if (l.blocks.size() != fast_scan_blocks(l.slots.size()) * bb) return in.truncated("inverted list (block bytes)");
    for (size_t pos = 0; pos < l.slots.size(); ++pos) {
      const uint32_t slot = l.slots[pos];
      if (slot >= n || idx->slot_list_[slot] != UINT32_MAX) return in.truncated("inverted list (slot)");
      idx->slot_list_[slot] = li;
      idx->slot_pos_[slot] = static_cast<uint32_t>(pos);
    }
  }
  for (size_t slot = 0; slot < n; ++slot) {
    if (idx->slot_list_[slot] == UINT32_MAX) return in.truncated("inverted lists (slot in no list)");
    if (!idx->slot_of_.emplace(idx->slot_ids_[slot], static_cast<uint32_t>(slot)).second) {
      return in.truncated("slot table (duplicate id)");
    }
  }
  if (in.remaining() != 0) return in.truncated("trailing bytes");
  return idx;
}

}  // namespace vecstream
