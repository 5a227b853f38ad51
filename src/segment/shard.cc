#include "segment/shard.h"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/distance.h"
#include "index/index_file.h"
#include "storage/fs.h"
#include "storage/manifest.h"

namespace vecstream {

namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr uint32_t kTombstoneVersion = 1;

std::string data_dir(const ShardOptions& o) { return o.dir + "/data"; }
std::string wal_dir(const ShardOptions& o) { return o.dir + "/wal"; }

Status save_tombstones(const std::string& path, const std::vector<uint64_t>& words, size_t rows) {
  auto w = IndexFileWriter::open(path, IndexKind::kTombstones, kTombstoneVersion);
  if (!w.is_ok()) return w.status();
  (*w)->put<uint64_t>(rows);
  (*w)->put_vector(words);
  return (*w)->commit();
}

Status load_tombstones(const std::string& path, size_t rows, std::vector<uint64_t>* words) {
  auto r = IndexFileReader::open(path, IndexKind::kTombstones, kTombstoneVersion);
  if (!r.is_ok()) return r.status();
  uint64_t stored_rows = 0;
  VS_RETURN_IF_ERROR((*r)->get(&stored_rows));
  if (stored_rows != rows) {
    return Status::corruption(path + ": tombstones for " + std::to_string(stored_rows) +
                              " rows, segment has " + std::to_string(rows));
  }
  return (*r)->get_vector(words, (rows + 63) / 64);
}

}  // namespace

Shard::Shard(const ShardOptions& options)
    : opts_(options),
      help_rows_(std::min(options.writer_help_rows,
                          std::max<size_t>(256, options.writer_help_floats / std::max<size_t>(1, options.dim)))) {}

Shard::~Shard() { stop_background(); }

Result<std::unique_ptr<Shard>> Shard::open(const ShardOptions& options) {
  if (options.dim == 0) return Status::invalid_argument("shard: dimension must be positive");
  if (options.dir.empty()) return Status::invalid_argument("shard: no directory");
  if (options.seal_rows == 0) return Status::invalid_argument("shard: seal_rows must be positive");
  std::unique_ptr<Shard> s(new Shard(options));
  VS_RETURN_IF_ERROR(s->recover());
  if (options.background) {
    s->indexer_seen_ns_.store(steady_ns());
    s->indexer_ = std::thread([p = s.get()] { p->indexer_loop(); });
    s->maintainer_seen_ns_.store(steady_ns());
    s->maintainer_ = std::thread([p = s.get()] { p->maintenance_loop(); });
    if (options.maintenance_rescue_ms > 0) s->rescuer_ = std::thread([p = s.get()] { p->rescue_loop(); });
  }
  return s;
}

std::shared_ptr<Segment> Shard::new_segment_locked(size_t capacity) {
  auto index = opts_.index.create(opts_.dim, opts_.metric);
  // create() only fails on bad parameters, which IndexSpec::from_json already rejected.
  return std::make_shared<Segment>(next_segment_id_++, opts_.dim, opts_.metric, capacity,
                                   index.is_ok() ? std::move(*index) : nullptr,
                                   opts_.index.trained());
}

void Shard::publish_locked(std::vector<std::shared_ptr<Segment>> segments) {
  auto set = std::make_unique<SegmentSet>();
  set->segments = std::move(segments);
  set_.publish(std::move(set));
}

Status Shard::recover() {
  VS_RETURN_IF_ERROR(make_dirs(data_dir(opts_)));
  auto manifest = read_manifest(data_dir(opts_));
  if (!manifest.is_ok()) return manifest.status();
  std::vector<std::shared_ptr<Segment>> segments;
  uint64_t ckpt_seq = 0;
  if (manifest->has_value()) {
    const Manifest& m = **manifest;
    ckpt_seq = m.seq;
    next_segment_id_ = m.next_segment_id;
    offsets_ = m.offsets;
    for (const ManifestSegment& ms : m.segments) {
      const size_t capacity = ms.sealed ? ms.rows : std::max<size_t>(opts_.seal_rows, ms.rows);
      std::unique_ptr<Index> index;
      if (ms.index_file.empty()) {
        auto created = opts_.index.create(opts_.dim, opts_.metric);
        if (!created.is_ok()) return created.status();
        index = std::move(*created);
      }
      auto seg = std::make_shared<Segment>(ms.id, opts_.dim, opts_.metric, capacity,
                                           std::move(index),
                                           opts_.index.trained() && ms.index_file.empty());
      for (const std::string& f : ms.row_files) {
        VS_RETURN_IF_ERROR(seg->load_rows(data_dir(opts_) + "/" + f));
      }
      if (seg->rows() != ms.rows) {
        return Status::corruption("segment " + std::to_string(ms.id) + ": manifest says " +
                                  std::to_string(ms.rows) + " rows, files hold " +
                                  std::to_string(seg->rows()));
      }
      if (!ms.tombstone_file.empty()) {
        std::vector<uint64_t> words;
        VS_RETURN_IF_ERROR(load_tombstones(data_dir(opts_) + "/" + ms.tombstone_file, ms.rows, &words));
        seg->restore_tombstones(words, ms.rows);
      }
      if (!ms.index_file.empty()) {
        auto loaded = opts_.index.load(data_dir(opts_) + "/" + ms.index_file);
        if (!loaded.is_ok()) return loaded.status();
        if (*loaded && (*loaded)->size() != ms.rows) {
          return Status::corruption(ms.index_file + ": index holds " +
                                    std::to_string((*loaded)->size()) + " points, segment " +
                                    std::to_string(ms.rows) + " rows");
        }
        seg->adopt_index(std::move(*loaded));
      }
      if (ms.sealed) seg->seal();
      persisted_[ms.id] = {ms.rows, ms.row_files, ms.index_file};
      segments.push_back(std::move(seg));
    }
  }
  // Rebuild the id map from the live rows (the checkpoint's tombstones say which are live).
  for (const auto& seg : segments) {
    for (size_t r = 0; r < seg->rows(); ++r) {
      if (seg->is_deleted(r)) continue;
      auto [it, fresh] = ids_.try_emplace(seg->point_id(r), Loc{seg.get(), static_cast<uint32_t>(r)});
      if (!fresh) {
        return Status::corruption("checkpoint: id " + seg->point_id(r).to_string() +
                                  " is live in segments " + std::to_string(it->second.seg->id()) +
                                  " and " + std::to_string(seg->id()));
      }
    }
  }
  if (!segments.empty() && !segments.back()->sealed()) {
    growing_ = segments.back();
  } else {
    growing_ = new_segment_locked(opts_.seal_rows);
    segments.push_back(growing_);
  }
  growing_first_row_ = std::chrono::steady_clock::now();
  publish_locked(segments);
  checkpoint_seq_ = ckpt_seq;
  applied_seq_ = ckpt_seq;

  WalOptions wo;
  wo.dir = wal_dir(opts_);
  wo.policy = opts_.fsync;
  wo.interval_ms = opts_.fsync_interval_ms;
  wo.first_seq = ckpt_seq + 1;
  auto wal = Wal::open(wo);
  if (!wal.is_ok()) return wal.status();
  wal_ = std::move(*wal);
  if (wal_->last_seq() < ckpt_seq) {
    return Status::corruption("WAL in " + wo.dir + " ends at sequence " +
                              std::to_string(wal_->last_seq()) + ", before the checkpoint's " +
                              std::to_string(ckpt_seq) + " (WAL files missing?)");
  }
  Status replayed = wal_->replay(ckpt_seq, [this](uint64_t seq, std::span<const uint8_t> bytes) {
    auto batch = decode_write_batch(bytes, opts_.dim);
    if (!batch.is_ok()) {
      return Status::corruption("WAL record " + std::to_string(seq) + ": " +
                                batch.status().message());
    }
    size_t applied = 0;
    apply_locked(*batch, seq, &applied);
    return Status::ok();
  });
  VS_RETURN_IF_ERROR(replayed);
  checkpoint_wal_bytes_ = wal_->disk_bytes();
  last_checkpoint_ = std::chrono::steady_clock::now();
  return Status::ok();
}

Status Shard::validate(WriteBatch* batch) const {
  if (batch->points.empty()) return Status::invalid_argument("empty batch");
  if (batch->points.size() > opts_.max_batch_points) {
    return Status::resource_exhausted("batch of " + std::to_string(batch->points.size()) +
                                      " points; at most " + std::to_string(opts_.max_batch_points));
  }
  if (batch->source.source.size() > 1024) return Status::invalid_argument("source name too long");
  if (batch->op != WriteOp::kUpsert) return Status::ok();
  for (size_t i = 0; i < batch->points.size(); ++i) {
    PointWrite& p = batch->points[i];
    const std::string where = "point " + std::to_string(i) + " (id " + p.id.to_string() + "): ";
    if (p.vector.size() != opts_.dim) {
      return Status::invalid_argument(where + "vector has dimension " +
                                      std::to_string(p.vector.size()) + ", collection has " +
                                      std::to_string(opts_.dim));
    }
    if (!all_finite(p.vector.data(), p.vector.size())) {
      return Status::invalid_argument(where + "vector has NaN or infinite values");
    }
    if (opts_.metric == Metric::kCosine && !normalize_l2(p.vector.data(), p.vector.size())) {
      return Status::invalid_argument(where + "zero vector under cosine");
    }
    if (!p.payload.is_null()) {
      if (!p.payload.is_object()) return Status::invalid_argument(where + "payload must be a JSON object");
      const size_t bytes = p.payload.dump().size();
      if (bytes > opts_.max_payload_bytes) {
        return Status::invalid_argument(where + "payload of " + std::to_string(bytes) +
                                        " bytes; at most " + std::to_string(opts_.max_payload_bytes));
      }
    }
  }
  return Status::ok();
}

void Shard::rotate_growing_locked() {
  growing_->seal();
  const SegmentSet* set = snapshot();
  std::vector<std::shared_ptr<Segment>> segs = set->segments;
  growing_ = new_segment_locked(opts_.seal_rows);
  segs.push_back(growing_);
  publish_locked(std::move(segs));
  growing_first_row_ = std::chrono::steady_clock::now();
  bg_cv_.notify_all();
}

bool Shard::growing_mostly_dead_locked() const {
  const size_t rows = growing_->rows(), dead = growing_->deleted_count();
  return opts_.seal_deleted_ratio < 1.0 && rows - dead >= kSealDeletedMinLiveRows &&
         static_cast<double>(dead) >= opts_.seal_deleted_ratio * static_cast<double>(rows);
}

void Shard::apply_locked(const WriteBatch& batch, uint64_t seq, size_t* applied) {
  *applied = 0;
  for (const PointWrite& p : batch.points) {
    if (batch.op == WriteOp::kUpsert) {
      if (growing_->full() || growing_mostly_dead_locked()) rotate_growing_locked();
      if (growing_->rows() == 0) growing_first_row_ = std::chrono::steady_clock::now();
      const uint32_t row = growing_->append(p.id, p.vector.data(), p.payload);
      std::optional<Loc> old;
      {
        std::unique_lock lk(ids_mu_);
        auto [it, fresh] = ids_.try_emplace(p.id, Loc{growing_.get(), row});
        if (!fresh) {
          old = it->second;
          it->second = Loc{growing_.get(), row};
        }
      }
      // The new row is visible before the old one is tombstoned, so a concurrent search sees
      // at least one of them (and dedupes if it sees both).
      if (old) old->seg->mark_deleted(old->row);
      ++*applied;
    } else {
      std::optional<Loc> old;
      {
        std::unique_lock lk(ids_mu_);
        auto it = ids_.find(p.id);
        if (it != ids_.end()) {
          old = it->second;
          ids_.erase(it);
        }
      }
      if (old) {
        old->seg->mark_deleted(old->row);
        ++*applied;
      }
    }
  }
  // Deletes alone can leave the growing segment mostly dead too: seal it now rather than at the
  // next upsert, so that compaction can reclaim it.
  if (batch.op == WriteOp::kDelete && *applied > 0 && growing_mostly_dead_locked()) {
    rotate_growing_locked();
  }
  if (!batch.source.source.empty()) {
    int64_t& off = offsets_[batch.source.source];
    off = std::max(off, batch.source.offset);
  }
  applied_seq_.store(seq, std::memory_order_release);
}

Result<WriteAck> Shard::upsert(std::vector<PointWrite> points, SourcePosition source) {
  WriteBatch b;
  b.op = WriteOp::kUpsert;
  b.points = std::move(points);
  b.source = std::move(source);
  return write(std::move(b));
}

Result<WriteAck> Shard::remove(const std::vector<PointId>& ids, SourcePosition source) {
  WriteBatch b;
  b.op = WriteOp::kDelete;
  b.points.resize(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) b.points[i].id = ids[i];
  b.source = std::move(source);
  return write(std::move(b));
}

Result<WriteAck> Shard::remove_where(const PayloadFilter& filter, SourcePosition source) {
  std::vector<PointId> ids;
  {
    EpochDomain::Guard guard(epochs_);
    for (const auto& seg : snapshot()->segments) {
      const size_t rows = seg->rows();
      for (size_t r = 0; r < rows; ++r) {
        if (!seg->is_deleted(r) && filter.matches(seg->payload(r))) ids.push_back(seg->point_id(r));
      }
    }
  }
  if (ids.empty()) return WriteAck{applied_seq_.load(), 0};
  WriteAck total{0, 0};
  for (size_t at = 0; at < ids.size(); at += opts_.max_batch_points) {
    std::vector<PointId> part(ids.begin() + at,
                              ids.begin() + std::min(ids.size(), at + opts_.max_batch_points));
    auto ack = remove(part, source);
    if (!ack.is_ok()) return ack.status();
    total.seq = ack->seq;
    total.applied += ack->applied;
  }
  return total;
}

Result<WriteAck> Shard::write(WriteBatch batch) {
  VS_RETURN_IF_ERROR(validate(&batch));
  if (opts_.background && batch.op == WriteOp::kUpsert) {
    // Help while the indexer is far behind; wait (bounded) while it is too far behind and
    // another writer is helping. Deletes never wait.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.write_stall_ms);
    for (;;) {
      const size_t backlog = index_backlog();
      if (opts_.writer_help_rows > 0 && backlog > help_rows_ &&
          steady_ns() - indexer_seen_ns_.load(std::memory_order_relaxed) >
              int64_t{opts_.indexer_stall_ms} * 1000000 &&
          help_index()) {
        continue;
      }
      if (backlog <= opts_.max_unindexed_rows) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status::resource_exhausted("indexing backlog of " + std::to_string(backlog) +
                                          " rows; retry later");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  thread_local std::vector<uint8_t> record;
  record.clear();
  encode_write_batch(batch, opts_.dim, &record);
  WriteAck ack;
  {
    std::lock_guard lk(write_mu_);
    auto seq = wal_->append(record);
    if (!seq.is_ok()) return seq.status();
    ack.seq = *seq;
    apply_locked(batch, ack.seq, &ack.applied);
  }
  bg_cv_.notify_all();
  VS_RETURN_IF_ERROR(wal_->sync(ack.seq));
  return ack;
}

Status Shard::check_query(std::span<const float> query, const ShardQuery& q) const {
  if (query.size() != opts_.dim) {
    return Status::invalid_argument("query has dimension " + std::to_string(query.size()) +
                                    ", collection has " + std::to_string(opts_.dim));
  }
  if (!all_finite(query.data(), query.size())) {
    return Status::invalid_argument("query has NaN or infinite values");
  }
  if (q.k == 0) return Status::invalid_argument("k must be at least 1");
  return Status::ok();
}

SegmentQuery Shard::segment_query(const ShardQuery& q) const {
  SegmentQuery sq;
  sq.k = q.k;
  sq.params.ef = std::max(q.ef ? q.ef : opts_.index.ef_search, q.k);
  sq.params.nprobe = q.nprobe;
  sq.params.rerank_factor = q.rerank_factor;
  sq.filter = q.filter;
  sq.exact = q.exact;
  return sq;
}

size_t Shard::merge_hits(std::vector<Cand>& cands, const ShardQuery& q, std::vector<ScoredPoint>* out) const {
  std::sort(cands.begin(), cands.end(),
            [](const Cand& a, const Cand& b) { return a.distance < b.distance; });
  size_t dups = 0;
  for (const Cand& c : cands) {
    if (out->size() >= q.k) break;
    const PointId& id = c.seg->point_id(c.row);
    bool dup = false;
    for (const ScoredPoint& s : *out) dup = dup || s.id == id;
    if (dup) {
      ++dups;
      continue;
    }
    ScoredPoint sp;
    sp.id = id;
    sp.distance = c.distance;
    if (q.with_payload) sp.payload = c.seg->payload(c.row);
    if (q.with_vector) sp.vector.assign(c.seg->vector(c.row), c.seg->vector(c.row) + opts_.dim);
    out->push_back(std::move(sp));
  }
  return dups;
}

Status Shard::search_set(const SegmentSet& set, const float* query, const ShardQuery& q,
                         std::vector<ScoredPoint>* out) const {
  constexpr int kMaxAttempts = 4;  // each catches what a writer did meanwhile; rare
  SegmentQuery sq = segment_query(q);
  thread_local std::vector<Cand> cands;
  thread_local std::vector<SegmentHit> hits;
  const SegmentSet* view = &set;
  for (int attempt = 1;; ++attempt) {
    cands.clear();
    out->clear();
    for (const auto& seg : view->segments) {
      VS_RETURN_IF_ERROR(seg->search(query, sq, &hits));
      for (const SegmentHit& h : hits) cands.push_back({h.distance, seg.get(), h.row});
    }
    const size_t dups = merge_hits(cands, q, out);
    if (attempt == kMaxAttempts) return Status::ok();
    // A new segment set published during the search (a sealed growing segment, a compaction)
    // may hold rows whose old versions this search saw tombstoned: search the new set.
    const SegmentSet* now = fresh_view();
    if (now != view) {
      view = now;
      continue;
    }
    if (out->size() >= q.k || dups == 0) return Status::ok();
    sq.k += dups;
    sq.params.ef = std::max(sq.params.ef, sq.k);
  }
}

const SegmentSet* Shard::fresh_view() const {
  // Read after the search's tombstone reads (acquire), which pair with the writer's release of a
  // tombstone after its publish (see Segment::mark_deleted).
  return snapshot();
}

Status Shard::search(std::span<const float> query, const ShardQuery& q,
                     std::vector<ScoredPoint>* out) const {
  out->clear();
  VS_RETURN_IF_ERROR(check_query(query, q));
  thread_local std::vector<float> qbuf;
  const float* qp = query.data();
  if (opts_.metric == Metric::kCosine) {
    qbuf.assign(query.begin(), query.end());
    if (!normalize_l2(qbuf.data(), qbuf.size())) {
      return Status::invalid_argument("zero query vector under cosine");
    }
    qp = qbuf.data();
  }
  EpochDomain::Guard guard(epochs_);
  return search_set(*snapshot(), qp, q, out);
}

void Shard::search_batch(std::span<const std::span<const float>> queries, const ShardQuery& q,
                         std::span<std::vector<ScoredPoint>> outs, std::span<Status> statuses) const {
  const size_t nq = queries.size();
  const size_t dim = opts_.dim;
  // The valid queries, copied (normalised for cosine) into one row-major block.
  thread_local std::vector<float> qmat;
  thread_local std::vector<size_t> valid;
  valid.clear();
  qmat.resize(nq * dim);
  for (size_t i = 0; i < nq; ++i) {
    outs[i].clear();
    statuses[i] = check_query(queries[i], q);
    if (!statuses[i].is_ok()) continue;
    float* row = qmat.data() + valid.size() * dim;
    std::copy(queries[i].begin(), queries[i].end(), row);
    if (opts_.metric == Metric::kCosine && !normalize_l2(row, dim)) {
      statuses[i] = Status::invalid_argument("zero query vector under cosine");
      continue;
    }
    valid.push_back(i);
  }
  const size_t nv = valid.size();
  if (nv == 0) return;
  EpochDomain::Guard guard(epochs_);
  const SegmentSet* set = snapshot();  // one view of the shard for the whole batch
  const SegmentQuery sq = segment_query(q);
  thread_local std::vector<std::vector<Cand>> cands;
  thread_local std::vector<std::vector<SegmentHit>> hits;
  if (cands.size() < nv) cands.resize(nv);
  if (hits.size() < nv) hits.resize(nv);
  for (size_t v = 0; v < nv; ++v) cands[v].clear();
  for (const auto& seg : set->segments) {
    Status st = seg->search_batch(qmat.data(), nv, sq, hits.data());
    if (!st.is_ok()) {
      for (size_t v = 0; v < nv; ++v) statuses[valid[v]] = st;
      return;
    }
    for (size_t v = 0; v < nv; ++v) {
      for (const SegmentHit& h : hits[v]) cands[v].push_back({h.distance, seg.get(), h.row});
    }
  }
  const SegmentSet* now = fresh_view();
  for (size_t v = 0; v < nv; ++v) {
    std::vector<ScoredPoint>& out = outs[valid[v]];
    if ((merge_hits(cands[v], q, &out) > 0 && out.size() < q.k) || now != set) {
      statuses[valid[v]] = search_set(*now, qmat.data() + v * dim, q, &out);
    }
  }
}

std::optional<PointRecord> Shard::get(const PointId& id) const {
  EpochDomain::Guard guard(epochs_);  // keeps the segments alive while we copy
  std::shared_lock lk(ids_mu_);
  auto it = ids_.find(id);
  if (it == ids_.end()) return std::nullopt;
  const Loc loc = it->second;
  PointRecord r;
  r.id = id;
  r.vector.assign(loc.seg->vector(loc.row), loc.seg->vector(loc.row) + opts_.dim);
  r.payload = loc.seg->payload(loc.row);
  return r;
}

std::map<std::string, int64_t> Shard::source_offsets() const {
  std::lock_guard lk(write_mu_);
  return offsets_;
}

ShardStats Shard::stats() const {
  ShardStats st;
  EpochDomain::Guard guard(epochs_);
  const SegmentSet* set = snapshot();
  for (const auto& seg : set->segments) {
    ++st.segments;
    if (seg->sealed()) ++st.sealed_segments;
    const size_t rows = seg->rows();
    st.rows += rows;
    st.deleted += seg->deleted_count();
    if (seg->index()) st.unindexed_rows += rows - std::min(rows, seg->indexed_rows());
    st.memory_bytes += seg->memory_bytes();
  }
  st.live = st.rows - st.deleted;
  st.last_seq = applied_seq_.load();
  st.checkpoint_seq = checkpoint_seq_.load();
  st.wal_bytes = wal_ ? wal_->disk_bytes() : 0;
  st.compactions = compactions_.load();
  st.checkpoints = checkpoints_.load();
  st.compacted_rows = compacted_rows_.load();
  st.compaction_reused_rows = reused_rows_.load();
  st.writer_indexed_rows = helped_rows_.load();
  st.maintenance_rescues = rescues_.load();
  st.compaction_seconds = static_cast<double>(compaction_us_.load()) * 1e-6;
  return st;
}

// ---------------------------------------------------------------------------------------------
// Indexing

bool Shard::index_step() {
  EpochDomain::Guard guard(epochs_);
  const SegmentSet* set = snapshot();
  bool did = false;
  // The growing segment first: its unindexed tail is what queries scan exactly.
  for (auto it = set->segments.rbegin(); it != set->segments.rend(); ++it) {
    Segment& seg = **it;
    if (!seg.index()) continue;
    const size_t rows = seg.rows();
    const size_t done = seg.indexed_rows();
    if (done >= rows) continue;
    Status st = seg.index_up_to(std::min(rows, done + opts_.index_batch));
    if (!st.is_ok()) {
      std::fprintf(stderr, "vecstream: indexing segment %llu failed: %s\n",
                   static_cast<unsigned long long>(seg.id()), st.to_string().c_str());
      return false;
    }
    did = true;
    break;
  }
  if (!did) {
    for (const auto& seg : set->segments) {
      if (!seg->sealed() || !seg->needs_build()) continue;
      auto built = opts_.index.build(opts_.dim, opts_.metric, seg->vector(0), seg->rows());
      if (!built.is_ok()) {
        std::fprintf(stderr, "vecstream: building the index of segment %llu failed: %s\n",
                     static_cast<unsigned long long>(seg->id()), built.status().to_string().c_str());
        seg->adopt_index(nullptr);  // stays exact rather than retrying forever
      } else {
        seg->adopt_index(std::move(*built));
      }
      did = true;
      break;
    }
  }
  if (!did && opts_.seal_age_ms > 0) {
    std::lock_guard lk(write_mu_);
    const auto age = std::chrono::steady_clock::now() - growing_first_row_;
    if (growing_->rows() > 0 && age >= std::chrono::milliseconds(opts_.seal_age_ms)) {
      rotate_growing_locked();
      did = true;
    }
  }
  return did;
}

size_t Shard::index_backlog() const {
  EpochDomain::Guard guard(epochs_);
  size_t backlog = 0;
  for (const auto& seg : snapshot()->segments) {
    if (seg->index()) backlog += seg->rows() - std::min(seg->rows(), seg->indexed_rows());
  }
  return backlog;
}

bool Shard::help_index() {
  bool expected = false;
  if (!helping_.compare_exchange_strong(expected, true)) return false;
  bool did = false;
  {
    EpochDomain::Guard guard(epochs_);
    const SegmentSet* set = snapshot();
    for (auto it = set->segments.rbegin(); it != set->segments.rend() && !did; ++it) {
      Segment& seg = **it;
      if (!seg.index()) continue;
      const size_t rows = seg.rows(), done = seg.indexed_rows();
      if (done >= rows) continue;
      // In this thread only: the pool's workers run at background priority.
      const size_t upto = std::min(rows, done + opts_.index_batch);
      did = seg.index_up_to(upto, /*parallel=*/false).is_ok();
      if (did) helped_rows_.fetch_add(upto - done);
    }
  }
  helping_.store(false);
  return did;
}

Status Shard::index_pending() {
  while (index_step()) {
  }
  return Status::ok();
}

void Shard::wait_indexed() const {
  for (;;) {
    EpochDomain::Guard guard(epochs_);
    const SegmentSet* set = snapshot();
    bool pending = false;
    for (const auto& seg : set->segments) {
      pending = pending || (seg->index() && seg->indexed_rows() < seg->rows()) ||
                (seg->sealed() && seg->needs_build());
    }
    if (!pending) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Status Shard::seal_now() {
  std::lock_guard lk(write_mu_);
  if (growing_->rows() > 0) rotate_growing_locked();
  return Status::ok();
}

void Shard::lower_background_priority() const {
  Status st = lower_current_thread_priority(opts_.background_priority);
  if (!st.is_ok()) {
    std::fprintf(stderr, "vecstream: background threads stay at normal priority: %s\n",
                 st.to_string().c_str());
  }
}

void Shard::indexer_loop() {
  lower_background_priority();
  for (;;) {
    {
      std::unique_lock lk(bg_mu_);
      if (stop_) return;
    }
    indexer_seen_ns_.store(steady_ns(), std::memory_order_relaxed);
    const bool did = index_step();
    indexer_seen_ns_.store(steady_ns(), std::memory_order_relaxed);
    if (did) continue;
    std::unique_lock lk(bg_mu_);
    if (stop_) return;
    bg_cv_.wait_for(lk, std::chrono::milliseconds(20));
  }
}

// ---------------------------------------------------------------------------------------------
// Compaction

Status Shard::compact_now(bool* did) {
  std::lock_guard clk(compact_mu_);
  return compact_locked(did);
}

Status Shard::compact_locked(bool* did) {
  if (did) *did = false;
  std::vector<std::shared_ptr<Segment>> all;
  {
    std::lock_guard lk(write_mu_);
    all = snapshot()->segments;
  }
  std::vector<std::shared_ptr<Segment>> settled;
  for (const auto& seg : all) {
    if (seg->settled()) settled.push_back(seg);
  }
  std::vector<std::shared_ptr<Segment>> chosen;
  // 1. A segment whose tombstones pass the threshold is rewritten (with the smallest other
  //    segment if that keeps it within bounds).
  for (const auto& seg : settled) {
    const size_t rows = seg->rows();
    if (rows > 0 && static_cast<double>(seg->deleted_count()) >=
                        opts_.compact_deleted_ratio * static_cast<double>(rows)) {
      chosen.push_back(seg);
      break;
    }
  }
  // 2. Too many segments: merge the smallest (by live rows) while within merge_max_rows.
  if (chosen.empty() && settled.size() > opts_.max_segments) {
    std::vector<std::shared_ptr<Segment>> by_size = settled;
    std::sort(by_size.begin(), by_size.end(),
              [](const auto& a, const auto& b) { return a->live_count() < b->live_count(); });
    size_t total = 0;
    for (const auto& seg : by_size) {
      if (chosen.size() >= 2 && total + seg->live_count() > opts_.merge_max_rows) break;
      if (chosen.size() >= settled.size() - opts_.max_segments + 1 && chosen.size() >= 2) break;
      chosen.push_back(seg);
      total += seg->live_count();
    }
    if (chosen.size() < 2) chosen.clear();
  }
  if (chosen.empty()) return Status::ok();
  VS_RETURN_IF_ERROR(compact(chosen));
  if (did) *did = true;
  return Status::ok();
}

Status Shard::compact(const std::vector<std::shared_ptr<Segment>>& sources) {
  const auto started = std::chrono::steady_clock::now();
  // The source whose index the rewrite carries over instead of rebuilding: the one with the most
  // live rows, if at least half of its rows are live (below that, its graph is mostly holes and
  // rebuilding the few survivors costs little). Its rows go first, so its labels map to a prefix.
  Segment* base = nullptr;
  for (const auto& s : sources) {
    if (s->index() == nullptr || 2 * s->live_count() < s->rows()) continue;
    if (base == nullptr || s->live_count() > base->live_count()) base = s.get();
  }
  std::vector<Segment*> order;
  if (base) order.push_back(base);
  for (const auto& s : sources) {
    if (s.get() != base) order.push_back(s.get());
  }
  // Plan the copy: the rows live now, in order. Writes and searches go on meanwhile; a row
  // deleted after this is carried over and tombstoned at the swap.
  struct Moved {
    Segment* src;
    uint32_t src_row;
    uint32_t row;
  };
  std::vector<Moved> moved;
  size_t base_rows = 0;
  for (Segment* s : order) {
    const size_t rows = s->rows();
    for (size_t r = 0; r < rows; ++r) {
      if (s->is_deleted(r)) continue;
      moved.push_back({s, static_cast<uint32_t>(r), static_cast<uint32_t>(moved.size())});
    }
    if (s == base) base_rows = moved.size();
  }
  std::unique_ptr<Index> carried;
  if (base && base_rows > 0) {
    std::vector<uint32_t> new_row(base->rows(), UINT32_MAX);
    for (size_t i = 0; i < base_rows; ++i) new_row[moved[i].src_row] = moved[i].row;
    auto copy = base->index()->compacted(
        [&](Id row) { return row < new_row.size() && new_row[row] != UINT32_MAX ? Id{new_row[row]} : kDropId; });
    if (!copy.is_ok()) return copy.status();
    carried = std::move(*copy);  // null: the kind has no such path; rebuild below
  }
  std::shared_ptr<Segment> fresh;
  if (!moved.empty()) {
    std::lock_guard lk(write_mu_);
    fresh = carried ? std::make_shared<Segment>(next_segment_id_++, opts_.dim, opts_.metric,
                                                moved.size(), nullptr, false)
                    : new_segment_locked(moved.size());
  }
  if (fresh) {
    for (const Moved& m : moved) {
      fresh->append(m.src->point_id(m.src_row), m.src->vector(m.src_row), m.src->payload(m.src_row));
    }
    fresh->seal();
    if (carried) {
      fresh->adopt_index(std::move(carried), base_rows);
      reused_rows_.fetch_add(base_rows);
    }
    if (fresh->index()) VS_RETURN_IF_ERROR(fresh->index_up_to(fresh->rows()));
    if (fresh->needs_build()) {
      auto built = opts_.index.build(opts_.dim, opts_.metric, fresh->vector(0), fresh->rows());
      if (!built.is_ok()) return built.status();
      fresh->adopt_index(std::move(*built));
    }
  }
  // Swap in: carry over deletes that raced the copy, repoint the id map, publish.
  {
    std::lock_guard lk(write_mu_);
    {
      std::unique_lock ilk(ids_mu_);
      for (const Moved& m : moved) {
        if (m.src->is_deleted(m.src_row)) {
          fresh->mark_deleted(m.row);
          continue;
        }
        auto it = ids_.find(fresh->point_id(m.row));
        if (it != ids_.end() && it->second.seg == m.src && it->second.row == m.src_row) {
          it->second = Loc{fresh.get(), m.row};
        } else {
          fresh->mark_deleted(m.row);  // replaced since (its new row lives elsewhere)
        }
      }
    }
    const SegmentSet* set = snapshot();
    std::vector<std::shared_ptr<Segment>> segs;
    for (const auto& seg : set->segments) {
      bool is_source = false;
      for (const auto& s : sources) is_source = is_source || s == seg;
      if (is_source) continue;
      if (fresh && seg == growing_) segs.push_back(fresh);
      segs.push_back(seg);
    }
    publish_locked(std::move(segs));
  }
  compactions_.fetch_add(1);
  compacted_rows_.fetch_add(moved.size());
  compaction_us_.fetch_add(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started)
          .count()));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

Status Shard::checkpoint() {
  std::lock_guard clk(ckpt_mu_);
  return checkpoint_locked();
}

Status Shard::snapshot_to(const std::string& out_dir) {
  std::lock_guard clk(ckpt_mu_);  // no checkpoint may delete files while we link them
  VS_RETURN_IF_ERROR(checkpoint_locked());
  auto m = read_manifest(data_dir(opts_));
  if (!m.is_ok()) return m.status();
  if (!m->has_value()) return Status::internal("no manifest after a checkpoint");
  const std::string out = out_dir + "/data";
  VS_RETURN_IF_ERROR(make_dirs(out));
  std::vector<std::string> files = (**m).files();
  files.push_back(kManifestName);
  for (const std::string& f : files) {
    VS_RETURN_IF_ERROR(link_or_copy(data_dir(opts_) + "/" + f, out + "/" + f));
  }
  return fsync_dir(out);
}

Status Shard::checkpoint_locked() {
  struct Captured {
    std::shared_ptr<Segment> seg;
    size_t rows;
    bool sealed;
    std::vector<uint64_t> tomb;
  };
  std::vector<Captured> caps;
  Manifest m;
  {
    std::lock_guard lk(write_mu_);
    m.seq = applied_seq_.load();
    m.offsets = offsets_;
    m.next_segment_id = next_segment_id_;
    for (const auto& seg : snapshot()->segments) {
      const size_t rows = seg->rows();
      caps.push_back({seg, rows, seg->sealed() && seg->rows() == rows, seg->tombstones(rows)});
    }
  }
  const std::string dir = data_dir(opts_);
  std::map<uint64_t, PersistedSegment> kept;
  for (const Captured& c : caps) {
    if (c.rows == 0 && !c.sealed) continue;  // an empty growing segment needs no files
    PersistedSegment ps = persisted_.count(c.seg->id()) ? persisted_[c.seg->id()] : PersistedSegment{};
    if (c.rows > ps.rows_saved) {
      char name[96];
      std::snprintf(name, sizeof(name), "seg-%llu-rows-%llu-%llu.vsr",
                    static_cast<unsigned long long>(c.seg->id()),
                    static_cast<unsigned long long>(ps.rows_saved),
                    static_cast<unsigned long long>(c.rows));
      VS_RETURN_IF_ERROR(c.seg->save_rows(dir + "/" + name, ps.rows_saved, c.rows));
      ps.row_files.push_back(name);
      ps.rows_saved = c.rows;
    }
    if (c.sealed && c.seg->index() && ps.index_file.empty() &&
        c.seg->indexed_rows() == c.rows) {
      const std::string name = "seg-" + std::to_string(c.seg->id()) + ".idx";
      VS_RETURN_IF_ERROR(c.seg->index()->save(dir + "/" + name));
      ps.index_file = name;
    }
    ManifestSegment ms;
    ms.id = c.seg->id();
    ms.sealed = c.sealed;
    ms.rows = c.rows;
    ms.row_files = ps.row_files;
    ms.index_file = ps.index_file;
    bool any_deleted = false;
    for (uint64_t w : c.tomb) any_deleted = any_deleted || w != 0;
    if (any_deleted) {
      ms.tombstone_file = "tomb-" + std::to_string(c.seg->id()) + "-" + std::to_string(m.seq) +
                          "-" + std::to_string(checkpoints_.load()) + ".vst";
      VS_RETURN_IF_ERROR(save_tombstones(dir + "/" + ms.tombstone_file, c.tomb, c.rows));
    }
    m.segments.push_back(std::move(ms));
    kept[c.seg->id()] = std::move(ps);
  }
  const uint64_t wal_bytes_before = wal_->disk_bytes();
  VS_RETURN_IF_ERROR(write_manifest(dir, m));
  persisted_ = std::move(kept);
  checkpoint_seq_ = m.seq;
  checkpoints_.fetch_add(1);
  last_checkpoint_ = std::chrono::steady_clock::now();
  // The checkpoint is committed: older WAL files and unreferenced files can go.
  VS_RETURN_IF_ERROR(wal_->truncate_before(m.seq));
  checkpoint_wal_bytes_ = std::min(wal_bytes_before, wal_->disk_bytes());
  std::set<std::string> referenced;
  for (const std::string& f : m.files()) referenced.insert(f);
  referenced.insert(kManifestName);
  auto names = list_dir(dir);
  if (names.is_ok()) {
    for (const std::string& n : *names) {
      if (!referenced.count(n)) (void)remove_all(dir + "/" + n);
    }
  }
  return Status::ok();
}

void Shard::maintenance_loop() {
  lower_background_priority();
  clockid_t clock{};
  if (pthread_getcpuclockid(pthread_self(), &clock) == 0) {
    maintainer_cpu_clock_.store(clock);
    maintainer_has_clock_.store(true);
  }
  for (;;) {
    {
      std::unique_lock lk(bg_mu_);
      if (stop_) return;
      maint_cv_.wait_for(lk, std::chrono::milliseconds(opts_.maintenance_interval_ms));
      if (stop_) return;
    }
    maintainer_seen_ns_.store(steady_ns(), std::memory_order_relaxed);
    maintenance_step(/*rescue=*/false);
    maintainer_seen_ns_.store(steady_ns(), std::memory_order_relaxed);
  }
}

int Shard::maintenance_step(bool rescue) {
  epochs_.reclaim();  // old segment sets whose last reader has gone
  int tasks = 0;
  {
    std::unique_lock clk(compact_mu_, std::defer_lock);
    if (rescue ? clk.try_lock() : (clk.lock(), true)) {
      bool did = false;
      Status st = compact_locked(&did);
      if (!st.is_ok()) std::fprintf(stderr, "vecstream: compaction: %s\n", st.to_string().c_str());
      tasks += did ? 1 : 0;
    }
  }
  std::unique_lock ck(ckpt_mu_, std::defer_lock);
  if (rescue ? ck.try_lock() : (ck.lock(), true)) {
    const uint64_t wal_bytes = wal_->disk_bytes();
    const auto since = std::chrono::steady_clock::now() - last_checkpoint_;
    const bool by_bytes = wal_bytes > checkpoint_wal_bytes_.load() + opts_.checkpoint_wal_bytes;
    const bool by_time = opts_.checkpoint_interval_ms > 0 &&
                         since >= std::chrono::milliseconds(opts_.checkpoint_interval_ms) &&
                         applied_seq_.load() > checkpoint_seq_.load();
    if (by_bytes || by_time) {
      Status st = checkpoint_locked();
      if (!st.is_ok()) std::fprintf(stderr, "vecstream: checkpoint: %s\n", st.to_string().c_str());
      ++tasks;
    }
  }
  return tasks;
}

void Shard::rescue_loop() {
  // Stays at the priority it was created with (normal): it exists for when background
  // priority gets no core. Starved = no round finished for maintenance_rescue_ms and, since the
  // last look, less than a tenth of a core of CPU time (a long compaction that runs is busy,
  // not starved).
  const int64_t starved_ns = int64_t{opts_.maintenance_rescue_ms} * 1000000;
  const auto period = std::chrono::milliseconds(std::max<uint32_t>(10, opts_.maintenance_rescue_ms / 4));
  auto maintainer_cpu_ns = [this]() -> int64_t {
    timespec ts{};
    if (!maintainer_has_clock_.load() || clock_gettime(maintainer_cpu_clock_.load(), &ts) != 0) return -1;
    return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
  };
  int64_t last_cpu = maintainer_cpu_ns(), last_wall = steady_ns();
  for (;;) {
    {
      std::unique_lock lk(bg_mu_);
      if (stop_) return;
      maint_cv_.wait_for(lk, period);
      if (stop_) return;
    }
    const int64_t wall = steady_ns(), cpu = maintainer_cpu_ns();
    const bool running = cpu >= 0 && last_cpu >= 0 && 10 * (cpu - last_cpu) >= wall - last_wall;
    last_cpu = cpu;
    last_wall = wall;
    if (running || wall - maintainer_seen_ns_.load(std::memory_order_relaxed) < starved_ns) continue;
    rescues_.fetch_add(static_cast<uint64_t>(maintenance_step(/*rescue=*/true)));
    last_cpu = maintainer_cpu_ns();
    last_wall = steady_ns();
  }
}

void Shard::stop_background() {
  {
    std::lock_guard lk(bg_mu_);
    stop_ = true;
  }
  bg_cv_.notify_all();
  maint_cv_.notify_all();
  if (indexer_.joinable()) indexer_.join();
  if (maintainer_.joinable()) maintainer_.join();
  if (rescuer_.joinable()) rescuer_.join();
}

Status Shard::close() {
  stop_background();
  VS_RETURN_IF_ERROR(checkpoint());
  return wal_->sync_all();
}

}  // namespace vecstream
