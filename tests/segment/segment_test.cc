// Segment: when a search walks the index and when it scans the rows left exactly. A segment whose
// rows are mostly tombstoned (hot ids upserted again and again) must cost what is left in it,
// not what was written: it scans its few live rows instead of walking a graph of dead nodes.
#include "segment/segment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <utility>

#include "index/flat_index.h"
#include "support/test_data.h"

namespace vecstream {
namespace {

constexpr size_t kDim = 8;

// A real flat index that runs a hook the moment a search starts walking it, and fails the walk
// when the hook does: what the shard's writer and indexer threads do concurrently with a reader,
// made deterministic; or, with a failing hook, proof that a search which succeeds did not walk.
class HookedIndex final : public Index {
 public:
  HookedIndex() : inner_(std::move(*FlatIndex::create(kDim, Metric::kL2, 1))) {}
  std::function<Status(FlatIndex&)> on_walk;
  size_t dim() const override { return inner_->dim(); }
  Metric metric() const override { return inner_->metric(); }
  size_t size() const override { return inner_->size(); }
  std::string describe() const override { return "hooked"; }
  Status add(Id id, std::span<const float> v) override { return inner_->add(id, v); }
  Status remove(Id id) override { return inner_->remove(id); }
  bool contains(Id id) const override { return inner_->contains(id); }
  Status search(std::span<const float> q, size_t k, const SearchParams& params,
                std::span<Neighbor> out, size_t* found) const override {
    if (on_walk) VS_RETURN_IF_ERROR(on_walk(*inner_));
    return inner_->search(q, k, params, out, found);
  }
  Status save(const std::string& path) const override { return inner_->save(path); }
  size_t memory_bytes() const override { return inner_->memory_bytes(); }

 private:
  std::unique_ptr<FlatIndex> inner_;
};

std::unique_ptr<Segment> filled(size_t rows, size_t dead, const std::vector<float>& data) {
  auto unwalkable = std::make_unique<HookedIndex>();
  unwalkable->on_walk = [](FlatIndex&) { return Status::internal("the index was walked"); };
  auto seg = std::make_unique<Segment>(1, kDim, Metric::kL2, rows, std::move(unwalkable));
  for (size_t r = 0; r < rows; ++r) {
    seg->append(PointId::number(r), data.data() + r * kDim, {{"even", r % 2 == 0}});
  }
  EXPECT_TRUE(seg->index_up_to(rows).is_ok());
  // The dead rows are spread over the segment, the live ones every (rows / live)-th.
  const size_t live = rows - dead;
  for (size_t r = 0, kept = 0; r < rows; ++r) {
    if (kept < live && r * live >= kept * rows) {
      ++kept;
      continue;
    }
    seg->mark_deleted(r);
  }
  EXPECT_EQ(seg->deleted_count(), dead);
  return seg;
}

std::vector<SegmentHit> exact(const Segment& seg, const float* q, size_t k, bool even_only) {
  std::vector<SegmentHit> all;
  for (size_t r = 0; r < seg.rows(); ++r) {
    if (seg.is_deleted(r) || (even_only && r % 2 != 0)) continue;
    float d = 0;
    for (size_t j = 0; j < kDim; ++j) d += (seg.vector(r)[j] - q[j]) * (seg.vector(r)[j] - q[j]);
    all.push_back({d, static_cast<uint32_t>(r)});
  }
  std::sort(all.begin(), all.end(), [](const SegmentHit& a, const SegmentHit& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.row < b.row);
  });
  all.resize(std::min(k, all.size()));
  return all;
}

TEST(SegmentTest, FewLiveRowsAreScannedNotWalked) {
  constexpr size_t kRows = 6000;
  const auto data = testing::clustered(kRows, kDim, 16, 7);
  const auto queries = testing::clustered(12, kDim, 16, 9);
  const PayloadFilter even = *PayloadFilter::parse(R"({"field":"even","eq":true})");
  // {live rows, walks unfiltered, walks with a filter passing half of them}: a walk at ef 64
  // costs about a scan of 2,048 rows, times the widening tombstones force on it.
  struct Case {
    size_t live;
    bool walks, filtered_walks;
  };
  const Case cases[] = {
      {kRows, true, true},         // nothing deleted: walk (3,000 pass the filter)
      {kRows - 300, true, true},   // a few tombstones: walk, widened
      {4500, true, false},         // a quarter dead: 2,250 pass the filter, scanned
      {3000, false, false},        // half dead: scanning 3,000 rows beats a walk twice as wide
      {2000, false, false},
      {100, false, false},         // hot ids rewritten over and over
      {1, false, false},
  };
  for (const auto& [live, walks, filtered_walks] : cases) {
    SCOPED_TRACE("live rows " + std::to_string(live));
    auto seg = filled(kRows, kRows - live, data);
    SegmentQuery q;
    q.k = 10;
    q.params.ef = 64;
    for (size_t qi = 0; qi < 12; ++qi) {
      std::vector<SegmentHit> got;
      Status st = seg->search(queries.data() + qi * kDim, q, &got);
      if (walks) {
        EXPECT_EQ(st.code(), StatusCode::kInternal) << "expected a walk";
        continue;
      }
      ASSERT_TRUE(st.is_ok()) << st.to_string();
      const auto want = exact(*seg, queries.data() + qi * kDim, q.k, false);
      ASSERT_EQ(got.size(), want.size());
      for (size_t j = 0; j < want.size(); ++j) {
        EXPECT_EQ(got[j].row, want[j].row) << "query " << qi << " rank " << j;
        EXPECT_FLOAT_EQ(got[j].distance, want[j].distance);
      }
    }
    // The batch path decides the same way and answers the same.
    std::vector<std::vector<SegmentHit>> outs(12);
    Status st = seg->search_batch(queries.data(), 12, q, outs.data());
    if (walks) {
      EXPECT_EQ(st.code(), StatusCode::kInternal) << "expected a walk";
    } else {
      ASSERT_TRUE(st.is_ok()) << st.to_string();
      for (size_t qi = 0; qi < 12; ++qi) {
        std::vector<SegmentHit> one;
        ASSERT_TRUE(seg->search(queries.data() + qi * kDim, q, &one).is_ok());
        ASSERT_EQ(outs[qi].size(), one.size());
        for (size_t j = 0; j < one.size(); ++j) EXPECT_EQ(outs[qi][j].row, one[j].row);
      }
    }
    // A filter keeping half the live rows: scanned when what passes is few.
    q.filter = &even;
    std::vector<SegmentHit> got;
    Status fst = seg->search(queries.data(), q, &got);
    if (filtered_walks) {
      EXPECT_EQ(fst.code(), StatusCode::kInternal) << "expected a walk";
    } else {
      ASSERT_TRUE(fst.is_ok()) << fst.to_string();
      const auto want = exact(*seg, queries.data(), q.k, true);
      ASSERT_EQ(got.size(), want.size());
      for (size_t j = 0; j < want.size(); ++j) EXPECT_EQ(got[j].row, want[j].row);
    }
  }
}

// Tombstones that leave a row count that is not a multiple of 64 (the scan works a word of
// tombstones at a time) and a segment with every row dead.
TEST(SegmentTest, ScanCoversPartialWordsAndEmptySegments) {
  const auto data = testing::clustered(130, kDim, 4, 3);
  for (size_t rows : {2, 63, 64, 65, 127, 130}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    auto seg = filled(rows, rows / 2, data);
    SegmentQuery q;
    q.k = 200;
    std::vector<SegmentHit> got;
    ASSERT_TRUE(seg->search(data.data(), q, &got).is_ok());
    EXPECT_EQ(got.size(), rows - rows / 2);  // every live row, none dead
    for (const SegmentHit& h : got) EXPECT_FALSE(seg->is_deleted(h.row));
    auto dead = filled(rows, rows, data);
    ASSERT_TRUE(dead->search(data.data(), q, &got).is_ok());
    EXPECT_TRUE(got.empty());
  }
}

// Searches `seg` for two queries (one by one, or as a batch) and checks the answers against an
// exact scan of every row the segment has by then: no row twice, none missing.
void expect_exact_after(Segment& seg, const float* queries, bool batch) {
  SegmentQuery q;
  q.k = 10;
  q.params.ef = 64;
  std::vector<std::vector<SegmentHit>> outs(2);
  if (batch) {
    ASSERT_TRUE(seg.search_batch(queries, 2, q, outs.data()).is_ok());
  } else {
    for (size_t i = 0; i < 2; ++i) ASSERT_TRUE(seg.search(queries + i * kDim, q, &outs[i]).is_ok());
  }
  for (size_t i = 0; i < 2; ++i) {
    const auto want = exact(seg, queries + i * kDim, q.k, false);
    ASSERT_EQ(outs[i].size(), want.size());
    for (size_t j = 0; j < want.size(); ++j) EXPECT_EQ(outs[i][j].row, want[j].row) << "rank " << j;
  }
}

// Rows that reach the index while a search walks it are also in the exactly scanned tail the
// search chose before the walk: they must come back once, and k distinct rows must come back.
TEST(SegmentTest, RowsIndexedDuringAWalkAreNotReturnedTwice) {
  constexpr size_t kRows = 200, kIndexed = 128;
  const auto data = testing::clustered(kRows, kDim, 4, 5);
  for (bool batch : {false, true}) {
    SCOPED_TRACE(batch ? "search_batch" : "search");
    auto owned = std::make_unique<HookedIndex>();
    HookedIndex* index = owned.get();
    Segment seg(1, kDim, Metric::kL2, kRows, std::move(owned));
    for (size_t r = 0; r < kRows; ++r) seg.append(PointId::number(r), data.data() + r * kDim, {});
    ASSERT_TRUE(seg.index_up_to(kIndexed).is_ok());
    index->on_walk = [&](FlatIndex& inner) {  // the indexer catches up with the tail
      for (size_t r = inner.size(); r < kRows; ++r) VS_RETURN_IF_ERROR(inner.add(r, {data.data() + r * kDim, kDim}));
      return Status::ok();
    };
    // Queries at rows of the tail: their nearest rows are the ones indexed during the walk.
    expect_exact_after(seg, data.data() + (kRows - 2) * kDim, batch);
    EXPECT_EQ(index->size(), kRows);  // the walk did see the late rows
  }
}

// Rows appended (and indexed) while a search runs are scanned after it, so that an upsert's new
// row is seen whenever its old row's tombstone is; a row the walk already returned is not
// returned again.
TEST(SegmentTest, RowsAppendedDuringASearchAreSeenOnce) {
  constexpr size_t kRows = 160, kBefore = 100;
  const auto data = testing::clustered(kRows, kDim, 4, 6);
  for (bool batch : {false, true}) {
    for (bool index_them : {false, true}) {
      SCOPED_TRACE(std::string(batch ? "search_batch" : "search") +
                   (index_them ? ", appended rows indexed at once" : ", appended rows not indexed"));
      auto owned = std::make_unique<HookedIndex>();
      HookedIndex* index = owned.get();
      Segment seg(1, kDim, Metric::kL2, kRows, std::move(owned));
      for (size_t r = 0; r < kBefore; ++r) seg.append(PointId::number(r), data.data() + r * kDim, {});
      ASSERT_TRUE(seg.index_up_to(kBefore).is_ok());
      index->on_walk = [&](FlatIndex& inner) {  // the writer (and indexer) go on meanwhile
        if (seg.rows() == kRows) return Status::ok();
        for (size_t r = kBefore; r < kRows; ++r) {
          seg.append(PointId::number(r), data.data() + r * kDim, {});
          if (index_them) VS_RETURN_IF_ERROR(inner.add(r, {data.data() + r * kDim, kDim}));
        }
        return Status::ok();
      };
      expect_exact_after(seg, data.data() + (kRows - 2) * kDim, batch);
      EXPECT_EQ(seg.rows(), kRows);
    }
  }
}

}  // namespace
}  // namespace vecstream
