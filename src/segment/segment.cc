#include "segment/segment.h"

#include <algorithm>
#include <cstring>

#include "core/distance.h"
#include "core/distance_matrix.h"
#include "index/index_file.h"

namespace vecstream {

namespace {

constexpr uint32_t kRowsFileVersion = 1;
// Below this many rows to return (live, and passing the filter) a search scans them exactly
// instead of walking the index (a walk at the usual beam costs about as much, and with a filter
// or tombstones it visits mostly rejected nodes); see scan_beats_walk.
constexpr size_t kExactFilterRows = 2048;
constexpr double kExactFilterSelectivity = 0.03;
constexpr size_t kScanChunk = 256;

bool heap_less(const SegmentHit& a, const SegmentHit& b) { return a.distance < b.distance; }

/// Bounded max-heap of the k best hits (worst on top).
inline void heap_offer(std::vector<SegmentHit>* h, size_t k, float d, uint32_t row) {
  if (h->size() < k) {
    h->push_back({d, row});
    std::push_heap(h->begin(), h->end(), heap_less);
  } else if (d < h->front().distance) {
    std::pop_heap(h->begin(), h->end(), heap_less);
    h->back() = {d, row};
    std::push_heap(h->begin(), h->end(), heap_less);
  }
}

// Per-thread scratch so a query allocates nothing once warm.
struct Scratch {
  std::vector<float> dist;
  std::vector<Neighbor> neighbors;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// What the in-walk predicate needs, passed by pointer so the std::function stays small.
struct WalkFilter {
  const Segment* seg;
  size_t indexed;
  const PayloadFilter* filter;
  bool check_deleted;
};

// How much wider than asked an index walk searches when only a `keep` share of what it finds may
// be returned (tombstones, a filter), so that k results still come back at the same recall.
double walk_widening(size_t rows, size_t deleted, double selectivity) {
  const double live = 1.0 - static_cast<double>(deleted) / static_cast<double>(rows);
  const double keep = std::max(0.05, live * selectivity);
  return keep < 0.999 ? std::min(1.0 / keep, 8.0) : 1.0;
}

// Whether to scan the rows a search may return (live, and passing the filter by estimate)
// exactly rather than walk the index. A plain walk costs about as much as scanning
// kExactFilterRows rows; tombstones widen it (and a graph of mostly dead nodes — hot ids upserted
// again and again — is a poor one to walk), so with them the break-even grows by that widening.
// A search's cost then follows what is left in a segment, not what was written to it.
bool scan_beats_walk(size_t rows, size_t deleted, double selectivity) {
  const double live = static_cast<double>(rows - deleted);
  const double wanted = selectivity * live;
  const double dead_widening = std::min(static_cast<double>(rows) / std::max(live, 1.0), 8.0);
  return wanted <= static_cast<double>(kExactFilterRows) * dead_widening ||
         wanted < kExactFilterSelectivity * static_cast<double>(rows);
}

}  // namespace

Segment::Segment(uint64_t id, size_t dim, Metric metric, size_t capacity,
                 std::unique_ptr<Index> index, bool build_on_seal)
    : id_(id),
      dim_(dim),
      metric_(metric),
      capacity_(capacity),
      vectors_(make_huge_array<float>(std::max<size_t>(capacity, 1) * dim)),
      ids_(new PointId[std::max<size_t>(capacity, 1)]),
      payloads_(new nlohmann::json[std::max<size_t>(capacity, 1)]),
      tomb_(new std::atomic<uint64_t>[(capacity + 63) / 64 + 1]),
      index_owner_(std::move(index)) {
  index_.store(index_owner_.get(), std::memory_order_release);
  needs_build_.store(build_on_seal && !index_owner_, std::memory_order_release);
  for (size_t i = 0; i < (capacity + 63) / 64 + 1; ++i) tomb_[i].store(0, std::memory_order_relaxed);
}

Segment::~Segment() = default;

uint32_t Segment::append(const PointId& id, const float* vec, nlohmann::json payload) {
  const size_t r = rows_.load(std::memory_order_relaxed);
  std::memcpy(vectors_.get() + r * dim_, vec, dim_ * sizeof(float));
  ids_[r] = id;
  payloads_[r] = std::move(payload);
  rows_.store(r + 1, std::memory_order_release);
  return static_cast<uint32_t>(r);
}

bool Segment::mark_deleted(size_t row) {
  const uint64_t bit = uint64_t{1} << (row & 63);
  // Release: a reader that sees this tombstone also sees every row appended before it (the
  // point's new row, when an upsert replaces it; see scan_appended).
  const uint64_t old = tomb_[row >> 6].fetch_or(bit, std::memory_order_release);
  if (old & bit) return false;
  deleted_.fetch_add(1, std::memory_order_release);
  return true;
}

Status Segment::index_up_to(size_t upto, bool parallel) {
  Index* index_ = index();
  if (!index_) return Status::failed_precondition("segment has no index");
  const size_t from = indexed_.load(std::memory_order_acquire);
  upto = std::min(upto, rows());
  if (upto <= from) return Status::ok();
  if (parallel) {
    std::vector<Id> labels(upto - from);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = from + i;
    VS_RETURN_IF_ERROR(index_->add_batch(labels, {vector(from), (upto - from) * dim_}));
  } else {
    for (size_t r = from; r < upto; ++r) VS_RETURN_IF_ERROR(index_->add(r, {vector(r), dim_}));
  }
  size_t cur = indexed_.load(std::memory_order_relaxed);
  while (cur < upto &&
         !indexed_.compare_exchange_weak(cur, upto, std::memory_order_release, std::memory_order_relaxed)) {
  }
  return Status::ok();
}

void Segment::adopt_index(std::unique_ptr<Index> index, size_t indexed) {
  if (index_owner_) return;  // an index readers may hold is never replaced
  if (index) {
    indexed_.store(std::min(indexed, rows()), std::memory_order_release);
    index_owner_ = std::move(index);
    index_.store(index_owner_.get(), std::memory_order_release);
  }
  needs_build_.store(false, std::memory_order_release);
}

Status Segment::exact_scan(const float* query, const SegmentQuery& q, size_t from, size_t to,
                           std::vector<SegmentHit>* heap) const {
  const DistanceKernels& kern = kernels();
  std::vector<float>& dist = scratch().dist;
  if (dist.size() < kScanChunk) dist.resize(kScanChunk);
  const bool any_deleted = deleted_count() > 0;
  for (size_t b = from; b < to; b += kScanChunk) {
    const size_t n = std::min(kScanChunk, to - b);
    metric_distance_many(kern, metric_, query, vector(b), n, dim_, dim_, dist.data());
    for (size_t i = 0; i < n; ++i) {
      const size_t row = b + i;
      if (any_deleted && is_deleted(row)) continue;
      if (q.filter && !q.filter->matches(payloads_[row])) continue;
      heap_offer(heap, q.k, dist[i], static_cast<uint32_t>(row));
    }
  }
  return Status::ok();
}

Status Segment::scan_live(const float* query, const SegmentQuery& q, size_t rows,
                          std::vector<SegmentHit>* heap) const {
  const DistanceKernels& kern = kernels();
  // A word of tombstones at a time: rows that are gone cost a bit test, not a distance.
  for (size_t w = 0; w * 64 < rows; ++w) {
    uint64_t live = ~tomb_[w].load(std::memory_order_acquire);
    const size_t base = w * 64;
    if (rows - base < 64) live &= (uint64_t{1} << (rows - base)) - 1;
    while (live != 0) {
      const size_t row = base + static_cast<size_t>(__builtin_ctzll(live));
      live &= live - 1;
      if (q.filter && !q.filter->matches(payloads_[row])) continue;
      heap_offer(heap, q.k, metric_distance(kern, metric_, query, vector(row), dim_),
                 static_cast<uint32_t>(row));
    }
  }
  return Status::ok();
}

Status Segment::search(const float* query, const SegmentQuery& q,
                       std::vector<SegmentHit>* out) const {
  out->clear();
  if (q.k == 0) return Status::ok();
  const size_t n = rows();
  VS_RETURN_IF_ERROR(search_rows(query, q, n, out));
  VS_RETURN_IF_ERROR(scan_appended(query, q, n, out));
  std::sort(out->begin(), out->end(), heap_less);
  return Status::ok();
}

Status Segment::search_rows(const float* query, const SegmentQuery& q, size_t n,
                            std::vector<SegmentHit>* out) const {
  if (n == 0) return Status::ok();
  const size_t deleted = deleted_count();
  if (deleted >= n) return Status::ok();
  if (out->capacity() < q.k) out->reserve(q.k);

  double selectivity = 1.0;
  if (q.filter) {
    selectivity = q.filter->estimate_selectivity(
        [this](size_t row) -> const nlohmann::json* { return &payloads_[row]; }, n);
  }
  if ((q.filter || deleted > 0) && scan_beats_walk(n, deleted, selectivity)) {
    return scan_live(query, q, n, out);
  }

  Index* index_ = index();
  size_t indexed = (index_ && !q.exact) ? std::min(indexed_rows(), n) : 0;
  if (indexed > 0 && index_->size() == 0) indexed = 0;
  if (indexed > 0) VS_RETURN_IF_ERROR(index_walk(*index_, query, q, indexed, deleted, n, selectivity, out));
  return exact_scan(query, q, indexed, n, out);
}

Status Segment::scan_appended(const float* query, const SegmentQuery& q, size_t n,
                              std::vector<SegmentHit>* heap) const {
  // The writer publishes a point's new row before it tombstones the old one (a release RMW that
  // this search's tombstone reads acquire): a tombstone seen implies the row it makes way for.
  // An unfiltered walk may already have returned some of these rows (the indexer can insert
  // them while it runs): those are not offered twice.
  constexpr int kMaxRounds = 8;  // each round scans only what the writer appended meanwhile
  // (A row walked then pushed out of the heap is farther than all it holds: offered again, it
  // stays out.)
  const DistanceKernels& kern = kernels();
  for (int round = 0; round < kMaxRounds; ++round) {
    const size_t now = rows();
    if (now <= n) break;
    for (size_t row = n; row < now; ++row) {
      if (is_deleted(row) || (q.filter && !q.filter->matches(payloads_[row]))) continue;
      bool walked = false;
      for (const SegmentHit& h : *heap) walked = walked || h.row == row;
      if (walked) continue;
      heap_offer(heap, q.k, metric_distance(kern, metric_, query, vector(row), dim_),
                 static_cast<uint32_t>(row));
    }
    n = now;
  }
  return Status::ok();
}

Status Segment::index_walk(Index& index, const float* query, const SegmentQuery& q, size_t indexed,
                           size_t deleted, size_t rows, double selectivity,
                           std::vector<SegmentHit>* heap) const {
  const size_t in_index = index.size();
  const size_t k = std::min(q.k, in_index);
  if (k == 0) return Status::ok();
  SearchParams params = q.params;
  // Tombstones and filters reject part of what the walk finds: widen the beam in proportion,
  // within bounds, so k results still come back at the same recall.
  const double widen = walk_widening(rows, deleted, selectivity);
  if (widen > 1.0 && params.ef > 0) params.ef = static_cast<size_t>(static_cast<double>(params.ef) * widen);
  if (params.ef > 0 && params.ef < k) params.ef = k;
  WalkFilter wf{this, indexed, q.filter, deleted > 0};
  IdFilter id_filter;
  // Rows at or past `indexed` are scanned exactly after the walk; the indexer may add them to the
  // index while we walk it, so unless every row was indexed the walk must not return them.
  const bool concurrent_rows = in_index > indexed || indexed < rows;
  if (q.filter || deleted > 0 || concurrent_rows) {
    id_filter.predicate = [p = &wf](Id row) {
      if (row >= p->indexed) return false;
      if (p->check_deleted && p->seg->is_deleted(row)) return false;
      return p->filter == nullptr || p->filter->matches(p->seg->payload(row));
    };
    params.filter = &id_filter;
  }
  std::vector<Neighbor>& nb = scratch().neighbors;
  if (nb.size() < k) nb.resize(k);
  size_t found = 0;
  VS_RETURN_IF_ERROR(index.search({query, dim_}, k, params, {nb.data(), k}, &found));
  for (size_t i = 0; i < found; ++i) {
    heap_offer(heap, q.k, nb[i].distance, static_cast<uint32_t>(nb[i].id));
  }
  return Status::ok();
}

Status Segment::search_batch(const float* queries, size_t nq, const SegmentQuery& q,
                             std::vector<SegmentHit>* outs) const {
  if (q.filter != nullptr || nq <= 1) {
    // Filtered searches choose their path (allow-list scan or filtered walk) per query.
    for (size_t i = 0; i < nq; ++i) VS_RETURN_IF_ERROR(search(queries + i * dim_, q, &outs[i]));
    return Status::ok();
  }
  for (size_t i = 0; i < nq; ++i) outs[i].clear();
  if (q.k == 0) return Status::ok();
  // One view of the segment for the whole batch, as search() takes one for its query.
  const size_t n = rows();
  VS_RETURN_IF_ERROR(search_batch_rows(queries, nq, q, n, outs));
  for (size_t i = 0; i < nq; ++i) {
    VS_RETURN_IF_ERROR(scan_appended(queries + i * dim_, q, n, &outs[i]));
    std::sort(outs[i].begin(), outs[i].end(), heap_less);
  }
  return Status::ok();
}

Status Segment::search_batch_rows(const float* queries, size_t nq, const SegmentQuery& q, size_t n,
                                  std::vector<SegmentHit>* outs) const {
  if (n == 0) return Status::ok();
  const size_t deleted = deleted_count();
  if (deleted >= n) return Status::ok();
  if (deleted > 0 && scan_beats_walk(n, deleted, 1.0)) {
    // Mostly tombstones: each query scans the few live rows, as search() would.
    for (size_t i = 0; i < nq; ++i) VS_RETURN_IF_ERROR(scan_live(queries + i * dim_, q, n, &outs[i]));
    return Status::ok();
  }
  for (size_t i = 0; i < nq; ++i) {
    if (outs[i].capacity() < q.k) outs[i].reserve(q.k);
  }

  Index* index_ = index();
  size_t indexed = (index_ && !q.exact) ? std::min(indexed_rows(), n) : 0;
  if (indexed > 0 && index_->size() == 0) indexed = 0;
  if (indexed > 0) {
    // A graph walk gains nothing from company: each query walks alone.
    for (size_t i = 0; i < nq; ++i) {
      VS_RETURN_IF_ERROR(index_walk(*index_, queries + i * dim_, q, indexed, deleted, n, 1.0, &outs[i]));
    }
  }
  // The exactly scanned rows: each tile of rows is read from memory once for the whole batch
  // (same kernels as search(), so the distances are bit-identical to a lone query's).
  if (indexed < n) {
    const size_t tile = scan_tile_rows(dim_);
    std::vector<float>& dist = scratch().dist;
    if (dist.size() < nq * tile) dist.resize(nq * tile);
    const bool any_deleted = deleted > 0;
    for (size_t b = indexed; b < n; b += tile) {
      const size_t m = std::min(tile, n - b);
      distance_matrix_tiled(metric_, queries, nq, vector(b), m, dim_, dist.data());
      for (size_t i = 0; i < nq; ++i) {
        const float* d = dist.data() + i * m;
        for (size_t j = 0; j < m; ++j) {
          if (any_deleted && is_deleted(b + j)) continue;
          heap_offer(&outs[i], q.k, d[j], static_cast<uint32_t>(b + j));
        }
      }
    }
  }
  return Status::ok();
}

std::vector<uint64_t> Segment::tombstones(size_t rows) const {
  std::vector<uint64_t> words((rows + 63) / 64);
  for (size_t i = 0; i < words.size(); ++i) words[i] = tomb_[i].load(std::memory_order_relaxed);
  if (rows % 64 != 0 && !words.empty()) words.back() &= (uint64_t{1} << (rows % 64)) - 1;
  return words;
}

void Segment::restore_tombstones(const std::vector<uint64_t>& words, size_t rows) {
  for (size_t r = 0; r < rows && (r >> 6) < words.size(); ++r) {
    if ((words[r >> 6] >> (r & 63)) & 1u) mark_deleted(r);
  }
}

Status Segment::save_rows(const std::string& path, size_t from, size_t to) const {
  auto w = IndexFileWriter::open(path, IndexKind::kSegmentRows, kRowsFileVersion);
  if (!w.is_ok()) return w.status();
  IndexFileWriter& f = **w;
  f.put<uint64_t>(dim_);
  f.put<uint64_t>(from);
  f.put<uint64_t>(to - from);
  if (to > from) f.write(vector(from), (to - from) * dim_ * sizeof(float));
  std::vector<uint8_t> cbor;
  for (size_t r = from; r < to; ++r) {
    const PointId& id = ids_[r];
    f.put<uint8_t>(id.is_string() ? 1 : 0);
    if (id.is_string()) {
      f.put<uint16_t>(static_cast<uint16_t>(id.str().size()));
      f.write(id.str().data(), id.str().size());
    } else {
      f.put<uint64_t>(id.num());
    }
    if (payloads_[r].is_null()) {
      f.put<uint32_t>(0);
    } else {
      cbor.clear();
      nlohmann::json::to_cbor(payloads_[r], cbor);
      f.put<uint32_t>(static_cast<uint32_t>(cbor.size()));
      f.write(cbor.data(), cbor.size());
    }
  }
  return f.commit();
}

Status Segment::load_rows(const std::string& path) {
  auto r = IndexFileReader::open(path, IndexKind::kSegmentRows, kRowsFileVersion);
  if (!r.is_ok()) return r.status();
  IndexFileReader& f = **r;
  uint64_t dim = 0, from = 0, count = 0;
  VS_RETURN_IF_ERROR(f.get(&dim));
  VS_RETURN_IF_ERROR(f.get(&from));
  VS_RETURN_IF_ERROR(f.get(&count));
  if (dim != dim_) {
    return Status::corruption(path + ": rows of dimension " + std::to_string(dim) +
                              ", segment has " + std::to_string(dim_));
  }
  if (from != rows()) {
    return Status::corruption(path + ": rows start at " + std::to_string(from) + ", expected " +
                              std::to_string(rows()));
  }
  if (count > capacity_ - rows() || count * dim * sizeof(float) > f.remaining()) {
    return f.truncated("rows");
  }
  auto vecs = f.view(count * dim * sizeof(float));
  if (!vecs.is_ok()) return vecs.status();
  const uint8_t* vbase = *vecs;
  std::vector<float> row_vec(dim);
  for (uint64_t i = 0; i < count; ++i) {
    uint8_t tag = 0;
    VS_RETURN_IF_ERROR(f.get(&tag));
    PointId id;
    if (tag == 1) {
      uint16_t len = 0;
      VS_RETURN_IF_ERROR(f.get(&len));
      std::string s(len, '\0');
      VS_RETURN_IF_ERROR(f.read(s.data(), len));
      auto p = PointId::string(std::move(s));
      if (!p.is_ok()) return Status::corruption(path + ": " + p.status().message());
      id = std::move(*p);
    } else if (tag == 0) {
      uint64_t num = 0;
      VS_RETURN_IF_ERROR(f.get(&num));
      id = PointId::number(num);
    } else {
      return Status::corruption(path + ": bad id tag " + std::to_string(tag));
    }
    uint32_t plen = 0;
    VS_RETURN_IF_ERROR(f.get(&plen));
    nlohmann::json payload;
    if (plen > 0) {
      auto bytes = f.view(plen);
      if (!bytes.is_ok()) return bytes.status();
      payload = nlohmann::json::from_cbor(*bytes, *bytes + plen, true, false);
      if (payload.is_discarded()) return Status::corruption(path + ": bad payload encoding");
    }
    std::memcpy(row_vec.data(), vbase + i * dim * sizeof(float), dim * sizeof(float));
    append(id, row_vec.data(), std::move(payload));
  }
  return Status::ok();
}

size_t Segment::memory_bytes() const {
  const size_t n = rows();
  size_t bytes = n * dim_ * sizeof(float) + capacity_ * (sizeof(PointId) + sizeof(nlohmann::json)) +
                 (capacity_ / 64 + 1) * 8;
  for (size_t r = 0; r < n; ++r) {
    if (ids_[r].is_string()) bytes += ids_[r].str().capacity();
    if (!payloads_[r].is_null()) bytes += 64;  // rough: object node + a few fields
  }
  if (Index* idx = index()) bytes += idx->memory_bytes();
  return bytes;
}

}  // namespace vecstream
